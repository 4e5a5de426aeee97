"""Dense attention: scaled dot-product, additive (Bahdanau) and multiplicative (Luong).

Every variant in :mod:`algorithms.attention` is an :class:`Attention` module with one interface,

    forward(q, k, v, is_causal=False) -> out,    q: (..., Lq, D), k: (..., Lk, D), v: (..., Lk, Dv)

where ``...`` is any number of leading (batch, head) dimensions that broadcast, and ``out`` is
``(..., Lq, Dv)``. ``is_causal`` uses PyTorch's convention (the mask is ``tril`` aligned at the
top-left: query i sees keys j <= i), so that every exact variant can be checked against
``torch.nn.functional.scaled_dot_product_attention`` with the equivalent mask, which
:meth:`Attention.mask` returns.

* Scaled dot-product attention, Vaswani et al. (2017), "Attention Is All You Need", eq. 1:

      Attention(Q, K, V) = softmax(Q Kᵀ / √d_k) V.

  The 1/√d_k keeps the logits' variance at 1 when q and k have unit-variance entries, so that the
  softmax does not saturate as d_k grows.

* Additive attention, Bahdanau, Cho & Bengio (2015), "Neural Machine Translation by Jointly
  Learning to Align and Translate", eq. 6 and appendix A.1.2:
  score(q, k) = v_aᵀ tanh(W_a q + U_a k).

* Multiplicative attention, Luong, Pham & Manning (2015), "Effective Approaches to
  Attention-based Neural Machine Translation", eq. 8:  score(q, k) = qᵀ k ("dot") or qᵀ W_a k
  ("general").
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def causal_mask(q_len: int, k_len: int, device: torch.device | str | None = None) -> Tensor:
    """``True`` where query i may attend to key j, i.e. j <= i (top-left aligned, as in SDPA)."""
    return torch.ones(q_len, k_len, dtype=torch.bool, device=device).tril()


def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None,
                                 bias: Tensor | None = None, is_causal: bool = False,
                                 scale: float | None = None,
                                 return_weights: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """softmax(q kᵀ · scale + bias, masked) v, written out: the reference every variant is held to.

    ``mask`` is boolean, ``True`` = attend (the meaning SDPA gives a boolean ``attn_mask``), and
    broadcasts to ``(..., Lq, Lk)``; ``bias`` is added to the logits (ALiBi, relative positions).
    The whole ``Lq × Lk`` matrix of weights is materialised: O(L²) memory.
    """
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = (q @ k.transpose(-2, -1)) * scale
    if bias is not None:
        scores = scores + bias
    if is_causal:
        mask = causal_mask(q.shape[-2], k.shape[-2], q.device) if mask is None \
            else mask & causal_mask(q.shape[-2], k.shape[-2], q.device)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)
    out = weights @ v
    return (out, weights) if return_weights else out


class Attention(nn.Module):
    """The interface of every attention variant: ``forward(q, k, v, is_causal=False)``.

    ``exact`` variants compute softmax attention exactly, restricted to the pattern that
    :meth:`mask` returns (``None``: every key, or the causal triangle); approximations
    (Performer, Linformer) set ``exact = False`` and have no mask.
    """

    exact: ClassVar[bool] = True
    supports_causal: ClassVar[bool] = True

    def forward(self, q: Tensor, k: Tensor, v: Tensor, is_causal: bool = False) -> Tensor:
        raise NotImplementedError

    def mask(self, q_len: int, k_len: int, is_causal: bool = False,
             device: torch.device | str | None = None) -> Tensor | None:
        """The boolean ``(Lq, Lk)`` pattern this variant attends over (``True`` = attend)."""
        return causal_mask(q_len, k_len, device) if is_causal else None


class ScaledDotProductAttention(Attention):
    """Vaswani et al. (2017), eq. 1: softmax(Q Kᵀ / √d_k) V with the L × L matrix materialised.

    ``fused=True`` calls PyTorch's ``scaled_dot_product_attention`` (a fused kernel that never
    materialises the weights: FlashAttention-style on CPU and on recent GPUs) instead of the
    written-out version; the two agree to float tolerance (tests/test_attention_exact.py).
    """

    def __init__(self, fused: bool = False):
        super().__init__()
        self.fused = fused

    def forward(self, q: Tensor, k: Tensor, v: Tensor, is_causal: bool = False) -> Tensor:
        if self.fused:
            return F.scaled_dot_product_attention(q, k, v, is_causal=is_causal)
        return scaled_dot_product_attention(q, k, v, is_causal=is_causal)


class AdditiveAttention(Attention):
    """Bahdanau et al. (2015), eq. 6 / A.1.2: e_ij = v_aᵀ tanh(W_a q_i + U_a k_j), softmax over j.

    The scores need the ``(..., Lq, Lk, attn_dim)`` tensor of tanh arguments: additive attention
    costs a factor ``attn_dim`` more memory than dot-product attention, which is one reason
    Luong's multiplicative form, and then the scaled dot product, replaced it. Not comparable to
    SDPA (a different score function), so it is checked against a per-pair loop in the tests.
    """

    def __init__(self, head_dim: int, attn_dim: int | None = None):
        super().__init__()
        attn_dim = attn_dim or head_dim
        self.W_q = nn.Linear(head_dim, attn_dim, bias=False)  # W_a, applied to the query (s_{i-1})
        self.W_k = nn.Linear(head_dim, attn_dim, bias=True)  # U_a, applied to the key (h_j)
        self.v_a = nn.Linear(attn_dim, 1, bias=False)

    def scores(self, q: Tensor, k: Tensor) -> Tensor:
        # (..., Lq, 1, A) + (..., 1, Lk, A): every query-key pair, then the projection onto v_a
        hidden = torch.tanh(self.W_q(q).unsqueeze(-2) + self.W_k(k).unsqueeze(-3))
        return self.v_a(hidden).squeeze(-1)

    def forward(self, q: Tensor, k: Tensor, v: Tensor, is_causal: bool = False) -> Tensor:
        scores = self.scores(q, k)
        if is_causal:
            scores = scores.masked_fill(~causal_mask(q.shape[-2], k.shape[-2], q.device),
                                        float("-inf"))
        return scores.softmax(dim=-1) @ v


class MultiplicativeAttention(Attention):
    """Luong et al. (2015), eq. 8: score(q, k) = qᵀ k ("dot") or qᵀ W_a k ("general").

    "general" starts from W_a = I / √d, i.e. from scaled dot-product attention, so that an
    untrained layer behaves like the transformer's; "dot" is the unscaled dot product, whose
    logits grow like √d (the reason Vaswani et al. added the scale).
    """

    def __init__(self, head_dim: int, score: str = "general"):
        super().__init__()
        if score not in ("dot", "general"):
            raise ValueError(f"score must be 'dot' or 'general', not {score!r}")
        self.score = score
        if score == "general":
            self.W_a = nn.Parameter(torch.eye(head_dim) / math.sqrt(head_dim))

    def forward(self, q: Tensor, k: Tensor, v: Tensor, is_causal: bool = False) -> Tensor:
        if self.score == "general":
            q = q @ self.W_a  # qᵀ W_a k = (W_aᵀ q)ᵀ k: transform the queries once, O(L d²)
        return scaled_dot_product_attention(q, k, v, is_causal=is_causal, scale=1.0)
