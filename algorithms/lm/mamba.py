"""Mamba's selective state space layer (S6) as a token mixer, and the two scans it runs on.

Gu & Dao (2023), "Mamba: Linear-Time Sequence Modeling with Selective State Spaces".

* Algorithm 2 (S6). For each of the ED channels of the expanded width, a diagonal state space
  model of state size N whose parameters are functions of the input (the *selection*, §3.2):

      B = s_B(x),  C = s_C(x)                     (batch, L, N)      Linear_N(x)
      Δ = softplus(p + s_Δ(x))                    (batch, L, ED)     s_Δ: rank-R projection
      Ā = exp(Δ A)                                (batch, L, ED, N)  eq. 4, zero-order hold
      B̄ x ≈ Δ B x                                 (batch, L, ED, N)  the Euler simplification
      h_t = Ā_t ⊙ h_{t-1} + B̄_t x_t,  h_0 = 0                       eq. 2a
      y_t = C_t h_t + D ⊙ x_t                                        eq. 2b, plus the skip D

  B̄ x ≈ Δ B x replaces the ZOH B̄ = (ΔA)⁻¹(exp(ΔA) − I) ΔB of eq. 4 by its first-order term,
  as the authors' reference code does. A is real and diagonal, initialised S4D-Real
  (A_n = −n, n = 1..N, every channel) and stored as ``A_log`` = log(−A), so that A stays
  negative (|Ā| < 1: the recurrence is stable) whatever the gradient does.
* §3.4, Figure 3: the Mamba block. From the model width D to 2·ED and back:

      x, z = in_proj(u).chunk(2)                  (batch, L, ED) each, E = ``expand``
      x = SiLU(conv1d(x))                         causal depthwise convolution over time
      y = S6(x)
      out = out_proj(y ⊙ SiLU(z))                 the gate branch

The recurrence is linear in h, so (§3.3.2) it is a scan of the associative operator
``(a₁, b₁) ∘ (a₂, b₂) = (a₁ a₂, a₂ b₁ + b₂)`` and runs in log depth (:func:`parallel_scan`);
:func:`sequential_scan` is the plain loop over time, the reference.

Parameter names are those of the authors' ``mamba_simple.Mamba`` (``in_proj``, ``conv1d``,
``x_proj``, ``dt_proj``, ``A_log``, ``D``, ``out_proj``), and names and shapes equal those of
mambapy's ``MambaBlock``: a state dict loads strictly either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

SCANS = ("sequential", "parallel")


# ------------------------------------------------------------------------------ the scans


def sequential_scan(a: Tensor, b: Tensor) -> Tensor:
    """h_t = a_t ⊙ h_{t-1} + b_t with h_0 = 0, as a loop over t; autograd differentiates it.

    a, b: (batch, L, ...) of one shape, time on dim 1. Returns every h_t: (batch, L, ...).
    """
    h = torch.zeros_like(b[:, 0])
    hs = []
    # unbind, not a[:, t]: the backward of L indexings would build L full-size zero gradients
    # (O(L²) memory traffic); unbind's backward is one stack
    for a_t, b_t in zip(a.unbind(1), b.unbind(1)):
        h = torch.addcmul(b_t, a_t, h)  # b_t + a_t h_{t-1}
        hs.append(h)
    return torch.stack(hs, dim=1)


def parallel_scan(a: Tensor, b: Tensor) -> Tensor:
    """The same h_t = a_t ⊙ h_{t-1} + b_t (h_0 = 0) as :func:`sequential_scan`, in O(log L)
    sequential steps and O(L) work.

    Blelloch (1990), "Prefix Sums and Their Applications", on recurrence equations: a
    first-order linear recurrence is the scan (all-prefix combination) of the pairs
    (a_t, b_t) under

        (a₁, b₁) ∘ (a₂, b₂) = (a₁ a₂,  a₂ b₁ + b₂)

    which is associative: applying (a₁, b₁) then (a₂, b₂) to h gives a₂(a₁ h + b₁) + b₂. The
    prefix of pairs 1..t applied to h_0 = 0 is h_t. Computed in the work-efficient pairwise
    form (up-sweep, recursion, down-sweep; any L, no padding to a power of two), forward and
    backward, with the backward written out (see ``_ParallelScan``).

    a, b: (batch, L, ...) of one shape and dtype, time on dim 1. Returns (batch, L, ...).
    """
    if a.shape != b.shape:
        raise ValueError(f"a {tuple(a.shape)} and b {tuple(b.shape)} must have one shape")
    return _ParallelScan.apply(a, b)


def _scan_into(a: Tensor, b: Tensor, h: Tensor) -> None:
    """Write h_t = a_t h_{t-1} + b_t (h_0 = 0) into ``h`` (a possibly strided view), by pairs.

    Up-sweep: combine neighbours, (a_{2i}, b_{2i}) ∘ (a_{2i+1}, b_{2i+1}), a sequence of half
    the length whose scan is h at the odd positions (recursion). Down-sweep: each even
    position is one step past its odd neighbour, h_{2i} = a_{2i} h_{2i-1} + b_{2i}. Depth
    2·⌈log₂ L⌉; every level touches half the elements of the one above, so the work is O(L).
    """
    length = b.shape[1]
    if length == 1:
        h.copy_(b)
        return
    pairs = 2 * (length // 2)
    a_odd, b_odd = a[:, 1::2], b[:, 1::2]
    a_pair = a_odd * a[:, 0:pairs:2]                      # a_{2i} a_{2i+1}
    b_pair = torch.addcmul(b_odd, a_odd, b[:, 0:pairs:2])  # a_{2i+1} b_{2i} + b_{2i+1}
    _scan_into(a_pair, b_pair, h[:, 1::2])
    del a_pair, b_pair  # free this level before the down-sweep
    h[:, 0].copy_(b[:, 0])
    n_even = (length - 1) // 2  # even positions after 0: 2, 4, ...
    if n_even:
        torch.addcmul(b[:, 2::2], a[:, 2::2], h[:, 1:2 * n_even:2], out=h[:, 2::2])


def _reverse_scan_into(c: Tensor, g: Tensor, lam: Tensor) -> None:
    """Write λ_t = c_t λ_{t+1} + g_t (λ_L = g_L) into ``lam``: :func:`_scan_into` mirrored in
    time (t ↦ L−1−t), without copying flipped tensors. ``c`` has one step fewer than ``g``
    (c_t for t ≤ L−2; the last step has no successor).

    Pairs (p, p+1) from the end, p = s, s+2, ..., L−2 with s = L mod 2; the recursion gives λ
    at the p, the down-sweep the q = p − 1 from them, and λ_{L-1} = g_{L-1}.
    """
    length = g.shape[1]
    if length == 1:
        lam.copy_(g)
        return
    s = length % 2
    n_pairs = length // 2
    c_p = c[:, s:length - 1:2]                                          # n_pairs steps
    c_pair = c_p[:, :n_pairs - 1] * c[:, s + 1:length - 1:2]           # c_p c_{p+1}: one fewer
    g_pair = torch.addcmul(g[:, s:length - 1:2], c_p, g[:, s + 1::2])  # c_p g_{p+1} + g_p
    _reverse_scan_into(c_pair, g_pair, lam[:, s:length - 1:2])
    del c_pair, g_pair
    lam[:, length - 1].copy_(g[:, length - 1])
    if length > 2:  # q = 1−s, 3−s, ..., L−3
        torch.addcmul(g[:, 1 - s:length - 2:2], c[:, 1 - s:length - 2:2],
                      lam[:, 2 - s:length - 1:2], out=lam[:, 1 - s:length - 2:2])


class _ParallelScan(torch.autograd.Function):
    """h = scan(a, b) forward; backward from the adjoint recurrence.

    With g_t = ∂ℓ/∂h_t from the layers above, h_t enters ℓ directly and through
    h_{t+1} = a_{t+1} h_t + b_{t+1}, so the total derivative λ_t = ∂ℓ/∂h_t obeys

        λ_t = a_{t+1} λ_{t+1} + g_t,   λ_L = g_L

    the same first-order recurrence run backwards in time (one more scan, its coefficients
    a shifted by one), and then

        ∂ℓ/∂b_t = λ_t,   ∂ℓ/∂a_t = λ_t h_{t-1}   (h_0 = 0).

    Only a and h are kept for the backward, not the O(L) intermediates of every level.
    """

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor) -> Tensor:
        h = torch.empty_like(b, memory_format=torch.contiguous_format)
        _scan_into(a, b, h)
        ctx.save_for_backward(a, h)
        return h

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor]:
        a, h = ctx.saved_tensors
        lam = torch.empty_like(h)
        _reverse_scan_into(a[:, 1:], grad, lam)  # c_t = a_{t+1}, a view: no copy
        grad_a = torch.empty_like(a)
        grad_a[:, 0].zero_()
        torch.mul(lam[:, 1:], h[:, :-1], out=grad_a[:, 1:])
        return grad_a, lam


# ---------------------------------------------------------------------- the selective scan


def selective_scan(x: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor,
                   method: str = "sequential", h0: Tensor | None = None,
                   return_state: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Algorithm 2's SSM(Ā, B̄, C)(x) with the skip D, for the given Δ, A, B, C, D.

    Shapes: x, delta (batch, L, ED); A (ED, N); B, C (batch, L, N); D (ED,).
    Returns y (batch, L, ED), and with ``return_state`` also h_L (batch, ED, N).
    ``h0`` (batch, ED, N) continues from that state instead of h_0 = 0.
    ``method``: "sequential" (:func:`sequential_scan`) or "parallel" (:func:`parallel_scan`).
    """
    if method not in SCANS:
        raise ValueError(f"method must be one of {SCANS}, got {method!r}")
    deltaA = torch.exp(delta.unsqueeze(-1) * A)                    # Ā = exp(Δ A)
    deltaB_x = (delta * x).unsqueeze(-1) * B.unsqueeze(2)           # B̄ x ≈ Δ B x
    if h0 is not None:
        # a start state folds into the first step: h_1 = Ā_1 h0 + B̄_1 x_1
        first = torch.addcmul(deltaB_x[:, :1], deltaA[:, :1], h0.unsqueeze(1))
        deltaB_x = torch.cat([first, deltaB_x[:, 1:]], dim=1)
    scan = sequential_scan if method == "sequential" else parallel_scan
    h = scan(deltaA, deltaB_x)                                       # (batch, L, ED, N)
    y = (h @ C.unsqueeze(-1)).squeeze(-1) + D * x                    # y_t = C_t h_t + D x_t
    return (y, h[:, -1]) if return_state else y


