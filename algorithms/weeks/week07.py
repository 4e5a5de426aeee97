"""Week 7: PPO and trust regions (Schulman et al. 2015, 2017; Achiam et al. 2017).

Single-run experiments (one seed per run, the runner's ``--seeds``; each logs CleanRL's metrics
every update and its own learning curve):

* ``ppo-cartpole``, ``ppo-acrobot``, ``ppo-pendulum`` (continuous actions), ``ppo-lunarlander``,
  ``ppo-minatar`` (MinAtar Breakout, against the random policy's return).

Studies (seeds inside the run, for curves with 95% confidence bands):

* ``clip-sweep``: PPO's clip ε ∈ {0.1, 0.2, 0.3, none} and the adaptive-KL variant — return,
  clip fraction and approximate KL (k3) over training.
* ``constraint-satisfaction``: CPO vs TRPO on CostCartPole — return and episode cost against the
  budget.

Torch and Gymnasium are imported inside the experiments, so that ``forge weeks`` stays light.
"""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.weeks.rl_common import UNITS, SingleRunConfig
from algorithms.experiment import ExperimentConfig, Tracker, experiment


# ----------------------------------------------------------------------------- single runs

class PPOCartPoleConfig(SingleRunConfig):
    total_timesteps: int = 100_000  # RL Zoo's CartPole budget
    n_envs: int = 8
    n_steps: int = 32
    n_epochs: int = 20
    minibatch_size: int = 256
    learning_rate: float = 1e-3  # linearly annealed, as is ε
    gamma: float = 0.98
    gae_lambda: float = 0.8
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"total_timesteps": 512, "n_epochs": 2}, "gpu": {"total_timesteps": 200_000}}


@experiment(week=7, name="ppo-cartpole", covers=(1,), config=PPOCartPoleConfig, units=UNITS)
def ppo_cartpole(config: PPOCartPoleConfig, tracker: Tracker) -> dict[str, float]:
    """PPO-clip on CartPole-v1 with the RL-Zoo hyperparameters; target: 475 over 20 episodes."""
    from algorithms.policy import ppo
    from algorithms.weeks.rl_common import single_run

    cfg = ppo.PPOConfig(env_id="CartPole-v1", seed=config.seed,
                        **config.algorithm_kwargs())
    return single_run(tracker, ppo.train, cfg, "PPO", target=475.0,
                      eval_episodes=config.eval_episodes)


class PPOAcrobotConfig(SingleRunConfig):
    total_timesteps: int = 150_000
    n_envs: int = 16  # RL Zoo: 16 envs × 256 steps, 4 epochs, γ 0.99, λ 0.94, ent 0
    n_steps: int = 256
    n_epochs: int = 4
    minibatch_size: int = 256
    learning_rate: float = 1e-3
    gamma: float = 0.99
    gae_lambda: float = 0.94
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"total_timesteps": 1024, "n_envs": 2, "n_epochs": 1},
        "gpu": {"total_timesteps": 1_000_000}}


@experiment(week=7, name="ppo-acrobot", covers=(1,), config=PPOAcrobotConfig, units=UNITS)
def ppo_acrobot(config: PPOAcrobotConfig, tracker: Tracker) -> dict[str, float]:
    """PPO-clip on Acrobot-v1; target: mean return ≥ −100 over the last 20 episodes."""
    from algorithms.policy import ppo
    from algorithms.weeks.rl_common import single_run

    cfg = ppo.PPOConfig(env_id="Acrobot-v1", seed=config.seed, anneal_clip=False,
                        **config.algorithm_kwargs())
    return single_run(tracker, ppo.train, cfg, "PPO", target=-100.0,
                      eval_episodes=config.eval_episodes)


class PPOPendulumConfig(SingleRunConfig):
    total_timesteps: int = 200_000
    n_envs: int = 4  # RL Zoo (without gSDE): 4 envs × 1024 steps, 10 epochs, γ 0.9, λ 0.95
    n_steps: int = 1024
    n_epochs: int = 10
    minibatch_size: int = 64
    learning_rate: float = 1e-3
    gamma: float = 0.9
    gae_lambda: float = 0.95
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"total_timesteps": 512, "n_envs": 2, "n_steps": 128, "n_epochs": 1},
        "gpu": {"total_timesteps": 1_000_000}}


