"""Projection-Based Constrained Policy Optimization (Yang, Rosca, Narasimhan & Ramadge 2020).

PCPO splits CPO's one constrained step into two: a reward-improvement step, then a projection
step. With step x = θ − θ_k, g the gradient of the reward surrogate, a the gradient
of the cost surrogate, b = J_C(π_k) − d and H the Fisher matrix (the Hessian of the mean KL):

1. Reward improvement: TRPO's step, the maximiser of g^T x inside the quadratic KL ball
   ½ x^T H x ≤ δ,

       θ_{k+½} = θ_k + sqrt(2δ / g^T H^{-1} g) · H^{-1} g.

2. Projection of θ_{k+½} onto the linearised constraint set {θ : a^T (θ − θ_k) + b ≤ 0} in the
   metric ½ ‖θ − θ_{k+½}‖²_L, which has the closed form

       θ_{k+1} = θ_{k+½} − max(0, (a^T (θ_{k+½} − θ_k) + b) / (a^T L^{-1} a)) · L^{-1} a,

   with L = H for the KL projection (``projection="kl"``: the distance measured in policy space,
   to second order) or L = I for the L2 projection (``projection="l2"``, parameter
   space). When θ_{k+½} already satisfies the linearised constraint the projection does nothing
   and the update is TRPO's; otherwise the projected step lies on the constraint's boundary,
   a^T x + b = 0. (The paper's equation numbers are not repeated here; the formulas are.)

Unlike CPO, PCPO always has a step: if π_k is infeasible (b > 0) the projection simply moves
further along −L^{-1} a, to where the linearised cost meets the budget (a^T x = −b): there is no
separate recovery step.
With L = H and b ≤ 0 the projected step stays inside the trust region (a projection onto a convex
set containing x = 0 is non-expansive in its own norm); with b > 0 it may leave it.

Everything else is CPO's (``cpo.py``): the cost critic V^C and GAE for the cost advantages, the
cost surrogate L̄ · Ê[r Â^C] (so a is its gradient), the estimate of J_C(π_k), the tightened budget
d·(1 − cost_margin), conjugate gradient with Fisher-vector products, and the backtracking line
search on the exact KL, the reward surrogate and the cost surrogate. This module only supplies the
step (``pcpo_direction``) to CPO's loop. The line search is a practical safeguard shared with CPO
and OmniSafe's PCPO, not part of the paper's update; it also pulls an infeasible-case step back
inside the KL radius δ.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import torch

from algorithms.policy import cpo
from algorithms.policy.core import conjugate_gradient, natural_gradient_direction
from algorithms.policy.envs import LogFn, TrainResult, no_log

EPS = cpo.EPS


@dataclass(frozen=True)
class PCPOConfig(cpo.CPOConfig):
    """CPO's hyperparameters (task, budget d, KL radius δ, critics, line search) and the metric
    of the projection step; ``constrained=False`` is TRPO, as for CPO."""

    projection: Literal["kl", "l2"] = "kl"  # L = H (KL projection) or L = I (L2 projection)


def project(half_step: torch.Tensor, a: torch.Tensor, b: float,
            L_inv_a: torch.Tensor) -> torch.Tensor:
    """The projection step in closed form: the x closest to ``half_step`` = θ_{k+½} − θ_k in the
    L-norm with a^T x + b ≤ 0, i.e. x = x_½ − max(0, (a^T x_½ + b) / (a^T L^{-1} a)) · L^{-1} a."""
    s = float(a @ L_inv_a)  # a^T L^{-1} a
    if s <= EPS:  # no cost gradient: nothing to project along
        return half_step
    return half_step - max(0.0, (float(a @ half_step) + b) / s) * L_inv_a


def pcpo_direction(g: torch.Tensor, a: torch.Tensor, b: float, fvp, max_kl: float,
                   cg_iterations: int, projection: str = "kl") -> tuple[torch.Tensor, int]:
    """PCPO's step x = θ_{k+1} − θ_k → (x, case), in ``cpo.cpo_direction``'s signature (there
    a is called b and b is called c). Cases as CPO's, for the line search and the logs:
    4 = no cost gradient, 3 = the half step already satisfies the linearised constraint (no
    projection), 2 / 1 = projected, with π_k feasible (b < 0) / infeasible (b ≥ 0)."""
    if projection not in ("kl", "l2"):
        raise ValueError(f"projection must be 'kl' or 'l2', not {projection!r}")
    half_step, _ = natural_gradient_direction(g, fvp, max_kl, cg_iterations)  # step 1: TRPO's
    if float(a @ a) <= EPS and b < 0:
        return half_step, 4
    if float(a @ half_step) + b <= 0:  # θ_{k+½} is in the linearised constraint set
        return half_step, 3
    # step 2: L^{-1} a by conjugate gradient for the KL projection, a itself for the L2 one
    L_inv_a = conjugate_gradient(fvp, a, cg_iterations) if projection == "kl" else a
    return project(half_step, a, b, L_inv_a), 2 if b < 0 else 1


def train(config: PCPOConfig, log: LogFn = no_log) -> TrainResult:
    """Train PCPO (or TRPO when ``constrained=False``): CPO's loop with PCPO's step."""
    return cpo.train(config, log,
                     direction=functools.partial(pcpo_direction, projection=config.projection))
