"""The line-up of attention variants that the benchmark and the week-3 experiment compare.

Every entry builds an :class:`~algorithms.attention.dot_product.Attention` for a given head dim
and longest length, with the hyperparameters used throughout (window 128, blocks of 64–128,
256 random features, rank 128, chunks of 512), so that the experiment, the benchmark script and
the post quote the same configurations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from algorithms.attention.chunked import ChunkedAttention
from algorithms.attention.dot_product import (
    AdditiveAttention,
    Attention,
    MultiplicativeAttention,
    ScaledDotProductAttention,
)
from algorithms.attention.flash import FlashAttentionModule
from algorithms.attention.linear import LinformerAttention, PerformerAttention
from algorithms.attention.multihead import GroupedQueryAttention
from algorithms.attention.sparse import (
    BigBirdAttention,
    BlockLocalAttention,
    LongformerAttention,
    SlidingWindowAttention,
)


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    family: str  # "reference", "dense", "exact-tiled", "sparse", "linear"
    build: Callable[[int, int], Attention]  # (head_dim, max_len) -> module
    kv_heads: int | None = None  # None: as many as query heads; MQA 1, GQA 2
    quadratic_memory: bool = True  # materialises an L × L (or larger) tensor
    note: str = ""
    cuda_only: bool = False


WINDOW = 128
BLOCK = 64
FEATURES = 256
RANK = 128
CHUNK = 512

# the families that never hold an L × L tensor: the candidates to overtake the quadratic ones
LINEAR_MEMORY_FAMILIES = ("exact-tiled", "sparse", "linear")

VARIANTS: dict[str, Variant] = {v.name: v for v in [
    Variant("sdpa", "PyTorch SDPA", "reference",
            lambda d, n: ScaledDotProductAttention(fused=True), quadratic_memory=False,
            note="torch.nn.functional.scaled_dot_product_attention (fused kernel)"),
    Variant("dense", "dense (ours)", "dense", lambda d, n: ScaledDotProductAttention(),
            note="softmax(QKᵀ/√d)V, L × L weights materialised"),
    Variant("additive", "additive (Bahdanau)", "dense", lambda d, n: AdditiveAttention(d),
            note="v_aᵀ tanh(W q + U k), attn_dim = d: an L × L × d tensor"),
    Variant("multiplicative", "multiplicative (Luong)", "dense",
            lambda d, n: MultiplicativeAttention(d), note="qᵀ W_a k"),
    Variant("mqa", "MQA (1 KV head)", "dense", lambda d, n: GroupedQueryAttention(), kv_heads=1,
            note="all query heads share 1 key/value head"),
    Variant("gqa", "GQA (2 KV heads)", "dense", lambda d, n: GroupedQueryAttention(), kv_heads=2,
            note="2 key/value heads, each shared by half the query heads"),
    Variant("chunked", "chunked (Rabe & Staats)", "exact-tiled",
            lambda d, n: ChunkedAttention(CHUNK, CHUNK), quadratic_memory=False,
            note=f"{CHUNK}-query × {CHUNK}-key chunks, checkpointed"),
    Variant("flash", "FlashAttention (PyTorch)", "exact-tiled",
            lambda d, n: FlashAttentionModule(128, 128, backend="torch"),
            quadratic_memory=False, note="128 × 128 tiles, online softmax, recomputation"),
    Variant("flash_triton", "FlashAttention (Triton)", "exact-tiled",
            lambda d, n: FlashAttentionModule(backend="triton"), quadratic_memory=False,
            note="flash_triton.py, 64 × 64 tiles", cuda_only=True),
    Variant("sliding_window", "sliding window", "sparse",
            lambda d, n: SlidingWindowAttention(WINDOW), quadratic_memory=False,
            note=f"|i − j| ≤ {WINDOW}"),
    Variant("block_local", "block-local", "sparse", lambda d, n: BlockLocalAttention(WINDOW),
            quadratic_memory=False, note=f"blocks of {WINDOW}"),
    Variant("longformer", "Longformer", "sparse",
            lambda d, n: LongformerAttention(WINDOW, global_tokens=(0,)),
            quadratic_memory=False, note=f"window ±{WINDOW} + 1 global token"),
    Variant("bigbird", "BigBird", "sparse",
            lambda d, n: BigBirdAttention(BLOCK, n_random=2, n_global=BLOCK),
            quadratic_memory=False,
            note=f"blocks of {BLOCK}: 3 window + 2 random blocks + {BLOCK} global tokens"),
    Variant("performer", "Performer (FAVOR+)", "linear",
            lambda d, n: PerformerAttention(d, FEATURES), quadratic_memory=False,
            note=f"m = {FEATURES} orthogonal positive random features"),
    Variant("linformer", "Linformer", "linear",
            lambda d, n: LinformerAttention(n, RANK), quadratic_memory=False,
            note=f"k = {RANK} learned projections (JL initialisation)"),
]}