@experiment(week=7, name="ppo-pendulum", covers=(1,), config=PPOPendulumConfig, units=UNITS)
def ppo_pendulum(config: PPOPendulumConfig, tracker: Tracker) -> dict[str, float]:
    """PPO-clip with a Gaussian policy on Pendulum-v1 (continuous actions); target −200.

    No observation or reward normalisation (RL Zoo uses none for Pendulum): with CleanRL's
    normalising wrappers the same settings stalled near −740 (seed 0, 200k steps), without them
    they reach −162 / −183 / −179 on seeds 0 / 1 / 2.
    """
    from algorithms.policy import ppo
    from algorithms.weeks.rl_common import single_run

    cfg = ppo.PPOConfig(env_id="Pendulum-v1", seed=config.seed, normalize_env=False,
                        anneal_clip=False, **config.algorithm_kwargs())
    return single_run(tracker, ppo.train, cfg, "PPO", target=-200.0,
                      eval_episodes=config.eval_episodes)


class PPOLunarConfig(SingleRunConfig):
    total_timesteps: int = 1_000_000  # RL Zoo's budget: about 3 minutes on one core here
    n_envs: int = 16  # RL Zoo: 16 × 1024, batch 64, 4 epochs, γ 0.999, λ 0.98, ent 0.01
    n_steps: int = 1024
    n_epochs: int = 4
    minibatch_size: int = 64
    learning_rate: float = 3e-4  # constant, as in RL Zoo (SB3 anneals nothing by default)
    anneal_lr: bool = False
    gamma: float = 0.999
    gae_lambda: float = 0.98
    ent_coef: float = 0.01
    eval_episodes: int = 100  # Gym's "solved": an average of 200 over 100 consecutive episodes
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"total_timesteps": 512, "n_envs": 2, "n_steps": 128, "n_epochs": 1},
        "gpu": {"total_timesteps": 3_000_000}}


@experiment(week=7, name="ppo-lunarlander", covers=(1,), config=PPOLunarConfig, units=UNITS)
def ppo_lunarlander(config: PPOLunarConfig, tracker: Tracker) -> dict[str, float]:
    """PPO-clip on LunarLander-v3; target 200, Gym's "solved" level.

    The target is judged on 100 held-out episodes of the trained policy acting with its mode
    (``eval_return``), the way RL Zoo reports its scores: with the entropy bonus the sampling
    policy's own training episodes score lower (144–157 at 1M steps on seeds 0–2, where its mode
    scored 248 / 235 / 237 over 100 episodes). Both are in the summary.
    """
    from algorithms.policy import ppo
    from algorithms.weeks.rl_common import single_run

    cfg = ppo.PPOConfig(env_id="LunarLander-v3", seed=config.seed, anneal_clip=False,
                        **config.algorithm_kwargs())
    return single_run(tracker, ppo.train, cfg, "PPO", target=200.0,
                      eval_episodes=config.eval_episodes)


class PPOMinAtarConfig(SingleRunConfig):
    game: str = "Breakout"
    total_timesteps: int = 300_000
    n_envs: int = 8
    n_steps: int = 128
    n_epochs: int = 4
    minibatch_size: int = 256
    learning_rate: float = 2.5e-4 * 4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    ent_coef: float = 0.01
    clip_coef: float = 0.1  # CleanRL's Atari ε
    random_episodes: int = 50  # episodes of the random policy for the baseline
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"total_timesteps": 512, "n_envs": 2, "n_steps": 64, "n_epochs": 1,
                  "random_episodes": 2},
        "gpu": {"total_timesteps": 5_000_000}}


@experiment(week=7, name="ppo-minatar", covers=(1,), config=PPOMinAtarConfig, units=UNITS)
def ppo_minatar(config: PPOMinAtarConfig, tracker: Tracker) -> dict[str, float]:
    """PPO-clip with a small CNN on MinAtar Breakout, against the random policy's return."""
    from algorithms.policy import ppo
    from algorithms.weeks.rl_common import random_return, single_run

    env_id = f"MinAtar-{config.game}"
    cfg = ppo.PPOConfig(env_id=env_id, seed=config.seed,
                        **config.algorithm_kwargs("game", "random_episodes"))
    summary = single_run(tracker, ppo.train, cfg, "PPO", eval_episodes=config.eval_episodes)
    summary["random_return"] = random_return(env_id, config.random_episodes, config.seed)
    summary["return_over_random"] = summary["final_return"] - summary["random_return"]
    return summary


# ----------------------------------------------------------------------------- clip sweep