# ------------------------------------------------------------------------------- the block


@dataclass
class MambaState:
    """What decoding needs of the past, for one layer, in O(1) of the length:

    * ``conv``: the last d_conv − 1 inputs of the convolution, (batch, ED, d_conv − 1);
    * ``ssm``: the state h_t of the recurrence, (batch, ED, N).

    Updated in place by :meth:`MambaMixer.forward` and :meth:`MambaMixer.step`, as a KV cache is.
    """

    conv: Tensor
    ssm: Tensor
    length: int = 0  # tokens seen


def _auto_scan(device: torch.device) -> str:
    """The scan ``MambaMixer(scan="auto")`` runs on ``device``."""
    if device.type == "cpu" and torch.get_num_threads() == 1:
        # benchmarks/scan_bench.py (RESULTS.md, "Week 5: selective scan"): on one thread the
        # loop is faster in the forward at every size and in forward + backward from L = 256
        # on: the pairwise scan does about three times the arithmetic, and one core gains
        # nothing from its log depth
        return "sequential"
    # several CPU threads: the loop's L small operator calls leave threads idle, the pairwise
    # scan's ~2 log₂ L whole-tensor calls use them all (measured faster in forward + backward
    # at every size). CUDA (not measured: no GPU on the benchmark machine): the loop would be
    # L kernel launches against ~2 log₂ L
    return "parallel"


