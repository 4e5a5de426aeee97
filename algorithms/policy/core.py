"""The pieces every policy-optimisation algorithm shares, written once and tested once.

Conventions (all estimators work on time-major tensors of shape ``(T, N)``: T steps of N envs):

* ``rewards[t]``, ``costs[t]``: what the transition s_t → s_{t+1} paid.
* ``dones[t] = 1`` when the episode ended with that transition; nothing flows back across it.
  A *truncated* episode (time limit) is bootstrapped by the collector, which adds
  γ·V(s_final) to ``rewards[t]`` before marking it done (Pardo et al. 2018, "Time limits in RL").
* ``values[t] = V(s_t)``; ``last_value = V(s_T)`` bootstraps the segment's tail.

Contents: reward-to-go, GAE, V-trace, advantage normalisation, importance ratios, the k3 KL
estimator, flat-parameter helpers, conjugate gradient and the Fisher-vector product.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

# ----------------------------------------------------------------------------- returns


def discounted_returns(rewards: Tensor, dones: Tensor, gamma: float,
                       last_value: Tensor | None = None) -> Tensor:
    """Reward-to-go G_t = Σ_{k≥t} γ^{k−t} r_k, restarted at every episode end.

    Williams (1992) / Sutton & Barto eq. 13.8 — computed backwards, G_t = r_t + γ (1 − d_t) G_{t+1},
    with G_T = ``last_value`` (0 when None: pure Monte Carlo over complete episodes).
    """
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0]) if last_value is None else last_value
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * (1.0 - dones[t]) * running
        returns[t] = running
    return returns


def gae(rewards: Tensor, values: Tensor, dones: Tensor, last_value: Tensor, gamma: float,
        lam: float) -> tuple[Tensor, Tensor]:
    """Generalised advantage estimation (Schulman et al. 2016, eq. 16) → (advantages, returns).

        δ_t = r_t + γ (1 − d_t) V(s_{t+1}) − V(s_t)                      (eq. 9, the TD error)
        Â_t = Σ_{l≥0} (γλ)^l δ_{t+l}  =  δ_t + γλ (1 − d_t) Â_{t+1}       (eq. 16)

    λ = 0 gives the TD error (low variance, biased); λ = 1 gives G_t − V(s_t) (unbiased, high
    variance). ``returns = Â + V`` are the λ-returns the critic regresses on.
    """
    advantages = torch.zeros_like(rewards)
    next_advantage = torch.zeros_like(rewards[0])
    next_value = last_value
    for t in reversed(range(rewards.shape[0])):
        not_done = 1.0 - dones[t]
        delta = rewards[t] + gamma * not_done * next_value - values[t]
        next_advantage = delta + gamma * lam * not_done * next_advantage
        advantages[t] = next_advantage
        next_value = values[t]
    return advantages, advantages + values


def normalize(x: Tensor, eps: float = 1e-8) -> Tensor:
    """Advantage normalisation: zero mean, unit standard deviation over the batch."""
    return (x - x.mean()) / (x.std() + eps)


# ----------------------------------------------------------------------------- off-policy


def importance_ratio(logp_new: Tensor, logp_old: Tensor) -> Tensor:
    """ρ = π(a|s) / μ(a|s), from log-probabilities (μ = the policy that acted)."""
    return torch.exp(logp_new - logp_old)


def vtrace(behaviour_logp: Tensor, target_logp: Tensor, rewards: Tensor, values: Tensor,
           dones: Tensor, last_value: Tensor, gamma: float, rho_bar: float = 1.0,
           c_bar: float = 1.0, lam: float = 1.0,
           pg_rho_bar: float | None = None) -> tuple[Tensor, Tensor]:
    """V-trace targets and policy-gradient advantages (Espeholt et al. 2018, eq. 1 and §4.2).

        ρ_t = min(ρ̄, π(a_t|x_t)/μ(a_t|x_t)),   c_i = λ min(c̄, π(a_i|x_i)/μ(a_i|x_i))
        δ_t V = ρ_t (r_t + γ V(x_{t+1}) − V(x_t))
        v_s = V(x_s) + Σ_{t=s}^{s+n−1} γ^{t−s} (Π_{i=s}^{t−1} c_i) δ_t V                  (eq. 1)
            = V(x_s) + δ_s V + γ c_s (v_{s+1} − V(x_{s+1}))                         (the recursion)
        A_s = ρ_s^{pg} (r_s + γ v_{s+1} − V(x_s))                          (the actor's advantage)

    With ρ̄ = c̄ = ∞ and on-policy data (π = μ) v_s is the n-step return to the segment's end.
    Returns ``(vs, pg_advantages)``, both without gradient.
    """
    with torch.no_grad():
        ratios = importance_ratio(target_logp, behaviour_logp)
        rhos = torch.clamp(ratios, max=rho_bar)
        cs = lam * torch.clamp(ratios, max=c_bar)
        discounts = gamma * (1.0 - dones)
        next_values = torch.cat([values[1:], last_value.unsqueeze(0)])
        deltas = rhos * (rewards + discounts * next_values - values)
        vs_minus_v = torch.zeros_like(values)
        acc = torch.zeros_like(last_value)
        for t in reversed(range(values.shape[0])):
            acc = deltas[t] + discounts[t] * cs[t] * acc
            vs_minus_v[t] = acc
        vs = vs_minus_v + values
        next_vs = torch.cat([vs[1:], last_value.unsqueeze(0)])
        pg_rhos = torch.clamp(ratios, max=rho_bar if pg_rho_bar is None else pg_rho_bar)
        pg_advantages = pg_rhos * (rewards + discounts * next_vs - values)
    return vs, pg_advantages


# ----------------------------------------------------------------------------- diagnostics


def approx_kl(logp_new: Tensor, logp_old: Tensor) -> Tensor:
    """KL(π_old ‖ π_new) by the k3 estimator (Schulman 2020, "Approximating KL divergence"):

        k3 = (r − 1) − log r,  r = π_new / π_old,  a ~ π_old

    unbiased, always ≥ 0, and lower variance than −log r. CleanRL logs it as ``losses/approx_kl``.
    """
    log_ratio = logp_new - logp_old
    return ((log_ratio.exp() - 1.0) - log_ratio).mean()


def clip_fraction(ratio: Tensor, clip: float) -> Tensor:
    """Share of samples whose ratio left [1 − ε, 1 + ε] (PPO's ``losses/clipfrac``)."""
    return ((ratio - 1.0).abs() > clip).float().mean()


def explained_variance(predicted: Tensor, target: Tensor) -> float:
    """1 − Var[target − predicted] / Var[target]: 1 is a perfect critic, ≤ 0 is no better than
    a constant."""
    var = target.var()
    return float("nan") if var == 0 else float(1.0 - (target - predicted).var() / var)


# ----------------------------------------------------------------------------- flat parameters


def flat_params(params: Sequence[nn.Parameter]) -> Tensor:
    return torch.cat([p.data.reshape(-1) for p in params])


def set_flat_params(params: Sequence[nn.Parameter], flat: Tensor) -> None:
    offset = 0
    for p in params:
        n = p.numel()
        p.data.copy_(flat[offset:offset + n].view_as(p))
        offset += n


def flat_grad(output: Tensor, params: Sequence[nn.Parameter], create_graph: bool = False,
              retain_graph: bool | None = None) -> Tensor:
    grads = torch.autograd.grad(output, list(params), create_graph=create_graph,
                                retain_graph=retain_graph, allow_unused=True)
    return torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1)
                      for g, p in zip(grads, params)])