class ClipSweepConfig(ExperimentConfig):
    env_id: str = "CartPole-v1"
    total_timesteps: int = 60_000
    n_seeds: int = 3  # seeds config.seed, config.seed + 1, ... inside the run
    clips: tuple[float, ...] = (0.1, 0.2, 0.3, 1e9)  # 1e9 = unclipped (the plain IS surrogate)
    adaptive_kl: bool = True  # add the adaptive-KL-penalty variant (d_targ 0.01)
    n_epochs: int = 10
    grid_points: int = 60
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"total_timesteps": 512, "n_seeds": 1, "clips": (0.2, 1e9), "n_epochs": 2,
                  "grid_points": 5},
        "gpu": {"total_timesteps": 200_000, "n_seeds": 10}}


def _clip_label(clip: float) -> str:
    return "no clip" if clip >= 1e6 else f"ε={clip:g}"


@experiment(week=7, name="clip-sweep", covers=(1,), config=ClipSweepConfig, units=UNITS)
def clip_sweep(config: ClipSweepConfig, tracker: Tracker) -> dict[str, float]:
    """PPO's clip ε sweep (and adaptive KL): return, clip fraction and KL over training."""
    import numpy as np

    from algorithms.policy import ppo
    from algorithms.harness import curve, curve_of, nanmean, table_rows
    from algorithms.plotting import band_figure

    variants = {_clip_label(c): {"variant": "clip", "clip_coef": c} for c in config.clips}
    if config.adaptive_kl:
        variants["adaptive KL"] = {"variant": "kl"}
    grid = np.linspace(0, config.total_timesteps, config.grid_points)
    curves: dict[str, dict[str, list]] = {k: {"ret": [], "clipfrac": [], "kl": []} for k in variants}
    finals: dict[str, list[float]] = {k: [] for k in variants}
    jobs = [(label, seed) for label in variants for seed in range(config.seed, config.seed + config.n_seeds)]
    for label, seed in tracker.track(jobs, total=len(jobs), description="clip sweep"):
        cfg = ppo.PPOConfig(env_id=config.env_id, total_timesteps=config.total_timesteps,
                            n_epochs=config.n_epochs, anneal_clip=False, seed=seed,
                            **variants[label])
        result = ppo.train(cfg)
        steps = np.asarray(result.history["step"])
        curves[label]["ret"].append(curve(result.episodes, grid))
        curves[label]["clipfrac"].append(curve_of(steps, np.asarray(result.history["clipfrac"]), grid, 1))
        curves[label]["kl"].append(curve_of(steps, np.asarray(result.history["approx_kl"]), grid, 1))
        finals[label].append(result.episodes.mean_return(20))

    summary: dict[str, float] = {}
    for label, c in curves.items():
        key = label.replace("ε=", "clip").replace(" ", "_").lower()
        mean_ret = nanmean(np.asarray(c["ret"]), axis=0)
        mean_kl = nanmean(np.asarray(c["kl"]), axis=0)
        mean_cf = nanmean(np.asarray(c["clipfrac"]), axis=0)
        for i, step in enumerate(grid):
            metrics = {f"sweep/{key}/episodic_return": mean_ret[i],
                       f"sweep/{key}/approx_kl": mean_kl[i], f"sweep/{key}/clipfrac": mean_cf[i]}
            tracker.log({k: float(v) for k, v in metrics.items() if np.isfinite(v)}, step=int(step))
        summary[f"{key}.final_return"] = float(np.mean(finals[label]))
        summary[f"{key}.mean_approx_kl"] = float(nanmean(c["kl"]))
        summary[f"{key}.mean_clipfrac"] = float(nanmean(c["clipfrac"]))
    tracker.log_table("sweep/final_return", ["variant", "mean", "ci95", "per_seed"],
                      table_rows(finals))
    for metric, name, ylabel, logy in (
            ("ret", "episodic_return", "return (20-episode moving average)", False),
            ("clipfrac", "clipfrac", "clip fraction", False),
            ("kl", "approx_kl", "approx KL(π_old‖π_new) per update (k3)", True)):
        fig = band_figure({config.env_id: {k: (grid, np.asarray(v[metric])) for k, v in curves.items()}},
                          ylabel, logy=logy)
        tracker.log_figure(
            f"sweep/{name}", fig, f"PPO on {config.env_id} with clip ε in {{{', '.join(variants)}}} "
            f"(ε constant, {config.n_epochs} epochs per batch): {ylabel} against environment steps; "
            f"mean over {config.n_seeds} seeds with 95% t-intervals.")
    return summary


