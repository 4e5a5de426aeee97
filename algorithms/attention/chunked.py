"""Memory-efficient attention: Rabe & Staats (2021), "Self-attention Does Not Need O(n²) Memory".

The softmax over all keys can be assembled from pieces. For a chunk c of keys, keep

    m_c = max_j s_ij,   w_c = Σ_{j∈c} exp(s_ij − m_c),   u_c = Σ_{j∈c} exp(s_ij − m_c) v_j

(the paper's ``summarize_chunk``: the max is for numerical stability, §3). Then with M = max_c m_c,

    out_i = Σ_c exp(m_c − M) u_c / Σ_c exp(m_c − M) w_c,

which is exactly softmax attention. Queries are processed a chunk at a time as well, so the
forward pass never holds more than a (query chunk × key chunk) block of scores.

The backward pass would still keep every chunk's scores for the gradient; the paper wraps
``summarize_chunk`` in ``jax.checkpoint`` so that they are recomputed instead, and so do we with
``torch.utils.checkpoint``: memory O(√n)-ish (chunk sizes ~√n) for forward and backward, at the
price of one more forward pass of the scores. FlashAttention (``flash.py``) is the same idea with
an online (running) combination, fused into one kernel.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from algorithms.attention.dot_product import Attention


def _summarize_chunk(q: Tensor, k: Tensor, v: Tensor, q_start: int, k_start: int,
                     is_causal: bool, scale: float) -> tuple[Tensor, Tensor, Tensor]:
    """(u_c, w_c, m_c) of one key chunk for one query chunk (the paper's ``summarize_chunk``)."""
    scores = (q @ k.transpose(-2, -1)) * scale
    if is_causal:
        rows = q_start + torch.arange(q.shape[-2], device=q.device)
        cols = k_start + torch.arange(k.shape[-2], device=q.device)
        scores = scores.masked_fill(cols[None, :] > rows[:, None], float("-inf"))
    # stop_gradient on the max, as in the paper: it cancels mathematically
    chunk_max = scores.amax(dim=-1, keepdim=True).detach()
    # a row with every key of this chunk masked: max −inf; shift by 0 so that exp gives 0, not NaN
    safe_max = torch.where(torch.isfinite(chunk_max), chunk_max, torch.zeros_like(chunk_max))
    weights = torch.exp(scores - safe_max)
    return weights @ v, weights.sum(dim=-1, keepdim=True), chunk_max


def chunked_attention(q: Tensor, k: Tensor, v: Tensor, is_causal: bool = False,
                      query_chunk: int = 1024, key_chunk: int = 4096,
                      checkpointing: bool = True, scale: float | None = None) -> Tensor:
    """Exact softmax attention in O(query_chunk × key_chunk) working memory (Rabe & Staats).

    The paper's defaults are 1024 queries and 4096 keys per chunk; ``checkpointing`` recomputes
    each chunk's scores in the backward pass instead of storing them.
    """
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    q_len, k_len = q.shape[-2], k.shape[-2]
    outs = []
    for q_start in range(0, q_len, query_chunk):
        q_chunk = q[..., q_start:q_start + query_chunk, :]
        last_row = q_start + q_chunk.shape[-2] - 1
        summaries = []
        for k_start in range(0, k_len, key_chunk):
            if is_causal and k_start > last_row:
                break  # every key of this chunk and later is in the future of every query
            args = (q_chunk, k[..., k_start:k_start + key_chunk, :],
                    v[..., k_start:k_start + key_chunk, :], q_start, k_start, is_causal,
                    scale)
            if checkpointing and torch.is_grad_enabled():
                summaries.append(checkpoint(_summarize_chunk, *args, use_reentrant=False))
            else:
                summaries.append(_summarize_chunk(*args))
        values, weights, maxes = (torch.stack(parts) for parts in zip(*summaries))
        global_max = maxes.amax(dim=0)
        rescale = torch.exp(maxes - global_max)  # exp(m_c − M); 0 for chunks masked in a row
        outs.append((values * rescale).sum(dim=0) / (weights * rescale).sum(dim=0))
    return torch.cat(outs, dim=-2)


class ChunkedAttention(Attention):
    """Rabe & Staats (2021): exact attention over query and key chunks with checkpointing."""

    def __init__(self, query_chunk: int = 1024, key_chunk: int = 4096, checkpointing: bool = True):
        super().__init__()
        self.query_chunk, self.key_chunk, self.checkpointing = query_chunk, key_chunk, checkpointing

    def forward(self, q: Tensor, k: Tensor, v: Tensor, is_causal: bool = False) -> Tensor:
        return chunked_attention(q, k, v, is_causal, self.query_chunk, self.key_chunk,
                                 self.checkpointing)
