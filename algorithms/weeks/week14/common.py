"""What week 14's experiments share: the single-run config, RL Zoo's CartPole settings, a short
MinAtar Breakout budget, and the measurement of a value-based seed study.

DQN's config is built by :func:`algorithms.weeks.rl_common.algorithm_config` ("dqn"), and the rest
of ``rl_common`` (``single_run``, ``seeded_method``, ``measure_returns``) works on DQN as it is,
because ``dqn.train`` returns the policy package's ``TrainResult``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.weeks.rl_common import SingleRunConfig, algorithm_config

# RL Zoo's DQN hyperparameters for CartPole-v1 (SB3's DQN): train_freq 256 env steps, then
# 128 gradient steps; RL Zoo's target_update_interval of 10 counts *env* steps in SB3, so the
# target is copied once before every training phase: here C = 128 gradient steps, the same
# schedule (a copy every 10 gradient steps diverges: Q passes 10⁴ within 10k steps).
RL_ZOO_CARTPOLE: dict[str, Any] = {
    "env_id": "CartPole-v1", "total_timesteps": 50_000, "learning_rate": 2.3e-3,
    "batch_size": 64, "buffer_size": 100_000, "learning_starts": 1_000, "gamma": 0.99,
    "target_update_interval": 128, "train_freq": 256, "gradient_steps": 128,
    "exploration_fraction": 0.16, "exploration_final_eps": 0.04, "hidden": [256, 256]}

ENV_LABELS = {"cartpole": "CartPole-v1", "minatar": "MinAtar Breakout"}

# MinAtar Breakout, a short budget: Young & Tian's (2019) net and per-step training (one
# gradient step every 4 env steps here), with a faster ε decay and Adam for the small budget
MINATAR_SHORT: dict[str, Any] = {
    "env_id": "MinAtar-Breakout", "total_timesteps": 10_000, "learning_rate": 1e-3,
    "batch_size": 32, "buffer_size": 20_000, "learning_starts": 1_000, "gamma": 0.99,
    "train_freq": 4, "gradient_steps": 1, "target_update_interval": 250,
    "exploration_fraction": 0.3, "exploration_final_eps": 0.05, "hidden": [128]}

# the smoke profile's DQN: seconds, every code path
SMOKE_DQN: dict[str, Any] = {"total_timesteps": 600, "learning_starts": 200, "train_freq": 64,
                             "gradient_steps": 4, "batch_size": 16, "hidden": [32, 32],
                             "log_interval": 200, "buffer_size": 1_000}


class DQNRunConfig(SingleRunConfig):
    """A single DQN run: ``algo`` overrides fields of ``dqn.DQNConfig``."""

    algorithm: ClassVar[str] = "dqn"

    def algorithm_configs(self) -> dict[str, Any]:
        return {"dqn": algorithm_config("dqn", self.algo, seed=self.seed)}


def auc(curve: Any) -> float:
    """The mean of a learning curve over its grid (0 before the first episode): one number for
    "how much return, how early" (the area under the curve over the budget)."""
    import numpy as np

    return float(np.mean(np.nan_to_num(np.asarray(curve, dtype=float), nan=0.0)))


def measure(result: Any, grid: Any, env_id: str, reach: float | None = None,
            eval_episodes: int = 0) -> Any:
    """The return measurement of ``rl_common`` plus: the curve's area (:func:`auc`), the env step
    at which the 20-episode moving average first reaches ``reach`` (inf if never), and the
    greedy policy's mean return on ``eval_episodes`` held-out episodes."""
    import numpy as np

    from algorithms.harness import Measurement
    from algorithms.policy.envs import evaluate
    from algorithms.weeks.rl_common import measure_returns

    measured = measure_returns(result, grid)
    scalars = {**measured.scalars, "auc": auc(measured.curves["episodic_return"])}
    if reach is not None:
        hit = result.episodes.solved_at(reach)
        scalars["steps_to_reach"] = float(hit) if hit is not None else float("inf")
    if eval_episodes:
        scalars["eval_return"] = float(np.mean(evaluate(result.agent, env_id, eval_episodes)))
    return Measurement(measured.curves, scalars, measured.samples)