# ----------------------------------------------------------------------------- natural gradient


def conjugate_gradient(Avp: Callable[[Tensor], Tensor], b: Tensor, iterations: int = 10,
                       tol: float = 1e-10) -> Tensor:
    """Solve A x = b for symmetric positive-definite A given only x ↦ A x (Hestenes & Stiefel
    1952; Nocedal & Wright Alg. 5.2). TRPO uses 10 iterations (Schulman et al. 2015, App. C)."""
    x = torch.zeros_like(b)
    r = b.clone()  # residual b − A x
    p = r.clone()  # search direction
    rr = r @ r
    for _ in range(iterations):
        if rr < tol:
            break
        Ap = Avp(p)
        alpha = rr / (p @ Ap)
        x += alpha * p
        r -= alpha * Ap
        rr_new = r @ r
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


def fisher_vector_product(kl_fn: Callable[[], Tensor], params: Sequence[nn.Parameter],
                          damping: float = 0.0) -> Callable[[Tensor], Tensor]:
    """x ↦ (F + damping·I) x without forming F (Schulman et al. 2015, App. C.1).

    At θ = θ_old the Hessian of the mean KL(π_old ‖ π_θ) is the Fisher information matrix
    F = E_s E_{a~π}[∇ log π ∇ log π^T], so F x = ∇_θ ((∇_θ KL) · x): two backward passes.
    ``kl_fn`` must return the mean KL with π_old detached.
    """
    grad_kl = flat_grad(kl_fn(), params, create_graph=True)

    def product(x: Tensor) -> Tensor:
        return flat_grad(grad_kl @ x, params, retain_graph=True) + damping * x

    return product


def natural_gradient_direction(g: Tensor, fvp: Callable[[Tensor], Tensor], max_kl: float,
                               cg_iterations: int = 10) -> tuple[Tensor, Tensor]:
    """The step that maximises the linearised objective g^T Δ inside the quadratic KL ball
    ½ Δ^T F Δ ≤ δ (TRPO eq. 14's approximation; Kakade 2001's natural gradient, scaled):

        x = F^{-1} g (by CG),   Δ = sqrt(2δ / (x^T F x)) · x.

    Returns ``(full_step Δ, expected_improvement g^T Δ)``.
    """
    x = conjugate_gradient(fvp, g, cg_iterations)
    xFx = torch.clamp(x @ fvp(x), min=1e-12)
    step = torch.sqrt(2.0 * max_kl / xFx) * x
    return step, g @ step
