"""Positional encodings: absolute (sinusoidal, learned), relative (Shaw), rotary (RoPE), ALiBi.

Attention is permutation-equivariant: without positional information a transformer sees a bag
of tokens (a causal mask alone leaks some order: "NoPE"). The encodings differ in *where* they
put position:

* added to the token embeddings once, before the first layer:
  - sinusoidal, Vaswani et al. (2017), §3.5:
        PE(p, 2i) = sin(p / 10000^{2i/d}),  PE(p, 2i+1) = cos(p / 10000^{2i/d});
  - learned absolute embeddings (BERT, GPT-2): a table of ``max_len`` trained vectors.
* inside every attention layer, as a function of the distance j − i only:
  - Shaw, Uszkoreit & Vaswani (2018), "Self-Attention with Relative Position Representations",
    eqs. 3–5:  e_ij = q_i · (k_j + a^K_ij) / √d,  z_i = Σ_j α_ij (v_j + a^V_ij),  with
    a_ij = w_{clip(j − i, −k, k)} learned (2k + 1 vectors each for keys and values, shared
    across heads);
  - RoPE, Su et al. (2021), "RoFormer: Enhanced Transformer with Rotary Position Embedding",
    eq. 34: rotate each pair (x_{2i}, x_{2i+1}) of q and k at position m by the angle m θ_i,
    θ_i = 10000^{−2i/d}, so that ⟨R_m q, R_n k⟩ = ⟨q, R_{n−m} k⟩ depends on n − m only; the
    same map in complex numbers (eq. 12): x_{2i} + i x_{2i+1} ↦ (x_{2i} + i x_{2i+1}) e^{i m θ_i};
  - ALiBi, Press, Smith & Lewis (2022), "Train Short, Test Long: Attention with Linear Biases
    Enables Input Length Extrapolation", §3: no embedding at all; the logits get the bias
    −m_h · (i − j), with a fixed geometric sequence of head slopes m_h.

The in-attention encodings are used by :class:`algorithms.attention.multihead.MultiHeadAttention`
through three hooks: ``rotary`` rotates q and k, ``alibi.bias`` and ``shaw.logits`` add to the
logits, ``shaw.values`` adds to the output.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

POSITIONAL_ENCODINGS = ("none", "sinusoidal", "learned", "shaw", "rope", "alibi")
# how tables, figures and posts name them
ENCODING_LABELS = {"none": "NoPE", "sinusoidal": "sinusoidal", "learned": "learned absolute",
                   "shaw": "Shaw relative", "rope": "RoPE", "alibi": "ALiBi"}


# ----------------------------------------------------------------------------- absolute

def sinusoidal_table(positions: Tensor, d_model: int, base: float = 10000.0) -> Tensor:
    """Vaswani et al. (2017), §3.5: the ``(len(positions), d_model)`` table of sines and cosines.

    Dimension pair i oscillates with wavelength 2π · base^{2i/d}, from 2π to ~2π · base: any fixed
    offset is a linear map (a rotation of each pair), which is why the authors hoped it would let
    the model attend by relative position and extrapolate.
    """
    if d_model % 2:
        raise ValueError(f"d_model must be even, got {d_model}")
    inv_freq = base ** (-torch.arange(0, d_model, 2, dtype=torch.float64,
                                      device=positions.device) / d_model)
    angles = positions.to(torch.float64)[:, None] * inv_freq[None, :]
    table = torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-2)  # interleave sin, cos
    return table.to(torch.get_default_dtype())


class SinusoidalPositionalEncoding(nn.Module):
    """Fixed sinusoids added to the token embeddings (Vaswani et al., 2017, §3.5). No parameters;
    defined for every position, so it can at least be *evaluated* beyond the training length.

    ``scale`` multiplies the table. Vaswani et al. multiply the token embeddings by √d_model
    (§3.4) so that tokens and the unit-amplitude sinusoids have comparable size; a model with
    small (GPT-2 style, s.d. 0.02) embeddings should scale the table down instead, or position
    drowns out content.
    """

    def __init__(self, d_model: int, base: float = 10000.0, scale: float = 1.0):
        super().__init__()
        self.d_model, self.base, self.scale = d_model, base, scale

    def forward(self, positions: Tensor) -> Tensor:
        table = sinusoidal_table(positions, self.d_model, self.base)
        return table * self.scale if self.scale != 1.0 else table


class LearnedPositionalEmbedding(nn.Module):
    """A trained vector per absolute position (Gehring et al., 2017; BERT; GPT-2).

    The table has ``max_len`` rows; rows of positions never seen in training keep their random
    initialisation, which is exactly why learned positions do not extrapolate.
    """

    def __init__(self, max_len: int, d_model: int):
        super().__init__()
        self.table = nn.Embedding(max_len, d_model)
        nn.init.normal_(self.table.weight, std=0.02)

    def forward(self, positions: Tensor) -> Tensor:
        if int(positions.max()) >= self.table.num_embeddings:
            raise IndexError(f"position {int(positions.max())} is beyond the table's "
                             f"{self.table.num_embeddings} rows")
        return self.table(positions)


# ----------------------------------------------------------------------------- Shaw et al.

class ShawRelativePosition(nn.Module):
    """Shaw et al. (2018), eqs. 3–5: learned relative-position vectors for keys and values.

    ``a^K_ij = w^K_{clip(j − i, −k, k)}`` and ``a^V_ij = w^V_{clip(j − i, −k, k)}``, shared by
    all heads of a layer (the paper's choice). Distances beyond ±k share one vector, so the
    encoding is defined at every length: clipping is what lets it extrapolate.

    Written without the ``(Lq, Lk, d)`` tensor of the paper's naive form: the key term is
    ``q · w^K_r`` for the 2k + 1 distances r (one small matmul), gathered per (i, j); the value
    term scatters each weight α_ij into its distance bucket and multiplies by w^V once (§3.3's
    efficient implementation reaches the same O(L²) memory by a reshape).
    """

    def __init__(self, head_dim: int, max_distance: int = 16):
        super().__init__()
        self.max_distance = max_distance
        self.keys = nn.Parameter(torch.randn(2 * max_distance + 1, head_dim) * 0.02)
        self.values = nn.Parameter(torch.randn(2 * max_distance + 1, head_dim) * 0.02)

    def buckets(self, q_pos: Tensor, k_pos: Tensor) -> Tensor:
        """``(Lq, Lk)`` indices clip(j − i, −k, k) + k into the 2k + 1 learned vectors."""
        distance = k_pos[None, :] - q_pos[:, None]
        return distance.clamp(-self.max_distance, self.max_distance) + self.max_distance

    def logits(self, q: Tensor, q_pos: Tensor, k_pos: Tensor) -> Tensor:
        """q_i · a^K_ij for every pair: ``(..., Lq, Lk)`` (unscaled; the caller scales by 1/√d)."""
        per_bucket = q @ self.keys.T  # (..., Lq, 2k+1)
        index = self.buckets(q_pos, k_pos).expand(*q.shape[:-1], k_pos.shape[0])
        return per_bucket.gather(-1, index)

    def output(self, weights: Tensor, q_pos: Tensor, k_pos: Tensor) -> Tensor:
        """Σ_j α_ij a^V_ij: ``(..., Lq, head_dim)``."""
        index = self.buckets(q_pos, k_pos).expand_as(weights)
        per_bucket = weights.new_zeros(*weights.shape[:-1], self.values.shape[0])
        per_bucket = per_bucket.scatter_add(-1, index, weights)  # Σ of α_ij over j in each bucket
        return per_bucket @ self.values


# ----------------------------------------------------------------------------- RoPE

class RotaryEmbedding(nn.Module):
    """Su et al. (2021), RoFormer, eq. 34 (real form) and eq. 12 (complex form).

    ``rotate(x, positions)`` turns the pair (x_{2i}, x_{2i+1}) of the vector at position m by the
    angle m θ_i, θ_i = base^{−2i/d}:

        [x'_{2i}  ]   [cos mθ_i  −sin mθ_i] [x_{2i}  ]
        [x'_{2i+1}] = [sin mθ_i   cos mθ_i] [x_{2i+1}].

    Rotations are orthogonal and R_mᵀ R_n = R_{n−m}, hence ⟨R_m q, R_n k⟩ = ⟨q, R_{n−m} k⟩: the
    logit depends on the offset only, not on the absolute positions (tested). With
    ``interleaved=True`` (the default) pairs are adjacent dimensions, as in the paper;
    ``interleaved=False`` pairs dimension i with i + d/2 instead, as GPT-NeoX, LLaMA and Hugging
    Face's ``rotate_half`` do. The two differ by a fixed permutation of the q and k weights, so a
    model must use the pairing its weights were trained with.
    """

    def __init__(self, head_dim: int, base: float = 10000.0, interleaved: bool = True):
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"head_dim must be even, got {head_dim}")
        self.head_dim, self.base, self.interleaved = head_dim, base, interleaved
        inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def angles(self, positions: Tensor) -> Tensor:
        """m θ_i for every position m and pair i: ``(len(positions), head_dim / 2)``, float64."""
        return positions.to(torch.float64)[:, None] * self.inv_freq[None, :]

    def tables(self, positions: Tensor, dtype: torch.dtype | None = None) -> tuple[Tensor, Tensor]:
        """cos mθ_i and sin mθ_i, ``(len(positions), head_dim / 2)`` each: computed in float64
        and rounded once, so a model can precompute them once and rotate with
        :meth:`rotate_with` without float64 work."""
        angles = self.angles(positions)
        dtype = dtype or torch.get_default_dtype()
        return angles.cos().to(dtype), angles.sin().to(dtype)

    def rotate_with(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        """The rotation with precomputed ``(L, head_dim / 2)`` tables, in this pairing."""
        if self.interleaved:
            first, second = x[..., 0::2], x[..., 1::2]
            return torch.stack([first * cos - second * sin, first * sin + second * cos],
                               dim=-1).flatten(-2)
        first, second = x.chunk(2, dim=-1)  # pair (i, i + d/2): HF's rotate_half
        return torch.cat([first * cos - second * sin, first * sin + second * cos], dim=-1)

    def rotate(self, x: Tensor, positions: Tensor) -> Tensor:
        """The real form: x is ``(..., L, head_dim)``, ``positions`` the L absolute positions."""
        cos, sin = self.tables(positions, x.dtype)
        return self.rotate_with(x, cos, sin)

    def rotate_complex(self, x: Tensor, positions: Tensor) -> Tensor:
        """The complex form: view each pair as x_a + i x_b and multiply by e^{i m θ_i}."""
        precision = torch.float64 if x.dtype == torch.float64 else torch.float32
        wide = x.to(precision)
        if self.interleaved:
            pairs = wide.reshape(*x.shape[:-1], -1, 2)
        else:
            pairs = torch.stack(wide.chunk(2, dim=-1), dim=-1)
        as_complex = torch.view_as_complex(pairs.contiguous())
        rotation = torch.polar(torch.ones_like(self.angles(positions)), self.angles(positions))
        rotated = torch.view_as_real(as_complex * rotation.to(as_complex.dtype))
        if not self.interleaved:
            rotated = rotated.transpose(-2, -1)  # (..., 2, d/2): the two halves back in place
        return rotated.flatten(-2).to(x.dtype)

    def forward(self, x: Tensor, positions: Tensor) -> Tensor:
        return self.rotate(x, positions)


# ----------------------------------------------------------------------------- ALiBi

def alibi_slopes(n_heads: int) -> list[float]:
    """Press et al. (2022), §3, and the paper's reference code (``get_slopes`` in
    github.com/ofirpress/attention_with_linear_biases).

    For n a power of two, the geometric sequence that starts at 2^{−8/n} with ratio 2^{−8/n}
    (8 heads: 1/2, 1/4, ..., 1/256). Otherwise the slopes of the closest smaller power of two,
    followed by every other slope of the next power of two, as the paper's code does.
    """

    def power_of_two(n: int) -> list[float]:
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        return [start * start ** i for i in range(n)]

    if math.log2(n_heads).is_integer():
        return power_of_two(n_heads)
    closest = 2 ** math.floor(math.log2(n_heads))
    return power_of_two(closest) + alibi_slopes(2 * closest)[0::2][:n_heads - closest]


class ALiBi(nn.Module):
    """Press et al. (2022): add −m_h · |i − j| to head h's logits; no positional embedding.

    With a causal mask only j <= i is ever seen, so the bias is the paper's −m_h (i − j). The
    penalty grows linearly with distance, a recency prior that holds at every length: the
    encoding's extrapolation comes from never having to produce an unseen input.
    """

    def __init__(self, n_heads: int):
        super().__init__()
        self.register_buffer("slopes", torch.tensor(alibi_slopes(n_heads)), persistent=False)

    def bias(self, q_pos: Tensor, k_pos: Tensor) -> Tensor:
        """``(n_heads, Lq, Lk)`` logit biases."""
        distance = (q_pos[:, None] - k_pos[None, :]).abs().to(self.slopes.dtype)
        return -self.slopes[:, None, None] * distance
