"""Week 7's single-run experiments: PPO-clip on five environments, one seed per run (the
runner's ``--seeds``), each logging CleanRL's metrics every update and its own learning curve.

Each config's ``algo`` holds the fields of :class:`algorithms.policy.ppo.PPOConfig` it sets, with
RL Zoo's hyperparameters for the environment where RL Zoo has them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import Tracker, experiment
from algorithms.weeks.rl_common import PPO_MINATAR, UNITS, SingleRunConfig, single_run


class PPORunConfig(SingleRunConfig):
    """A single PPO run: ``algo`` overrides fields of ``ppo.PPOConfig``."""

    algorithm: ClassVar[str] = "ppo"


class PPOCartPoleConfig(PPORunConfig):
    algo: dict[str, Any] = {  # RL Zoo's CartPole settings; lr and ε annealed linearly to 0
        "env_id": "CartPole-v1", "total_timesteps": 100_000, "n_envs": 8, "n_steps": 32,
        "n_epochs": 20, "minibatch_size": 256, "learning_rate": 1e-3, "gamma": 0.98,
        "gae_lambda": 0.8}
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"algo": {"total_timesteps": 512, "n_epochs": 2}},
        "gpu": {"algo": {"total_timesteps": 200_000}}}


@experiment(week=7, name="ppo-cartpole", covers=(1,), config=PPOCartPoleConfig, units=UNITS,
            search_space={  # `forge sweep week7 --only ppo-cartpole`: around RL Zoo's values
                "algo.learning_rate": {"distribution": "log_uniform_values", "min": 1e-4,
                                       "max": 3e-3},
                "algo.clip_coef": {"values": [0.1, 0.2, 0.3]}},
            search_metric=("eval_return", "maximize"))
def ppo_cartpole(config: PPOCartPoleConfig, tracker: Tracker) -> dict[str, float]:
    """PPO-clip on CartPole-v1 with the RL-Zoo hyperparameters; target: 475 over 20 episodes."""
    return single_run(tracker, config, "PPO", target=475.0)


class PPOAcrobotConfig(PPORunConfig):
    algo: dict[str, Any] = {  # RL Zoo: 16 envs × 256 steps, 4 epochs, γ 0.99, λ 0.94, ent 0
        "env_id": "Acrobot-v1", "total_timesteps": 150_000, "n_envs": 16, "n_steps": 256,
        "n_epochs": 4, "minibatch_size": 256, "learning_rate": 1e-3, "gamma": 0.99,
        "gae_lambda": 0.94, "anneal_clip": False}
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"algo": {"total_timesteps": 1024, "n_envs": 2, "n_epochs": 1}},
        "gpu": {"algo": {"total_timesteps": 1_000_000}}}


@experiment(week=7, name="ppo-acrobot", covers=(1,), config=PPOAcrobotConfig, units=UNITS)
def ppo_acrobot(config: PPOAcrobotConfig, tracker: Tracker) -> dict[str, float]:
    """PPO-clip on Acrobot-v1; target: mean return ≥ −100 over the last 20 episodes."""
    return single_run(tracker, config, "PPO", target=-100.0)


class PPOPendulumConfig(PPORunConfig):
    algo: dict[str, Any] = {  # RL Zoo (without gSDE): 4 envs × 1024 steps, 10 epochs, γ 0.9
        "env_id": "Pendulum-v1", "total_timesteps": 200_000, "n_envs": 4, "n_steps": 1024,
        "n_epochs": 10, "minibatch_size": 64, "learning_rate": 1e-3, "gamma": 0.9,
        "gae_lambda": 0.95, "anneal_clip": False,
        "normalize_env": False}  # RL Zoo uses no normalisation for Pendulum
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"algo": {"total_timesteps": 512, "n_envs": 2, "n_steps": 128, "n_epochs": 1}},
        "gpu": {"algo": {"total_timesteps": 1_000_000}}}


@experiment(week=7, name="ppo-pendulum", covers=(1,), config=PPOPendulumConfig, units=UNITS)
def ppo_pendulum(config: PPOPendulumConfig, tracker: Tracker) -> dict[str, float]:
    """PPO-clip with a Gaussian policy on Pendulum-v1 (continuous actions); target −200.

    Observations and rewards are not normalised (RL Zoo normalises neither for Pendulum), so the
    trained policy is also evaluated on held-out episodes. benchmarks/RESULTS.md has the returns
    with and without CleanRL's normalising wrappers.
    """
    return single_run(tracker, config, "PPO", target=-200.0)


class PPOLunarConfig(PPORunConfig):
    algo: dict[str, Any] = {  # RL Zoo: 16 × 1024, batch 64, 4 epochs, γ 0.999, λ 0.98, ent 0.01
        "env_id": "LunarLander-v3", "total_timesteps": 1_000_000, "n_envs": 16,
        "n_steps": 1024, "n_epochs": 4, "minibatch_size": 64,
        "learning_rate": 3e-4, "anneal_lr": False,  # constant, as in RL Zoo
        "gamma": 0.999, "gae_lambda": 0.98, "ent_coef": 0.01, "anneal_clip": False}
    eval_episodes: int = 100  # Gym's "solved": an average of 200 over 100 consecutive episodes
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"algo": {"total_timesteps": 512, "n_envs": 2, "n_steps": 128, "n_epochs": 1}},
        "gpu": {"algo": {"total_timesteps": 3_000_000}}}


@experiment(week=7, name="ppo-lunarlander", covers=(1,), config=PPOLunarConfig, units=UNITS)
def ppo_lunarlander(config: PPOLunarConfig, tracker: Tracker) -> dict[str, float]:
    """PPO-clip on LunarLander-v3; target 200, Gym's "solved" level.

    The target is judged on 100 held-out episodes of the trained policy acting with its mode
    (``eval_return``), the way RL Zoo reports its scores: with the entropy bonus, the sampling
    policy's own training episodes (``final_return``) score lower than its mode. Both are in the
    summary.
    """
    return single_run(tracker, config, "PPO", target=200.0)


class PPOMinAtarConfig(PPORunConfig):
    algo: dict[str, Any] = {**PPO_MINATAR, "total_timesteps": 300_000}
    random_episodes: int = 50
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"algo": {"total_timesteps": 512, "n_envs": 2, "n_steps": 64, "n_epochs": 1},
                  "random_episodes": 2},
        "gpu": {"algo": {"total_timesteps": 5_000_000}}}


@experiment(week=7, name="ppo-minatar", covers=(1,), config=PPOMinAtarConfig, units=UNITS)
def ppo_minatar(config: PPOMinAtarConfig, tracker: Tracker) -> dict[str, float]:
    """PPO-clip with a small CNN on MinAtar Breakout, against the random policy's return."""
    return single_run(tracker, config, "PPO")
