"""Advantage actor–critic, synchronous (A2C; Mnih et al. 2016's A3C made synchronous, as in
OpenAI Baselines and Wu et al. 2017).

N envs step in lock-step (``gymnasium.vector.SyncVectorEnv``); every T steps one gradient step on

    L(θ, φ) = −Ê_t[log π_θ(a_t|s_t) Â_t] + c_v Ê_t[(V_φ(s_t) − R_t)²] − c_e Ê_t[S[π_θ](s_t)]

where Â_t is the n-step advantage R_t − V(s_t) with R_t = Σ_{k<n} γ^k r_{t+k} + γ^n V(s_{t+n})
(Mnih et al. 2016, Alg. S3) — GAE with λ = 1 over the T-step segment; ``gae_lambda < 1`` gives
A2C with GAE. Optimiser: RMSprop (α = 0.99, ε = 1e-5) as in the paper, or Adam.

``device`` places the network and the update's tensors (``"auto"``: CUDA when available); the
envs step on the CPU, so each action and value crosses back, and the trained agent is returned
on the CPU.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from algorithms.policy.core import explained_variance, gae, normalize
from algorithms.policy.envs import (
    LogFn,
    StepCollector,
    TrainResult,
    episode_metrics,
    make_vec_env,
    no_log,
)
from algorithms.policy.networks import make_agent, resolve_device


@dataclass(frozen=True)
class A2CConfig:
    env_id: str = "CartPole-v1"
    total_timesteps: int = 200_000
    n_envs: int = 8  # N synchronous envs
    n_steps: int = 32  # T: n-step horizon and update period
    learning_rate: float = 1e-3  # step size
    anneal_lr: bool = True  # linear decay to 0
    optimizer: Literal["rmsprop", "adam"] = "adam"
    gamma: float = 0.99  # discount γ
    gae_lambda: float = 0.95  # 1.0 = the paper's n-step returns
    ent_coef: float = 0.0  # c_e
    vf_coef: float = 0.5  # c_v
    max_grad_norm: float = 0.5  # global gradient-norm clip
    norm_adv: bool = True  # normalise advantages per batch
    normalize_env: bool = False
    hidden: int = 64
    device: str = "cpu"  # where θ, φ train ("auto": CUDA when available); returned on the CPU
    stop_return: float | None = None
    seed: int = 0


class OnDevice:
    """The collector's view of an agent on ``device``: CPU observations in, CPU tensors out."""

    def __init__(self, agent: nn.Module, device: torch.device) -> None:
        self.agent, self.device = agent, device

    def act(self, obs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(x.cpu() for x in self.agent.act(obs.to(self.device)))

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.agent.value(obs.to(self.device)).cpu()


def train(config: A2CConfig, log: LogFn = no_log) -> TrainResult:
    """Train A2C; ``log(metrics, step)`` once per update."""
    torch.set_num_threads(1)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    envs = make_vec_env(config.env_id, config.n_envs, config.seed, config.normalize_env,
                        config.gamma)
    device = resolve_device(config.device)
    agent = make_agent(envs, config.hidden).to(device)
    if config.optimizer == "rmsprop":
        optimizer = torch.optim.RMSprop(agent.parameters(), lr=config.learning_rate, alpha=0.99,
                                        eps=1e-5)
    else:
        optimizer = torch.optim.Adam(agent.parameters(), lr=config.learning_rate, eps=1e-5)
    collector = StepCollector(envs, config.gamma, config.seed)
    n_updates = max(1, config.total_timesteps // (config.n_envs * config.n_steps))
    result = TrainResult(collector.episodes, 0, 0.0, agent)
    start = time.perf_counter()

    for update in range(n_updates):
        lr = config.learning_rate * ((1.0 - update / n_updates) if config.anneal_lr else 1.0)
        for group in optimizer.param_groups:
            group["lr"] = lr
        seen = len(collector.episodes.returns)
        rollout = collector.collect(OnDevice(agent, device), config.n_steps)
        rewards, values, dones, last_value = (x.to(device) for x in (
            rollout.rewards, rollout.values, rollout.dones, rollout.last_value))
        # Â_t: n-step (λ = 1) or GAE(λ) advantages over the T-step segment, bootstrapped by V(s_T)
        advantages, returns = gae(rewards, values, dones, last_value, config.gamma,
                                  config.gae_lambda)
        obs, actions = (x.to(device) for x in rollout.flat("obs", "actions"))
        advantages, returns = advantages.reshape(-1), returns.reshape(-1)
        adv = normalize(advantages) if config.norm_adv else advantages

        dist = agent.dist(obs)
        logp = agent.log_prob(dist, actions)
        pg_loss = -(logp * adv).mean()  # −Ê[log π(a|s) Â]
        value = agent.value(obs)
        v_loss = 0.5 * ((value - returns) ** 2).mean()  # Ê[(V − R)²] / 2
        entropy = agent.entropy(dist).mean()
        loss = pg_loss + config.vf_coef * v_loss - config.ent_coef * entropy
        optimizer.zero_grad()
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(agent.parameters(), config.max_grad_norm)
        optimizer.step()

        result.global_step = collector.global_step
        metrics = {"charts/learning_rate": lr, "losses/value_loss": v_loss.item(),
                   "losses/policy_loss": pg_loss.item(), "losses/entropy": entropy.item(),
                   "losses/grad_norm": float(grad_norm),
                   "losses/explained_variance": explained_variance(values.reshape(-1), returns),
                   "charts/SPS": collector.sps} | episode_metrics(collector.episodes, seen)
        log(metrics, collector.global_step)
        result.record(step=collector.global_step, grad_norm=float(grad_norm))
        if (config.stop_return is not None and len(collector.episodes.returns) >= 20
                and collector.episodes.mean_return(20) >= config.stop_return):
            break
    envs.close()
    agent.cpu()
    result.wall_s = time.perf_counter() - start
    return result
