"""Mamba-2: the state space dual (SSD) layer and the Mamba-2 block, from

Dao & Gu (2024), "Transformers are SSMs: Generalized Models and Efficient Algorithms Through
Structured State Space Duality".

The SSD layer is a selective SSM whose transition is a scalar times the identity, one scalar per
head (the SSM of eq. 1 with A_t = a_t I, §5):

    a_t = exp(Δ_t A_h)                         (A_h < 0, Δ_t > 0: a decay in (0, 1))
    h_t = a_t h_{t−1} + Δ_t x_t B_tᵀ           (h_t: (head_dim P, d_state N) per head)
    y_t = h_t C_t                              (+ D x_t, in the block)

Unrolled (§3, eq. 3) this is one matrix multiplication y = M x, M_{ij} = C_iᵀ B_j Δ_j L_{ij},
with the 1-semiseparable mask L_{ij} = Π_{k=j+1..i} a_k for i ≥ j and 0 above the diagonal:
the "attention-like" quadratic form (§4–5, structured masked attention):

    Y = (L ∘ C Bᵀ) (Δ X)

Three computations of the same map, tested equal:

* :func:`ssd_recurrent`: the recurrence, one step per token (the linear mode of §5).
* :func:`ssd_quadratic`: the full L × L matrix form (the quadratic mode of §5).
* :func:`ssd_chunked`: the block decomposition of M (§6, Fig. 5, Listing 1 "ssd_minimal"):
  diagonal blocks in matrix form, the low-rank off-diagonal blocks through chunk states, a
  recurrence over those states between chunks, and state-to-output.

:class:`Mamba2Mixer` is the Mamba-2 block (§7.1, Fig. 6): parallel projections of the input to
(z, x, B, C, Δ), a causal depthwise convolution over (x, B, C), SiLU, SSD, the D skip, a gated
RMSNorm and the output projection. Its parameter names are those of ``mamba_ssm``'s ``Mamba2``
(``in_proj``, ``conv1d``, ``dt_bias``, ``A_log``, ``D``, ``norm.weight``, ``out_proj``).

Shapes, as in Listing 1: x ``(batch, L, heads, head_dim)``, dt ``(batch, L, heads)``, A
``(heads,)``, B and C ``(batch, L, groups, d_state)``; the heads are split into ``groups``
contiguous runs that share B and C (groups = 1: one B, C for all heads, as multi-value attention
shares its keys and queries, §7.2).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def segsum(x: Tensor) -> Tensor:
    """S[..., i, j] = Σ_{k=j+1..i} x[..., k] for i ≥ j, −∞ for i < j: the log of the
    1-semiseparable mask, L = exp(segsum(log a)) (§6, Listing 1, ``segsum``). ``(..., T)`` in,
    ``(..., T, T)`` out.

    Why not ``cumsum[i] − cumsum[j]``: over a long segment the cumulative log-decays grow large
    and negative, and the difference of two large sums cancels catastrophically, losing the
    small segment sums that matter most (those near the diagonal). Summing only the terms inside
    each segment (a cumsum down the columns of x masked to k > j) keeps every entry accurate.
    The −∞ above the diagonal makes exp give exactly 0 there (causality), where the difference
    form would give exp of a positive number, which overflows.
    """
    T = x.shape[-1]
    x = x[..., None].expand(*x.shape, T)  # x[..., k, j] = x_k
    below = torch.tril(torch.ones(T, T, dtype=torch.bool, device=x.device), diagonal=-1)
    x = x.masked_fill(~below, 0.0)  # keep x_k only for k > j
    sums = torch.cumsum(x, dim=-2)  # sums[..., i, j] = Σ_{j<k≤i} x_k
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool, device=x.device), diagonal=0)
    return sums.masked_fill(~causal, -math.inf)


def _per_head(t: Tensor, heads: int) -> Tensor:
    """B or C ``(batch, L, groups, N)`` repeated to ``(batch, L, heads, N)``: group g serves the
    contiguous heads g · heads/groups, ..., (g + 1) · heads/groups − 1 (as ``mamba_ssm``)."""
    groups = t.shape[2]
    if heads % groups:
        raise ValueError(f"{heads} heads cannot be split into {groups} groups")
    return t.repeat_interleave(heads // groups, dim=2) if groups != heads else t


def ssd_recurrent(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor,
                  initial_state: Tensor | None = None,
                  return_final_state: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """The SSM recurrence (eq. 1 with A_t = exp(Δ_t A) I), one token at a time:

        h_t = exp(Δ_t A) h_{t−1} + Δ_t x_t B_tᵀ,    y_t = h_t C_t

    Returns y ``(batch, L, heads, head_dim)`` and, with ``return_final_state``, h_L
    ``(batch, heads, head_dim, d_state)``. The sequential reference the other two forms are
    tested against.
    """
    batch, length, heads, head_dim = x.shape
    B, C = _per_head(B, heads), _per_head(C, heads)
    h = x.new_zeros(batch, heads, head_dim, B.shape[-1]) if initial_state is None else initial_state
    decay = torch.exp(dt * A)  # (batch, L, heads): a_t per head
    ys = []
    for t in range(length):
        inject = (dt[:, t, :, None] * x[:, t])[..., None] * B[:, t, :, None, :]  # Δ_t x_t B_tᵀ
        h = decay[:, t, :, None, None] * h + inject
        ys.append(torch.einsum("bhpn,bhn->bhp", h, C[:, t]))
    y = torch.stack(ys, dim=1)
    return (y, h) if return_final_state else y


def ssd_quadratic(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor) -> Tensor:
    """The matrix ("attention") form over the whole sequence (eq. 3; §4–5):

        Y = (L ∘ C Bᵀ) (Δ X),    L_{ij} = exp(Σ_{k=j+1..i} Δ_k A)  (i ≥ j, else 0)

    O(L²) time and memory: causal linear attention with a data-dependent decaying mask, where
    C plays the query, B the key and Δ x the value.
    """
    heads = x.shape[2]
    B, C = _per_head(B, heads), _per_head(C, heads)
    mask = torch.exp(segsum((dt * A).transpose(1, 2)))  # (batch, heads, L, L)
    scores = torch.einsum("blhn,bshn->bhls", C, B) * mask
    return torch.einsum("bhls,bshp->blhp", scores, x * dt[..., None])


def ssd_chunked(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk_size: int,
                initial_state: Tensor | None = None,
                return_final_state: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """The SSD algorithm (§6, Listing 1): M split into chunk × chunk blocks of Q = chunk_size.

    1. Diagonal blocks (within a chunk): the quadratic form restricted to the chunk.
    2. Chunk states: the state each chunk would leave from a zero start, Σ_s (Π_{k>s} a_k) Δ_s
       x_s B_sᵀ (the right factor of the low-rank off-diagonal blocks).
    3. Inter-chunk recurrence: the true state at every chunk boundary, h_c = (Π_chunk a) h_{c−1}
       + state_c, written as one semiseparable matrix over the chunks (the middle factor).
    4. State to output: each position reads the boundary state entering its chunk, decayed to
       the position, through C (the left factor).

    O(L Q) work in matrix multiplications instead of O(L²). A length that is not a multiple of
    Q is padded at the end with Δ = 0 steps, which are the identity on the state (a = e⁰ = 1,
    nothing injected), so the outputs and the final state are unchanged by the padding.
    """
    batch, length, heads, head_dim = x.shape
    B, C = _per_head(B, heads), _per_head(C, heads)
    pad = -length % chunk_size
    if pad:  # F.pad counts pairs from the last dimension: pad dimension 1 only, at its end
        x, dt, B, C = (F.pad(t, (0, 0) * (t.dim() - 2) + (0, pad)) for t in (x, dt, B, C))
    chunks = x.shape[1] // chunk_size

    def blocks(t: Tensor) -> Tensor:  # (batch, L, ...) -> (batch, chunks, Q, ...)
        return t.reshape(batch, chunks, chunk_size, *t.shape[2:])

    x, B, C = blocks(x * dt[..., None]), blocks(B), blocks(C)  # Δ x: the input term Δ_t x_t
    log_a = blocks(dt * A).permute(0, 3, 1, 2)  # (batch, heads, chunks, Q): log a_t = Δ_t A
    log_a_cumsum = torch.cumsum(log_a, dim=-1)

    # 1. diagonal blocks: (L ∘ C Bᵀ) Δx within each chunk
    mask = torch.exp(segsum(log_a))  # (batch, heads, chunks, Q, Q)
    y_diag = torch.einsum("bclhn,bcshn,bhcls,bcshp->bclhp", C, B, mask, x)

    # 2. each chunk's own contribution to the state at its end: position s decays by Π_{k>s} a_k
    # (a difference of cumsums inside one short chunk, where cancellation is harmless)
    decay_to_end = torch.exp(log_a_cumsum[..., -1:] - log_a_cumsum)  # (batch, heads, chunks, Q)
    states = torch.einsum("bclhn,bhcl,bclhp->bchpn", B, decay_to_end, x)

    # 3. the recurrence over chunk boundaries, as a (chunks + 1)² semiseparable matrix whose
    # entry (z, c) is the decay Π over the chunks between c and z: one einsum instead of a loop
    if initial_state is None:
        initial_state = states.new_zeros(batch, 1, heads, head_dim, states.shape[-1])
    else:
        initial_state = initial_state[:, None]
    states = torch.cat([initial_state, states], dim=1)  # (batch, chunks + 1, heads, P, N)
    chunk_decay = torch.exp(segsum(F.pad(log_a_cumsum[..., -1], (1, 0))))  # (b, h, c+1, c+1)
    boundary = torch.einsum("bhzc,bchpn->bzhpn", chunk_decay, states)
    entering, final_state = boundary[:, :-1], boundary[:, -1]  # the state entering each chunk

    # 4. state -> output: position l of chunk c reads C_l · (Π_{k≤l} a_k) h_{c−1}
    y_off = torch.einsum("bclhn,bchpn,bhcl->bclhp", C, entering, torch.exp(log_a_cumsum))

    y = (y_diag + y_off).reshape(batch, chunks * chunk_size, heads, head_dim)[:, :length]
    return (y, final_state) if return_final_state else y


class GatedRMSNorm(nn.Module):
    """norm(y ⊙ SiLU(z)) · g, RMSNorm (Zhang & Sennrich 2019) over groups of ``group_size``
    features: Mamba-2's extra normalisation before the output projection (§7.1, "an extra
    normalization layer ... before the final output projection", as in NormFormer), gating
    first (``mamba_ssm``'s ``norm_before_gate=False``). One group per B/C group, so that the
    normalisation never mixes heads that read different B, C (the tensor-parallel split of §8.1).
    """

    def __init__(self, dim: int, group_size: int, eps: float = 1e-5):
        super().__init__()
        self.group_size, self.eps = group_size, eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, y: Tensor, z: Tensor) -> Tensor:
        gated = (y * F.silu(z)).float()  # the mean of squares in float32, as in the LM's RMSNorm
        groups = gated.view(*gated.shape[:-1], -1, self.group_size)
        normed = groups * torch.rsqrt(groups.square().mean(-1, keepdim=True) + self.eps)
        return self.weight * normed.flatten(-2).to(y.dtype)


class Mamba2Mixer(nn.Module):
    """The Mamba-2 block as a token mixer, ``(B, L, d_model)`` to ``(B, L, d_model)``, causal
    (§7.1, Fig. 6):

        [z, x, B, C, Δ] = u W_in                             (one parallel projection)
        [x, B, C] = SiLU(causal depthwise conv([x, B, C]))
        Δ = softplus(Δ + dt_bias),  A = −exp(A_log)
        y = SSD(x, Δ, A, B, C) + D ⊙ x                       (:func:`ssd_chunked`)
        out = GatedRMSNorm(y, z) W_out

    d_inner = expand · d_model, split into d_inner / head_dim heads. Unlike Mamba-1, B, C and Δ
    are produced at the start of the block from its input rather than from x inside the
    block: the whole block's input projections are one matrix multiplication (§7.1). The
    convolution gives each token a short window of local context, so the SSM needs no
    positional encoding.

    Initialisation as the paper's code (``mamba_ssm``): Δ's bias is the inverse softplus of
    Δ ~ log-uniform on [dt_min, dt_max] = [0.001, 0.1] (so that softplus(bias) starts there),
    A_log = log of A ~ U[1, 16], D = 1. ``A_log``, ``D`` and ``dt_bias`` carry
    ``_no_weight_decay = True``, the mark ``mamba_ssm`` uses for its optimiser groups.
    """

    def __init__(self, d_model: int, d_state: int = 64, expand: int = 2, d_conv: int = 4,
                 head_dim: int = 32, chunk_size: int = 64, n_groups: int = 1,
                 dt_min: float = 0.001, dt_max: float = 0.1, dt_init_floor: float = 1e-4,
                 norm_eps: float = 1e-5):
        super().__init__()
        d_inner = expand * d_model
        if d_inner % head_dim:
            raise ValueError(f"d_inner = {d_inner} is not a multiple of head_dim {head_dim}")
        n_heads = d_inner // head_dim
        if n_heads % n_groups:
            raise ValueError(f"{n_heads} heads cannot be split into {n_groups} groups")
        self.d_inner, self.d_state, self.n_heads = d_inner, d_state, n_heads
        self.head_dim, self.n_groups, self.chunk_size = head_dim, n_groups, chunk_size

        self.in_proj = nn.Linear(d_model, 2 * d_inner + 2 * n_groups * d_state + n_heads,
                                 bias=False)
        conv_dim = d_inner + 2 * n_groups * d_state  # x, B and C are convolved; z and Δ are not
        self.conv1d = nn.Conv1d(conv_dim, conv_dim, d_conv, groups=conv_dim, padding=d_conv - 1)

        # softplus⁻¹(Δ) = Δ + log(1 − e^{−Δ}) = Δ + log(−expm1(−Δ)), accurate for small Δ
        dt = torch.exp(torch.rand(n_heads) * (math.log(dt_max) - math.log(dt_min))
                       + math.log(dt_min)).clamp(min=dt_init_floor)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = nn.Parameter(torch.log(torch.empty(n_heads).uniform_(1, 16)))
        self.D = nn.Parameter(torch.ones(n_heads))
        for p in (self.dt_bias, self.A_log, self.D):
            p._no_weight_decay = True

        self.norm = GatedRMSNorm(d_inner, d_inner // n_groups, norm_eps)
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def forward(self, u: Tensor) -> Tensor:
        batch, length, _ = u.shape
        groups_state = self.n_groups * self.d_state
        z, xBC, dt = self.in_proj(u).split([self.d_inner, self.d_inner + 2 * groups_state,
                                            self.n_heads], dim=-1)
        # padding d_conv − 1 on both sides; keeping the first L outputs keeps the causal ones
        xBC = F.silu(self.conv1d(xBC.transpose(1, 2))[..., :length].transpose(1, 2))
        x, B, C = xBC.split([self.d_inner, groups_state, groups_state], dim=-1)

        x = x.reshape(batch, length, self.n_heads, self.head_dim)
        dt = F.softplus(dt + self.dt_bias)  # Δ > 0
        A = -torch.exp(self.A_log)  # A < 0, so a = exp(Δ A) ∈ (0, 1)
        y = ssd_chunked(x, dt, A, B.reshape(batch, length, self.n_groups, self.d_state),
                        C.reshape(batch, length, self.n_groups, self.d_state), self.chunk_size)
        y = y + self.D[:, None] * x  # the D skip: a direct path from x_t to y_t per head
        return self.out_proj(self.norm(y.reshape(batch, length, self.d_inner), z))
