"""RetNet's multi-scale retention, from

Sun et al. (2023), "Retentive Network: A Successor to Transformer for Large Language Models",
§2.1–2.2.

Retention is causal linear attention with a fixed exponential decay γ per head and xPos-like
rotations of q and k by their positions (§2.1): with Q_n = (X_n W_Q) e^{inθ} and K_m = (X_m
W_K) e^{−imθ},  o_n = Σ_{m≤n} γ^{n−m} (Q_n · K_m) V_m, computed in three equal forms:

* parallel (eq. 5):    Retention(X) = (Q Kᵀ ⊙ D) V,   D_{nm} = γ^{n−m} if n ≥ m else 0
* recurrent (eq. 6):   S_n = γ S_{n−1} + K_nᵀ V_n,   o_n = Q_n S_n
* chunkwise (eq. 7):   chunks of B tokens, parallel inside and recurrent across:
      R_i = K_[i]ᵀ (V_[i] ⊙ ζ) + γ^B R_{i−1},                  ζ_j = γ^{B−j−1}
      o_[i] = (Q_[i] K_[i]ᵀ ⊙ D) V_[i] + (Q_[i] R_{i−1}) ⊙ ξ,   ξ_j = γ^{j+1}

Multi-scale retention (§2.2, eq. 8): h heads, key width d_k = d_model / h, value width
value_factor · d_model / h (the paper's 2 · d_model values), γ_h = 1 − 2^{−5−h}, each head's output
normalised on its own (GroupNorm), then gated:

    Y = GroupNorm_h(Concat(head_1, ..., head_h)),   MSR(X) = (swish(X W_G) ⊙ Y) W_O

Retention score normalisation (§2.2): q kᵀ / √d_k, D̃_{nm} = D_{nm} / √(Σ_i D_{ni}) and
R̃_{nm} = R_{nm} / max(|Σ_i R_{ni}|, 1) for R = Q Kᵀ ⊙ D̃. The last two scale each output row by
a positive number, which the per-head normalisation removes (it is scale-invariant up to its
ε): they exist for numerical range, not for the function. All three forms here apply the
*same* row scale, 1 / max(|r_n|, √c_n) with r_n = Σ_m γ^{n−m} Q_n · K_m (carried as an extra
all-ones value column) and c_n = Σ_{m≤n} γ^{n−m}, so they agree for any ε, not only ε = 0.

Conventions of the authors' code (torchscale 0.3.0, ``MultiScaleRetention`` and ``RetNetRelPos``;
tested with the same weights): θ_i = 10000^{−i/(d_k/2 − 1)} (a ``linspace`` exponent, not
RoPE's 2i/d_k), rotation of adjacent pairs (x_{2i}, x_{2i+1}) from position 0, the 1/√d_k on the
keys, the row normalisers taken without gradient, no biases, and initialisation by Xavier
uniform with gain 2^{−2.5} (q, k, v, gate) and 1 (output). torchscale 0.3.0 normalises heads by
RMSNorm; the paper, and earlier torchscale releases, by GroupNorm (a mean-subtracting LayerNorm
over each head's channels, no affine): ``norm="group"`` (default) or ``norm="rms"``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

MODES = ("parallel", "recurrent", "chunkwise")


def retention_decays(n_heads: int) -> Tensor:
    """γ_h = 1 − 2^{−5−h}, h = 0, ..., n_heads − 1 (§2.2), float64: the heads' memory spans
    1 / (1 − γ_h) = 32, 64, 128, ... tokens, hence "multi-scale"."""
    return 1 - 2.0 ** (-5 - torch.arange(n_heads, dtype=torch.float64))


def _log_decays(n_heads: int, like: Tensor) -> Tensor:
    """log γ_h, computed in float64 and kept in float32 (float64 for float64 inputs), whatever
    the model's dtype: γ_7 = 1 − 2^{−12} is 1 in bfloat16."""
    dtype = torch.float64 if like.dtype == torch.float64 else torch.float32
    return torch.log1p(-(2.0 ** (-5 - torch.arange(n_heads, dtype=torch.float64)))).to(
        device=like.device, dtype=dtype)


