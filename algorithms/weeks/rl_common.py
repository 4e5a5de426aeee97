"""What the RL experiments of weeks 4, 6, 7 and 14 share: building an algorithm's config from a week
config, training it, the single-run experiment, the return measurement of a seed study.

A week config never re-declares an algorithm's hyperparameters: it holds overrides of the fields
of the algorithm's own dataclass (``ppo.PPOConfig``, ...) in a dict (``algo``), which
:meth:`ExperimentConfig.for_profile` merges key by key with the profile's values, and builds the
dataclass only when a run starts. The algorithm modules import torch at the top, so this module
names them instead of importing them: importing a week package stays free of torch and
Gymnasium, and ``forge weeks`` stays light.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from typing import Any, ClassVar

from algorithms.experiment import ExperimentConfig

UNITS = {"*steps*": "steps", "*wall_s": "s", "*sps": "steps/s", "*episodes": "episodes"}

# module of algorithms.policy (or .value) → its config dataclass (each module also has ``train``)
CONFIG_TYPES = {"reinforce": "ReinforceConfig", "npg": "NPGConfig", "trpo": "TRPOConfig",
                "ppo": "PPOConfig", "a2c": "A2CConfig", "cpo": "CPOConfig",
                "impala": "ImpalaConfig", "pcpo": "PCPOConfig",
                "lagrangian_ppo": "LagrangianPPOConfig", "dqn": "DQNConfig",
                "tabular_q": "TabularQConfig"}
# the rest are in algorithms.policy
PACKAGES = {"dqn": "algorithms.value", "tabular_q": "algorithms.value"}

# MinAtar Breakout's policy-gradient settings, shared by weeks 6 and 7's single runs and week
# 14's comparison (each adds its own budget). A2C: the paper's t_max = 5, RMSProp, n-step
# returns (λ = 1), raw advantages. PPO: CleanRL's Atari settings (clip ε 0.1, 4 epochs), lr ×4.
A2C_MINATAR: dict[str, Any] = {
    "env_id": "MinAtar-Breakout", "n_envs": 16, "n_steps": 5, "learning_rate": 1e-3,
    "optimizer": "rmsprop", "gamma": 0.99, "gae_lambda": 1.0, "ent_coef": 0.01,
    "norm_adv": False}
PPO_MINATAR: dict[str, Any] = {
    "env_id": "MinAtar-Breakout", "n_envs": 8, "n_steps": 128, "n_epochs": 4,
    "minibatch_size": 256, "learning_rate": 2.5e-4 * 4, "gamma": 0.99, "gae_lambda": 0.95,
    "ent_coef": 0.01, "clip_coef": 0.1}


def algorithm_config(algorithm: str, overrides: Mapping[str, Any], **fixed: Any) -> Any:
    """``algorithms.policy.<algorithm>``'s config dataclass from a week config's ``overrides``
    (its ``algo``) and the values the experiment ``fixed`` itself (seed, budget, the swept
    field). A field the dataclass lacks, or an override of a fixed value, is an error."""
    package = PACKAGES.get(algorithm, "algorithms.policy")
    config_type = getattr(importlib.import_module(f"{package}.{algorithm}"),
                          CONFIG_TYPES[algorithm])
    fields = {f.name for f in dataclasses.fields(config_type)}
    unknown = sorted((set(overrides) | set(fixed)) - fields)
    if unknown:
        raise ValueError(f"{config_type.__name__} has no field {', '.join(unknown)} "
                         f"(its fields: {', '.join(sorted(fields))})")
    clash = sorted(set(overrides) & set(fixed))
    if clash:
        raise ValueError(f"{config_type.__name__}: {', '.join(clash)} is set by the experiment "
                         "itself and cannot be overridden in algo")
    # JSON and pydantic hand over a list where a dataclass field holds a tuple (DQN's widths)
    values = {name: tuple(value) if isinstance(value, list) else value
              for name, value in {**overrides, **fixed}.items()}
    return config_type(**values)


def reach_summary(study: Any) -> dict[str, float]:
    """Per method of a seed study whose measurements hold ``steps_to_reach`` (inf where a seed
    never reached): how many seeds reached, and the median steps of those that did."""
    import numpy as np

    summary: dict[str, float] = {}
    for method in study.methods:
        steps = study.scalars(method.key, "steps_to_reach")
        reached = steps[np.isfinite(steps)]
        summary[method.summary_key("seeds_reaching")] = float(len(reached))
        if len(reached):
            summary[method.summary_key("median_steps_to_reach")] = float(np.median(reached))
    return summary


def train(algo_config: Any, log: Any = None) -> Any:
    """Train the algorithm whose config ``algo_config`` is (its module's ``train``)."""
    module = importlib.import_module(type(algo_config).__module__)
    return module.train(algo_config) if log is None else module.train(algo_config, log=log)


def seeded_method(key: str, label: str, algo_config: Any, panel: str = "") -> Any:
    """A seed-study method that trains ``algo_config`` with the seed it is given."""
    from algorithms.harness import Method

    return Method(key, label, lambda seed: train(dataclasses.replace(algo_config, seed=seed)),
                  panel)


class StudyConfig(ExperimentConfig):
    """A seed study: seeds ``seed, seed + 1, …`` inside one run, curves on a grid of
    ``grid_points`` environment steps."""

    n_seeds: int = 3
    grid_points: int = 60

    @property
    def seeds(self) -> range:
        return range(self.seed, self.seed + self.n_seeds)


def measure_returns(result: Any, grid: Any) -> Any:
    """The measurement every RL seed study takes: the 20-episode moving-average return on the
    grid, the mean return of the last 20 episodes, and the wall time."""
    from algorithms.harness import Measurement, curve

    return Measurement(curves={"episodic_return": curve(result.episodes, grid)},
                       scalars={"final_return": result.episodes.mean_return(20),
                                "wall_s": result.wall_s})


# ----------------------------------------------------------------------------- single runs

class SingleRunConfig(ExperimentConfig):
    """One algorithm trained on one seed (the runner's). ``algo`` holds the algorithm config's
    fields that the experiment sets (everything else keeps the dataclass default)."""

    algorithm: ClassVar[str]  # the module of algorithms.policy that trains it
    algo: dict[str, Any] = {}
    eval_episodes: int = 20  # held-out episodes of the trained policy, acting with its mode
    random_episodes: int = 0  # episodes of the uniform random policy to compare with (0: none)

    @classmethod
    def for_profile(cls, profile: str, seed: int = 0, **overrides: Any) -> ExperimentConfig:
        if profile == "smoke":  # seconds: two evaluation episodes are enough to test the path
            overrides = {"eval_episodes": 2, **overrides}
        return super().for_profile(profile, seed, **overrides)

    def algorithm_configs(self) -> dict[str, Any]:
        """The one algorithm config this run trains, keyed by the algorithm."""
        return {self.algorithm: algorithm_config(self.algorithm, self.algo, seed=self.seed)}


def single_run(tracker: Any, config: SingleRunConfig, label: str,
               target: float | None = None) -> dict[str, float]:
    """One algorithm, one seed (the runner's): log its CleanRL metrics every update, draw its
    learning curve, and summarise: last-20-episode mean return, steps to the target, SPS; with
    ``config.eval_episodes``, also the trained policy's deterministic return on held-out seeds;
    with ``config.random_episodes``, also the random policy's return and the margin over it."""
    import numpy as np

    from algorithms.harness import curve
    from algorithms.plotting import PALETTE, band_figure

    (algo_config,) = config.algorithm_configs().values()
    if config.eval_episodes and algo_config.normalize_env:
        raise ValueError("evaluation runs the policy on raw observations, but this one is trained "
                         "on normalised ones: set eval_episodes to 0 or normalize_env to False")
    result = train(algo_config, log=lambda metrics, step: tracker.log(metrics, step=step,
                                                                      x="env_step"))
    episodes = result.episodes
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
    if config.eval_episodes:
        from algorithms.policy.envs import evaluate

        returns = evaluate(result.agent, algo_config.env_id, config.eval_episodes,
                           seed=10_000 + 100 * algo_config.seed)
        summary["eval_return"] = float(np.mean(returns))
        summary["eval_return_std"] = float(np.std(returns))
        tracker.log({"eval/episodic_return": summary["eval_return"]}, step=result.global_step,
                    x="env_step")
        if target is not None:
            summary["eval_reached_target"] = float(summary["eval_return"] >= target)
    grid = np.linspace(0, result.global_step, 100)
    panels = {f"{algo_config.env_id} · {label}": {label: (grid, curve(episodes, grid)[None])}}
    fig = band_figure(panels, "return (20-episode moving average)",
                      hlines={"target": target} if target is not None else None)
    caption = (f"{label} on {algo_config.env_id}, seed {algo_config.seed}: moving average of the "
               "last 20 training episodes' undiscounted return (the sampling policy) against "
               "environment steps")
    if config.eval_episodes:
        # where a target is judged on held-out episodes, the figure shows that judgement too,
        # beside the training curve the sampling policy's exploration holds down
        (ax,) = fig.axes
        ax.errorbar([result.global_step], [summary["eval_return"]],
                    yerr=[summary["eval_return_std"]], fmt="s", color=PALETTE[1], capsize=3,
                    label="held-out evaluation")
        ax.legend(loc="lower right", fontsize="small")
        caption += (f"; square: the trained policy acting with its mode on "
                    f"{config.eval_episodes} held-out episodes, mean ± std")
    tracker.log_figure("curves/episodic_return", fig, caption + (
        f"; dotted line: the target {target:g}." if target is not None else "."))
    if config.random_episodes:
        summary["random_return"] = random_return(algo_config.env_id, config.random_episodes,
                                                 config.seed)
        summary["return_over_random"] = summary["final_return"] - summary["random_return"]
    return summary


def random_return(env_id: str, episodes: int, seed: int) -> float:
    """Mean undiscounted return of the uniform random policy (the "clearly above random" bar),
    as :class:`EpisodeStats` records it: raw rewards, and on Atari the full game, whose lives
    each end a learner's episode (episodic life) and whose rewards the learner sees clipped."""
    from algorithms.policy.envs import make_env

    env = make_env(env_id)
    env.action_space.seed(seed)
    total = 0.0
    for i in range(episodes):
        env.reset(seed=seed + i)
        while True:
            _, _, terminated, truncated, info = env.step(env.action_space.sample())
            if "ep_return" in info:
                total += float(info["ep_return"])
                break
            if terminated or truncated:  # a life lost: the game goes on
                env.reset()
    env.close()
    return total / episodes


# ----------------------------------------------------------------------------- Atari runs

FRAME_SKIP = 4  # agent steps → emulator frames (the budgets papers state)


class AtariRuns(SingleRunConfig):
    """Single runs on Atari, one per game of ``games`` (``ALE/<Game>-v5`` with CleanRL's / SB3's
    preprocessing, :func:`algorithms.policy.envs.make_atari`); a week's config adds its
    algorithm's (``class A2CAtariConfig(AtariRuns, A2CRunConfig)``)."""

    games: list[str] = ["Breakout"]

    def algorithm_configs(self) -> dict[str, Any]:
        return {game.lower(): algorithm_config(self.algorithm, {**self.algo,
                                                                "env_id": f"ALE/{game}-v5"},
                                               seed=self.seed) for game in self.games}


class Prefixed:
    """A tracker whose metric, table and figure keys go under ``prefix/`` (one game of several)."""

    def __init__(self, tracker: Any, prefix: str) -> None:
        self.tracker, self.prefix = tracker, prefix

    def log(self, metrics: dict[str, float], step: float | None = None, x: str = "step") -> None:
        self.tracker.log({f"{self.prefix}/{k}": v for k, v in metrics.items()}, step=step, x=x)

    def log_table(self, key: str, columns: list[str], rows: list[list[Any]]) -> None:
        self.tracker.log_table(f"{self.prefix}/{key}", columns, rows)

    def log_figure(self, key: str, figure: Any, caption: str) -> None:
        self.tracker.log_figure(f"{self.prefix}/{key}", figure, caption)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tracker, name)


