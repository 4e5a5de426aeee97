"""IMPALA: an actor–learner architecture with V-trace off-policy correction
(Espeholt et al. 2018).

* Actors (``n_actors`` separate processes, ``torch.multiprocessing`` with ``spawn``) each run a
  few envs; before every ``sync_every``-th unroll of T steps they copy the learner's latest
  weights from shared memory (``sync_every`` > 1 makes the policy lag on purpose), then send
  the trajectory (observations, actions, the behaviour policy's log μ(a|x), rewards, dones,
  episode statistics) through a queue.
* The learner stacks ``batch_unrolls`` trajectories, recomputes π(a|x) and V(x) with its current
  weights — the actors' μ lags behind π by a few updates, so the data is off-policy — and takes
  one gradient step on the V-trace losses (§4.2):

      value:   ½ Ê[(v_s − V_θ(x_s))²]                                  (v_s: V-trace target, eq. 1)
      policy: −Ê[ρ_s ∇ log π(a_s|x_s) (r_s + γ v_{s+1} − V(x_s))]
      entropy: −c_e Ê[S[π(·|x_s)]]

ρ̄ and c̄ truncate the importance weights; ``correction="none"`` drops them (ρ = c = 1), the
ablation of §5.3 that shows why the correction matters once the policy lag grows.

``objective="appo"`` is APPO (asynchronous PPO, as RLlib names it): the same actors, queue and
V-trace value targets, with the policy term replaced by PPO's clipped surrogate (Schulman et al.
2017, eq. 7) on the ratio to the behaviour policy, ρ_s = π(a_s|x_s)/μ(a_s|x_s):

      policy: −Ê[min(ρ_s A_s, clip(ρ_s, 1 − ε, 1 + ε) A_s)],   A_s = r_s + γ v_{s+1} − V(x_s)

so a stale μ can move π by at most about ε per update instead of by an importance weight
truncated at ρ̄.
"""

from __future__ import annotations

import queue as queue_lib
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from algorithms.policy.core import approx_kl, vtrace
from algorithms.policy.envs import (
    EpisodeLog,
    LogFn,
    StepCollector,
    TrainResult,
    make_vec_env,
    no_log,
)
from algorithms.policy.networks import make_agent
from algorithms.policy.ppo import clipped_surrogate_loss


@dataclass(frozen=True)
class ImpalaConfig:
    env_id: str = "CartPole-v1"
    total_timesteps: int = 300_000
    n_actors: int = 2  # actor processes
    envs_per_actor: int = 4  # envs stepped by each actor
    unroll_length: int = 20  # T: steps per trajectory (the paper's n = 20)
    batch_unrolls: int = 2  # trajectories (each of envs_per_actor envs) per learner step
    learning_rate: float = 1e-3  # Adam step size, annealed linearly
    gamma: float = 0.99  # discount γ
    rho_bar: float = 1.0  # ρ̄: truncation of the importance weight in δ_t V and the PG
    c_bar: float = 1.0  # c̄: truncation of the trace-cutting coefficients
    correction: Literal["vtrace", "none"] = "vtrace"
    objective: Literal["impala", "appo"] = "impala"  # appo: PPO's clipped surrogate on π/μ
    clip_eps: float = 0.2  # APPO's ε
    ent_coef: float = 0.01  # c_e
    vf_coef: float = 0.5  # value-loss weight
    max_grad_norm: float = 40.0  # the paper's global gradient clip
    queue_size: int = 4  # trajectories in flight (bounds the policy lag)
    sync_every: int = 1  # actors refresh μ ← π every this many unrolls (more = more lag)
    hidden: int = 64
    seed: int = 0


def _actor(rank: int, config: ImpalaConfig, shared: nn.Module, queue: Any, stop: Any) -> None:
    """An actor process: copy the learner's weights, play T steps, ship the trajectory."""
    torch.set_num_threads(1)
    seed = config.seed * 1000 + rank
    torch.manual_seed(seed)
    envs = make_vec_env(config.env_id, config.envs_per_actor, seed)
    local = make_agent(envs, config.hidden)
    collector = StepCollector(envs, config.gamma, seed)
    unrolls = 0
    while not stop.is_set():
        if unrolls % config.sync_every == 0:
            local.load_state_dict(shared.state_dict())  # the behaviour policy μ = the latest π
        unrolls += 1
        seen = len(collector.episodes.returns)
        rollout = collector.collect(local, config.unroll_length)
        item = {key: getattr(rollout, key).numpy() for key in
                ("obs", "actions", "logp", "rewards", "dones")}
        item["last_obs"] = collector.obs.numpy()
        item["episodes"] = list(zip(collector.episodes.returns[seen:],
                                    collector.episodes.lengths[seen:]))
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.1)
                break
            except queue_lib.Full:
                continue
    envs.close()


