"""What the single-run RL experiments of weeks 4, 6 and 7 share (kept free of torch and gymnasium,
so that ``forge weeks`` stays light)."""

from __future__ import annotations

from typing import Any

from forge_cli.experiment import ExperimentConfig

UNITS = {"*steps*": "steps", "*wall_s": "s", "*sps": "steps/s", "*episodes": "episodes"}


class SingleRunConfig(ExperimentConfig):
    """One algorithm trained on one seed (the runner's): every field but the runner's and
    ``eval_episodes`` is a hyperparameter passed straight to the algorithm's own config."""

    eval_episodes: int = 20  # held-out episodes of the trained policy, acting with its mode

    def algorithm_kwargs(self, *exclude: str) -> dict[str, Any]:
        return self.model_dump(exclude={"profile", "seed", "eval_episodes", *exclude})

    @classmethod
    def for_profile(cls, profile: str, seed: int = 0, **overrides: Any) -> ExperimentConfig:
        if profile == "smoke":  # seconds: two evaluation episodes are enough to test the path
            overrides = {"eval_episodes": 2, **overrides}
        return super().for_profile(profile, seed, **overrides)