def atari_runs(tracker: Any, config: Any, label: str) -> dict[str, float]:
    """:func:`single_run` on each game of an :class:`AtariRuns` config (its ``random_episodes``
    full games of the random policy measured beside it), with the budget in emulator frames.
    One game: the usual metric and summary names; several: each under the game's name
    (``breakout/charts/episodic_return``, ``breakout.final_return``)."""
    summary: dict[str, float] = {}
    several = len(config.games) > 1
    for name in config.games:
        one, game = config.model_copy(update={"games": [name]}), name.lower()
        (algo_config,) = one.algorithm_configs().values()
        run = single_run(Prefixed(tracker, game) if several else tracker, one, label)
        run |= {"frames": run["env_steps"] * FRAME_SKIP,
                "budget_frames": float(algo_config.total_timesteps * FRAME_SKIP)}
        if "eval_return" in run and "random_return" in run:
            run["eval_over_random"] = run["eval_return"] - run["random_return"]
        summary |= {(f"{game}.{k}" if several else k): v for k, v in run.items()}
    return summary


# ----------------------------------------------------------------------------- constrained studies

def measure_constrained(result: Any, grid: Any) -> Any:
    """What every constrained-RL seed study takes: return and episode-cost curves (20-episode
    moving averages), the final return and cost, the highest point of the cost curve (the worst
    violation during training), the cost rate over the whole of training (total cost / env
    steps), the wall time; where the method keeps a Lagrange multiplier, λ on the grid (its
    value after the last update before each grid step) and at the end."""
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


