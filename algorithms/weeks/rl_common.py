"""What the single-run RL experiments of weeks 4, 6 and 7 share (kept free of torch and gymnasium,
so that ``forge weeks`` stays light)."""

from __future__ import annotations

from typing import Any

from algorithms.experiment import ExperimentConfig

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


def single_run(tracker: Any, train: Any, algo_config: Any, label: str,
               target: float | None = None, extra_curve: str | None = None,
               eval_episodes: int = 0) -> dict[str, float]:
    """One algorithm, one seed (the runner's seed): log its CleanRL metrics every update, draw its
    learning curve, and summarise: last-20-episode mean return, steps to the target, SPS; with
    ``eval_episodes``, also the trained policy's deterministic return on held-out seeds."""
    import numpy as np

    from algorithms.harness import curve
    from algorithms.plotting import band_figure

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
