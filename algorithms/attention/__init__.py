"""Attention mechanisms and positional encodings (week 3), each written out from its paper.

Every attention variant is an :class:`Attention` module with one interface,
``forward(q, k, v, is_causal=False)`` on ``(..., L, d)`` tensors (see ``dot_product.py``):

=======================  ==============================================  ======================
module                   variants                                        paper
=======================  ==============================================  ======================
``dot_product.py``       scaled dot-product, additive, multiplicative    Vaswani; Bahdanau; Luong
``multihead.py``         MHA, MQA, GQA, KV cache                         Vaswani; Shazeer; Ainslie
``sparse.py``            sliding window, block-local, Longformer,        Beltagy; Parmar; Zaheer
                         BigBird
``linear.py``            Performer (FAVOR+), Linformer                   Choromanski; Wang
``chunked.py``           memory-efficient chunked attention              Rabe & Staats
``flash.py``             FlashAttention (autograd.Function)              Dao
``flash_triton.py``      the same as Triton kernels (CUDA only)          Dao
``positional.py``        sinusoidal, learned, Shaw, RoPE (real and       Vaswani; Shaw; Su; Press
                         complex), ALiBi
=======================  ==============================================  ======================

``model.py`` is a minimal GPT with a switchable positional encoding, ``analysis.py`` the
attention-analysis toolkit (entropy, distance, head importance and pruning), ``profiling.py``
times and measures peak memory, ``variants.py`` fixes the line-up that is benchmarked.
"""

from algorithms.attention.chunked import ChunkedAttention, chunked_attention
from algorithms.attention.dot_product import (
    AdditiveAttention,
    Attention,
    MultiplicativeAttention,
    ScaledDotProductAttention,
    causal_mask,
    scaled_dot_product_attention,
)
from algorithms.attention.flash import (
    FlashAttention,
    FlashAttentionModule,
    flash_attention,
    triton_available,
)
from algorithms.attention.linear import (
    LinformerAttention,
    PerformerAttention,
    orthogonal_gaussian_features,
)
from algorithms.attention.multihead import (
    GroupedQueryAttention,
    KVCache,
    MultiHeadAttention,
    grouped_query_attention,
)
from algorithms.attention.positional import (
    POSITIONAL_ENCODINGS,
    ALiBi,
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    ShawRelativePosition,
    SinusoidalPositionalEncoding,
    alibi_slopes,
    sinusoidal_table,
)
from algorithms.attention.sparse import (
    BigBirdAttention,
    BlockLocalAttention,
    LongformerAttention,
    SlidingWindowAttention,
)

__all__ = [
    "ALiBi", "AdditiveAttention", "Attention", "BigBirdAttention", "BlockLocalAttention",
    "ChunkedAttention", "FlashAttention", "FlashAttentionModule", "GroupedQueryAttention",
    "KVCache",
    "LearnedPositionalEmbedding", "LinformerAttention", "LongformerAttention",
    "MultiHeadAttention", "MultiplicativeAttention", "POSITIONAL_ENCODINGS",
    "PerformerAttention", "RotaryEmbedding", "ScaledDotProductAttention",
    "ShawRelativePosition", "SinusoidalPositionalEncoding", "SlidingWindowAttention",
    "alibi_slopes", "causal_mask", "chunked_attention", "flash_attention",
    "grouped_query_attention", "orthogonal_gaussian_features", "scaled_dot_product_attention",
    "sinusoidal_table", "triton_available",
]
