"""Trust Region Policy Optimization (Schulman, Levine, Moritz, Jordan & Abbeel 2015).

TRPO solves, at every update (eq. 14),

    maximise_θ  L(θ) = Ê_t[π_θ(a_t|s_t) / π_θold(a_t|s_t) Â_t]
    subject to  D̄_KL(θ_old, θ) = Ê_s[KL(π_θold(·|s) ‖ π_θ(·|s))] ≤ δ

by the natural-gradient step of ``npg.py`` (linear model of L, quadratic model ½Δ^T F Δ of the KL,
x = F^{-1}g by conjugate gradient, Δ = sqrt(2δ / x^T F x)·x; Appendix C) followed by a
backtracking line search on the *exact* constraint and objective: try θ_old + β^j Δ,
j = 0, 1, ..., and accept the first with D̄_KL ≤ δ and L(θ) > L(θ_old) (App. C, "we use a line
search ... to ensure improvement of the surrogate objective and satisfaction of the KL
constraint"). If none passes, θ stays at θ_old. This module is the line search; the rest of the
loop is NPG's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from algorithms.policy import npg
from algorithms.policy.core import flat_params, set_flat_params
from algorithms.policy.envs import LogFn, TrainResult, no_log
from algorithms.policy.networks import ActorCritic


@dataclass(frozen=True)
class TRPOConfig(npg.NPGConfig):
    """NPG's hyperparameters; ``backtrack_iters`` and ``backtrack_coef`` (β) drive the search."""


def line_search(agent: ActorCritic, params: list, full_step: torch.Tensor,
                expected: torch.Tensor, surrogate: Callable[[], torch.Tensor],
                kl: Callable[[], torch.Tensor], config: npg.NPGConfig) -> dict[str, float]:
    """Backtracking line search: the largest β^j Δ with KL ≤ δ and a surrogate improvement."""
    old = flat_params(params)
    with torch.no_grad():
        surrogate_old = surrogate().item()
        for j in range(config.backtrack_iters):
            fraction = config.backtrack_coef ** j
            set_flat_params(params, old + fraction * full_step)
            if kl().item() <= config.max_kl and surrogate().item() > surrogate_old:
                return {"charts/line_search_steps": float(j), "charts/step_fraction": fraction}
        set_flat_params(params, old)  # no acceptable step: stay put
    return {"charts/line_search_steps": float(config.backtrack_iters),
            "charts/step_fraction": 0.0}


def train(config: TRPOConfig, log: LogFn = no_log) -> TrainResult:
    """Train TRPO: NPG's loop with the line search."""
    if config.step_size is not None:
        raise ValueError("TRPO steps to the KL radius max_kl; step_size is NPG's fixed α")
    return npg.train(config, log, step_fn=line_search)
