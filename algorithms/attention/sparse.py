"""Local and sparse attention: sliding window, block-local, Longformer and BigBird patterns.

Each query attends to a fixed subset of the keys, and the cost falls from O(L²) to O(L · m) for
m keys per query. The four patterns, as rules "query i may attend to key j":

* sliding window (Beltagy et al., 2020, §3.1; Child et al., 2019, "strided" local part):
  |i − j| <= w;
* block-local (Parmar et al., 2018, "Image Transformer", §3.2, 1-D local attention without the
  memory block; Qiu et al., 2019, "Blockwise Self-Attention"): i and j in the same block of b;
* Longformer, Beltagy, Peters & Cohan (2020), "Longformer: The Long-Document Transformer", §3.1:
  the sliding window plus a few *global* tokens that attend to every key and that every query
  attends to (symmetric global attention);
* BigBird, Zaheer et al. (2020), "Big Bird: Transformers for Longer Sequences", §2 and app. D
  (the blocked ITC version): blocks of b tokens; each query block sees its 3 neighbouring blocks
  (window), r random key blocks, and the first g tokens, which are global.

All four run on one blocked kernel, the "blockify and gather" of BigBird's appendix D: queries
are cut into blocks of b; each block gathers the m keys its pattern may touch (``candidates``:
for a window, its own block ± w tokens), computes a dense b × m score block, masks the pairs the
rule forbids, and takes the softmax over the m. Global queries (rows that see every key) are
computed densely and written over their rows. Memory is O(L · m) for the gathered keys and
scores, never O(L²).

``mask(L, L)`` evaluates the rule for every pair: the dense pattern, against which the blocked
kernel is tested with ``torch.nn.functional.scaled_dot_product_attention`` (every pattern is an
*exact* sparse attention). Self-attention only (Lq = Lk).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from algorithms.attention.dot_product import Attention


class _BlockSparseAttention(Attention):
    """The blocked kernel. A pattern defines ``allowed``, ``_candidates`` and
    ``_global_queries``."""

    block: int

    def __init__(self) -> None:
        super().__init__()
        self._layouts: dict[tuple, tuple[Tensor, Tensor, Tensor]] = {}

    # -- the pattern: subclasses define these three ------------------------------------------
    def allowed(self, i: Tensor, j: Tensor, n: int, is_causal: bool = False) -> Tensor:
        """Whether query i may attend to key j (broadcasting index tensors) in a sequence of n,
        before the causal mask (``is_causal`` only matters where the pattern itself depends on
        it: BigBird draws its random blocks from the past)."""
        raise NotImplementedError

    def _candidates(self, n: int, is_causal: bool) -> Tensor:
        """``(n_blocks, m)`` key indices per query block; may repeat or fall outside [0, n)."""
        raise NotImplementedError

    def _global_queries(self, n: int) -> Tensor:
        return torch.zeros(0, dtype=torch.long)

    # -- shared ---------------------------------------------------------------------------------
    def mask(self, q_len: int, k_len: int, is_causal: bool = False,
             device: torch.device | str | None = None) -> Tensor:
        if q_len != k_len:
            raise ValueError("sparse patterns are defined for self-attention (Lq = Lk)")
        i = torch.arange(q_len)[:, None]
        j = torch.arange(k_len)[None, :]
        allowed = self.allowed(i, j, q_len, is_causal)
        if is_causal:
            allowed = allowed & (j <= i)
        return allowed.to(device)

    def layout(self, n: int, is_causal: bool,
               device: torch.device | str) -> tuple[Tensor, Tensor, Tensor]:
        """``(keys, valid, global_queries)``: per query block the gathered key indices
        ``(n_blocks, m)``, which (query, key) pairs of the block are in the pattern
        ``(n_blocks, b, m)``, and the rows to compute densely. Cached per length."""
        cache_key = (n, is_causal, str(device))
        if cache_key not in self._layouts:
            self._layouts[cache_key] = tuple(t.to(device) for t in self._build(n, is_causal))
        return self._layouts[cache_key]

    def _build(self, n: int, is_causal: bool) -> tuple[Tensor, Tensor, Tensor]:
        b = self.block
        keys = self._candidates(n, is_causal)
        # Sort each row with out-of-range keys at the end (sentinel n), then drop repeats: a key
        # gathered twice would be counted twice in the softmax.
        keys = torch.where((keys >= 0) & (keys < n), keys, n).sort(dim=-1).values
        repeat = torch.zeros_like(keys, dtype=torch.bool)
        repeat[:, 1:] = keys[:, 1:] == keys[:, :-1]
        key_ok = (keys < n) & ~repeat
        keys = keys.clamp(max=n - 1)
        queries = torch.arange(keys.shape[0] * b).view(-1, b, 1)  # (n_blocks, b, 1)
        valid = key_ok[:, None, :] & self.allowed(queries, keys[:, None, :], n, is_causal)
        if is_causal:
            valid &= keys[:, None, :] <= queries
        # padding rows past n see any valid key (their output is dropped): no all -inf rows
        valid = torch.where(queries < n, valid, key_ok[:, None, :])
        return keys, valid, self._global_queries(n)

    def forward(self, q: Tensor, k: Tensor, v: Tensor, is_causal: bool = False) -> Tensor:
        n, d = q.shape[-2], q.shape[-1]
        if k.shape[-2] != n:
            raise ValueError("sparse patterns are defined for self-attention (Lq = Lk)")
        keys, valid, global_queries = self.layout(n, is_causal, q.device)
        n_blocks, b = valid.shape[0], valid.shape[1]
        scale = 1.0 / math.sqrt(d)
        # blockify the queries (zero-padded to whole blocks) and gather each block's keys
        q_blocks = F.pad(q, (0, 0, 0, n_blocks * b - n)).unflatten(-2, (n_blocks, b))
        scores = (q_blocks @ k[..., keys, :].transpose(-2, -1)) * scale  # (..., n_blocks, b, m)
        weights = scores.masked_fill(~valid, float("-inf")).softmax(dim=-1)
        out = (weights @ v[..., keys, :]).flatten(-3, -2)[..., :n, :]
        if len(global_queries):
            # global rows attend to every key: a dense (G × L) block, written over those rows
            g_scores = (q[..., global_queries, :] @ k.transpose(-2, -1)) * scale
            if is_causal:
                g_scores = g_scores.masked_fill(
                    torch.arange(n, device=q.device)[None, :] > global_queries[:, None],
                    float("-inf"))
            out = out.index_copy(-2, global_queries, g_scores.softmax(dim=-1) @ v)
        return out


class SlidingWindowAttention(_BlockSparseAttention):
    """Sliding-window (band) attention: query i sees keys with |i − j| <= ``window``
    (causal: i − window <= j <= i). Longformer §3.1 without global tokens; Mistral 7B's SWA.

    Blocks of b = ``window`` queries each gather b + 2w keys (b + w causal): ≈ 3w per query.
    """

    def __init__(self, window: int, block: int | None = None):
        super().__init__()
        self.window, self.block = window, block or max(window, 1)

    def allowed(self, i: Tensor, j: Tensor, n: int, is_causal: bool = False) -> Tensor:
        return (i - j).abs() <= self.window

    def _candidates(self, n: int, is_causal: bool) -> Tensor:
        b, w = self.block, self.window
        starts = torch.arange(0, n, b)[:, None]
        span = torch.arange(-w, b if is_causal else b + w)[None, :]
        return starts + span


class BlockLocalAttention(_BlockSparseAttention):
    """Block-local attention: the sequence is cut into blocks of ``block`` tokens and each query
    attends within its own block only (Parmar et al., 2018, §3.2, without the memory block).
    Cheapest pattern (b keys per query), but tokens at a block boundary see no left context."""

    def __init__(self, block: int):
        super().__init__()
        self.block = block

    def allowed(self, i: Tensor, j: Tensor, n: int, is_causal: bool = False) -> Tensor:
        return i // self.block == j // self.block

    def _candidates(self, n: int, is_causal: bool) -> Tensor:
        starts = torch.arange(0, n, self.block)[:, None]
        return starts + torch.arange(self.block)[None, :]


class LongformerAttention(_BlockSparseAttention):
    """Beltagy et al. (2020), §3.1: sliding window of ±``window`` plus symmetric global attention
    on the tokens at ``global_tokens`` (e.g. [CLS], question tokens): a global token attends to
    every key and every query attends to it. Keys per query ≈ 3w + G."""

    def __init__(self, window: int, global_tokens: tuple[int, ...] = (0,),
                 block: int | None = None):
        super().__init__()
        self.window, self.block = window, block or max(window, 1)
        self.global_tokens = tuple(sorted(set(global_tokens)))

    def _is_global(self, index: Tensor, n: int) -> Tensor:
        tokens = torch.tensor([t for t in self.global_tokens if t < n], dtype=torch.long)
        return torch.isin(index, tokens)

    def allowed(self, i: Tensor, j: Tensor, n: int, is_causal: bool = False) -> Tensor:
        return ((i - j).abs() <= self.window) | self._is_global(i, n) | self._is_global(j, n)

    def _candidates(self, n: int, is_causal: bool) -> Tensor:
        b, w = self.block, self.window
        starts = torch.arange(0, n, b)[:, None]
        window = starts + torch.arange(-w, b if is_causal else b + w)[None, :]
        tokens = torch.tensor([t for t in self.global_tokens if t < n], dtype=torch.long)
        return torch.cat([window, tokens.expand(window.shape[0], -1)], dim=1)

    def _global_queries(self, n: int) -> Tensor:
        return torch.tensor([t for t in self.global_tokens if t < n], dtype=torch.long)


class BigBirdAttention(_BlockSparseAttention):
    """Zaheer et al. (2020), §2 and appendix D (ITC): blocks of ``block`` tokens; query block c
    sees key blocks c − 1, c, c + 1 (window), ``n_random`` random key blocks, and the first
    ``n_global`` tokens, which attend everywhere (global). Keys per query ≈ (3 + r) b + g.

    The random blocks are drawn once per sequence length from ``seed`` (the pattern is fixed,
    as in the paper's implementation, not resampled per batch); causally, only from the past.
    """

    def __init__(self, block: int, n_random: int = 2, n_global: int | None = None,
                 seed: int = 0):
        super().__init__()
        self.block, self.n_random, self.seed = block, n_random, seed
        self.n_global = block if n_global is None else n_global
        self._random: dict[tuple[int, bool], Tensor] = {}

    def random_blocks(self, n: int, is_causal: bool = False) -> Tensor:
        """``(n_blocks, r)`` random key blocks per query block (−1 where too few to draw from)."""
        if (n, is_causal) not in self._random:
            n_blocks = -(-n // self.block)
            generator = torch.Generator().manual_seed(self.seed)
            chosen = torch.full((n_blocks, self.n_random), -1, dtype=torch.long)
            for c in range(n_blocks):
                # outside the window; causally, strictly before it
                pool = [x for x in range(n_blocks) if abs(x - c) > 1 and (not is_causal or x < c)]
                picks = torch.randperm(len(pool), generator=generator)[:self.n_random]
                chosen[c, :len(picks)] = torch.tensor(pool, dtype=torch.long)[picks]
            self._random[n, is_causal] = chosen
        return self._random[n, is_causal]

    def _random_matrix(self, n: int, is_causal: bool) -> Tensor:
        blocks = self.random_blocks(n, is_causal)
        matrix = torch.zeros(blocks.shape[0], blocks.shape[0] + 1, dtype=torch.bool)
        # the −1 entries (nothing drawn) land in the spare last column, then dropped
        matrix[torch.arange(blocks.shape[0])[:, None], blocks] = True
        return matrix[:, :-1]

    def allowed(self, i: Tensor, j: Tensor, n: int, is_causal: bool = False) -> Tensor:
        bi, bj = i // self.block, j // self.block
        random = self._random_matrix(n, is_causal)[bi.clamp(max=-(-n // self.block) - 1),
                                                   bj.clamp(max=-(-n // self.block) - 1)]
        return ((bi - bj).abs() <= 1) | (i < self.n_global) | (j < self.n_global) | random

    def _candidates(self, n: int, is_causal: bool) -> Tensor:
        b = self.block
        n_blocks = -(-n // b)
        offsets = torch.arange(b)
        window = (torch.arange(n_blocks)[:, None, None] + torch.tensor([-1, 0, 1])[None, :, None])
        window = (window * b + offsets).flatten(1)
        random = self.random_blocks(n, is_causal)
        random = torch.where(random[:, :, None] >= 0, random[:, :, None] * b + offsets, -1)
        globals_ = torch.arange(min(self.n_global, n)).expand(n_blocks, -1)
        return torch.cat([window, random.flatten(1), globals_], dim=1)

    def _global_queries(self, n: int) -> Tensor:
        return torch.arange(min(self.n_global, n))