def _decay_sums(log_decay: Tensor, positions: Tensor) -> Tensor:
    """c_n = Σ_{j=0..n} γ^j = (1 − γ^{n+1}) / (1 − γ), ``(heads, L)``: by expm1, since γ^{n+1}
    and γ are both close to 1 and the differences would cancel."""
    exponent = (positions[None, :] + 1).to(log_decay.dtype) * log_decay[:, None]
    return torch.expm1(exponent) / torch.expm1(log_decay)[:, None]


def rotate_pairs(x: Tensor, positions: Tensor) -> Tensor:
    """x e^{inθ}: each adjacent pair (x_{2i}, x_{2i+1}) of the vector at position n, viewed as
    a complex number, turned by n θ_i, θ_i = 10000^{−i/(d/2 − 1)}. x is ``(..., L, d)``.

    q_n rotated by n and k_m by m meet in q · k at angle (n − m) θ: the paper's K e^{−imθ} is
    the conjugate in the complex product, the same thing in real arithmetic."""
    half = x.shape[-1] // 2
    theta = 10000.0 ** -torch.linspace(0, 1, half, dtype=torch.float64)  # torchscale's spacing
    angles = positions.to(torch.float64)[:, None] * theta[None, :]
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1).flatten(-2)


def _normalise(u: Tensor, r: Tensor, c: Tensor) -> Tensor:
    """u_n / max(|r_n|, √c_n) = (u_n / √c_n) / max(|r_n / √c_n|, 1): D̃ then R̃ of §2.2 applied to
    the unnormalised row u_n and its score sum r_n. The scale is taken without gradient (as
    torchscale), since the head normalisation makes the output invariant to it."""
    return u / torch.maximum(r.detach().abs(), c.sqrt())[..., None]


def retention_parallel(q: Tensor, k: Tensor, v: Tensor, log_decay: Tensor) -> Tensor:
    """Eq. 5 with §2.2's normalisation: ((Q Kᵀ ⊙ D̃) / max(|row sum|, 1)) V.

    q, k ``(batch, heads, L, d_k)`` (rotated, k scaled), v ``(batch, heads, L, d_v)``,
    log_decay ``(heads,)``; returns ``(batch, heads, L, d_v)``. O(L²), the training form.
    """
    length = q.shape[-2]
    index = torch.arange(length, device=q.device, dtype=log_decay.dtype)
    offset = index[:, None] - index[None, :]  # n − m
    decay = torch.exp(offset.clamp(min=0) * log_decay[:, None, None]) * (offset >= 0)  # D
    decay = decay / decay.sum(-1, keepdim=True).sqrt()  # D̃: rows of D summed over m ≤ n
    scores = (q @ k.transpose(-1, -2)) * decay.to(q.dtype)
    scores = scores / scores.detach().sum(-1, keepdim=True).abs().clamp(min=1)  # R̃
    return scores @ v


def retention_recurrent(q: Tensor, k: Tensor, v: Tensor, log_decay: Tensor) -> Tensor:
    """Eq. 6, one token at a time: S_n = γ S_{n−1} + K_nᵀ [V_n, 1], [u_n, r_n] = Q_n S_n.

    The all-ones column makes the last column of S the decayed key sum, so r_n = Σ_m γ^{n−m}
    Q_n · K_m comes out of the same product, and the row is normalised as the parallel form
    normalises it. The state is kept unnormalised (the paper's S_n): it grows at most by
    1 / (1 − γ), which float32 holds for any practical number of heads. Same shapes as
    :func:`retention_parallel`; O(L) time, O(1) state per token (the inference form).
    """
    batch, heads, length, d_k = q.shape
    v = torch.cat([v, v.new_ones(*v.shape[:-1], 1)], dim=-1)  # [V, 1]
    gamma = log_decay.exp().to(q.dtype)[None, :, None, None]
    c = _decay_sums(log_decay, torch.arange(length, device=q.device)).to(q.dtype)
    state = q.new_zeros(batch, heads, d_k, v.shape[-1])
    outputs = []
    for n in range(length):
        state = gamma * state + k[:, :, n, :, None] * v[:, :, n, None, :]  # γ S + K_nᵀ V_n
        out = torch.einsum("bhk,bhkv->bhv", q[:, :, n], state)
        outputs.append(_normalise(out[..., :-1], out[..., -1], c[None, :, n]))
    return torch.stack(outputs, dim=2)


