"""The shape of the decoder-only language model: one frozen dataclass, validated on creation.

The defaults are a small LLaMA (Touvron et al. 2023, "LLaMA: Open and Efficient Foundation
Language Models"): pre-norm RMSNorm, a SwiGLU feed-forward whose hidden width follows LLaMA's
rule, rotary positions, no biases. ``n_kv_heads`` < ``n_heads`` gives grouped-query attention
(Ainslie et al. 2023), ``n_kv_heads = 1`` multi-query attention (Shazeer 2019).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

ATTENTION_PATHS = ("sdpa", "reference")


@dataclass(frozen=True)
class LMConfig:
    """Every size of :class:`algorithms.lm.model.LanguageModel`.

    ``d_ff`` None resolves to LLaMA's rule (the ``FeedForward`` of the reference code): SwiGLU
    has three matrices instead of two, so the hidden width is 2/3 of the usual 4 · d_model to
    keep the parameter count, rounded up to a multiple of ``multiple_of`` (kernel-friendly).
    ``max_seq_len`` is the longest context: the length of the rotary tables; the model refuses
    longer input. ``attention`` picks the kernel: "sdpa" is torch's fused
    ``scaled_dot_product_attention`` (the fast path), "reference" week 3's
    ``grouped_query_attention`` written out; both compute the same function.
    """

    vocab_size: int
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    n_kv_heads: int | None = None
    d_ff: int | None = None
    multiple_of: int = 32
    max_seq_len: int = 256
    rope_base: float = 10000.0
    norm_eps: float = 1e-5
    tie_embeddings: bool = False
    init_std: float = 0.02
    attention: str = "sdpa"

    def __post_init__(self) -> None:
        sizes = {"vocab_size": self.vocab_size, "d_model": self.d_model,
                 "n_layers": self.n_layers, "n_heads": self.n_heads,
                 "n_kv_heads": self.kv_heads, "multiple_of": self.multiple_of,
                 "max_seq_len": self.max_seq_len, "d_ff": self.d_ff}
        for name, value in sizes.items():
            if name == "d_ff" and value is None:
                continue  # resolved by LLaMA's rule from sizes already checked
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
        if self.n_heads % self.kv_heads:
            raise ValueError(f"n_heads={self.n_heads} is not divisible by "
                             f"n_kv_heads={self.kv_heads}")
        if self.head_dim % 2:
            raise ValueError(f"head_dim={self.head_dim} must be even for rotary embeddings")
        if self.rope_base <= 0 or self.norm_eps <= 0 or self.init_std < 0:
            raise ValueError(f"need rope_base > 0, norm_eps > 0, init_std >= 0, got "
                             f"{self.rope_base}, {self.norm_eps}, {self.init_std}")
        if self.attention not in ATTENTION_PATHS:
            raise ValueError(f"attention must be one of {ATTENTION_PATHS}, got "
                             f"{self.attention!r}")

    @property
    def hidden_dim(self) -> int:
        """The resolved SwiGLU width: ``d_ff``, or ⌈(2/3 · 4 · d_model) / m⌉ · m (LLaMA)."""
        if self.d_ff is not None:
            return self.d_ff
        hidden = int(2 * 4 * self.d_model / 3)
        return self.multiple_of * -(-hidden // self.multiple_of)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def kv_heads(self) -> int:
        """The resolved number of key/value heads (``n_heads`` when ``n_kv_heads`` is None)."""
        return self.n_heads if self.n_kv_heads is None else self.n_kv_heads

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LMConfig:
        """The inverse of :meth:`to_dict`; an unknown key is an error, not silently dropped."""
        known = {f.name for f in dataclasses.fields(cls)}
        for key in d:
            if key not in known:
                raise ValueError(f"unknown LMConfig key {key!r}")
        return cls(**d)
