"""PPO-Lagrangian (Ray, Achiam & Amodei 2019, "Benchmarking Safe Exploration in Deep
Reinforcement Learning"): the constrained problem max_π J_R(π) s.t. J_C(π) ≤ d solved through its
Lagrangian

    min_{λ ≥ 0} max_θ  L(θ, λ) = J_R(π_θ) − λ (J_C(π_θ) − d)

by alternating a primal step on θ and a dual step on λ:

* primal: PPO's clipped objective (Schulman et al. 2017, eq. 7; ``ppo.py``) on the penalised
  advantage, normalised by 1 + λ as in the authors' code (safety-starter-agents) and OmniSafe's
  PPOLag, so that the step size stays that of PPO however large λ grows:

      Â_t = (Â^R_t − λ Â^C_t) / (1 + λ),    Â^R, Â^C by GAE on V and V^C, each standardised
                                              per minibatch (OmniSafe standardises both too);

* dual: after each rollout, projected gradient ascent on λ ↦ λ (J_C(π_k) − d), i.e. descent on
  L in λ (∂L/∂λ = −(J_C − d)), projected back onto λ ≥ 0:

      λ ← max(0, λ + η_λ (J_C(π_k) − d)),    η_λ = ``lambda_lr``.

λ rises while the episode cost is over budget and falls (never below 0) once it is under.
Ray et al.'s code parametrises λ = softplus(ρ) and steps ρ with Adam, OmniSafe steps λ with
Adam and clamps it; this is the plain projected-gradient form. The dual step uses the rollout
that the policy step is about to use (OmniSafe's order: λ first, then θ).

J_C(π_k) and the budget are CPO's (``cpo.py``): ``cost_estimate="rollout"`` takes L̄ × the batch's
mean cost per step, and the step aims at the tightened budget d·(1 − cost_margin) (a practical
addition shared with this project's CPO, not in the paper; ``cost_margin=0`` gives d itself).
``constrained=False`` fixes λ = 0: unconstrained PPO on the same task, with the same networks
and costs tracked (the reference of week 4's constrained study). Unlike ``ppo.PPOConfig``'s
RL-Zoo defaults, the learning rate and clip range stay constant (no annealing to 0).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from algorithms.policy.core import approx_kl, explained_variance, gae, normalize
from algorithms.policy.envs import (
    LogFn,
    StepCollector,
    TrainResult,
    episode_metrics,
    make_vec_env,
    no_log,
)
from algorithms.policy.networks import make_agent
from algorithms.policy.ppo import PPOConfig, clipped_surrogate_loss, minibatch_epochs


@dataclass(frozen=True)
class LagrangianPPOConfig(PPOConfig):
    """PPO's hyperparameters (RL Zoo's CartPole settings) and the constraint's."""

    env_id: str = "CostCartPole"  # CartPole with cost 1 per step outside |x| ≤ position_limit
    position_limit: float = 0.5  # the safe region of the cart
    cost_limit: float = 25.0  # d: the budget on each episode's total cost
    cost_margin: float = 0.1  # aim at d·(1 − margin), as CPO does: practical, not in the paper
    cost_estimate: str = "rollout"  # J_C(π_k): "rollout" (L̄ · batch cost rate) | "episodes"
    constrained: bool = True  # False: λ stays 0, plain PPO on the same task (costs still tracked)
    lambda_init: float = 0.0  # λ_0
    lambda_lr: float = 0.01  # η_λ: dual step per unit of episode cost over budget
    cost_gamma: float = 0.99  # cost discount for the cost critic / GAE
    vf_coef: float = 0.5  # c_1: weight of the reward and the cost critic's losses
    # RL Zoo's CartPole settings anneal α and ε to 0, which freezes the policy late in training
    # while λ keeps moving: the dual ascent needs a primal that can still answer it
    anneal_lr: bool = False
    anneal_clip: bool = False


def lagrange_update(lam: float, ep_cost: float, cost_limit: float, lr: float) -> float:
    """The dual step: projected gradient ascent on λ (J_C − d), λ ← max(0, λ + η (J_C − d))."""
    return max(0.0, lam + lr * (ep_cost - cost_limit))


def penalised_advantage(adv_r: torch.Tensor, adv_c: torch.Tensor, lam: float) -> torch.Tensor:
    """(Â^R − λ Â^C) / (1 + λ): the Lagrangian's advantage, at PPO's scale for any λ."""
    return (adv_r - lam * adv_c) / (1.0 + lam)