def retention_chunkwise(q: Tensor, k: Tensor, v: Tensor, log_decay: Tensor,
                        chunk_size: int) -> Tensor:
    """Eq. 7: parallel within chunks of ``chunk_size`` tokens, recurrent across them; O(L B).

    Padded at the end to a multiple of B with zero keys and values, which no earlier position
    reads. The values carry the all-ones column of :func:`retention_recurrent`, so the row
    scale is the parallel form's.
    """
    batch, heads, length, d_k = q.shape
    pad = -length % chunk_size
    v = torch.cat([v, v.new_ones(*v.shape[:-1], 1)], dim=-1)
    if pad:
        q, k, v = (F.pad(t, (0, 0, 0, pad)) for t in (q, k, v))
    chunks = q.shape[2] // chunk_size
    q, k, v = (t.reshape(batch, heads, chunks, chunk_size, t.shape[-1]) for t in (q, k, v))

    index = torch.arange(chunk_size, device=q.device, dtype=log_decay.dtype)
    offset = index[:, None] - index[None, :]
    inner_decay = torch.exp(offset.clamp(min=0) * log_decay[:, None, None]) * (offset >= 0)  # D
    into_chunk = torch.exp((index + 1) * log_decay[:, None])  # ξ_j = γ^{j+1}, (heads, B)
    to_chunk_end = torch.exp((chunk_size - 1 - index) * log_decay[:, None])  # ζ_j = γ^{B−j−1}
    across_chunk = torch.exp(chunk_size * log_decay)  # γ^B
    dtype = q.dtype
    inner_decay, into_chunk, to_chunk_end, across_chunk = (
        t.to(dtype) for t in (inner_decay, into_chunk, to_chunk_end, across_chunk))

    # inside each chunk: (Q_[i] K_[i]ᵀ ⊙ D) V_[i]
    inner = ((q @ k.transpose(-1, -2)) * inner_decay[:, None]) @ v
    # each chunk's own state K_[i]ᵀ (V_[i] ⊙ ζ), then R_i = that + γ^B R_{i−1} across chunks
    own = k.transpose(-1, -2) @ (v * to_chunk_end[:, None, :, None])
    state = q.new_zeros(batch, heads, d_k, v.shape[-1])
    entering = []  # R_{i−1}, the state entering chunk i
    for i in range(chunks):
        entering.append(state)
        state = across_chunk[:, None, None] * state + own[:, :, i]
    cross = (q @ torch.stack(entering, dim=2)) * into_chunk[:, None, :, None]

    out = (inner + cross).reshape(batch, heads, chunks * chunk_size, -1)[:, :, :length]
    c = _decay_sums(log_decay, torch.arange(length, device=q.device)).to(dtype)
    return _normalise(out[..., :-1], out[..., -1], c)


