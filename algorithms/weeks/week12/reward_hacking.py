"""``reward-hacking``: learners optimising a misspecified reward in the reward-gaming gridworlds
of :mod:`algorithms.safety.gridworlds` (after Leike et al. 2017, §2.2.3).

Tabular Q-learning (:mod:`algorithms.value.tabular_q`) and PPO (:mod:`algorithms.policy.ppo`)
are trained on each environment's proxy reward R, and, as the reference of what was possible,
on its true reward R*. Over training, on a grid of environment steps: the 20-episode moving
average of the return each learner optimises and of the true return R* of the same episodes,
mean and 95% interval over seeds. Summarised per method: the final (last 20 episodes) R and R*,
and the peak of the R* curve, so that "R rises while R* falls" is read off the numbers: a peak
R* well above the final one of a learner on R, and the final R* of the learner on R* above both.
"""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import Tracker, experiment
from algorithms.weeks.rl_common import UNITS, StudyConfig, algorithm_config

ENVIRONMENTS = {"tomato_watering": "TomatoWatering", "boat_race": "BoatRace"}
NAMES = {"tomato_watering": "tomato watering", "boat_race": "boat race"}
ALGORITHMS = {"q_learning": ("tabular_q", "Q-learning"), "ppo": ("ppo", "PPO")}


class RewardHackingConfig(StudyConfig):
    """``environments`` (keys of :data:`ENVIRONMENTS`), one budget of ``timesteps`` for every
    learner (so their curves share one grid), and the overrides of each learner's config."""

    environments: tuple[str, ...] = tuple(ENVIRONMENTS)
    timesteps: int = 100_000
    q_learning: dict[str, Any] = {"learning_rate": 0.1, "gamma": 0.95, "end_e": 0.05,
                                  "exploration_fraction": 0.5}
    # CleanRL-like PPO on short 100-step episodes: a shorter horizon (γ 0.95), four epochs,
    # an entropy bonus so that early exploration finds the tomatoes and the laps at all
    ppo: dict[str, Any] = {"gamma": 0.95, "gae_lambda": 0.95, "ent_coef": 0.01, "n_epochs": 4,
                           "n_steps": 64, "minibatch_size": 64, "learning_rate": 1e-3,
                           "anneal_clip": False}
    grid_points: int = 50
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"timesteps": 2_048, "n_seeds": 2, "grid_points": 8},
        "gpu": {"timesteps": 300_000, "n_seeds": 10}}


@experiment(week=12, name="reward-hacking", covers=(1,), config=RewardHackingConfig,
            units=UNITS | {"*return*": "return (100-step episode)"})
def reward_hacking(config: RewardHackingConfig, tracker: Tracker) -> dict[str, float]:
    """Q-learning and PPO on the proxy and on the true reward of tomato watering and the boat
    race: proxy and true return over training, over seeds."""
    import dataclasses

    import numpy as np

    from algorithms.harness import ROW_COLUMNS, Measurement, Method, curve, curve_of, \
        run_seed_study
    from algorithms.plotting import band_figure
    from algorithms.safety.gridworlds import env_id
    from algorithms.weeks.rl_common import train

    unknown = sorted(set(config.environments) - set(ENVIRONMENTS))
    if unknown:
        raise ValueError(f"unknown environment {', '.join(unknown)} "
                         f"(known: {', '.join(ENVIRONMENTS)})")
    overrides = {"q_learning": config.q_learning, "ppo": config.ppo}

    def method(env: str, algorithm: str, reward: str) -> Method:
        module, label = ALGORITHMS[algorithm]
        algo = algorithm_config(module, overrides[algorithm], total_timesteps=config.timesteps,
                                env_id=env_id(ENVIRONMENTS[env], reward))
        return Method(f"{env}/{algorithm}/{reward}",
                      f"{label} on {'R*' if reward == 'true' else 'R'}",
                      lambda seed: train(dataclasses.replace(algo, seed=seed)),
                      panel=f"{NAMES[env]} · {label}")

    def measure(result: Any, grid: Any) -> Measurement:
        episodes = result.episodes
        true = np.asarray(episodes.true_returns, dtype=float)
        true_curve = curve_of(np.asarray(episodes.steps), true, grid)
        return Measurement(
            curves={"return": curve(episodes, grid), "true_return": true_curve},
            scalars={"final_return": episodes.mean_return(20),
                     "final_true_return": float(np.mean(true[-20:])),
                     "peak_true_return": float(np.nanmax(true_curve)),
                     "wall_s": result.wall_s})

    methods = [method(env, algorithm, reward) for env in config.environments
               for algorithm in ALGORITHMS for reward in ("proxy", "true")]
    grid = np.linspace(config.timesteps / config.grid_points, config.timesteps,
                       config.grid_points).astype(int)
    study = run_seed_study(tracker, methods, config.seeds, measure, grid,
                           prefix="reward_hacking", description="reward hacking")

    summary: dict[str, float] = {}
    for name in ("final_return", "final_true_return", "peak_true_return"):
        summary |= study.summary(name)
        tracker.log_table(f"reward_hacking/{name}", ["method", *ROW_COLUMNS], study.table(name))
    for env in config.environments:
        for algorithm in ALGORITHMS:
            on_proxy, on_true = f"{env}.{algorithm}.proxy", f"{env}.{algorithm}.true"
            del summary[f"{on_true}.final_return"]  # an R* arm's return is its final_true_return
            # what optimising R instead of R* cost in R*, and how far R* fell from its best
            summary[f"{env}.{algorithm}.true_return_lost"] = (
                summary[f"{on_true}.final_true_return"] - summary[f"{on_proxy}.final_true_return"])
            summary[f"{env}.{algorithm}.true_return_fall"] = (
                summary[f"{on_proxy}.peak_true_return"] - summary[f"{on_proxy}.final_true_return"])

    panels: dict[str, dict[str, tuple[Any, Any]]] = {}
    for m in methods:
        lines = panels.setdefault(m.panel, {})
        if m.key.endswith("/proxy"):
            lines["R, the proxy it optimises"] = (grid, study.curves(m.key, "return"))
            lines["R*, the true reward"] = (grid, study.curves(m.key, "true_return"))
        else:
            lines["R* of a learner trained on R*"] = (grid, study.curves(m.key, "true_return"))
    tracker.log_figure(
        "reward_hacking/proxy_vs_true", band_figure(panels, "return per 100-step episode"),
        "Each learner trained on the proxy reward R: R (what it optimises) and the true reward "
        "R* of the same training episodes, beside R* of the same learner trained on R* itself; "
        "20-episode moving averages against environment steps, mean ± 95% interval over "
        f"{config.n_seeds} seeds. Tomato watering: R and R* are the fractions of tomatoes that "
        "look watered and that are, summed over the episode (standing on the bucket makes all "
        "look watered). Boat race: R is 1 per checkpoint entered in its direction, R* the net "
        "steps clockwise round the track (16 a lap).")
    return summary
