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


@experiment(week=7, name="constraint-satisfaction", covers=(2,), config=ConstraintConfig,
            units=UNITS)
def constraint_satisfaction(config: ConstraintConfig, tracker: Tracker) -> dict[str, float]:
    """CPO vs TRPO on CostCartPole: return and episode cost against the budget d."""
    from algorithms.weeks.rl_common import constraint_study, seeded_method

    configs = config.algorithm_configs()
    methods = [seeded_method(key, label, configs[key]) for key, (label, _) in METHODS.items()]
    cpo = configs["cpo"]
    _, summary = constraint_study(tracker, config, methods, cpo.cost_limit, "constraint",
                                  "CPO vs TRPO", "CPO and unconstrained TRPO",
                                  cpo.position_limit)
    return summary
