"""FlashAttention in PyTorch: Dao et al. (2022), "FlashAttention: Fast and Memory-Efficient Exact
Attention with IO-Awareness", Algorithms 1–2 (forward, backward), in the loop order of
Dao (2023), "FlashAttention-2", Algorithm 1.

Forward. Split Q into blocks of B_r rows and K, V into blocks of B_c rows. For each query block,
walk over the key blocks keeping per row a running max m, a running sum ℓ and an unnormalised
output O (the *online softmax*, Milakov & Gimelshein 2018):

    S = Q_i K_jᵀ · scale,   m' = max(m, rowmax S),   P = exp(S − m'),
    ℓ' = e^{m − m'} ℓ + rowsum P,   O' = e^{m − m'} O + P V_j,

and at the end O / ℓ and the log-sum-exp L = m + log ℓ. Only a B_r × B_c block of scores ever
exists; the N × N matrix is never stored.

Backward (recomputation). Saved: the output O and the row log-sum-exp L, plus the inputs Q, K, V.
With D_i = rowsum(dO_i ∘ O_i), every block's probabilities come back exactly as
P = exp(Q_i K_jᵀ · scale − L_i), and

    dV_j += Pᵀ dO_i,   dP = dO_i V_jᵀ,   dS = P ∘ (dP − D_i),
    dQ_i += dS K_j · scale,   dK_j += dSᵀ Q_i · scale.

Recomputing S costs one more matmul than storing P would, but reads and writes O(N d) instead of
O(N²) memory, which is what makes it fast on a GPU (HBM traffic, not FLOPs, is the bottleneck).

This module is the algorithm, written for reading: on a CPU the Python loop over blocks makes it
slower than PyTorch's fused kernel. On a GPU :func:`flash_attention` runs the Triton kernel of
``flash_triton.py`` instead, imported only when CUDA is available.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from algorithms.attention.dot_product import Attention

BLOCK_Q = 128  # B_r
BLOCK_K = 128  # B_c


def _flash_forward(q: Tensor, k: Tensor, v: Tensor, is_causal: bool, scale: float,
                   block_q: int, block_k: int) -> tuple[Tensor, Tensor]:
    """Algorithm 1 on ``(B, N, d)`` tensors: the output and the row log-sum-exp ``(B, N)``."""
    q_len, k_len = q.shape[-2], k.shape[-2]
    out = torch.empty(*q.shape[:-1], v.shape[-1], dtype=q.dtype, device=q.device)
    lse = torch.empty(q.shape[:-1], dtype=q.dtype, device=q.device)
    for i in range(0, q_len, block_q):
        q_i = q[:, i:i + block_q] * scale
        rows = torch.arange(i, i + q_i.shape[1], device=q.device)
        m = torch.full(q_i.shape[:-1], float("-inf"), dtype=q.dtype, device=q.device)  # (B, B_r)
        ell = torch.zeros_like(m)
        acc = torch.zeros(*q_i.shape[:-1], v.shape[-1], dtype=q.dtype, device=q.device)
        # causal (top-left aligned): query r sees keys j <= r, so stop after the diagonal block
        k_end = min(k_len, i + q_i.shape[1]) if is_causal else k_len
        for j in range(0, k_end, block_k):
            s = q_i @ k[:, j:j + block_k].transpose(-2, -1)
            if is_causal and j + block_k > i:  # only blocks that cross the diagonal need a mask
                cols = torch.arange(j, j + s.shape[-1], device=q.device)
                s = s.masked_fill(cols[None, :] > rows[:, None], float("-inf"))
            m_new = torch.maximum(m, s.amax(dim=-1))
            p = torch.exp(s - m_new[..., None])
            correction = torch.exp(m - m_new)  # rescales what was summed under the old max
            ell = correction * ell + p.sum(dim=-1)
            acc = correction[..., None] * acc + p @ v[:, j:j + block_k]
            m = m_new
        out[:, i:i + block_q] = acc / ell[..., None]
        lse[:, i:i + block_q] = m + torch.log(ell)
    return out, lse


def _flash_backward(q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, d_out: Tensor,
                    is_causal: bool, scale: float, block_q: int,
                    block_k: int) -> tuple[Tensor, Tensor, Tensor]:
    """Algorithm 2 (FlashAttention-2 order: key blocks outside, query blocks inside)."""
    q_len, k_len = q.shape[-2], k.shape[-2]
    delta = (d_out * out).sum(dim=-1)  # D_i = rowsum(dO ∘ O) = Σ_j P_ij dP_ij
    dq = torch.zeros_like(q)
    dk = torch.empty_like(k)
    dv = torch.empty_like(v)
    for j in range(0, k_len, block_k):
        k_j, v_j = k[:, j:j + block_k], v[:, j:j + block_k]
        cols = torch.arange(j, j + k_j.shape[1], device=q.device)
        dk_j = torch.zeros_like(k_j)
        dv_j = torch.zeros_like(v_j)
        # causal: query rows before j never see these keys; start at the block holding row j
        i_start = (j // block_q) * block_q if is_causal else 0
        for i in range(i_start, q_len, block_q):
            q_i = q[:, i:i + block_q]
            s = (q_i @ k_j.transpose(-2, -1)) * scale
            if is_causal and j + block_k > i:
                rows = torch.arange(i, i + q_i.shape[1], device=q.device)
                s = s.masked_fill(cols[None, :] > rows[:, None], float("-inf"))
            p = torch.exp(s - lse[:, i:i + block_q, None])  # the softmax, recomputed exactly
            d_out_i = d_out[:, i:i + block_q]
            dv_j += p.transpose(-2, -1) @ d_out_i
            dp = d_out_i @ v_j.transpose(-2, -1)
            ds = p * (dp - delta[:, i:i + block_q, None])
            dq[:, i:i + block_q] += (ds @ k_j) * scale
            dk_j += (ds.transpose(-2, -1) @ q_i) * scale
        dk[:, j:j + block_k] = dk_j
        dv[:, j:j + block_k] = dv_j
    return dq, dk, dv


class FlashAttention(torch.autograd.Function):
    """``FlashAttention.apply(q, k, v, is_causal=False, scale=None, block_q=128, block_k=128)``.

    ``q``: ``(..., Lq, d)``, ``k``, ``v``: ``(..., Lk, d)`` with the same leading dimensions (any
    number: batch, heads, ...). Saves for backward only the inputs, the output and the row
    log-sum-exp (``(..., Lq)``), never an Lq × Lk matrix. Causal masking is top-left aligned,
    like ``torch.nn.functional.scaled_dot_product_attention(is_causal=True)``.
    """

    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor, is_causal: bool = False,
                scale: float | None = None, block_q: int = BLOCK_Q,
                block_k: int = BLOCK_K) -> Tensor:
        lead = q.shape[:-2]
        if k.shape[:-2] != lead or v.shape[:-2] != lead:
            raise ValueError("q, k and v need the same leading dimensions "
                             f"(got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)})")
        scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
        # every leading dimension folds into one batch dimension: (B, N, d)
        out, lse = _flash_forward(q.reshape(-1, *q.shape[-2:]), k.reshape(-1, *k.shape[-2:]),
                                  v.reshape(-1, *v.shape[-2:]), is_causal, scale, block_q,
                                  block_k)
        out = out.view(*lead, *out.shape[-2:])
        lse = lse.view(*lead, lse.shape[-1])
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.settings = (is_causal, scale, block_q, block_k)
        return out

    @staticmethod
    def backward(ctx, d_out: Tensor):
        q, k, v, out, lse = ctx.saved_tensors
        is_causal, scale, block_q, block_k = ctx.settings

        def fold(x: Tensor) -> Tensor:
            return x.reshape(-1, *x.shape[-2:])

        dq, dk, dv = _flash_backward(fold(q), fold(k), fold(v), fold(out),
                                     lse.reshape(-1, lse.shape[-1]), fold(d_out.contiguous()),
                                     is_causal, scale, block_q, block_k)
        return dq.view_as(q), dk.view_as(k), dv.view_as(v), None, None, None, None


def triton_available() -> bool:
    """Whether the Triton kernel can run: CUDA present and triton importable."""
    if not torch.cuda.is_available():
        return False
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def flash_attention(q: Tensor, k: Tensor, v: Tensor, is_causal: bool = False,
                    scale: float | None = None, backend: str = "auto") -> Tensor:
    """FlashAttention: the Triton kernel for CUDA tensors when it can run them, else PyTorch.

    ``backend`` is "auto", "torch" or "triton". The Triton kernel takes head dims 16–128 that
    are powers of two and equal for q, k and v; other shapes use the PyTorch version.
    """
    use_triton = backend == "triton" or (
        backend == "auto" and q.is_cuda and triton_available()
        and q.shape[-1] in (16, 32, 64, 128) and v.shape[-1] == q.shape[-1])
    if use_triton:
        from algorithms.attention.flash_triton import TritonFlashAttention

        return TritonFlashAttention.apply(q, k, v, is_causal, scale)
    return FlashAttention.apply(q, k, v, is_causal, scale)


class FlashAttentionModule(Attention):
    """:func:`flash_attention` behind the common interface (exact; tiled; O(N) memory)."""

    def __init__(self, block_q: int = BLOCK_Q, block_k: int = BLOCK_K, backend: str = "auto"):
        super().__init__()
        self.block_q, self.block_k, self.backend = block_q, block_k, backend

    def forward(self, q: Tensor, k: Tensor, v: Tensor, is_causal: bool = False) -> Tensor:
        if self.backend == "torch" or not q.is_cuda:
            return FlashAttention.apply(q, k, v, is_causal, None, self.block_q, self.block_k)
        return flash_attention(q, k, v, is_causal, backend=self.backend)
