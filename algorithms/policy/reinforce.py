"""REINFORCE (Williams 1992) with the classic variance-reduction options.

Each update plays N complete episodes with π_θ and ascends the likelihood-ratio gradient

    ∇_θ J(θ) ≈ (1/N) Σ_i Σ_t ∇_θ log π_θ(a_t^i | s_t^i) Ψ_t^i                       (Williams eq. 11)

with Ψ chosen by ``estimator`` (Schulman et al. 2016, §2 lists them):

* ``"return"``:     Ψ_t = G_t, the reward-to-go Σ_{k≥t} γ^{k−t} r_k (causality already removes the
  rewards before t; Williams' original uses the whole return),
* ``"baseline"``:   Ψ_t = G_t − V_φ(s_t), a learned state-value baseline (a control variate: the
  expectation is unchanged because E_a[∇ log π(a|s)] = 0),
* ``"gae"``:        Ψ_t = Â_t^{GAE(γ,λ)} from the same V_φ (λ = 1 equals ``"baseline"``).

V_φ is fitted by regression on G_t (``value_epochs`` Adam steps per batch).

``measure_variance`` also estimates the variance of the gradient estimator itself: every
episode's contribution g_i is computed separately and the total variance tr Cov[g_i] / N of the
batch mean is logged as ``charts/grad_variance`` (with ``charts/grad_norm`` = ‖ḡ‖ for scale).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from algorithms.policy.core import discounted_returns, flat_grad, gae
from algorithms.policy.envs import (
    EpisodeLog,
    LogFn,
    TrainResult,
    collect_episodes,
    make_vec_env,
    no_log,
)
from algorithms.policy.networks import make_agent


@dataclass(frozen=True)
class ReinforceConfig:
    env_id: str = "CartPole-v1"
    total_timesteps: int = 100_000
    episodes_per_batch: int = 8  # N complete episodes per gradient step
    estimator: Literal["return", "baseline", "gae"] = "baseline"  # Ψ_t, see the docstring
    gae_lambda: float = 0.95  # λ when estimator = "gae"
    gamma: float = 0.99  # discount γ
    learning_rate: float = 3e-3  # Adam step size for θ
    value_learning_rate: float = 1e-3  # Adam step size for φ
    value_epochs: int = 10  # regression steps on V_φ per batch
    normalize_weights: bool = False  # standardise Ψ over the batch (a common extra)
    measure_variance: bool = False  # log tr Cov of the per-episode gradient (costs N backwards)
    hidden: int = 64
    seed: int = 0


def train(config: ReinforceConfig, log: LogFn = no_log) -> TrainResult:
    """Train REINFORCE; ``log(metrics, step)`` once per batch of episodes."""
    torch.set_num_threads(1)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    envs = make_vec_env(config.env_id, config.episodes_per_batch, config.seed)
    agent = make_agent(envs, config.hidden)
    actor_params = agent.actor_parameters()
    policy_opt = torch.optim.Adam(actor_params, lr=config.learning_rate)
    value_opt = torch.optim.Adam(agent.critic.parameters(), lr=config.value_learning_rate)
    episodes = EpisodeLog()
    result = TrainResult(episodes, 0, 0.0, agent)
    start = time.perf_counter()
    global_step = 0

    while global_step < config.total_timesteps:
        batch = collect_episodes(envs, agent)
        mask = batch.mask
        n_steps = int(mask.sum())
        global_step += n_steps
        for ret, length in zip(batch.returns, batch.lengths):
            episodes.add(global_step, ret, length, 0.0)

        # ---- Ψ_t: reward-to-go, minus a baseline, or GAE
        returns = discounted_returns(batch.rewards, batch.dones, config.gamma)  # G_t
        with torch.no_grad():
            values = agent.value(batch.obs) * mask
        if config.estimator == "return":
            weights = returns
        elif config.estimator == "baseline":
            weights = returns - values
        else:
            weights, _ = gae(batch.rewards, values, batch.dones, torch.zeros_like(values[0]),
                             config.gamma, config.gae_lambda)
        if config.normalize_weights:
            valid = weights[mask.bool()]
            weights = (weights - valid.mean()) / (valid.std() + 1e-8)
        weights = weights * mask

        # ---- ∇J ≈ (1/N) Σ_i Σ_t ∇ log π(a_t|s_t) Ψ_t
        logp = agent.log_prob(agent.dist(batch.obs), batch.actions) * mask
        per_episode = (logp * weights).sum(0)  # one term per episode i
        metrics: dict[str, float] = {}
        if config.measure_variance:
            grads = torch.stack([flat_grad(-term, actor_params, retain_graph=True)
                                 for term in per_episode])
            mean_grad = grads.mean(0)
            variance = float(((grads - mean_grad) ** 2).sum(1).mean()) / len(grads)
            metrics |= {"charts/grad_variance": variance,
                        "charts/grad_norm": float(mean_grad.norm()),
                        "charts/grad_snr": float(mean_grad.norm() ** 2 / max(variance, 1e-12))}
            result.record(grad_variance=variance, grad_norm=float(mean_grad.norm()))
        policy_loss = -per_episode.mean()
        policy_opt.zero_grad()
        policy_loss.backward()
        policy_opt.step()

        # ---- V_φ ← regression on G_t (only the baseline and GAE estimators use it)
        if config.estimator != "return":
            for _ in range(config.value_epochs):
                v_loss = (((agent.value(batch.obs) - returns) ** 2) * mask).sum() / mask.sum()
                value_opt.zero_grad()
                v_loss.backward()
                value_opt.step()
            metrics["losses/value_loss"] = v_loss.item()

        metrics |= {"charts/episodic_return": float(np.mean(batch.returns)),
                    "charts/episodic_length": float(np.mean(batch.lengths)),
                    "losses/policy_loss": policy_loss.item(),
                    "charts/SPS": global_step / (time.perf_counter() - start)}
        log(metrics, global_step)
        result.record(step=global_step, episodic_return=float(np.mean(batch.returns)))
    envs.close()
    result.global_step = global_step
    result.wall_s = time.perf_counter() - start
    return result
