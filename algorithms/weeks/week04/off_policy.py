"""``off-policy-corrections``: on a small random MDP with exact values, the bias and variance of
off-policy n-step value targets from behaviour-policy data (μ) for a target policy π — no
correction, per-decision importance sampling (V-trace with ρ̄ = c̄ = ∞) and V-trace with
truncation ρ̄ ∈ {0.5, 1, 2} (c̄ = min(ρ̄, 1)) — against n.

V-trace converges to the value of π_ρ̄ ∝ min(ρ̄ μ, π) (Espeholt et al. 2018, Theorem 1), not of
π: each estimator bootstraps with its own fixed point, so that its variance is its own noise,
and its bias is measured against the exact V^π.
"""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import ExperimentConfig, Tracker, experiment
from algorithms.weeks.rl_common import UNITS


class OffPolicyConfig(ExperimentConfig):
    n_states: int = 6
    n_actions: int = 3
    gamma: float = 0.9
    horizons: tuple[int, ...] = (1, 2, 5, 10, 20)  # n of the n-step targets
    rho_bars: tuple[float, ...] = (0.5, 1.0, 2.0)  # V-trace truncation levels (c̄ = min(ρ̄, 1))
    samples: int = 4000  # trajectories per start state
    policy_gap: float = 2.0  # logit scale of π against a uniform μ: bigger = more off-policy
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"samples": 200, "horizons": (1, 5)}, "gpu": {"samples": 50_000}}

    def estimators(self) -> dict[str, tuple[str, tuple[float, float] | None]]:
        """key → (label, V-trace's (ρ̄, c̄), or None for acting as if μ were π)."""
        estimators: dict[str, tuple[str, tuple[float, float] | None]] = {
            "none": ("no correction", None), "is": ("IS (ρ̄=c̄=∞)", (float("inf"), float("inf")))}
        estimators |= {f"vtrace_rho{r:g}": (f"V-trace ρ̄={r:g}", (r, min(r, 1.0)))
                       for r in self.rho_bars}
        return estimators


@experiment(week=4, name="off-policy-corrections", covers=(), config=OffPolicyConfig, units=UNITS)
def off_policy_corrections(config: OffPolicyConfig, tracker: Tracker) -> dict[str, float]:
    """Bias and variance of no correction, importance sampling and V-trace, against exact values."""
    import numpy as np
    import torch

    from algorithms.mdp import TabularMDP, exact_policy_value
    from algorithms.mdp.trajectories import sample_trajectories
    from algorithms.policy.core import vtrace
    from algorithms.weeks.week04.figures import bias_variance_figure

    rng = np.random.default_rng(config.seed)
    S, A, gamma = config.n_states, config.n_actions, config.gamma
    mdp = TabularMDP(rng.dirichlet(np.ones(S), size=(S, A)), rng.normal(size=(S, A)), gamma,
                     name=f"random {S}-state MDP")
    mu = np.full((S, A), 1.0 / A)
    logits = config.policy_gap * rng.normal(size=(S, A))
    pi = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    v_pi, v_mu = exact_policy_value(mdp, pi), exact_policy_value(mdp, mu)

    def fixed_point(rho_bar: float) -> np.ndarray:  # Espeholt Thm 1: π_ρ̄ ∝ min(ρ̄ μ, π)
        p = np.minimum(rho_bar * mu, pi)
        return exact_policy_value(mdp, p / p.sum(1, keepdims=True))

    # μ-data: `samples` trajectories per start state, long enough for the longest horizon
    data = sample_trajectories(mdp, mu, np.repeat(np.arange(S), config.samples),
                               max(config.horizons), rng)
    states, actions, M = data.states, data.actions, data.states.shape[1]
    rows, summary = [], {}
    curves: dict[str, list[tuple[int, float, float]]] = {}
    for key, (label, truncation) in config.estimators().items():
        if truncation is None:  # act as if μ were π: ρ = c = 1, converges to V^μ
            target = v_mu
        else:
            target = fixed_point(truncation[0]) if np.isfinite(truncation[0]) else v_pi
        rho_bar, c_bar = truncation or (1.0, 1.0)
        for n in config.horizons:
            mu_logp = torch.as_tensor(np.log(mu[states[:n], actions[:n]]))
            pi_logp = (mu_logp if truncation is None
                       else torch.as_tensor(np.log(pi[states[:n], actions[:n]])))
            # bootstrap with the estimator's own fixed point: what remains is its noise
            vs, _ = vtrace(mu_logp, pi_logp, torch.as_tensor(data.rewards[:n]),
                           torch.as_tensor(target[states[:n]]), torch.zeros(n, M),
                           torch.as_tensor(target[states[n]]), gamma, rho_bar, c_bar)
            v0 = vs[0].numpy().reshape(S, config.samples)
            variance = float(v0.var(axis=1).mean())
            bias = float(np.abs(v0.mean(axis=1) - v_pi).max())  # against the true V^π
            curves.setdefault(label, []).append((n, variance, bias))
            tracker.log({f"offpolicy/{key}/variance": variance, f"offpolicy/{key}/bias": bias},
                        step=n, x="n")
            rows.append([label, n, round(bias, 4), round(variance, 4)])
        summary[f"{key}.fixed_point_bias"] = float(np.abs(target - v_pi).max())
        summary[f"{key}.variance_n{max(config.horizons)}"] = curves[label][-1][1]
    tracker.log_table("offpolicy/bias_variance_by_n", ["estimator", "n", "max_abs_bias_vs_v_pi",
                                                       "mean_variance"], rows)
    tracker.log_figure(
        "offpolicy/bias_variance", bias_variance_figure(curves),
        f"Off-policy n-step value targets on a random {S}-state, {A}-action MDP (γ = {gamma}) "
        f"from a uniform behaviour policy μ for a peaked target π: variance (left, log) and bias "
        f"against the exact V^π (right) of the uncorrected return, per-decision importance "
        f"sampling and V-trace with truncation ρ̄ (c̄ = min(ρ̄, 1)); {config.samples} "
        "trajectories per start state.")
    summary["v_pi_minus_v_mu"] = float(np.abs(v_pi - v_mu).max())
    return summary
