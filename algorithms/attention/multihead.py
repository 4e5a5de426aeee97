"""Multi-head, multi-query and grouped-query attention, with a KV cache for decoding.

* Multi-head attention (MHA), Vaswani et al. (2017), §3.2.2:
      MultiHead(X) = Concat(head_1, ..., head_h) W^O,
      head_i = Attention(X W_i^Q, X W_i^K, X W_i^V).
* Multi-query attention (MQA), Shazeer (2019), "Fast Transformer Decoding: One Write-Head is All
  You Need": all h query heads share one key head and one value head.
* Grouped-query attention (GQA), Ainslie et al. (2023), "GQA: Training Generalized Multi-Query
  Transformer Models from Multi-Head Checkpoints": g key/value heads, each shared by a group of
  h / g query heads. g = h is MHA, g = 1 is MQA.

During autoregressive decoding every step needs the keys and values of all previous tokens; the
:class:`KVCache` keeps them instead of recomputing them, so a step costs O(T) instead of O(T²).
The cache holds 2 · T · g · d_head numbers per layer and sequence: MQA and GQA shrink it, and the
memory traffic of reading it (which bounds decoding speed), by h / g.

GQA never copies the shared heads: the h/g query heads that share a key/value head are stacked
as extra query rows, ``(B, g, h/g · L, d)``, and multiplied by that head's ``(B, g, L, d)`` keys
in one matmul. (Broadcasting ``(B, g, h/g, L, d)`` against ``(B, g, 1, L, d)`` would look the
same, but ``torch.matmul`` materialises the broadcast keys: h/g copies, the very traffic MQA
exists to save.)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from algorithms.attention.dot_product import Attention
from algorithms.attention.positional import ALiBi, RotaryEmbedding, ShawRelativePosition


def grouped_query_attention(q: Tensor, k: Tensor, v: Tensor, is_causal: bool = False,
                            mask: Tensor | None = None, scale: float | None = None) -> Tensor:
    """Attention with h query heads over g <= h key/value heads (h divisible by g).

    ``q`` is ``(B, h, Lq, d)``, ``k`` and ``v`` are ``(B, g, Lk, d)``; query head i uses key/value
    head i // (h / g), the grouping of Ainslie et al. (and of SDPA's ``enable_gqa``).
    """
    batch, n_heads, q_len, head_dim = q.shape
    n_kv = k.shape[1]
    if n_heads % n_kv:
        raise ValueError(f"{n_heads} query heads cannot be grouped over {n_kv} key/value heads")
    scale = 1.0 / math.sqrt(head_dim) if scale is None else scale
    group = n_heads // n_kv
    stacked = q.reshape(batch, n_kv, group * q_len, head_dim)  # a group's heads as extra rows
    scores = (stacked @ k.transpose(-2, -1)) * scale  # (B, g, h/g · Lq, Lk)
    scores = scores.view(batch, n_kv, group, q_len, -1)
    if is_causal:
        causal = torch.ones(q_len, k.shape[-2], dtype=torch.bool, device=q.device).tril()
        mask = causal if mask is None else mask & causal
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1).view(batch, n_kv, group * q_len, -1)
    return (weights @ v).view(batch, n_heads, q_len, v.shape[-1])


class GroupedQueryAttention(Attention):
    """:func:`grouped_query_attention` behind the common interface: ``q`` ``(B, h, L, d)``,
    ``k`` and ``v`` ``(B, g, L, d)``; g = 1 is MQA, g = h is MHA."""

    def forward(self, q: Tensor, k: Tensor, v: Tensor, is_causal: bool = False) -> Tensor:
        return grouped_query_attention(q, k, v, is_causal)


class KVCache:
    """Keys and values of the tokens decoded so far, for one layer: ``(B, g, max_len, d)`` each.

    Preallocated, so that appending a step writes in place instead of reallocating (what
    ``torch.cat`` per step would do). Keys are cached *after* the rotary embedding: a cached key
    never moves, since its position does not change.
    """

    def __init__(self, batch: int, n_kv_heads: int, max_len: int, head_dim: int,
                 dtype: torch.dtype | None = None, device: torch.device | str | None = None):
        shape = (batch, n_kv_heads, max_len, head_dim)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)
        self.length = 0

    def append(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store ``(B, g, t, d)`` new keys and values; return all keys and values so far."""
        end = self.length + k.shape[-2]
        if end > self.k.shape[-2]:
            raise IndexError(f"KV cache full: {end} > {self.k.shape[-2]} positions")
        self.k[:, :, self.length:end] = k
        self.v[:, :, self.length:end] = v
        self.length = end
        return self.k[:, :, :end], self.v[:, :, :end]

    @property
    def nbytes(self) -> int:
        return self.k.element_size() * (self.k.numel() + self.v.numel())