def train(config: ImpalaConfig, log: LogFn = no_log) -> TrainResult:
    """Train with ``n_actors`` actor processes and this process as the learner."""
    import torch.multiprocessing as mp

    torch.set_num_threads(1)
    torch.manual_seed(config.seed)
    envs = make_vec_env(config.env_id, 1, config.seed)  # only for the spaces
    agent = make_agent(envs, config.hidden)
    envs.close()
    agent.share_memory()  # the actors read the learner's weights from here
    optimizer = torch.optim.Adam(agent.parameters(), lr=config.learning_rate, eps=1e-5)

    ctx = mp.get_context("spawn")
    queue, stop = ctx.Queue(maxsize=config.queue_size), ctx.Event()
    actors = [ctx.Process(target=_actor, args=(rank, config, agent, queue, stop), daemon=True)
              for rank in range(config.n_actors)]
    for process in actors:
        process.start()

    episodes = EpisodeLog()
    result = TrainResult(episodes, 0, 0.0, agent)
    steps_per_update = config.batch_unrolls * config.envs_per_actor * config.unroll_length
    n_updates = max(1, config.total_timesteps // steps_per_update)
    start = time.perf_counter()
    global_step = 0
    try:
        for update in range(n_updates):
            batch = [queue.get(timeout=120) for _ in range(config.batch_unrolls)]
            cat = lambda key, axis=1: torch.as_tensor(  # noqa: E731
                np.concatenate([b[key] for b in batch], axis=axis))
            obs, actions, mu_logp = cat("obs"), cat("actions"), cat("logp")
            rewards, dones, last_obs = cat("rewards"), cat("dones"), cat("last_obs", 0)
            global_step += rewards.numel()
            for b in batch:
                for ret, length in b["episodes"]:
                    episodes.add(global_step, ret, length, 0.0)

            lr = config.learning_rate * (1.0 - update / n_updates)
            for group in optimizer.param_groups:
                group["lr"] = lr
            T, N = rewards.shape
            flat_obs = obs.reshape(T * N, *obs.shape[2:])
            dist = agent.dist(flat_obs)
            pi_logp = agent.log_prob(dist, actions.reshape(-1)).reshape(T, N)
            values = agent.value(flat_obs).reshape(T, N)
            with torch.no_grad():
                last_value = agent.value(last_obs)
            behaviour = mu_logp if config.correction == "vtrace" else pi_logp.detach()
            vs, pg_adv = vtrace(behaviour, pi_logp.detach(), rewards, values.detach(), dones,
                                last_value, config.gamma, config.rho_bar, config.c_bar)
            if config.objective == "appo":
                with torch.no_grad():  # A_s without IMPALA's ρ_s factor: the ratio is below
                    discounts = config.gamma * (1.0 - dones)
                    next_vs = torch.cat([vs[1:], last_value.unsqueeze(0)])
                    advantages = rewards + discounts * next_vs - values.detach()
                pg_loss = clipped_surrogate_loss(torch.exp(pi_logp - mu_logp), advantages,
                                                 config.clip_eps)  # PPO's eq. 7
            else:
                pg_loss = -(pi_logp * pg_adv).mean()
            v_loss = 0.5 * ((vs - values) ** 2).mean()
            entropy = agent.entropy(dist).mean()
            loss = pg_loss + config.vf_coef * v_loss - config.ent_coef * entropy
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(agent.parameters(), config.max_grad_norm)
            optimizer.step()

            with torch.no_grad():
                ratio = torch.exp(pi_logp - mu_logp)
            seen_returns = [ret for b in batch for ret, _ in b["episodes"]]
            metrics = {"losses/policy_loss": pg_loss.item(), "losses/value_loss": v_loss.item(),
                       "losses/entropy": entropy.item(),
                       # how off-policy the actors' data is: KL(μ ‖ π) and the clipped share
                       "losses/policy_lag_kl": float(approx_kl(pi_logp.detach(), mu_logp)),
                       "losses/rho_clipped": float((ratio > config.rho_bar).float().mean()),
                       "charts/learning_rate": lr,
                       "charts/SPS": global_step / (time.perf_counter() - start)}
            if seen_returns:
                metrics["charts/episodic_return"] = float(np.mean(seen_returns))
            log(metrics, global_step)
            result.record(step=global_step, policy_lag_kl=metrics["losses/policy_lag_kl"])
    finally:
        stop.set()
        while True:  # drain, so that no actor blocks on a full queue
            try:
                queue.get_nowait()
            except (queue_lib.Empty, OSError, ValueError):
                break
        for process in actors:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
    result.global_step = global_step
    result.wall_s = time.perf_counter() - start
    return result
