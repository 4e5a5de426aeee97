"""``constrained-policy-optimization``: three ways to keep a policy under a cost budget, beside
unconstrained PPO, on CostCartPole (CartPole with cost 1 per step outside the safe zone
|x| ≤ position_limit, budget d on each episode's total cost); seeds inside the run.

* CPO (Achiam et al. 2017, ``cpo.py``): one trust-region step solving the linearised constrained
  problem through its dual.
* PCPO (Yang et al. 2020, ``pcpo.py``): TRPO's reward step, then a projection onto the linearised
  constraint set in the KL (Fisher) metric.
* PPO-Lagrangian (Ray et al. 2019, ``lagrangian_ppo.py``): PPO on Â^R − λ Â^C, λ ≥ 0 by projected
  gradient ascent on λ (J_C − d).
* PPO with λ fixed at 0 (the same code and hyperparameters): the unconstrained reference.

Every constrained method aims at the same tightened budget d·(1 − cost_margin) (their configs'
default margin, 10%); the results are judged against d itself.
"""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import Tracker, experiment
from algorithms.weeks.rl_common import UNITS, StudyConfig, algorithm_config

# method key → (label, module of algorithms.policy, constrained)
METHODS = {"cpo": ("CPO", "cpo", True), "pcpo": ("PCPO", "pcpo", True),
           "ppo_lagrangian": ("PPO-Lagrangian", "lagrangian_ppo", True),
           "ppo": ("PPO (unconstrained)", "lagrangian_ppo", False)}


class ConstrainedConfig(StudyConfig):
    total_timesteps: int = 150_000  # per (method, seed)
    position_limit: float = 0.5  # the safe zone |x| ≤ 0.5 (week 7's task)
    cost_limit: float = 25.0  # d
    # each method's config fields beyond the task's (defaults: CPO's and PCPO's KL radius 0.01 on
    # 8 × 256 batches; PPO's RL-Zoo CartPole settings without annealing, dual step η_λ = 0.01)
    algo: dict[str, dict[str, Any]] = {"cpo": {}, "pcpo": {"projection": "kl"},
                                       "ppo_lagrangian": {}, "ppo": {}}
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"total_timesteps": 1024, "n_seeds": 1, "grid_points": 5,
                  "algo": {"cpo": {"n_steps": 64}, "pcpo": {"n_steps": 64},
                           "ppo_lagrangian": {"n_epochs": 2}, "ppo": {"n_epochs": 2}}},
        "gpu": {"total_timesteps": 500_000, "n_seeds": 10}}

    def algorithm_configs(self) -> dict[str, Any]:
        """Method key → its config, in :data:`METHODS`' order (the order they run in)."""
        unknown = sorted(set(self.algo) - set(METHODS))
        if unknown:
            raise ValueError(f"no such method in this study: {', '.join(unknown)} "
                             f"(it compares {', '.join(METHODS)})")
        return {key: algorithm_config(module, self.algo.get(key, {}), constrained=constrained,
                                      position_limit=self.position_limit,
                                      cost_limit=self.cost_limit,
                                      total_timesteps=self.total_timesteps, seed=self.seed)
                for key, (_, module, constrained) in METHODS.items()}


@experiment(week=4, name="constrained-policy-optimization", covers=(), config=ConstrainedConfig,
            units=UNITS)
def constrained_policy_optimization(config: ConstrainedConfig,
                                    tracker: Tracker) -> dict[str, float]:
    """CPO vs PCPO vs PPO-Lagrangian (and unconstrained PPO) on CostCartPole: return and episode
    cost against the budget d."""
    from algorithms.plotting import band_figure
    from algorithms.weeks.rl_common import constraint_study, seeded_method

    configs = config.algorithm_configs()
    methods = [seeded_method(key, label, configs[key]) for key, (label, _, _) in METHODS.items()]
    lagrangian, cpo_config = configs["ppo_lagrangian"], configs["cpo"]
    limit = config.cost_limit
    described = (f"CPO and PCPO (KL radius δ = {cpo_config.max_kl:g}, batch "
                 f"{cpo_config.n_envs * cpo_config.n_steps}, PCPO with the "
                 f"{configs['pcpo'].projection.upper()} projection), PPO-Lagrangian (dual step "
                 f"η_λ = {lagrangian.lambda_lr:g}) and unconstrained PPO (batch "
                 f"{lagrangian.n_envs * lagrangian.n_steps}, {lagrangian.n_epochs} epochs; the "
                 f"constrained methods aim at d' = {limit * (1 - cpo_config.cost_margin):g})")
    study, summary = constraint_study(tracker, config, methods, limit, "constrained",
                                      "CPO vs PCPO vs PPO-Lagrangian vs PPO", described,
                                      config.position_limit)
    summary["position_limit"] = config.position_limit
    summary |= study.summary("peak_cost") | study.summary("cost_rate") | study.summary("wall_s")
    summary |= {key: value for key, value in study.summary("final_lambda").items()
                if key.startswith("ppo_lagrangian.")}  # unconstrained PPO's λ is 0 throughout
    tracker.log_table("constrained/peak_cost", ["method", "peak_cost_mean", "peak_cost_ci95",
                                                "peak_cost_per_seed"], study.table("peak_cost"))
    fig = band_figure({"PPO-Lagrangian": {"λ": (study.grid, study.curves(
                          "ppo_lagrangian", "lagrange_multiplier"))}},
                      "Lagrange multiplier λ")
    tracker.log_figure("constrained/lagrange_multiplier", fig,
                       "PPO-Lagrangian's multiplier λ after each rollout's dual step "
                       f"λ ← max(0, λ + {lagrangian.lambda_lr:g}·(J_C − d')), against environment "
                       "steps; mean over seeds with 95% t-intervals. λ rises while episodes cost "
                       "more than the budget and decays once they cost less.")
    return summary
