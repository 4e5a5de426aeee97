"""Week 6's experiments: A2C alone on two environments (one seed per run) and A2C against
week 4's REINFORCE on one env-step budget (seeds inside the run)."""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import Tracker, experiment
from algorithms.weeks.rl_common import (
    A2C_MINATAR,
    UNITS,
    AtariRuns,
    atari_runs,
    reach_summary,
    SingleRunConfig,
    StudyConfig,
    algorithm_config,
    single_run,
)


class A2CRunConfig(SingleRunConfig):
    """A single A2C run: ``algo`` overrides fields of ``a2c.A2CConfig``."""

    algorithm: ClassVar[str] = "a2c"


class A2CCartPoleConfig(A2CRunConfig):
    algo: dict[str, Any] = {  # T = 8: the n-step horizon is the update period
        "env_id": "CartPole-v1", "total_timesteps": 300_000, "n_envs": 8, "n_steps": 8,
        "learning_rate": 1e-3, "gamma": 0.99, "gae_lambda": 0.95}  # Adam, lr annealed
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"algo": {"total_timesteps": 512}},
        "gpu": {"algo": {"total_timesteps": 500_000}}}


@experiment(week=6, name="a2c-cartpole", covers=(1,), config=A2CCartPoleConfig, units=UNITS,
            search_space={  # a 3 × 3 grid: `forge sweep week6 --only a2c-cartpole --method grid`
                "algo.learning_rate": {"values": [3e-4, 1e-3, 3e-3]},
                "algo.n_steps": {"values": [5, 8, 16]}},
            search_metric=("eval_return", "maximize"))
def a2c_cartpole(config: A2CCartPoleConfig, tracker: Tracker) -> dict[str, float]:
    """A2C on CartPole-v1 (8 synchronous envs); target: 475 over the last 20 episodes."""
    return single_run(tracker, config, "A2C", target=475.0)


class A2CMinAtarConfig(A2CRunConfig):
    algo: dict[str, Any] = {**A2C_MINATAR, "total_timesteps": 300_000}
    random_episodes: int = 50
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"algo": {"total_timesteps": 512, "n_envs": 2}, "random_episodes": 2},
        "gpu": {"algo": {"total_timesteps": 5_000_000}}}


@experiment(week=6, name="a2c-minatar", covers=(1,), config=A2CMinAtarConfig, units=UNITS)
def a2c_minatar(config: A2CMinAtarConfig, tracker: Tracker) -> dict[str, float]:
    """A2C with a small CNN on MinAtar Breakout, against the random policy's return."""
    return single_run(tracker, config, "A2C")


# ----------------------------------------------------------------------------- Atari

class A2CAtariConfig(AtariRuns, A2CRunConfig):
    """A2C with the Nature CNN on Atari. ``algo``: RL Zoo's A2C for Atari (16 envs, T = 5,
    RMSprop lr 7e-4 constant, ε 1e-5, c_e 0.01, c_v 0.25, n-step returns, raw advantages). The
    cpu profile: Breakout only, 80k agent steps (320k frames); the gpu
    profile: Breakout and Pong at the standard 10M frames (2.5M agent steps), the network on
    CUDA when available (the 16 emulators step on the CPU either way)."""

    algo: dict[str, Any] = {
        "total_timesteps": 80_000, "n_envs": 16, "n_steps": 5, "learning_rate": 7e-4,
        "anneal_lr": False, "optimizer": "rmsprop", "gamma": 0.99, "gae_lambda": 1.0,
        "ent_coef": 0.01, "vf_coef": 0.25, "max_grad_norm": 0.5, "norm_adv": False}
    eval_episodes: int = 10  # full games of the trained policy acting with its mode
    random_episodes: int = 30  # full games of the uniform random policy
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"algo": {"total_timesteps": 600, "n_envs": 2}, "random_episodes": 1,
                  "eval_episodes": 1},
        "gpu": {"algo": {"total_timesteps": 2_500_000, "device": "auto"},
                "games": ["Breakout", "Pong"]}}