class MultiHeadAttention(nn.Module):
    """Causal self-attention with h query heads and g key/value heads (MHA, GQA or MQA).

    ``positional`` selects an in-attention positional encoding ("rope", "alibi", "shaw", or
    anything else for none; absolute encodings are added to the embeddings by the model).
    ``forward`` returns the output, and the attention weights ``(B, h, Lq, Lk)`` when asked
    (for the analysis toolkit); ``head_mask`` (h gates) scales each head's output, which is how
    heads are pruned and how their importance is measured (Michel et al., 2019).
    """

    def __init__(self, d_model: int, n_heads: int, n_kv_heads: int | None = None,
                 positional: str = "none", max_relative_distance: int = 16, bias: bool = False):
        super().__init__()
        n_kv_heads = n_kv_heads or n_heads
        if d_model % n_heads or n_heads % n_kv_heads:
            raise ValueError(f"need n_heads | d_model and n_kv_heads | n_heads, got d_model="
                             f"{d_model}, n_heads={n_heads}, n_kv_heads={n_kv_heads}")
        self.n_heads, self.n_kv_heads = n_heads, n_kv_heads
        self.head_dim = d_model // n_heads
        self.q_proj = nn.Linear(d_model, n_heads * self.head_dim, bias=bias)
        # MQA/GQA shrink only these two projections (and the cache): g heads instead of h
        self.k_proj = nn.Linear(d_model, n_kv_heads * self.head_dim, bias=bias)
        self.v_proj = nn.Linear(d_model, n_kv_heads * self.head_dim, bias=bias)
        self.out_proj = nn.Linear(n_heads * self.head_dim, d_model, bias=bias)
        self.rotary = RotaryEmbedding(self.head_dim) if positional == "rope" else None
        self.alibi = ALiBi(n_heads) if positional == "alibi" else None
        self.shaw = ShawRelativePosition(self.head_dim, max_relative_distance) \
            if positional == "shaw" else None

    def forward(self, x: Tensor, cache: KVCache | None = None, head_mask: Tensor | None = None,
                need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        batch, length, _ = x.shape
        start = cache.length if cache is not None else 0
        q_pos = torch.arange(start, start + length, device=x.device)
        q = self.q_proj(x).view(batch, length, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(batch, length, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(batch, length, self.n_kv_heads, self.head_dim).transpose(1, 2)
        if self.rotary is not None:
            q, k = self.rotary.rotate(q, q_pos), self.rotary.rotate(k, q_pos)
        if cache is not None:
            k, v = cache.append(k, v)
        k_pos = torch.arange(k.shape[-2], device=x.device)

        group = self.n_heads // self.n_kv_heads
        grouped = (batch, self.n_kv_heads, group, length)  # (B, g, h/g, Lq, ...) views
        # the h/g query heads of a group as extra rows against their one key head: the shared
        # keys and values are read once, never copied per query head
        q = q.reshape(batch, self.n_kv_heads, group * length, self.head_dim)
        scores = (q @ k.transpose(-2, -1)).view(*grouped, -1)
        if self.shaw is not None:
            scores = scores + self.shaw.logits(q.view(*grouped, -1), q_pos, k_pos)
        scores = scores / math.sqrt(self.head_dim)
        if self.alibi is not None:
            scores = scores + self.alibi.bias(q_pos, k_pos).view(self.n_kv_heads, group,
                                                                 length, -1)
        # causal by absolute position, so that a cached step sees every earlier token
        scores = scores.masked_fill(k_pos[None, :] > q_pos[:, None], float("-inf"))
        weights = scores.softmax(dim=-1)
        out = (weights.view(batch, self.n_kv_heads, group * length, -1) @ v).view(*grouped, -1)
        if self.shaw is not None:
            out = out + self.shaw.output(weights, q_pos, k_pos)
        out = out.reshape(batch, self.n_heads, length, self.head_dim)
        if head_mask is not None:
            out = out * head_mask.view(1, self.n_heads, 1, 1)
        out = self.out_proj(out.transpose(1, 2).reshape(batch, length, -1))
        return out, (weights.reshape(batch, self.n_heads, length, -1) if need_weights else None)
