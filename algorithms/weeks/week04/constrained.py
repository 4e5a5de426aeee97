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


def measure(result: Any, grid: Any) -> Any:
    """Return and episode-cost curves (20-episode moving averages), final return and cost, the
    highest point of the cost curve (the worst violation during training), the cost rate over
    the whole of training (total cost / env steps), wall time; for PPO-Lagrangian
    also λ on the grid (its value after the last update before each grid step) and its end."""
    import numpy as np

    from algorithms.harness import Measurement, curve, curve_of

    episodes = result.episodes
    curves = {"episodic_return": curve(episodes, grid),
              "episodic_cost": curve_of(np.asarray(episodes.steps), np.asarray(episodes.costs),
                                        grid)}
    scalars = {"final_return": episodes.mean_return(20), "final_cost": episodes.mean_cost(20),
               "peak_cost": float(np.nanmax(curves["episodic_cost"], initial=0.0)),
               "cost_rate": float(np.sum(episodes.costs)) / max(result.global_step, 1),
               "wall_s": result.wall_s}
    if "lagrange_multiplier" in result.history:
        lam = np.asarray(result.history["lagrange_multiplier"])
        curves["lagrange_multiplier"] = curve_of(np.asarray(result.history["step"]), lam, grid, 1)
        scalars["final_lambda"] = float(lam[-1])
    return Measurement(curves=curves, scalars=scalars)


@experiment(week=4, name="constrained-policy-optimization", covers=(), config=ConstrainedConfig,
            units=UNITS)
def constrained_policy_optimization(config: ConstrainedConfig,
                                    tracker: Tracker) -> dict[str, float]:
    """CPO vs PCPO vs PPO-Lagrangian (and unconstrained PPO) on CostCartPole: return and episode
    cost against the budget d."""
    import numpy as np

    from algorithms.harness import run_seed_study
    from algorithms.plotting import band_figure
    from algorithms.weeks.rl_common import seeded_method

    configs = config.algorithm_configs()
    methods = [seeded_method(key, label, configs[key]) for key, (label, _, _) in METHODS.items()]
    grid = np.linspace(0, config.total_timesteps, config.grid_points)
    study = run_seed_study(tracker, methods, config.seeds, measure, grid, prefix="constrained",
                           description="CPO vs PCPO vs PPO-Lagrangian vs PPO")
    limit = config.cost_limit
    summary: dict[str, float] = {"cost_limit": limit, "position_limit": config.position_limit}
    summary |= study.summary("final_return") | study.summary("final_cost")
    summary |= study.summary("final_cost", lambda costs: np.sum(costs <= limit),
                             as_name="seeds_within_limit")
    summary |= study.summary("peak_cost") | study.summary("cost_rate") | study.summary("wall_s")
    summary |= {key: value for key, value in study.summary("final_lambda").items()
                if key.startswith("ppo_lagrangian.")}  # unconstrained PPO's λ is 0 throughout
    tracker.log_table("constrained/final_return", ["method", "return_mean", "return_ci95",
                                                   "return_per_seed"],
                      study.table("final_return"))
    tracker.log_table("constrained/final_cost", ["method", "cost_mean", "cost_ci95",
                                                 "cost_per_seed"], study.table("final_cost"))
    tracker.log_table("constrained/peak_cost", ["method", "peak_cost_mean", "peak_cost_ci95",
                                                "peak_cost_per_seed"], study.table("peak_cost"))
    lagrangian, cpo_config = configs["ppo_lagrangian"], configs["cpo"]
    described = (f"CPO and PCPO (KL radius δ = {cpo_config.max_kl:g}, batch "
                 f"{cpo_config.n_envs * cpo_config.n_steps}, PCPO with the "
                 f"{configs['pcpo'].projection.upper()} projection), PPO-Lagrangian (dual step "
                 f"η_λ = {lagrangian.lambda_lr:g}) and unconstrained PPO (batch "
                 f"{lagrangian.n_envs * lagrangian.n_steps}, {lagrangian.n_epochs} epochs)")
    fig = band_figure(study.bands("episodic_return", title="return"),
                      "return (20-episode moving average)")
    tracker.log_figure("constrained/episodic_return", fig,
                       f"{described} on CostCartPole (CartPole-v1, cost 1 per step with "
                       f"|x| > {config.position_limit:g}): return against environment steps, "
                       f"mean over {config.n_seeds} seeds with 95% t-intervals.")
    fig = band_figure(study.bands("episodic_cost", title="episode cost"),
                      "cost per episode (20-episode moving average)",
                      hlines={f"budget d = {limit:g}": limit})
    tracker.log_figure("constrained/episodic_cost", fig,
                       "Constraint satisfaction: each episode's total cost (steps outside the safe "
                       f"zone) for CPO, PCPO, PPO-Lagrangian and unconstrained PPO against the "
                       f"budget d = {limit:g} (the constrained methods aim at "
                       f"{limit * (1 - cpo_config.cost_margin):g}); mean over seeds with 95% "
                       "t-intervals.")
    fig = band_figure({"PPO-Lagrangian": {"λ": (study.grid, study.curves(
                          "ppo_lagrangian", "lagrange_multiplier"))}},
                      "Lagrange multiplier λ")
    tracker.log_figure("constrained/lagrange_multiplier", fig,
                       "PPO-Lagrangian's multiplier λ after each rollout's dual step "
                       f"λ ← max(0, λ + {lagrangian.lambda_lr:g}·(J_C − d')), against environment "
                       "steps; mean over seeds with 95% t-intervals. λ rises while episodes cost "
                       "more than the budget and decays once they cost less.")
    return summary