@experiment(week=6, name="a2c-atari", covers=(1,), config=A2CAtariConfig, units=UNITS)
def a2c_atari(config: A2CAtariConfig, tracker: Tracker) -> dict[str, float]:
    """A2C with the Nature CNN on Atari (Breakout; + Pong on gpu), against the random policy."""
    return atari_runs(tracker, config, "A2C")


# ----------------------------------------------------------------------------- A2C vs REINFORCE

METHODS = {"a2c": "A2C", "reinforce": "REINFORCE"}  # key = the algorithm's module → label


class A2CvsReinforceConfig(StudyConfig):
    env_id: str = "CartPole-v1"
    total_timesteps: int = 150_000  # the same budget for both
    reach: float = 400.0  # "sample efficiency": steps until the moving average first reaches it
    # each algorithm's config fields (REINFORCE: a learned baseline, 8 episodes per update)
    algo: dict[str, dict[str, Any]] = {"a2c": {"n_steps": 8}, "reinforce": {}}
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"total_timesteps": 600, "n_seeds": 1, "grid_points": 5},
        "gpu": {"total_timesteps": 500_000, "n_seeds": 10}}

    def algorithm_configs(self) -> dict[str, Any]:
        return {key: algorithm_config(key, self.algo.get(key, {}), env_id=self.env_id,
                                      total_timesteps=self.total_timesteps, seed=self.seed)
                for key in METHODS}


def measure(result: Any, grid: Any, reach: float) -> Any:
    """The return measurement, plus the env step at which the 20-episode moving average first
    reaches ``reach`` (inf if never) and the largest drop of the curve below its running max."""
    import numpy as np

    from algorithms.harness import Measurement
    from algorithms.weeks.rl_common import measure_returns

    measured = measure_returns(result, grid)
    returns = measured.curves["episodic_return"]
    hit = result.episodes.solved_at(reach)
    running_max = np.fmax.accumulate(np.nan_to_num(returns, nan=-np.inf))
    max_drop = np.nanmax(np.where(np.isfinite(running_max), running_max - returns, 0.0))
    return Measurement(measured.curves, {
        **measured.scalars, "steps_to_reach": float(hit) if hit is not None else float("inf"),
        "max_drop": float(max_drop)})


@experiment(week=6, name="a2c-vs-reinforce", covers=(2,), config=A2CvsReinforceConfig, units=UNITS)
def a2c_vs_reinforce(config: A2CvsReinforceConfig, tracker: Tracker) -> dict[str, float]:
    """A2C vs REINFORCE (with baseline) on one env-step budget: efficiency and stability."""
    from functools import partial

    import numpy as np

    from algorithms.harness import ROW_COLUMNS, run_seed_study
    from algorithms.plotting import band_figure
    from algorithms.weeks.rl_common import seeded_method

    configs = config.algorithm_configs()
    methods = [seeded_method(key, label, configs[key]) for key, label in METHODS.items()]
    grid = np.linspace(0, config.total_timesteps, config.grid_points)
    study = run_seed_study(tracker, methods, config.seeds, partial(measure, reach=config.reach),
                           grid, prefix="compare", description="A2C vs REINFORCE")
    summary = study.summary("final_return") | study.summary("final_return", np.std,
                                                            as_name="final_return_std")
    summary |= reach_summary(study)
    summary |= study.summary("max_drop") | study.summary("wall_s")
    tracker.log_table("compare/final_return", ["method", *ROW_COLUMNS],
                      study.table("final_return"))
    tracker.log_table("compare/steps_to_reach", ["method", "steps_per_seed"],
                      [[method.label, " ".join(f"{s:.0f}" for s in
                                               study.scalars(method.key, "steps_to_reach"))]
                       for method in study.methods])
    fig = band_figure(study.bands("episodic_return", title=config.env_id),
                      "return (20-episode moving average)", hlines={"reach": config.reach})
    n_steps, episodes = configs["a2c"].n_steps, configs["reinforce"].episodes_per_batch
    tracker.log_figure("compare/episodic_return", fig,
                       f"A2C ({configs['a2c'].n_envs} synchronous envs, {n_steps}-step GAE) vs "
                       f"REINFORCE with a learned baseline ({episodes} episodes per update) on "
                       f"{config.env_id}, same env-step budget: mean over {config.n_seeds} seeds "
                       "with 95% t-intervals.")
    return summary
