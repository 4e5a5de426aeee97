"""Tabular Q-learning (Watkins 1989; Sutton & Barto, 2nd ed., §6.5, eq. 6.8), numpy only:

    Q(S, A) ← Q(S, A) + α [R + γ max_a Q(S', a) − Q(S, A)]

with an ε-greedy behaviour policy whose ε decays linearly from ``start_e`` to ``end_e`` over
``exploration_fraction`` of training (the DQN schedule). The environment is any Gymnasium env
made by :func:`algorithms.policy.envs.make_env` whose ``info["state"]`` is the state as an
integer and whose unwrapped env has ``n_states`` (week 12's gridworlds). A time-limit truncation
bootstraps from Q(S', ·); only a true terminal drops it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from algorithms.model_based.dyna import epsilon_greedy
from algorithms.policy.envs import EpisodeLog, LogFn, TrainResult, make_env, no_log


@dataclass(frozen=True)
class TabularQConfig:
    env_id: str = "algorithms.safety.gridworlds:forge/BoatRace-v0"
    total_timesteps: int = 50_000
    learning_rate: float = 0.1  # α
    gamma: float = 0.95  # γ
    start_e: float = 1.0  # ε at the start ...
    end_e: float = 0.05  # ... decayed linearly to this ...
    exploration_fraction: float = 0.5  # ... over this fraction of training
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.learning_rate <= 1.0:
            raise ValueError(f"learning_rate must be in (0, 1], not {self.learning_rate}")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], not {self.gamma}")


def train(config: TabularQConfig, log: LogFn = no_log) -> TrainResult:
    """Train tabular Q-learning; ``log(metrics, step)`` gets the episode's metrics as each ends.
    The returned agent is the Q table, shape (states, actions)."""
    env = make_env(config.env_id)
    rng = np.random.default_rng(config.seed)
    q = np.zeros((env.unwrapped.n_states, env.action_space.n))
    episodes = EpisodeLog()
    result = TrainResult(episodes, 0, 0.0, q)
    _, info = env.reset(seed=config.seed)
    state = info["state"]
    decay_steps = config.exploration_fraction * config.total_timesteps
    start = time.perf_counter()
    for step in range(1, config.total_timesteps + 1):
        frac = min(1.0, step / max(decay_steps, 1e-9))
        epsilon = config.start_e + (config.end_e - config.start_e) * frac
        action = epsilon_greedy(q[state], epsilon, rng)
        _, reward, terminated, truncated, info = env.step(action)
        next_state = info["state"]
        # eq. 6.8; a truncated episode's S' is a real state whose value still counts
        target = reward + (0.0 if terminated else config.gamma * q[next_state].max())
        q[state, action] += config.learning_rate * (target - q[state, action])
        state = next_state
        if terminated or truncated:
            episodes.add(step, info["ep_return"], info["ep_length"], info["ep_cost"],
                         info["ep_true_return"])
            log({"charts/episodic_return": info["ep_return"],
                 "charts/episodic_true_return": info["ep_true_return"],
                 "charts/epsilon": epsilon}, step)
            _, info = env.reset()
            state = info["state"]
    env.close()
    result.global_step = config.total_timesteps
    result.wall_s = time.perf_counter() - start
    return result
