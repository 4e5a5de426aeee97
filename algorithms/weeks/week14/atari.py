"""Week 14's Atari experiment: DQN with the Nature CNN on ``ALE/<Game>-v5`` (CleanRL's / SB3's
preprocessing), one seed per run, against the random policy measured in the same run (the
driver, :func:`algorithms.weeks.rl_common.atari_runs`, is week 6's A2C-on-Atari's too)."""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import Tracker, experiment
from algorithms.weeks.rl_common import UNITS, AtariRuns, atari_runs
from algorithms.weeks.week14.common import DQNRunConfig

# CleanRL's dqn_atari.py: Adam lr 1e-4, batch 32, γ 0.99, ε 1 → 0.01 over 10% of training,
# 80k env steps before learning, a gradient step every 4 env steps, the target copied every 1000
# env steps (= 250 gradient steps: forge's C counts gradient steps), Huber loss, 512 hidden
CLEANRL_ATARI: dict[str, Any] = {
    "learning_rate": 1e-4, "batch_size": 32, "gamma": 0.99, "exploration_initial_eps": 1.0,
    "exploration_final_eps": 0.01, "exploration_fraction": 0.1, "learning_starts": 80_000,
    "train_freq": 4, "gradient_steps": 1, "target_update_interval": 250, "hidden": [512],
    "loss": "huber", "log_interval": 10_000}


class DQNAtariConfig(AtariRuns, DQNRunConfig):
    """DQN on Atari. gpu: CleanRL's settings at the standard 10M frames (2.5M agent steps) on
    Breakout and Pong, on CUDA when available; its buffer holds 400k transitions (not 1M: forge
    stores s and s' of each, 2 × 28 KB, so 400k is ~23 GB of host memory). cpu: Breakout only,
    20k agent steps (80k frames), with short-budget choices: 2k steps before learning, ε reaching 0.01 after 8k
    steps, Adam lr 2.5e-4 (Nature DQN's RMSprop step size), a 20k buffer (1.1 GB) holding every
    transition."""

    algo: dict[str, Any] = {**CLEANRL_ATARI, "total_timesteps": 20_000, "buffer_size": 20_000,
                            "learning_starts": 2_000, "exploration_fraction": 0.4,
                            "learning_rate": 2.5e-4, "log_interval": 1_000}
    eval_episodes: int = 10  # full games of the trained greedy policy
    random_episodes: int = 30  # full games of the uniform random policy
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"algo": {"total_timesteps": 400, "buffer_size": 400, "learning_starts": 100,
                           "train_freq": 16, "batch_size": 8, "log_interval": 100},
                  "random_episodes": 1, "eval_episodes": 1},
        "gpu": {"algo": {**CLEANRL_ATARI, "total_timesteps": 2_500_000, "buffer_size": 400_000,
                         "device": "auto"}, "games": ["Breakout", "Pong"]}}


@experiment(week=14, name="dqn-atari", covers=(1,), config=DQNAtariConfig, units=UNITS)
def dqn_atari(config: DQNAtariConfig, tracker: Tracker) -> dict[str, float]:
    """DQN with the Nature CNN on Atari (Breakout; + Pong on gpu), against the random policy."""
    return atari_runs(tracker, config, "DQN")