def train(config: LagrangianPPOConfig, log: LogFn = no_log) -> TrainResult:
    """Train PPO-Lagrangian (PPO when ``constrained=False``) on a task with a cost signal."""
    if config.variant != "clip" or config.clip_vloss or config.stop_return is not None:
        raise ValueError("PPO-Lagrangian is the clipped objective with an unclipped value loss "
                         "and a fixed budget: variant='clip', clip_vloss=False, stop_return=None")
    torch.set_num_threads(1)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    kwargs = {"position_limit": config.position_limit} if config.env_id == "CostCartPole" else {}
    envs = make_vec_env(config.env_id, config.n_envs, config.seed, config.normalize_env,
                        config.gamma, **kwargs)
    agent = make_agent(envs, config.hidden, cost_critic=True)
    optimizer = torch.optim.Adam(agent.parameters(), lr=config.learning_rate, eps=1e-5)
    collector = StepCollector(envs, config.gamma, config.seed)
    batch_size = config.n_envs * config.n_steps
    n_updates = max(1, config.total_timesteps // batch_size)
    lam = config.lambda_init if config.constrained else 0.0
    budget = config.cost_limit * (1.0 - config.cost_margin)  # the tightened budget d'
    result = TrainResult(collector.episodes, 0, 0.0, agent)
    start = time.perf_counter()

    for update in range(n_updates):
        frac = 1.0 - update / n_updates
        lr = config.learning_rate * (frac if config.anneal_lr else 1.0)
        clip = config.clip_coef * (frac if config.anneal_clip else 1.0)
        for group in optimizer.param_groups:
            group["lr"] = lr
        seen = len(collector.episodes.returns)

        # ---- collect N·T transitions with π_θold; Â^R, Â^C by GAE on V and V^C
        rollout = collector.collect(agent, config.n_steps, cost=True)
        adv_r, returns = gae(rollout.rewards, rollout.values, rollout.dones, rollout.last_value,
                             config.gamma, config.gae_lambda)
        adv_c, cost_returns = gae(rollout.costs, rollout.cost_values, rollout.dones,
                                  rollout.last_cost_value, config.cost_gamma, config.gae_lambda)
        obs, actions, logp_old = rollout.flat("obs", "actions", "logp")
        values_old, cost_values_old = rollout.flat("values", "cost_values")
        adv_r, returns = adv_r.reshape(-1), returns.reshape(-1)
        adv_c, cost_returns = adv_c.reshape(-1), cost_returns.reshape(-1)

        # ---- the dual step on λ with this rollout's J_C(π_k) (CPO's estimate, cpo.py)
        recent = max(len(collector.episodes.costs) - seen, min(20, len(collector.episodes.costs)))
        ep_len = float(np.mean(collector.episodes.lengths[-recent:])) if recent else 1.0
        if config.cost_estimate == "rollout":  # L̄ × this batch's mean cost per step
            ep_cost = ep_len * float(rollout.costs.mean())
        else:  # mean over the latest ≥ 20 finished episodes
            ep_cost = collector.episodes.mean_cost(recent) if recent else 0.0
        if config.constrained:
            lam = lagrange_update(lam, ep_cost, budget, config.lambda_lr)

        # ---- K epochs of minibatch ascent on L^CLIP(Â) − c_1 (L^VF + L^VF_C)
        def minibatch_loss(mb: Tensor, dist: Any, ratio: Tensor) -> tuple[Tensor, dict]:
            a_r = normalize(adv_r[mb]) if config.norm_adv else adv_r[mb]
            a_c = normalize(adv_c[mb]) if config.norm_adv else adv_c[mb]
            pg_loss = clipped_surrogate_loss(ratio, penalised_advantage(a_r, a_c, lam), clip)
            v_loss = 0.5 * ((agent.value(obs[mb]) - returns[mb]) ** 2).mean()
            vc_loss = 0.5 * ((agent.cost_value(obs[mb]) - cost_returns[mb]) ** 2).mean()
            entropy = agent.entropy(dist).mean()
            loss = pg_loss - config.ent_coef * entropy + config.vf_coef * (v_loss + vc_loss)
            return loss, {"policy_loss": pg_loss, "value_loss": v_loss,
                          "cost_value_loss": vc_loss, "entropy": entropy}

        clipfracs, last = minibatch_epochs(agent, optimizer, config, obs, actions, logp_old, clip,
                                           minibatch_loss)

        with torch.no_grad():  # KL of the whole update, π_old → π_new
            kl_update = float(approx_kl(agent.log_prob(agent.dist(obs), actions), logp_old))
        result.global_step = collector.global_step
        metrics = {
            "charts/learning_rate": lr, "charts/clip_coef": clip,
            "charts/lagrange_multiplier": lam, "charts/constraint_slack": budget - ep_cost,
            "losses/value_loss": last["value_loss"],
            "losses/cost_value_loss": last["cost_value_loss"],
            "losses/policy_loss": last["policy_loss"], "losses/entropy": last["entropy"],
            "losses/approx_kl": kl_update, "losses/clipfrac": float(np.mean(clipfracs)),
            "losses/explained_variance": explained_variance(values_old, returns),
            "losses/cost_explained_variance": explained_variance(cost_values_old, cost_returns),
            "charts/SPS": collector.sps,
        } | episode_metrics(collector.episodes, seen)
        log(metrics, collector.global_step)
        result.record(step=collector.global_step, episodic_cost=ep_cost, lagrange_multiplier=lam,
                      approx_kl=kl_update)
    envs.close()
    result.wall_s = time.perf_counter() - start
    return result
