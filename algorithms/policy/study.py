"""Helpers the week modules share: learning curves on a common step grid, mean and 95%
confidence bands over seeds, and the band figure in forge's one style."""

from __future__ import annotations

from typing import Any

import numpy as np

from algorithms.policy.envs import EpisodeLog

# Student-t 97.5% quantiles for n − 1 degrees of freedom (n seeds), for the 95% CI of a mean.
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
         9: 2.262}


def curve(episodes: EpisodeLog, grid: np.ndarray, window: int = 20) -> np.ndarray:
    """The ``window``-episode moving-average return at each grid step (NaN before the first)."""
    steps, returns = np.asarray(episodes.steps), np.asarray(episodes.returns, dtype=float)
    return curve_of(steps, returns, grid, window)


def curve_of(steps: np.ndarray, values: np.ndarray, grid: np.ndarray, window: int = 20) -> np.ndarray:
    out = np.full(len(grid), np.nan)
    if len(values) == 0:
        return out
    cumsum = np.concatenate([[0.0], np.cumsum(values)])
    idx = np.searchsorted(steps, grid, side="right")  # episodes finished by each grid step
    for i, k in enumerate(idx):
        if k > 0:
            lo = max(0, k - window)
            out[i] = (cumsum[k] - cumsum[lo]) / (k - lo)
    return out


def mean_ci(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over seeds (axis 0) and the half-width of its 95% t-interval."""
    curves = np.asarray(curves, dtype=float)
    n = np.sum(~np.isnan(curves), axis=0)
    import warnings

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(curves, axis=0)
        std = np.nanstd(curves, axis=0, ddof=1) if curves.shape[0] > 1 else np.zeros_like(mean)
    t = np.array([_T975.get(int(k) - 1, 1.96) if k > 1 else 0.0 for k in n])
    return mean, np.nan_to_num(t * std / np.sqrt(np.maximum(n, 1)))


def band_figure(panels: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], ylabel: str,
                title: str = "", xlabel: str = "environment steps",
                hlines: dict[str, float] | None = None, logy: bool = False) -> Any:
    """One panel per key of ``panels``; each maps label → (grid, curves[seed, step])."""
    from algorithms.figures import PALETTE, figure

    n = len(panels)
    fig, axes = figure(1, n, squeeze=False)
    for ax, (panel, lines) in zip(axes.flat, panels.items()):
        for i, (label, (grid, curves)) in enumerate(lines.items()):
            mean, half = mean_ci(curves)
            colour = PALETTE[i % len(PALETTE)]
            ax.plot(grid, mean, color=colour, label=f"{label} (n={len(curves)})")
            ax.fill_between(grid, mean - half, mean + half, color=colour, alpha=0.2, linewidth=0)
        for name, y in (hlines or {}).items():
            ax.axhline(y, color="black", linestyle=":", linewidth=1.0, label=name)
        ax.set(title=panel, xlabel=xlabel, ylabel=ylabel)
        if logy:
            ax.set_yscale("log")
        ax.legend(loc="best", fontsize=7)
    if title:
        fig.suptitle(title)
    return fig


def table_rows(values: dict[str, list[float]]) -> list[list[Any]]:
    """label → per-seed values as rows [label, mean, ci95, per-seed list]."""
    rows = []
    for label, xs in values.items():
        arr = np.asarray(xs, dtype=float)
        mean, half = mean_ci(arr[:, None])
        rows.append([label, round(float(mean[0]), 2), round(float(half[0]), 2),
                     " ".join(f"{x:.1f}" for x in arr)])
    return rows


def single_run(tracker: Any, train: Any, algo_config: Any, label: str,
               target: float | None = None, extra_curve: str | None = None,
               eval_episodes: int = 0) -> dict[str, float]:
    """One algorithm, one seed (the runner's seed): log its CleanRL metrics every update, draw its
    learning curve, and summarise: last-20-episode mean return, steps to the target, SPS; with
    ``eval_episodes``, also the trained policy's deterministic return on held-out seeds."""
    result = train(algo_config, log=tracker.log)
    episodes = result.episodes
    grid = np.linspace(0, result.global_step, 100)
    panels = {f"{algo_config.env_id} · {label}": {label: (grid, curve(episodes, grid)[None])}}
    fig = band_figure(panels, "return (20-episode moving average)",
                      hlines={"target": target} if target is not None else None)
    tracker.log_figure(
        "curves/episodic_return", fig,
        f"{label} on {algo_config.env_id}, seed {algo_config.seed}: moving average of the last 20 "
        f"episodes' undiscounted return against environment steps"
        + (f"; dotted line: the target {target:g}." if target is not None else "."))
    summary = {"final_return": episodes.mean_return(20),
               "episodes": float(len(episodes.returns)),
               "env_steps": float(result.global_step), "wall_s": result.wall_s,
               "sps": result.sps}
    if target is not None:
        solved = episodes.solved_at(target)
        summary["target"] = float(target)
        summary["reached_target"] = float(summary["final_return"] >= target)
        if solved is not None:
            summary["steps_to_target"] = float(solved)
    if extra_curve == "cost":
        summary["final_cost"] = episodes.mean_cost(20)
    if eval_episodes and not getattr(algo_config, "normalize_env", False):
        from algorithms.policy.envs import evaluate

        returns = evaluate(result.agent, algo_config.env_id, eval_episodes,
                           seed=10_000 + 100 * algo_config.seed)
        summary["eval_return"] = float(np.mean(returns))
        summary["eval_return_std"] = float(np.std(returns))
        tracker.log({"eval/episodic_return": summary["eval_return"]}, step=result.global_step)
        if target is not None:
            summary["eval_reached_target"] = float(summary["eval_return"] >= target)
    return summary


def random_return(env_id: str, episodes: int, seed: int) -> float:
    """Mean undiscounted return of the uniform random policy (the "clearly above random" bar)."""
    from algorithms.policy.envs import make_env

    env = make_env(env_id)
    env.action_space.seed(seed)
    total = 0.0
    for i in range(episodes):
        env.reset(seed=seed + i)
        done = False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            done = terminated or truncated
    env.close()
    return total / episodes


def nanmean(x: Any, axis: int | None = None) -> Any:
    """``np.nanmean`` without the warning for all-NaN columns (grid steps before any episode)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.asarray(x, dtype=float), axis=axis)
