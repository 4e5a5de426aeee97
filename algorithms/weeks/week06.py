"""Week 6: actor–critic methods — synchronous advantage actor–critic (A2C; Mnih et al. 2016).

* ``a2c-cartpole``: A2C (8 synchronous envs, GAE) on CartPole-v1; target 475 over 20 episodes.
* ``a2c-minatar``: A2C with a small CNN on MinAtar Breakout, against the random policy.
* ``a2c-vs-reinforce``: the same env-step budget for A2C and for week 4's REINFORCE (with a
  baseline): sample efficiency (steps to reach a return), stability (return dips after first
  reaching it, spread over seeds) and gradient-norm traces, seeds inside the run.
"""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.weeks.rl_common import UNITS, SingleRunConfig
from algorithms.experiment import ExperimentConfig, Tracker, experiment


class A2CCartPoleConfig(SingleRunConfig):
    total_timesteps: int = 300_000
    n_envs: int = 8
    n_steps: int = 8  # T: n-step horizon = update period
    learning_rate: float = 1e-3  # Adam, linearly annealed
    gamma: float = 0.99
    gae_lambda: float = 0.95
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"total_timesteps": 512}, "gpu": {"total_timesteps": 500_000}}


@experiment(week=6, name="a2c-cartpole", covers=(1,), config=A2CCartPoleConfig, units=UNITS)
def a2c_cartpole(config: A2CCartPoleConfig, tracker: Tracker) -> dict[str, float]:
    """A2C on CartPole-v1 (8 synchronous envs); target: 475 over the last 20 episodes."""
    from algorithms.policy import a2c
    from algorithms.weeks.rl_common import single_run

    cfg = a2c.A2CConfig(env_id="CartPole-v1", seed=config.seed,
                        **config.algorithm_kwargs())
    return single_run(tracker, a2c.train, cfg, "A2C", target=475.0,
                      eval_episodes=config.eval_episodes)


class A2CMinAtarConfig(SingleRunConfig):
    game: str = "Breakout"
    total_timesteps: int = 300_000
    n_envs: int = 16
    n_steps: int = 5  # the paper's t_max
    learning_rate: float = 1e-3
    optimizer: str = "rmsprop"
    gamma: float = 0.99
    gae_lambda: float = 1.0  # the paper's n-step returns
    ent_coef: float = 0.01
    random_episodes: int = 50
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"total_timesteps": 512, "n_envs": 2, "random_episodes": 2},
        "gpu": {"total_timesteps": 5_000_000}}


@experiment(week=6, name="a2c-minatar", covers=(1,), config=A2CMinAtarConfig, units=UNITS)
def a2c_minatar(config: A2CMinAtarConfig, tracker: Tracker) -> dict[str, float]:
    """A2C with a small CNN on MinAtar Breakout, against the random policy's return."""
    from algorithms.policy import a2c
    from algorithms.weeks.rl_common import random_return, single_run

    env_id = f"MinAtar-{config.game}"
    cfg = a2c.A2CConfig(env_id=env_id, seed=config.seed, norm_adv=False,
                        **config.algorithm_kwargs("game", "random_episodes"))
    summary = single_run(tracker, a2c.train, cfg, "A2C", eval_episodes=config.eval_episodes)
    summary["random_return"] = random_return(env_id, config.random_episodes, config.seed)
    summary["return_over_random"] = summary["final_return"] - summary["random_return"]
    return summary


class A2CvsReinforceConfig(ExperimentConfig):
    env_id: str = "CartPole-v1"
    total_timesteps: int = 150_000  # the same budget for both
    n_seeds: int = 3
    reach: float = 400.0  # "sample efficiency": steps until the moving average first reaches it
    grid_points: int = 60
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"total_timesteps": 600, "n_seeds": 1, "grid_points": 5},
        "gpu": {"total_timesteps": 500_000, "n_seeds": 10}}


@experiment(week=6, name="a2c-vs-reinforce", covers=(2,), config=A2CvsReinforceConfig, units=UNITS)
def a2c_vs_reinforce(config: A2CvsReinforceConfig, tracker: Tracker) -> dict[str, float]:
    """A2C vs REINFORCE (with baseline) on one env-step budget: efficiency and stability."""
    import numpy as np

    from algorithms.policy import a2c, reinforce
    from algorithms.harness import curve, nanmean, table_rows
    from algorithms.plotting import band_figure

    grid = np.linspace(0, config.total_timesteps, config.grid_points)
    methods = {
        "A2C": lambda seed: a2c.train(a2c.A2CConfig(
            env_id=config.env_id, total_timesteps=config.total_timesteps, n_steps=8, seed=seed)),
        "REINFORCE": lambda seed: reinforce.train(reinforce.ReinforceConfig(
            env_id=config.env_id, total_timesteps=config.total_timesteps, seed=seed)),
    }
    curves: dict[str, list] = {m: [] for m in methods}
    finals, reach_steps, dips, wall = ({m: [] for m in methods} for _ in range(4))
    jobs = [(m, s) for m in methods for s in range(config.seed, config.seed + config.n_seeds)]
    for method, seed in tracker.track(jobs, total=len(jobs), description="A2C vs REINFORCE"):
        result = methods[method](seed)
        c = curve(result.episodes, grid)
        curves[method].append(c)
        finals[method].append(result.episodes.mean_return(20))
        hit = result.episodes.solved_at(config.reach)
        reach_steps[method].append(float(hit) if hit is not None else float("inf"))
        # stability: the largest drop of the moving average below its running maximum
        running_max = np.fmax.accumulate(np.nan_to_num(c, nan=-np.inf))
        dips[method].append(float(np.nanmax(np.where(np.isfinite(running_max),
                                                     running_max - c, 0.0))))
        wall[method].append(result.wall_s)
    summary: dict[str, float] = {}
    for method in methods:
        m = method.lower()
        mean = nanmean(np.asarray(curves[method]), axis=0) if curves[method] else grid * np.nan
        for i, step in enumerate(grid):
            if np.isfinite(mean[i]):
                tracker.log({f"compare/{m}/episodic_return": float(mean[i])}, step=int(step))
        reached = [s for s in reach_steps[method] if np.isfinite(s)]
        summary[f"{m}.final_return"] = float(np.mean(finals[method]))
        summary[f"{m}.final_return_std"] = float(np.std(finals[method]))
        summary[f"{m}.seeds_reaching"] = float(len(reached))
        if reached:
            summary[f"{m}.median_steps_to_reach"] = float(np.median(reached))
        summary[f"{m}.max_drop"] = float(np.mean(dips[method]))
        summary[f"{m}.wall_s"] = float(np.mean(wall[method]))
    tracker.log_table("compare/final_return", ["method", "mean", "ci95", "per_seed"],
                      table_rows(finals))
    tracker.log_table("compare/steps_to_reach", ["method", "steps_per_seed"],
                      [[m, " ".join(f"{s:.0f}" for s in reach_steps[m])] for m in methods])
    fig = band_figure({config.env_id: {m: (grid, np.asarray(curves[m])) for m in methods}},
                      "return (20-episode moving average)", hlines={"reach": config.reach})
    tracker.log_figure("compare/episodic_return", fig,
                       f"A2C (8 synchronous envs, 8-step GAE) vs REINFORCE with a learned baseline "
                       f"(8 episodes per update) on {config.env_id}, same env-step budget: mean "
                       f"over {config.n_seeds} seeds with 95% t-intervals.")
    return summary
