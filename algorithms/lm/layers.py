"""The three layers of a LLaMA block: RMSNorm, the SwiGLU feed-forward, causal self-attention.

* RMSNorm, Zhang & Sennrich (2019), "Root Mean Square Layer Normalization", eq. 4:
      ā_i = a_i / RMS(a) · g_i,   RMS(a) = sqrt(1/n Σ_i a_i² + ε):
  LayerNorm without the mean subtraction and the bias; re-scaling invariance is what matters.
* SwiGLU, Shazeer (2020), "GLU Variants Improve Transformer", eq. 6:
      FFN_SwiGLU(x) = (Swish(x W) ⊗ x V) W_2     (Swish_1 = SiLU; no biases)
  named as in Hugging Face: W = ``gate_proj``, V = ``up_proj``, W_2 = ``down_proj``.
* Causal self-attention with rotary positions (Su et al. 2021, RoFormer) and h query heads over
  g key/value heads (Ainslie et al. 2023; g = h is MHA), reusing week 3's ``RotaryEmbedding``,
  ``KVCache`` and ``grouped_query_attention`` (``algorithms.attention``).

Week 5's variants sit beside them: LayerNorm (Ba et al. 2016) through :func:`make_norm`, the GeGLU
gate and the plain two-matrix FFN (:class:`GatedFeedForward`, :class:`FeedForward`, picked by
:func:`make_ffn`), and QK-norm in the attention.

RoPE pairs dimension i with i + d/2 (GPT-NeoX / LLaMA / HF's ``rotate_half``) rather than the
paper's adjacent pairs, so weights trained by Hugging Face's LLaMA load without a permutation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from algorithms.attention.multihead import KVCache, grouped_query_attention
from algorithms.attention.positional import RotaryEmbedding
from algorithms.lm.config import LMConfig


class RMSNorm(nn.Module):
    """Zhang & Sennrich (2019), eq. 4: x / sqrt(mean(x²) + ε) · g, with g initialised to 1.

    Computed in float32 and cast back before the gain, as Hugging Face's ``LlamaRMSNorm`` does:
    the mean of squares of bfloat16 activations loses too many bits.
    """

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.weight * _Normalize.apply(x, self.eps)


class _Normalize(torch.autograd.Function):
    """n = x · r, r = 1 / sqrt(mean(x²) + ε) over the last dimension (float32 inside, returned
    in x's dtype), with its gradient written out:

        ∂L/∂x = r · (g − n · mean(g ⊙ n))       (g = ∂L/∂n)

    Why by hand: autograd's forward and backward of the composite (pow, mean, rsqrt, mul) make
    about ten passes over the activations; this makes six (forward: one reduction for mean(x²)
    and one product; backward: g ⊙ n, its mean, one multiply-add and one product), and a small
    model's step runs nine norms.
    """

    @staticmethod
    def forward(ctx, x: Tensor, eps: float) -> Tensor:
        wide = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x  # never narrower
        # ‖x‖² / d = mean(x²), in one reduction pass
        mean_square = torch.linalg.vector_norm(wide, dim=-1, keepdim=True).square() / x.shape[-1]
        r = torch.rsqrt(mean_square + eps)
        normed = wide * r
        ctx.save_for_backward(normed, r)
        return normed.to(x.dtype)

    @staticmethod
    @once_differentiable  # r and n are saved as constants: no second derivative through them
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        normed, r = ctx.saved_tensors
        g = grad.to(normed.dtype)
        projection = (g * normed).mean(-1, keepdim=True)
        return (torch.addcmul(g, normed, projection, value=-1) * r).to(grad.dtype), None


class SwiGLU(nn.Module):
    """Shazeer (2020), eq. 6: down(SiLU(gate x) ⊗ up x). The gate decides, per hidden unit, how
    much of the linear ``up`` feature passes: a smooth, learned GLU gate instead of a ReLU."""

    def __init__(self, d_model: int, hidden: int):
        super().__init__()
        self.gate_proj = nn.Linear(d_model, hidden, bias=False)
        self.up_proj = nn.Linear(d_model, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, d_model, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class GatedFeedForward(nn.Module):
    """The GLU family of Shazeer (2020), eq. 5–6: down(act(gate x) ⊗ up x), act = GELU for
    GeGLU (eq. 5), SiLU for SwiGLU (eq. 6); the same parameter names as :class:`SwiGLU`."""

    def __init__(self, d_model: int, hidden: int, activation: str = "gelu"):
        super().__init__()
        self.act = {"gelu": F.gelu, "silu": F.silu}[activation]
        self.gate_proj = nn.Linear(d_model, hidden, bias=False)
        self.up_proj = nn.Linear(d_model, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, d_model, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))


class FeedForward(nn.Module):
    """Vaswani et al. (2017), eq. 2: FFN(x) = act(x W_1) W_2 with act = ReLU (the original) or
    GELU (Hendrycks & Gimpel 2016; GPT-2); no biases, as the rest of the model."""

    def __init__(self, d_model: int, hidden: int, activation: str = "relu"):
        super().__init__()
        self.act = {"relu": F.relu, "gelu": F.gelu}[activation]
        self.up_proj = nn.Linear(d_model, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, d_model, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.down_proj(self.act(self.up_proj(x)))


def make_ffn(config: LMConfig) -> nn.Module:
    """The feed-forward ``config.ffn`` names, ``config.hidden_dim`` wide."""
    d, hidden = config.d_model, config.hidden_dim
    if config.ffn == "swiglu":
        return SwiGLU(d, hidden)
    if config.ffn == "geglu":
        return GatedFeedForward(d, hidden, "gelu")
    return FeedForward(d, hidden, config.ffn)


def make_norm(config: LMConfig, dim: int | None = None) -> nn.Module:
    """RMSNorm or LayerNorm (Ba et al. 2016: (x − mean) / sqrt(var + ε) · g + b) over ``dim``
    features (default d_model), as ``config.norm`` says."""
    dim = config.d_model if dim is None else dim
    if config.norm == "layernorm":
        return nn.LayerNorm(dim, eps=config.norm_eps)
    return RMSNorm(dim, config.norm_eps)


def rotate_half_split(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """RoPE with pairs (i, i + d/2): x ⊙ [cos, cos] + (x₂, x₁) ⊙ [−sin, sin], given the full-width
    tables ``cos`` = [cos, cos] and ``sin`` = [−sin, sin] broadcastable to ``x``.

    Bit for bit :meth:`RotaryEmbedding.rotate_with` (``interleaved=False``): its halves are
    x₁ cos − x₂ sin and x₁ sin + x₂ cos, the same products and sums (negation is exact). Written
    as two full-width products instead of four half-width ones, it launches half the kernels,
    forward and backward: on a CPU a small model's elementwise ops cost per launch.
    """
    first, second = x.chunk(2, dim=-1)
    return x * cos + torch.cat([second, first], dim=-1) * sin


class CausalSelfAttention(nn.Module):
    """softmax(q kᵀ / √d + causal) v per head, with q and k rotated by their absolute positions.

    ``forward(x, cache)``: x is ``(B, T, d_model)``. With a :class:`KVCache` the T new tokens sit
    at positions ``cache.length, ..., cache.length + T − 1``; their keys are cached *after* the
    rotation (a key's position never changes), so a cached step re-rotates nothing.

    The causal mask is by absolute position, k_pos ≤ q_pos. Without a past it is exactly the
    lower triangle SDPA's ``is_causal`` builds internally (no mask is materialised); a one-token
    step may see every key (no mask at all); only a multi-token chunk after a past needs an
    explicit ``(T, past + T)`` mask, since ``is_causal`` aligns its triangle to the top left.

    ``config.qk_norm`` normalises each head's query and key over d_h before the rotation
    (Henry et al. 2020, "Query-Key Normalization for Transformers"; Dehghani et al. 2023,
    "Scaling Vision Transformers to 22 Billion Parameters", §3.1.1): the logits q·k/√d_h are
    then bounded by the norms' gains, which is what keeps high learning rates from blowing up
    the attention entropy. Named ``q_norm``, ``k_norm`` as in Hugging Face's Qwen3 / OLMo-2.
    """

    def __init__(self, config: LMConfig):
        super().__init__()
        self.n_heads, self.n_kv_heads = config.n_heads, config.kv_heads
        self.head_dim, self.max_seq_len = config.head_dim, config.max_seq_len
        self.reference = config.attention == "reference"
        d, hd = config.d_model, config.head_dim
        self.q_proj = nn.Linear(d, config.n_heads * hd, bias=False)
        self.k_proj = nn.Linear(d, config.kv_heads * hd, bias=False)  # GQA shrinks k, v only
        self.v_proj = nn.Linear(d, config.kv_heads * hd, bias=False)
        self.o_proj = nn.Linear(config.n_heads * hd, d, bias=False)
        self.rotary = RotaryEmbedding(hd, config.rope_base, interleaved=False)
        if config.qk_norm:
            self.q_norm, self.k_norm = make_norm(config, hd), make_norm(config, hd)
        self.qk_norm = config.qk_norm
        # the tables for every position, rounded from float64 once; not in the state dict.
        # Stored full width, (L, 1, d_h): [cos, cos] and [−sin, sin], for rotate_half_split
        cos, sin = self.rotary.tables(torch.arange(config.max_seq_len), torch.float32)
        self.register_buffer("cos", torch.cat([cos, cos], -1)[:, None], persistent=False)
        self.register_buffer("sin", torch.cat([-sin, sin], -1)[:, None], persistent=False)

    def forward(self, x: Tensor, cache: KVCache | None = None) -> Tensor:
        batch, length, _ = x.shape
        past = cache.length if cache is not None else 0
        if past + length > self.max_seq_len:
            raise ValueError(f"sequence of {past + length} tokens does not fit the model's "
                             f"context of {self.max_seq_len}")
        # rotated in the projections' own (B, T, heads, d_h) layout, then viewed as (B, heads,
        # T, d_h): each product is one contiguous pass, and SDPA's backward hands back
        # gradients in this layout, so no transposed copies are made (see rotate_half_split)
        q = self.q_proj(x).view(batch, length, self.n_heads, self.head_dim)
        k = self.k_proj(x).view(batch, length, self.n_kv_heads, self.head_dim)
        v = self.v_proj(x).view(batch, length, self.n_kv_heads, self.head_dim).transpose(1, 2)
        # float32 tables (the model's dtype once it is cast): under autocast the bfloat16 q, k
        # are rotated in float32, as Hugging Face does
        if self.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        cos, sin = self.cos[past:past + length], self.sin[past:past + length]
        q = rotate_half_split(q, cos, sin).transpose(1, 2)
        k = rotate_half_split(k, cos, sin).transpose(1, 2)
        if cache is not None:
            k, v = cache.append(k, v)

        mask = None
        if past and length > 1:  # a chunk after a past: causal by absolute position
            q_pos = torch.arange(past, past + length, device=x.device)
            mask = torch.arange(past + length, device=x.device)[None, :] <= q_pos[:, None]
        is_causal = past == 0 and length > 1
        if self.reference:
            out = grouped_query_attention(q, k, v, is_causal=is_causal, mask=mask)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal,
                                                 enable_gqa=self.n_kv_heads != self.n_heads)
        return self.o_proj(out.transpose(1, 2).reshape(batch, length, -1))