# ----------------------------------------------------------------------------- constraints

class ConstraintConfig(ExperimentConfig):
    total_timesteps: int = 150_000
    n_seeds: int = 3
    position_limit: float = 0.5  # cost 1 per step with |x| > this
    cost_limit: float = 25.0  # d: budget per episode
    cost_margin: float = 0.1  # CPO aims at d·(1 − margin) (practical, not in Achiam et al.)
    max_kl: float = 0.01
    n_steps: int = 256
    grid_points: int = 60
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"total_timesteps": 1024, "n_seeds": 1, "n_steps": 64, "grid_points": 5},
        "gpu": {"total_timesteps": 500_000, "n_seeds": 10}}


@experiment(week=7, name="constraint-satisfaction", covers=(2,), config=ConstraintConfig, units=UNITS)
def constraint_satisfaction(config: ConstraintConfig, tracker: Tracker) -> dict[str, float]:
    """CPO vs TRPO on CostCartPole: return and episode cost against the budget d."""
    import numpy as np

    from algorithms.policy import cpo
    from algorithms.harness import curve, curve_of, nanmean, table_rows
    from algorithms.plotting import band_figure

    grid = np.linspace(0, config.total_timesteps, config.grid_points)
    methods = {"CPO": True, "TRPO": False}
    ret: dict[str, list] = {m: [] for m in methods}
    cost: dict[str, list] = {m: [] for m in methods}
    final_ret: dict[str, list[float]] = {m: [] for m in methods}
    final_cost: dict[str, list[float]] = {m: [] for m in methods}
    jobs = [(m, s) for m in methods for s in range(config.seed, config.seed + config.n_seeds)]
    for method, seed in tracker.track(jobs, total=len(jobs), description="CPO vs TRPO"):
        cfg = cpo.CPOConfig(constrained=methods[method], total_timesteps=config.total_timesteps,
                            position_limit=config.position_limit, cost_limit=config.cost_limit,
                            cost_margin=config.cost_margin, max_kl=config.max_kl, n_steps=config.n_steps, seed=seed)
        result = cpo.train(cfg)
        ep = result.episodes
        ret[method].append(curve(ep, grid))
        cost[method].append(curve_of(np.asarray(ep.steps), np.asarray(ep.costs), grid))
        final_ret[method].append(ep.mean_return(20))
        final_cost[method].append(ep.mean_cost(20))
    summary: dict[str, float] = {"cost_limit": config.cost_limit}
    for method in methods:
        r, c = nanmean(ret[method], axis=0), nanmean(cost[method], axis=0)
        for i, step in enumerate(grid):
            values = {f"constraint/{method.lower()}/episodic_return": r[i],
                      f"constraint/{method.lower()}/episodic_cost": c[i]}
            tracker.log({k: float(v) for k, v in values.items() if np.isfinite(v)}, step=int(step))
        m = method.lower()
        summary[f"{m}.final_return"] = float(np.mean(final_ret[method]))
        summary[f"{m}.final_cost"] = float(np.mean(final_cost[method]))
        summary[f"{m}.seeds_within_limit"] = float(np.sum(np.asarray(final_cost[method])
                                                          <= config.cost_limit))
    tracker.log_table("constraint/final", ["method", "return_mean", "return_ci95",
                                           "return_per_seed"], table_rows(final_ret))
    tracker.log_table("constraint/final_cost", ["method", "cost_mean", "cost_ci95",
                                                "cost_per_seed"], table_rows(final_cost))
    fig = band_figure({"return": {m: (grid, np.asarray(ret[m])) for m in methods}},
                      "return (20-episode moving average)")
    tracker.log_figure("constraint/episodic_return", fig,
                       f"CPO and TRPO on CostCartPole (CartPole-v1, cost 1 per step with "
                       f"|x| > {config.position_limit}): return against environment steps, mean "
                       f"over {config.n_seeds} seeds with 95% t-intervals.")
    fig = band_figure({"episode cost": {m: (grid, np.asarray(cost[m])) for m in methods}},
                      "cost per episode (20-episode moving average)",
                      hlines={f"budget d = {config.cost_limit:g}": config.cost_limit})
    tracker.log_figure("constraint/episodic_cost", fig,
                       "Constraint satisfaction: each episode's total cost (steps outside the safe "
                       f"zone) for CPO and unconstrained TRPO, against the budget d = "
                       f"{config.cost_limit:g}; mean over seeds with 95% t-intervals.")
    return summary
