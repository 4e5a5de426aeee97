"""The shape of the decoder-only language model: one frozen dataclass, validated on creation.

The defaults are a small LLaMA (Touvron et al. 2023, "LLaMA: Open and Efficient Foundation
Language Models"): pre-norm RMSNorm, a SwiGLU feed-forward whose hidden width follows LLaMA's
rule, rotary positions, no biases. ``n_kv_heads`` < ``n_heads`` gives grouped-query attention
(Ainslie et al. 2023), ``n_kv_heads = 1`` multi-query attention (Shazeer 2019).

Every other architecture of week 5 is one changed field of the same config (the block that reads
them is ``model.DecoderBlock``): where the norm sits (``norm_position``: pre, as GPT-2 and
LLaMA; post, as the original Transformer; none), which norm (``norm``), QK-norm, the feed-forward
(``ffn``), sequential or parallel sublayers (``block``, PaLM / GPT-J), the token mixer
(``mixer``: attention, Mamba, Mamba-2 or RetNet's retention), a mixture of experts in place of
the feed-forward (``n_experts`` > 0) and gradient checkpointing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

ATTENTION_PATHS = ("sdpa", "reference")
NORMS = ("rmsnorm", "layernorm")
NORM_POSITIONS = ("pre", "post", "none")
FFNS = ("swiglu", "geglu", "relu", "gelu", "none")
GATED_FFNS = ("swiglu", "geglu")
BLOCKS = ("sequential", "parallel")
MIXERS = ("attention", "mamba", "mamba2", "retnet")


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

    Architecture switches (defaults: LLaMA). ``ffn`` "relu" and "gelu" are the two-matrix FFN of
    the original Transformer and GPT-2 with ``d_ff`` = 4 · d_model; the gated ones (SwiGLU,
    GeGLU) have three matrices and 2/3 of that width, so every variant has 8 · d_model² weights
    per layer (Shazeer 2020, §2). "none" drops the feed-forward (a homogeneous Mamba stack).
    ``n_experts`` > 0 replaces each feed-forward by that many experts of the same shape, routed
    top-``moe_top_k`` with ``capacity_factor`` (None: no token is dropped), the Switch balancing
    loss weighted ``moe_balance_weight`` and the router z-loss ``moe_z_weight``
    (``algorithms.lm.moe``). ``ssm_state``, ``ssm_expand``, ``ssm_conv`` size the Mamba mixers
    (state N, inner width E · d_model, causal convolution width); ``retention_chunk`` and
    ``ssm_chunk`` are the chunk lengths of RetNet's and Mamba-2's chunked forms.
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
    norm: str = "rmsnorm"
    norm_position: str = "pre"
    qk_norm: bool = False
    ffn: str = "swiglu"
    block: str = "sequential"
    mixer: str = "attention"
    n_experts: int = 0
    moe_top_k: int = 1
    capacity_factor: float | None = 1.25
    moe_balance_weight: float = 0.01
    moe_z_weight: float = 0.001
    ssm_state: int = 16
    ssm_expand: int = 2
    ssm_conv: int = 4
    ssm_chunk: int = 64
    retention_chunk: int = 64
    gradient_checkpointing: bool = False

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
        for name, allowed in (("attention", ATTENTION_PATHS), ("norm", NORMS),
                              ("norm_position", NORM_POSITIONS), ("ffn", FFNS),
                              ("block", BLOCKS), ("mixer", MIXERS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got "
                                 f"{getattr(self, name)!r}")
        for name in ("ssm_state", "ssm_expand", "ssm_conv", "ssm_chunk", "retention_chunk"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got "
                                 f"{getattr(self, name)!r}")
        if not isinstance(self.n_experts, int) or self.n_experts < 0:
            raise ValueError(f"n_experts must be an integer >= 0, got {self.n_experts!r}")
        if self.n_experts and not 1 <= self.moe_top_k <= self.n_experts:
            raise ValueError(f"moe_top_k must be in 1..n_experts={self.n_experts}, got "
                             f"{self.moe_top_k}")
        if self.n_experts and self.ffn == "none":
            raise ValueError("a mixture of experts needs a feed-forward (ffn is 'none')")
        if self.capacity_factor is not None and self.capacity_factor <= 0:
            raise ValueError(f"capacity_factor must be > 0 or None, got {self.capacity_factor}")
        if self.moe_balance_weight < 0 or self.moe_z_weight < 0:
            raise ValueError("moe_balance_weight and moe_z_weight must be >= 0")
        if self.block == "parallel" and self.ffn == "none":
            raise ValueError("a parallel block needs a feed-forward (ffn is 'none')")

    @property
    def hidden_dim(self) -> int:
        """The resolved feed-forward width: ``d_ff``; else for a gated FFN
        ⌈(2/3 · 4 · d_model) / m⌉ · m (LLaMA), for a plain one 4 · d_model rounded alike."""
        if self.d_ff is not None:
            return self.d_ff
        hidden = int(2 * 4 * self.d_model / 3) if self.ffn in GATED_FFNS else 4 * self.d_model
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
