"""``comparative-study``: REINFORCE → NPG → TRPO → PPO on several environments, seeds inside the
run, learning curves with 95% bands.

NPG takes Kakade's fixed step α·F⁻¹g, TRPO the KL-radius step with its line search; the summary
keeps the KL each natural-gradient update really moved (over every update of every seed) and how
often TRPO's line search had to shrink the step.
"""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import Tracker, experiment
from algorithms.weeks.rl_common import UNITS, StudyConfig, algorithm_config

LABELS = {"reinforce": "REINFORCE", "npg": "NPG", "trpo": "TRPO", "ppo": "PPO"}


def env_key(env_id: str) -> str:
    """``CartPole-v1`` → ``cartpole``: the environment's part of metric and summary keys."""
    return env_id.split("-")[0].lower()


class ComparativeConfig(StudyConfig):
    environments: tuple[str, ...] = ("CartPole-v1", "Acrobot-v1")
    algorithms: tuple[str, ...] = ("reinforce", "npg", "trpo", "ppo")
    total_timesteps: int = 60_000  # per (algorithm, environment, seed)
    grid_points: int = 50
    # each algorithm's config fields: REINFORCE weights its gradient by GAE(λ = 0.97); NPG takes
    # Kakade's fixed step α = 1, which with normalised advantages moves the policy by about
    # TRPO's δ early in training and by less once gradients shrink; NPG and TRPO batch 8 × 256
    algo: dict[str, dict[str, Any]] = {
        "reinforce": {"estimator": "gae", "gae_lambda": 0.97, "episodes_per_batch": 8},
        "npg": {"step_size": 1.0, "n_steps": 256},
        "trpo": {"n_steps": 256},
        "ppo": {}}  # PPOConfig's defaults: RL Zoo's CartPole settings
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"environments": ("CartPole-v1",), "total_timesteps": 512, "n_seeds": 1,
                  "grid_points": 5,  # batches that fit the budget:
                  "algo": {"reinforce": {"episodes_per_batch": 2}, "npg": {"n_steps": 64},
                           "trpo": {"n_steps": 64}}},
        "gpu": {"environments": ("CartPole-v1", "Acrobot-v1", "LunarLander-v3"),
                "total_timesteps": 500_000, "n_seeds": 10}}

    def algorithm_configs(self) -> dict[str, Any]:
        """``env/algorithm`` → its config, environments outermost (the order they run in)."""
        unknown = sorted((set(self.algorithms) | set(self.algo)) - set(LABELS))
        if unknown:
            raise ValueError(f"no such algorithm in this study: {', '.join(unknown)} "
                             f"(it compares {', '.join(LABELS)})")
        return {f"{env_key(env_id)}/{algorithm}": algorithm_config(
                    algorithm, self.algo.get(algorithm, {}), env_id=env_id,
                    total_timesteps=self.total_timesteps, seed=self.seed)
                for env_id in self.environments for algorithm in self.algorithms}


def measure(result: Any, grid: Any) -> Any:
    """The return measurement; for NPG and TRPO (the methods that record a step fraction) also
    every update's KL and whether its full step was shrunk."""
    import numpy as np

    from algorithms.harness import Measurement
    from algorithms.weeks.rl_common import measure_returns

    measured = measure_returns(result, grid)
    if "step_fraction" not in result.history:
        return measured
    return Measurement(measured.curves, measured.scalars, samples={
        "step_kl": np.asarray(result.history["approx_kl"]),
        "backtracked": np.asarray(result.history["step_fraction"]) < 1.0})


def algorithm_of(key: str) -> str:
    """``cartpole/trpo`` → ``trpo``: the algorithm part of a method key."""
    return key.rsplit("/", 1)[1]


# what the caption says of each algorithm, from its config
DESCRIPTIONS = {
    "reinforce": lambda c: (f"REINFORCE (GAE λ={c.gae_lambda:g} weights, "
                            f"{c.episodes_per_batch} episodes per batch)"),
    "npg": lambda c: (f"NPG (fixed step α = {c.step_size:g} along F⁻¹g, batch "
                      f"{c.n_envs * c.n_steps}, GAE λ={c.gae_lambda:g})"),
    "trpo": lambda c: (f"TRPO (KL radius δ = {c.max_kl:g} with line search, batch "
                       f"{c.n_envs * c.n_steps}, GAE λ={c.gae_lambda:g})"),
    "ppo": lambda c: "PPO-clip (RL-Zoo CartPole settings)",
}


@experiment(week=4, name="comparative-study", covers=(2,), config=ComparativeConfig, units=UNITS)
def comparative_study(config: ComparativeConfig, tracker: Tracker) -> dict[str, float]:
    """REINFORCE → NPG → TRPO → PPO on several environments, curves over seeds."""
    import numpy as np

    from algorithms.harness import ROW_COLUMNS, run_seed_study
    from algorithms.plotting import band_figure
    from algorithms.weeks.rl_common import seeded_method

    configs = config.algorithm_configs()
    methods = [seeded_method(key, LABELS[algorithm_of(key)], algo_config, panel=algo_config.env_id)
               for key, algo_config in configs.items()]
    grid = np.linspace(0, config.total_timesteps, config.grid_points)
    study = run_seed_study(tracker, methods, config.seeds, measure, grid, prefix="study",
                           description="comparative study")
    summary = study.summary("final_return") | study.summary("wall_s")
    for method in study.methods:
        kls = study.pooled(method.key, "step_kl")  # NPG and TRPO only
        if kls.size:
            summary[method.summary_key("median_step_kl")] = float(np.median(kls))
            summary[method.summary_key("max_step_kl")] = float(np.max(kls))
        if algorithm_of(method.key) == "trpo":
            summary[method.summary_key("backtracked_share")] = float(
                np.mean(study.pooled(method.key, "backtracked")))
    tracker.log_table("study/final_return", ["run", *ROW_COLUMNS], study.table("final_return"))
    fig = band_figure(study.bands("episodic_return"), "return (20-episode moving average)")
    first_env = env_key(config.environments[0])
    described = [DESCRIPTIONS[a](configs[f"{first_env}/{a}"]) for a in config.algorithms]
    tracker.log_figure(
        "study/episodic_return", fig,
        f"{', '.join(described)} on {', '.join(config.environments)}: mean over "
        f"{config.n_seeds} seeds with 95% t-intervals, same env-step budget for each.")
    return summary
