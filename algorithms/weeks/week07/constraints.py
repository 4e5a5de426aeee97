"""``constraint-satisfaction``: CPO against unconstrained TRPO on CostCartPole (CartPole with
cost 1 per step outside the safe zone), seeds inside the run: return and episode cost against
the budget d."""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import Tracker, experiment
from algorithms.weeks.rl_common import UNITS, StudyConfig, algorithm_config

METHODS = {"cpo": ("CPO", True), "trpo": ("TRPO", False)}  # key → (label, constrained)


class ConstraintConfig(StudyConfig):
    total_timesteps: int = 150_000
    # cpo.CPOConfig fields shared by both methods: the safe zone |x| ≤ 0.5, the budget d
    algo: dict[str, Any] = {"position_limit": 0.5, "cost_limit": 25.0}
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"total_timesteps": 1024, "n_seeds": 1, "grid_points": 5,
                  "algo": {"n_steps": 64}},
        "gpu": {"total_timesteps": 500_000, "n_seeds": 10}}

    def algorithm_configs(self) -> dict[str, Any]:
        return {key: algorithm_config("cpo", self.algo, constrained=constrained,
                                      total_timesteps=self.total_timesteps, seed=self.seed)
                for key, (_, constrained) in METHODS.items()}


def measure(result: Any, grid: Any) -> Any:
    """Return and episode-cost curves (20-episode moving averages), final return and cost."""
    import numpy as np

    from algorithms.harness import Measurement, curve, curve_of

    episodes = result.episodes
    return Measurement(
        curves={"episodic_return": curve(episodes, grid),
                "episodic_cost": curve_of(np.asarray(episodes.steps), np.asarray(episodes.costs),
                                          grid)},
        scalars={"final_return": episodes.mean_return(20), "final_cost": episodes.mean_cost(20)})


@experiment(week=7, name="constraint-satisfaction", covers=(2,), config=ConstraintConfig,
            units=UNITS)
def constraint_satisfaction(config: ConstraintConfig, tracker: Tracker) -> dict[str, float]:
    """CPO vs TRPO on CostCartPole: return and episode cost against the budget d."""
    import numpy as np

    from algorithms.harness import run_seed_study
    from algorithms.plotting import band_figure
    from algorithms.weeks.rl_common import seeded_method

    configs = config.algorithm_configs()
    methods = [seeded_method(key, label, configs[key]) for key, (label, _) in METHODS.items()]
    grid = np.linspace(0, config.total_timesteps, config.grid_points)
    study = run_seed_study(tracker, methods, config.seeds, measure, grid, prefix="constraint",
                           description="CPO vs TRPO")
    limit, position_limit = configs["cpo"].cost_limit, configs["cpo"].position_limit
    summary: dict[str, float] = {"cost_limit": limit}
    summary |= study.summary("final_return") | study.summary("final_cost")
    summary |= study.summary("final_cost", lambda costs: np.sum(costs <= limit),
                             as_name="seeds_within_limit")
    tracker.log_table("constraint/final", ["method", "return_mean", "return_ci95",
                                           "return_per_seed"], study.table("final_return"))
    tracker.log_table("constraint/final_cost", ["method", "cost_mean", "cost_ci95",
                                                "cost_per_seed"], study.table("final_cost"))
    fig = band_figure(study.bands("episodic_return", title="return"),
                      "return (20-episode moving average)")
    tracker.log_figure("constraint/episodic_return", fig,
                       f"CPO and TRPO on CostCartPole (CartPole-v1, cost 1 per step with "
                       f"|x| > {position_limit}): return against environment steps, mean "
                       f"over {config.n_seeds} seeds with 95% t-intervals.")
    fig = band_figure(study.bands("episodic_cost", title="episode cost"),
                      "cost per episode (20-episode moving average)",
                      hlines={f"budget d = {limit:g}": limit})
    tracker.log_figure("constraint/episodic_cost", fig,
                       "Constraint satisfaction: each episode's total cost (steps outside the safe "
                       f"zone) for CPO and unconstrained TRPO, against the budget d = "
                       f"{limit:g}; mean over seeds with 95% t-intervals.")
    return summary