class MultiScaleRetention(nn.Module):
    """MSR(X) = (swish(X W_G) ⊙ GroupNorm_h(Retention_h(X))) W_O (§2.2, eq. 8), a causal token
    mixer ``(B, L, d_model)`` to ``(B, L, d_model)`` that needs no positional embedding (the
    rotations and decays are its positions).

    ``forward(x, mode)``: ``"parallel"`` (eq. 5, the default, for training), ``"recurrent"``
    (eq. 6) or ``"chunkwise"`` (eq. 7, ``chunk_size`` tokens a chunk); the three agree (tested).
    Parameter names are torchscale's (``q_proj``, ``k_proj``, ``v_proj``, ``g_proj``,
    ``out_proj``), so its state dict loads strictly.
    """

    def __init__(self, d_model: int, n_heads: int, value_factor: int = 2, chunk_size: int = 64,
                 norm_eps: float = 1e-6, norm: str = "group"):
        super().__init__()
        if d_model % n_heads or (d_model // n_heads) % 2:
            raise ValueError(f"d_model {d_model} must split into {n_heads} heads of even width")
        if (value_factor * d_model) % n_heads:
            raise ValueError(f"value width {value_factor * d_model} does not split into "
                             f"{n_heads} heads")
        if norm not in ("group", "rms"):
            raise ValueError(f"norm must be 'group' or 'rms', got {norm!r}")
        self.n_heads, self.chunk_size = n_heads, chunk_size
        self.norm, self.norm_eps = norm, norm_eps
        self.key_dim = d_model // n_heads
        self.value_dim = value_factor * d_model
        self.head_value_dim = self.value_dim // n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=False)
        self.k_proj = nn.Linear(d_model, d_model, bias=False)
        self.v_proj = nn.Linear(d_model, self.value_dim, bias=False)
        self.g_proj = nn.Linear(d_model, self.value_dim, bias=False)
        self.out_proj = nn.Linear(self.value_dim, d_model, bias=False)
        for proj in (self.q_proj, self.k_proj, self.v_proj, self.g_proj):
            nn.init.xavier_uniform_(proj.weight, gain=2 ** -2.5)
        nn.init.xavier_uniform_(self.out_proj.weight)

    def head_norm(self, y: Tensor) -> Tensor:
        """GroupNorm with one group per head over a token's channels, i.e. a LayerNorm of each
        head's d_v outputs (no affine: W_O absorbs a gain); or RMSNorm per head. y is
        ``(B, L, heads, d_v)``, normalised in float32."""
        wide = y.float()
        if self.norm == "group":
            out = F.layer_norm(wide, (self.head_value_dim,), eps=self.norm_eps)
        else:
            out = wide * torch.rsqrt(wide.square().mean(-1, keepdim=True) + self.norm_eps)
        return out.to(y.dtype)

    def forward(self, x: Tensor, mode: str = "auto") -> Tensor:
        """``mode`` "auto": the parallel form up to ``chunk_size`` tokens, the chunkwise form
        beyond, whose cost is linear in the length (RetNet §2.2: how it trains long sequences);
        the forms compute the same function."""
        if mode not in (*MODES, "auto"):
            raise ValueError(f"mode must be one of {MODES} or 'auto', got {mode!r}")
        batch, length, _ = x.shape
        if mode == "auto":
            mode = "parallel" if length <= self.chunk_size else "chunkwise"
        positions = torch.arange(length, device=x.device)

        def heads(t: Tensor, width: int) -> Tensor:  # (B, L, h·w) -> (B, h, L, w)
            return t.view(batch, length, self.n_heads, width).transpose(1, 2)

        q = rotate_pairs(heads(self.q_proj(x), self.key_dim), positions)
        k = rotate_pairs(heads(self.k_proj(x) * self.key_dim ** -0.5, self.key_dim), positions)
        v = heads(self.v_proj(x), self.head_value_dim)
        log_decay = _log_decays(self.n_heads, x)

        if mode == "parallel":
            y = retention_parallel(q, k, v, log_decay)
        elif mode == "recurrent":
            y = retention_recurrent(q, k, v, log_decay)
        else:
            y = retention_chunkwise(q, k, v, log_decay, self.chunk_size)
        y = self.head_norm(y.transpose(1, 2)).reshape(batch, length, self.value_dim)
        return self.out_proj(F.silu(self.g_proj(x)) * y)