class MambaMixer(nn.Module):
    """The Mamba block of §3.4 (in_proj → causal depthwise conv1d → SiLU → S6, gated by
    SiLU(z), → out_proj): a causal token mixer ``(batch, L, d_model) → (batch, L, d_model)``.

    ``scan``: "sequential", "parallel" or "auto" (the faster on the input's device, see
    ``_auto_scan``). ``dt_rank`` None is ⌈d_model / 16⌉. ``dt_min``, ``dt_max``,
    ``dt_init_floor``: the initial Δ = softplus(dt_proj.bias) is log-uniform in
    [dt_min, dt_max], at least dt_init_floor.
    """

    def __init__(self, d_model: int, d_state: int = 16, expand: int = 2, d_conv: int = 4,
                 dt_rank: int | None = None, scan: str = "auto", dt_min: float = 0.001,
                 dt_max: float = 0.1, dt_init_floor: float = 1e-4, bias: bool = False,
                 conv_bias: bool = True):
        super().__init__()
        if scan not in ("auto", *SCANS):
            raise ValueError(f"scan must be 'auto', 'sequential' or 'parallel', got {scan!r}")
        self.d_model, self.d_state, self.d_conv, self.scan = d_model, d_state, d_conv, scan
        self.d_inner = expand * d_model
        self.dt_rank = dt_rank if dt_rank is not None else math.ceil(d_model / 16)
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=bias)
        # depthwise (groups = channels), causal by left padding in forward(), not here: the
        # padding is then the previous chunk's inputs when decoding continues from a state
        self.conv1d = nn.Conv1d(self.d_inner, self.d_inner, d_conv, groups=self.d_inner,
                                bias=conv_bias)
        # s_Δ, s_B, s_C in one projection
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)  # rank R → ED, bias p
        self.A_log = nn.Parameter(torch.empty(self.d_inner, d_state))
        self.D = nn.Parameter(torch.empty(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias)
        # A and D are not decayed in the reference code (an optimizer may read this flag)
        self.A_log._no_weight_decay = True
        self.D._no_weight_decay = True
        self.dt_min, self.dt_max, self.dt_init_floor = dt_min, dt_max, dt_init_floor
        self.reset_ssm_parameters()

    @torch.no_grad()
    def reset_ssm_parameters(self) -> None:
        """The paper's (and reference code's) initialisation of the S6 parameters."""
        # dt_proj weights U(±R^-1/2): the reference code's "random" init at dt_scale 1
        bound = self.dt_rank ** -0.5
        nn.init.uniform_(self.dt_proj.weight, -bound, bound)
        # the bias p: Δ = softplus(p) log-uniform in [dt_min, dt_max], so that the initial
        # steps span two decades of time scales; p = softplus⁻¹(Δ) = Δ + log(1 − e^{−Δ})
        low, high = math.log(self.dt_min), math.log(self.dt_max)
        dt = torch.exp(torch.rand(self.d_inner) * (high - low) + low).clamp(min=self.dt_init_floor)
        self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        # S4D-Real: A_n = −n for n = 1..N in every channel
        n = torch.arange(1, self.d_state + 1, dtype=torch.float32)
        self.A_log.copy_(torch.log(n).expand(self.d_inner, -1))
        self.D.fill_(1.0)

    def new_state(self, batch: int, dtype: torch.dtype | None = None,
                  device: torch.device | str | None = None) -> MambaState:
        """The state before any token: zero inputs to the convolution, h_0 = 0."""
        dtype = dtype or self.D.dtype
        device = device or self.D.device
        return MambaState(
            conv=torch.zeros(batch, self.d_inner, self.d_conv - 1, dtype=dtype, device=device),
            ssm=torch.zeros(batch, self.d_inner, self.d_state, dtype=dtype, device=device))

    def _scan_method(self, device: torch.device) -> str:
        return _auto_scan(device) if self.scan == "auto" else self.scan

    def _ssm_inputs(self, u: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Δ (…, ED), A (ED, N), B and C (…, N) from u (…, ED), in ``dtype``: the selection of
        Algorithm 2 (the projections in the module's dtype, the rest in ``dtype``)."""
        s_delta, B, C = self.x_proj(u).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(self.dt_proj(s_delta).to(dtype))  # Δ = softplus(p + s_Δ(u))
        A = -torch.exp(self.A_log.to(dtype))                  # A = −exp(A_log) < 0
        return delta, A, B.to(dtype), C.to(dtype)

    def forward(self, x: Tensor, state: MambaState | None = None) -> Tensor:
        """x (batch, L, d_model) → (batch, L, d_model). Causal: output t sees inputs ≤ t.

        With ``state`` the input continues the sequence that the state summarises (a prefilled
        prompt, then one token at a time), and the state is advanced past it, in place.
        """
        length = x.shape[1]
        x_in, z = self.in_proj(x).chunk(2, dim=-1)           # (batch, L, ED) each
        x_in = x_in.transpose(1, 2)                          # (batch, ED, L) for conv1d
        past = state.conv if state is not None else x_in.new_zeros(
            x_in.shape[0], self.d_inner, self.d_conv - 1)
        window = torch.cat([past.to(x_in.dtype), x_in], dim=-1)  # left context: causal
        u = F.silu(self.conv1d(window)).transpose(1, 2)      # (batch, L, ED)

        # the scan in float32 at least: Ā products over many steps lose too much in 16 bits
        wide = torch.float32 if u.dtype in (torch.float16, torch.bfloat16) else u.dtype
        delta, A, B, C = self._ssm_inputs(u, wide)
        h0 = state.ssm.to(wide) if state is not None else None
        y, h_last = selective_scan(u.to(wide), delta, A, B, C, self.D.to(wide),
                                   self._scan_method(x.device), h0=h0, return_state=True)
        if state is not None:
            state.conv = window[..., window.shape[-1] - (self.d_conv - 1):].detach()
            state.ssm = h_last.detach()
            state.length += length
        return self.out_proj(y.to(z.dtype) * F.silu(z))

    def step(self, x_t: Tensor, state: MambaState) -> Tensor:
        """One token in recurrent form: x_t (batch, d_model) → (batch, d_model), O(1) in the
        length; ``state`` is advanced in place. Equals :meth:`forward` on the whole sequence."""
        x_in, z = self.in_proj(x_t).chunk(2, dim=-1)         # (batch, ED) each
        window = torch.cat([state.conv.to(x_in.dtype), x_in.unsqueeze(-1)], dim=-1)
        # the convolution at the newest position: Σ_k w_k · window_k (+ bias)
        u = (window * self.conv1d.weight.squeeze(1)).sum(-1)
        if self.conv1d.bias is not None:
            u = u + self.conv1d.bias
        u = F.silu(u)
        delta, A, B, C = self._ssm_inputs(u, u.dtype)        # (batch, ED), (ED, N), (batch, N) ×2
        # h_t = Ā_t h_{t-1} + B̄_t u_t with Ā = exp(ΔA), B̄ u = Δ B u
        h = torch.addcmul((delta * u).unsqueeze(-1) * B.unsqueeze(1),
                          torch.exp(delta.unsqueeze(-1) * A), state.ssm)
        y = (h @ C.unsqueeze(-1)).squeeze(-1) + self.D * u   # y_t = C_t h_t + D u_t
        state.conv, state.ssm = window[..., 1:].detach(), h.detach()
        state.length += 1
        return self.out_proj(y * F.silu(z))