def constraint_study(tracker: Any, config: StudyConfig, methods: list[Any], cost_limit: float,
                     prefix: str, description: str, described: str, position_limit: float
                     ) -> tuple[Any, dict[str, float]]:
    """Run a constrained-RL seed study of ``methods`` on CostCartPole and log what every such
    study shows: the final return and final cost tables, the return curves and the cost curves
    against the budget d = ``cost_limit`` (``described`` names the methods in the captions).
    Returns the study and the summary: d, each method's final return and cost, and the number
    of seeds whose final cost is within d."""
    import numpy as np

    from algorithms.harness import run_seed_study
    from algorithms.plotting import band_figure

    grid = np.linspace(0, config.total_timesteps, config.grid_points)
    study = run_seed_study(tracker, methods, config.seeds, measure_constrained, grid,
                           prefix=prefix, description=description)
    summary: dict[str, float] = {"cost_limit": cost_limit}
    summary |= study.summary("final_return") | study.summary("final_cost")
    summary |= study.summary("final_cost", lambda costs: np.sum(costs <= cost_limit),
                             as_name="seeds_within_limit")
    tracker.log_table(f"{prefix}/final_return", ["method", "return_mean", "return_ci95",
                                                 "return_per_seed"], study.table("final_return"))
    tracker.log_table(f"{prefix}/final_cost", ["method", "cost_mean", "cost_ci95",
                                               "cost_per_seed"], study.table("final_cost"))
    fig = band_figure(study.bands("episodic_return", title="return"),
                      "return (20-episode moving average)")
    tracker.log_figure(f"{prefix}/episodic_return", fig,
                       f"{described} on CostCartPole (CartPole-v1, cost 1 per step with "
                       f"|x| > {position_limit:g}): return against environment steps, mean over "
                       f"{config.n_seeds} seeds with 95% t-intervals.")
    fig = band_figure(study.bands("episodic_cost", title="episode cost"),
                      "cost per episode (20-episode moving average)",
                      hlines={f"budget d = {cost_limit:g}": cost_limit})
    tracker.log_figure(f"{prefix}/episodic_cost", fig,
                       "Constraint satisfaction: each episode's total cost (steps outside the safe "
                       f"zone) for {described}, against the budget d = {cost_limit:g}; mean over "
                       "seeds with 95% t-intervals.")
    return study, summary
