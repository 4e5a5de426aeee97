"""FlashAttention-2 forward and backward as Triton kernels (Dao, 2023, Algorithms 1 and 2).

Imported only when CUDA is available (see :func:`algorithms.attention.flash.flash_attention`):
this module imports ``triton`` at the top. One program instance handles one block of rows of one
(batch × head) slice; the block's running max, sum and output stay in registers/SRAM while K and
V stream through, which is the point of the algorithm: HBM traffic O(N d) instead of O(N²).

Same contract as the PyTorch ``FlashAttention``: inputs ``(..., N, d)``, top-left causal mask,
saves the output and the natural-log row log-sum-exp. The forward works in base 2
(exp2 is the native instruction; log2(e) is folded into the scale). Head dims 16, 32, 64 or 128.
fp32 inputs go through ``tl.dot`` at its default precision (TF32 on Ampere and later).

Kernels:
  * ``_forward``: grid (⌈N_q / BLOCK_M⌉, B·H); online softmax over key blocks.
  * ``_backward_dkdv``: grid (⌈N_k / BLOCK_N⌉, B·H); a key block stays resident while query
    blocks stream; accumulates dK_j, dV_j (no atomics).
  * ``_backward_dq``: grid (⌈N_q / BLOCK_M⌉, B·H); a query block stays, key blocks stream.
  D_i = rowsum(dO_i ∘ O_i) is one elementwise op, left to PyTorch.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl
from torch import Tensor

LOG2E = 1.4426950408889634
LN2 = 0.6931471805599453


@triton.jit
def _forward(Q, K, V, O, LSE, scale, n_q, n_k,
             IS_CAUSAL: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
             HEAD_DIM: tl.constexpr):
    start_m = tl.program_id(0)
    bh = tl.program_id(1).to(tl.int64)
    rows = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
    dims = tl.arange(0, HEAD_DIM)
    q = tl.load(Q + bh * n_q * HEAD_DIM + rows[:, None] * HEAD_DIM + dims[None, :],
                mask=rows[:, None] < n_q, other=0.0)
    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)
    qk_scale = scale * 1.4426950408889634  # base-2 exponent: exp(x) = exp2(x log2 e)
    hi = n_k
    if IS_CAUSAL:
        hi = tl.minimum(n_k, (start_m + 1) * BLOCK_M)
    for start_n in range(0, hi, BLOCK_N):
        cols = start_n + tl.arange(0, BLOCK_N)
        k = tl.load(K + bh * n_k * HEAD_DIM + cols[None, :] * HEAD_DIM + dims[:, None],
                    mask=cols[None, :] < n_k, other=0.0)  # Kᵀ block: (HEAD_DIM, BLOCK_N)
        s = tl.dot(q, k) * qk_scale
        valid = cols[None, :] < n_k
        if IS_CAUSAL:
            valid = valid & (cols[None, :] <= rows[:, None])
        s = tl.where(valid, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        p = tl.math.exp2(s - m_new[:, None])
        alpha = tl.math.exp2(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(V + bh * n_k * HEAD_DIM + cols[:, None] * HEAD_DIM + dims[None, :],
                    mask=cols[:, None] < n_k, other=0.0)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m_i = m_new
    acc = acc / l_i[:, None]
    lse = (m_i + tl.math.log2(l_i)) * 0.6931471805599453  # back to natural-log units
    tl.store(LSE + bh * n_q + rows, lse, mask=rows < n_q)
    tl.store(O + bh * n_q * HEAD_DIM + rows[:, None] * HEAD_DIM + dims[None, :],
             acc.to(O.dtype.element_ty), mask=rows[:, None] < n_q)


@triton.jit
def _backward_dkdv(Q, K, V, DO, LSE, DELTA, DK, DV, scale, n_q, n_k,
                   IS_CAUSAL: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                   HEAD_DIM: tl.constexpr):
    start_n = tl.program_id(0)
    bh = tl.program_id(1).to(tl.int64)
    cols = start_n * BLOCK_N + tl.arange(0, BLOCK_N)
    dims = tl.arange(0, HEAD_DIM)
    kv_offsets = bh * n_k * HEAD_DIM + cols[:, None] * HEAD_DIM + dims[None, :]
    k = tl.load(K + kv_offsets, mask=cols[:, None] < n_k, other=0.0)
    v = tl.load(V + kv_offsets, mask=cols[:, None] < n_k, other=0.0)
    dk = tl.zeros([BLOCK_N, HEAD_DIM], dtype=tl.float32)
    dv = tl.zeros([BLOCK_N, HEAD_DIM], dtype=tl.float32)
    lo = 0
    if IS_CAUSAL:
        lo = (start_n * BLOCK_N) // BLOCK_M * BLOCK_M  # rows before this key block never see it
    for start_m in range(lo, n_q, BLOCK_M):
        rows = start_m + tl.arange(0, BLOCK_M)
        q_offsets = bh * n_q * HEAD_DIM + rows[:, None] * HEAD_DIM + dims[None, :]
        q = tl.load(Q + q_offsets, mask=rows[:, None] < n_q, other=0.0)
        do = tl.load(DO + q_offsets, mask=rows[:, None] < n_q, other=0.0)
        lse = tl.load(LSE + bh * n_q + rows, mask=rows < n_q, other=0.0)
        delta = tl.load(DELTA + bh * n_q + rows, mask=rows < n_q, other=0.0)
        s = tl.dot(q, tl.trans(k)) * scale
        valid = (rows[:, None] < n_q) & (cols[None, :] < n_k)
        if IS_CAUSAL:
            valid = valid & (cols[None, :] <= rows[:, None])
        p = tl.where(valid, tl.exp(s - lse[:, None]), 0.0)  # P recomputed from the saved LSE
        dv += tl.dot(tl.trans(p.to(do.dtype)), do)
        dp = tl.dot(do, tl.trans(v))
        ds = p * (dp - delta[:, None])
        dk += tl.dot(tl.trans(ds.to(q.dtype)), q)
    tl.store(DK + kv_offsets, (dk * scale).to(DK.dtype.element_ty), mask=cols[:, None] < n_k)
    tl.store(DV + kv_offsets, dv.to(DV.dtype.element_ty), mask=cols[:, None] < n_k)


@triton.jit
def _backward_dq(Q, K, V, DO, LSE, DELTA, DQ, scale, n_q, n_k,
                 IS_CAUSAL: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                 HEAD_DIM: tl.constexpr):
    start_m = tl.program_id(0)
    bh = tl.program_id(1).to(tl.int64)
    rows = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
    dims = tl.arange(0, HEAD_DIM)
    q_offsets = bh * n_q * HEAD_DIM + rows[:, None] * HEAD_DIM + dims[None, :]
    q = tl.load(Q + q_offsets, mask=rows[:, None] < n_q, other=0.0)
    do = tl.load(DO + q_offsets, mask=rows[:, None] < n_q, other=0.0)
    lse = tl.load(LSE + bh * n_q + rows, mask=rows < n_q, other=0.0)
    delta = tl.load(DELTA + bh * n_q + rows, mask=rows < n_q, other=0.0)
    dq = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)
    hi = n_k
    if IS_CAUSAL:
        hi = tl.minimum(n_k, (start_m + 1) * BLOCK_M)
    for start_n in range(0, hi, BLOCK_N):
        cols = start_n + tl.arange(0, BLOCK_N)
        kv_offsets = bh * n_k * HEAD_DIM + cols[:, None] * HEAD_DIM + dims[None, :]
        k = tl.load(K + kv_offsets, mask=cols[:, None] < n_k, other=0.0)
        v = tl.load(V + kv_offsets, mask=cols[:, None] < n_k, other=0.0)
        s = tl.dot(q, tl.trans(k)) * scale
        valid = (rows[:, None] < n_q) & (cols[None, :] < n_k)
        if IS_CAUSAL:
            valid = valid & (cols[None, :] <= rows[:, None])
        p = tl.where(valid, tl.exp(s - lse[:, None]), 0.0)
        dp = tl.dot(do, tl.trans(v))
        ds = p * (dp - delta[:, None])
        dq += tl.dot(ds.to(k.dtype), k)
    tl.store(DQ + q_offsets, (dq * scale).to(DQ.dtype.element_ty), mask=rows[:, None] < n_q)


def _fold(x: Tensor) -> Tensor:
    return x.reshape(-1, *x.shape[-2:]).contiguous()


def block_sizes(head_dim: int, element_size: int) -> tuple[int, int]:
    """(BLOCK_M, BLOCK_N) for a head dim and element size in bytes: 64 × 64, except fp32 at head
    dim 128. Compiled ahead of time (tests/test_attention_exact.py), fp32 64 × 64 tiles at head
    dim 128 need up to 193 KiB of shared memory per block: more than an A100 (163 KiB) or an
    sm_86/89 GPU (99 KiB) has, so the launch would fail there; 32 × 32 needs at most 97 KiB."""
    if element_size >= 4 and head_dim > 64:
        return 32, 32
    return 64, 64


class TritonFlashAttention(torch.autograd.Function):
    """``TritonFlashAttention.apply(q, k, v, is_causal=False, scale=None)`` on CUDA tensors."""

    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor, is_causal: bool = False,
                scale: float | None = None) -> Tensor:
        head_dim = q.shape[-1]
        if head_dim not in (16, 32, 64, 128) or k.shape[-1] != head_dim \
                or v.shape[-1] != head_dim:
            raise ValueError(f"the Triton kernel needs equal head dims in {{16, 32, 64, 128}}, "
                             f"got {q.shape[-1]}, {k.shape[-1]}, {v.shape[-1]}")
        scale = 1.0 / math.sqrt(head_dim) if scale is None else scale
        q3, k3, v3 = _fold(q), _fold(k), _fold(v)
        batch_heads, n_q, n_k = q3.shape[0], q3.shape[1], k3.shape[1]
        out = torch.empty_like(q3)
        lse = torch.empty(batch_heads, n_q, device=q.device, dtype=torch.float32)
        block_m, block_n = block_sizes(head_dim, q3.element_size())
        _forward[(triton.cdiv(n_q, block_m), batch_heads)](
            q3, k3, v3, out, lse, scale, n_q, n_k, IS_CAUSAL=is_causal,
            BLOCK_M=block_m, BLOCK_N=block_n, HEAD_DIM=head_dim)
        ctx.save_for_backward(q3, k3, v3, out, lse)
        ctx.settings = (is_causal, scale, q.shape, k.shape)
        return out.view(q.shape)

    @staticmethod
    def backward(ctx, d_out: Tensor):
        q3, k3, v3, out, lse = ctx.saved_tensors
        is_causal, scale, q_shape, k_shape = ctx.settings
        do = _fold(d_out)
        delta = (do.float() * out.float()).sum(dim=-1)  # D_i = rowsum(dO ∘ O)
        dq, dk, dv = torch.empty_like(q3), torch.empty_like(k3), torch.empty_like(v3)
        batch_heads, n_q, n_k, head_dim = q3.shape[0], q3.shape[1], k3.shape[1], q3.shape[2]
        block_m, block_n = block_sizes(head_dim, q3.element_size())
        _backward_dkdv[(triton.cdiv(n_k, block_n), batch_heads)](
            q3, k3, v3, do, lse, delta, dk, dv, scale, n_q, n_k, IS_CAUSAL=is_causal,
            BLOCK_M=block_m, BLOCK_N=block_n, HEAD_DIM=head_dim)
        _backward_dq[(triton.cdiv(n_q, block_m), batch_heads)](
            q3, k3, v3, do, lse, delta, dq, scale, n_q, n_k, IS_CAUSAL=is_causal,
            BLOCK_M=block_m, BLOCK_N=block_n, HEAD_DIM=head_dim)
        return dq.view(q_shape), dk.view(k_shape), dv.view(k_shape), None, None
