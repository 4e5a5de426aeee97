"""Proximal Policy Optimization (Schulman, Wolski, Dhariwal, Radford & Klimov 2017).

Two surrogate objectives, both on the probability ratio r_t(θ) = π_θ(a_t|s_t) / π_θold(a_t|s_t):

* ``variant="clip"`` (eq. 7):  L^CLIP(θ) = Ê_t[min(r_t Â_t, clip(r_t, 1 − ε, 1 + ε) Â_t)]
* ``variant="kl"`` (eq. 8, adaptive KL penalty):  L^KLPEN(θ) = Ê_t[r_t Â_t − β KL[π_θold, π_θ](s_t)],
  then d = Ê[KL]; if d < d_targ / 1.5: β ← β / 2, if d > 1.5 d_targ: β ← 2 β.

Full objective (eq. 9): L = Ê_t[L^π − c_1 (V_θ(s_t) − V_t^targ)² + c_2 S[π_θ](s_t)], maximised by
K epochs of minibatch Adam over each batch of N envs × T steps, advantages by GAE (eq. 11).
Implementation details follow CleanRL's ppo.py (Huang et al. 2022, "The 37 implementation details
of PPO"): orthogonal init, advantage normalisation per minibatch, clipped value loss, global
gradient clipping, linear learning-rate annealing. Logged: ``losses/approx_kl`` (k3 estimator),
``losses/clipfrac``, ``charts/SPS``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from algorithms.policy.core import approx_kl, clip_fraction, explained_variance, gae, normalize
from algorithms.policy.envs import (
    LogFn,
    StepCollector,
    TrainResult,
    episode_metrics,
    make_vec_env,
    no_log,
)
from algorithms.policy.networks import make_agent


@dataclass(frozen=True)
class PPOConfig:
    env_id: str = "CartPole-v1"
    total_timesteps: int = 100_000
    n_envs: int = 8  # N parallel envs (SyncVectorEnv)
    n_steps: int = 32  # T steps per env per rollout; batch = N·T
    n_epochs: int = 20  # K optimisation epochs over each batch
    minibatch_size: int = 256  # M samples per gradient step
    learning_rate: float = 1e-3  # Adam step size α
    anneal_lr: bool = True  # α decays linearly to 0 over training
    gamma: float = 0.98  # discount γ
    gae_lambda: float = 0.8  # GAE λ
    variant: Literal["clip", "kl"] = "clip"  # the surrogate: eq. 7 or eq. 8
    clip_coef: float = 0.2  # ε of eq. 7
    anneal_clip: bool = True  # ε decays linearly to 0 (RL Zoo's "lin_0.2")
    clip_vloss: bool = False  # clip the value update to ±ε around the old value (CleanRL)
    kl_target: float = 0.01  # d_targ of the adaptive-KL variant
    kl_beta: float = 1.0  # initial β of the adaptive-KL variant
    ent_coef: float = 0.0  # c_2: entropy bonus
    vf_coef: float = 0.5  # c_1: value-loss weight
    max_grad_norm: float = 0.5  # global gradient-norm clip
    target_kl: float | None = None  # stop the epochs early once approx KL exceeds this
    norm_adv: bool = True  # normalise advantages per minibatch
    normalize_env: bool = False  # observation / reward normalisation (continuous control)
    hidden: int = 64  # width of the actor and critic MLPs
    stop_return: float | None = None  # stop once the 20-episode moving average reaches this
    seed: int = 0


MinibatchLoss = Callable[[Tensor, Any, Tensor], tuple[Tensor, dict[str, Tensor]]]
"""(minibatch indices, π_θ's distribution on them, the ratio r_t(θ)) → (the loss, its terms)."""


def clipped_surrogate_loss(ratio: Tensor, adv: Tensor, clip: float) -> Tensor:
    """−L^CLIP = −Ê[min(r Â, clip(r, 1 − ε, 1 + ε) Â)]   (eq. 7), the loss to minimise."""
    return torch.max(-adv * ratio, -adv * torch.clamp(ratio, 1 - clip, 1 + clip)).mean()


def minibatch_epochs(agent: Any, optimizer: torch.optim.Optimizer, config: PPOConfig,
                     obs: Tensor, actions: Tensor, logp_old: Tensor, clip: float,
                     minibatch_loss: MinibatchLoss) -> tuple[list[float], dict[str, float]]:
    """PPO's optimisation phase: ``config.n_epochs`` passes over the batch in random
    minibatches of ``config.minibatch_size``, one Adam step on ``minibatch_loss`` each, the
    gradient clipped to ``max_grad_norm``; the epochs stop early once the approximate KL of a
    step exceeds ``target_kl``. Returns each step's clip fraction and the last step's terms."""
    clipfracs, kls, terms = [], [], {}
    batch_size = len(obs)
    for _epoch in range(config.n_epochs):
        order = torch.randperm(batch_size)
        for start in range(0, batch_size, config.minibatch_size):
            mb = order[start:start + config.minibatch_size]
            dist = agent.dist(obs[mb])
            logp = agent.log_prob(dist, actions[mb])
            ratio = (logp - logp_old[mb]).exp()  # r_t(θ)
            with torch.no_grad():
                kls.append(float(approx_kl(logp, logp_old[mb])))
                clipfracs.append(float(clip_fraction(ratio, clip)))
            loss, terms = minibatch_loss(mb, dist, ratio)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(agent.parameters(), config.max_grad_norm)
            optimizer.step()
        if config.target_kl is not None and kls[-1] > config.target_kl:
            break
    return clipfracs, {key: value.item() for key, value in terms.items()}


def train(config: PPOConfig, log: LogFn = no_log) -> TrainResult:
    """Train PPO; ``log(metrics, step)`` receives CleanRL-named metrics once per update."""
    torch.set_num_threads(1)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    envs = make_vec_env(config.env_id, config.n_envs, config.seed, config.normalize_env,
                        config.gamma)
    agent = make_agent(envs, config.hidden)
    optimizer = torch.optim.Adam(agent.parameters(), lr=config.learning_rate, eps=1e-5)
    collector = StepCollector(envs, config.gamma, config.seed)
    batch_size = config.n_envs * config.n_steps
    n_updates = max(1, config.total_timesteps // batch_size)
    beta = config.kl_beta
    result = TrainResult(collector.episodes, 0, 0.0, agent)
    start = time.perf_counter()

    for update in range(n_updates):
        frac = 1.0 - update / n_updates
        lr = config.learning_rate * (frac if config.anneal_lr else 1.0)
        clip = config.clip_coef * (frac if config.anneal_clip else 1.0)
        for group in optimizer.param_groups:
            group["lr"] = lr
        seen = len(collector.episodes.returns)

        # ---- collect N·T transitions with π_θold, then Â_t by GAE (eq. 11)
        rollout = collector.collect(agent, config.n_steps)
        advantages, returns = gae(rollout.rewards, rollout.values, rollout.dones,
                                  rollout.last_value, config.gamma, config.gae_lambda)
        obs, actions, logp_old, values_old = rollout.flat("obs", "actions", "logp", "values")
        advantages, returns = advantages.reshape(-1), returns.reshape(-1)
        with torch.no_grad():
            head_old = agent.head(obs) if config.variant == "kl" else None

        # ---- K epochs of minibatch ascent on L^CLIP (or L^KLPEN) − c_1 L^VF + c_2 S
        def minibatch_loss(mb: Tensor, dist: Any, ratio: Tensor) -> tuple[Tensor, dict]:
            adv = normalize(advantages[mb]) if config.norm_adv else advantages[mb]
            if config.variant == "clip":
                pg_loss = clipped_surrogate_loss(ratio, adv, clip)
            else:
                # L^KLPEN = Ê[r Â − β KL[π_old, π_θ]]   (eq. 8), as a loss: its negative
                kl = agent.kl_from(head_old[mb], obs[mb])
                pg_loss = -(ratio * adv).mean() + beta * kl.mean()
            value = agent.value(obs[mb])
            if config.clip_vloss:
                clipped = values_old[mb] + torch.clamp(value - values_old[mb], -clip, clip)
                v_loss = 0.5 * torch.max((value - returns[mb]) ** 2,
                                         (clipped - returns[mb]) ** 2).mean()
            else:
                v_loss = 0.5 * ((value - returns[mb]) ** 2).mean()
            entropy = agent.entropy(dist).mean()
            loss = pg_loss - config.ent_coef * entropy + config.vf_coef * v_loss  # eq. 9
            return loss, {"policy_loss": pg_loss, "value_loss": v_loss, "entropy": entropy}

        clipfracs, last = minibatch_epochs(agent, optimizer, config, obs, actions, logp_old, clip,
                                           minibatch_loss)

        with torch.no_grad():  # KL of the whole update, π_old → π_new
            kl_update = float(approx_kl(agent.log_prob(agent.dist(obs), actions), logp_old))
        if config.variant == "kl":  # adaptive β (§4)
            if kl_update < config.kl_target / 1.5:
                beta /= 2.0
            elif kl_update > config.kl_target * 1.5:
                beta *= 2.0
        result.global_step = collector.global_step
        metrics = {
            "charts/learning_rate": lr, "charts/clip_coef": clip,
            "losses/value_loss": last["value_loss"], "losses/policy_loss": last["policy_loss"],
            "losses/entropy": last["entropy"], "losses/approx_kl": kl_update,
            "losses/clipfrac": float(np.mean(clipfracs)),
            "losses/explained_variance": explained_variance(values_old, returns),
            "charts/SPS": collector.sps,
        } | ({"losses/kl_beta": beta} if config.variant == "kl" else {})
        metrics |= episode_metrics(collector.episodes, seen)
        log(metrics, collector.global_step)
        result.record(step=collector.global_step, approx_kl=kl_update,
                      clipfrac=metrics["losses/clipfrac"], entropy=last["entropy"])
        if (config.stop_return is not None
                and collector.episodes.mean_return(20) >= config.stop_return
                and len(collector.episodes.returns) >= 20):
            break
    envs.close()
    result.wall_s = time.perf_counter() - start
    return result
