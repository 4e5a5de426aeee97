"""Constrained Policy Optimization (Achiam, Held, Tamar & Abbeel 2017).

A constrained MDP adds a cost C(s, a) and a budget d on its return J_C(π). CPO's update (eq. 10,
linearised as eq. 11–12 around θ_k with step x = θ − θ_k):

    maximise_x  g^T x    s.t.  c + b^T x ≤ 0,   ½ x^T H x ≤ δ

g = ∇ of the reward surrogate Ê[r_t Â_t], b = ∇ of the cost surrogate, c = J_C(π_k) − d and H the
Fisher matrix. With v = H^{-1}g, w = H^{-1}b (conjugate gradient), q = g^T v, r = g^T w,
s = b^T w, A = q − r²/s, B = 2δ − c²/s, the dual (Theorem 2 / eq. 13) gives

    λ* = argmax { f_a(λ) = −½(A/λ + Bλ) + rc/s  on Λ_a = {λ ≥ 0 : λc + r > 0},
                  f_b(λ) = −½(q/λ + 2δλ)          on Λ_b = {λ ≥ 0 : λc + r ≤ 0} }
    ν* = (λ* c + r)_+ / s,        x* = (v − ν* w) / λ*.

(Signs derived from the Lagrangian g^T x − ν(c + b^T x) − λ(½x^T H x − δ) with g the *ascent*
direction; the paper and the authors' code write −r because their g is the loss gradient.)

If the linearised problem is infeasible (c > 0 and B < 0) CPO takes the recovery step
x = −sqrt(2δ / s) · w, purely decreasing the cost (§6.1). If the trust region lies entirely in
the feasible half-space (c < 0, B < 0) the step is TRPO's. A backtracking line search then
enforces the exact KL bound and the cost surrogate's limit. Implementation after the authors'
code (safety-starter-agents).

The cost surrogate: for an undiscounted episodic cost, the performance-difference lemma gives
J_C(π) − J_C(π_k) = E_τ~π[Σ_t A_C(s_t, a_t)] ≈ L̄ · Ê_t[r_t Â^C_t] (L̄ = mean episode length),
so b is L̄ times the gradient of Ê_t[r_t Â^C_t], with Â^C from GAE on the cost critic V^C.
``constrained=False`` turns CPO into TRPO on the same task (the comparison of week 7).

Safety margin (a practical addition, *not* part of Achiam et al. 2017): the step is solved, and the
line search checked, against the tightened budget d' = d·(1 − cost_margin) instead of d, i.e.
c = J_C(π_k) − d'. J_C(π_k) is a noisy sample estimate and the linearised cost model is only
first-order accurate, so aiming exactly at d leaves the policy hovering at the budget and ending
just above it on some seeds; a ~10% margin is a common practical choice. ``cost_margin=0``
recovers the paper's update.

J_C(π_k) itself: the paper uses the mean cost of the current batch's episodes; once episodes last
500 steps a 2048-step batch finishes only ~4, so averaging the latest 20 episodes lags the policy by
~5 updates. ``cost_estimate="rollout"`` instead uses L̄ × the batch's mean per-step cost, which
covers every step the current policy took (envs are desynchronised, so the steps sample the
episode's time index roughly uniformly).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from algorithms.policy.core import (
    conjugate_gradient,
    explained_variance,
    fisher_vector_product,
    flat_grad,
    flat_params,
    gae,
    natural_gradient_direction,
    normalize,
    set_flat_params,
)
from algorithms.policy.envs import (
    LogFn,
    StepCollector,
    TrainResult,
    episode_metrics,
    make_vec_env,
    no_log,
)
from algorithms.policy.networks import make_agent
from algorithms.policy.npg import fit_critic

EPS = 1e-8


@dataclass(frozen=True)
class CPOConfig:
    env_id: str = "CostCartPole"  # CartPole with cost 1 per step outside |x| ≤ position_limit
    position_limit: float = 0.5  # the safe region of the cart
    cost_limit: float = 25.0  # d: the budget on each episode's total cost
    cost_margin: float = 0.1  # CPO aims at d·(1 − margin): practical addition, not in the paper
    cost_estimate: str = "rollout"  # J_C(π_k): "rollout" (L̄ · batch cost rate) | "episodes"
    constrained: bool = True  # False: plain TRPO on the same task (costs still tracked)
    total_timesteps: int = 150_000
    n_envs: int = 8
    n_steps: int = 256  # batch N·T = 2048
    max_kl: float = 0.01  # δ
    cg_iterations: int = 10
    damping: float = 0.1
    gamma: float = 0.99  # reward discount
    cost_gamma: float = 0.99  # cost discount for the cost critic / GAE
    gae_lambda: float = 0.97
    vf_learning_rate: float = 1e-3
    vf_epochs: int = 5
    vf_minibatch_size: int = 256
    backtrack_iters: int = 15
    backtrack_coef: float = 0.8  # safety-starter-agents' CPO shrinks by 0.8
    hidden: int = 64
    seed: int = 0


def cpo_direction(g: torch.Tensor, b: torch.Tensor, c: float, fvp, max_kl: float,
                  cg_iterations: int) -> tuple[torch.Tensor, int]:
    """Solve the linearised CPO problem (eq. 11–13) → (step x*, case). Cases: 4 = no cost gradient,
    3 = whole trust region feasible, 2 / 1 = constraint active (c < 0 / c ≥ 0), 0 = infeasible."""
    c = c if abs(c) > EPS else -EPS  # exactly on the budget: treat as (just) feasible
    v = conjugate_gradient(fvp, g, cg_iterations)
    q = float(g @ v)
    if float(b @ b) <= EPS and c < 0:
        case = 4
        w, r, s = torch.zeros_like(g), 0.0, 0.0
    else:
        w = conjugate_gradient(fvp, b, cg_iterations)
        r, s = float(g @ w), float(b @ w)
        A, B = q - r * r / (s + EPS), 2 * max_kl - c * c / (s + EPS)
        if c < 0 and B < 0:
            case = 3
        elif c < 0 <= B:
            case = 2
        elif c >= 0 and B >= 0:
            case = 1
        else:
            case = 0
    if case in (3, 4):  # trust region only: λ = sqrt(q / 2δ), ν = 0
        lam, nu = math.sqrt(q / (2 * max_kl)), 0.0
    elif case in (1, 2):
        LA, LB = (0.0, -r / c), (-r / c, math.inf)  # Λ_a = {λ : λc + r > 0}
        LA, LB = (LA, LB) if c < 0 else (LB, LA)
        proj = lambda x, L: max(L[0], min(L[1], x))  # noqa: E731
        lam_a = proj(math.sqrt(max(A, 0.0) / (B + EPS)), LA)
        lam_b = proj(math.sqrt(q / (2 * max_kl)), LB)
        f_a = -0.5 * (A / (lam_a + EPS) + B * lam_a) + r * c / (s + EPS)
        f_b = -0.5 * (q / (lam_b + EPS) + 2 * max_kl * lam_b)
        lam = lam_a if f_a >= f_b else lam_b
        nu = max(0.0, lam * c + r) / (s + EPS)
    else:  # infeasible: recovery, pure cost descent inside the trust region
        return -math.sqrt(2 * max_kl / (s + EPS)) * w, case
    return (v - nu * w) / (lam + EPS), case


def train(config: CPOConfig, log: LogFn = no_log, direction=cpo_direction) -> TrainResult:
    """Train CPO (or TRPO when ``constrained=False``) on a task with a cost signal.
    ``direction(g, b, c, fvp, max_kl, cg_iterations) -> (step, case)`` solves the linearised
    constrained step (default: CPO's; PCPO passes its projection, ``pcpo.py``)."""
    torch.set_num_threads(1)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    kwargs = {"position_limit": config.position_limit} if config.env_id == "CostCartPole" else {}
    envs = make_vec_env(config.env_id, config.n_envs, config.seed, **kwargs)
    agent = make_agent(envs, config.hidden, cost_critic=True)
    params = agent.actor_parameters()
    critic_opt = torch.optim.Adam(agent.critic_parameters(), lr=config.vf_learning_rate)
    collector = StepCollector(envs, config.gamma, config.seed)
    n_updates = max(1, config.total_timesteps // (config.n_envs * config.n_steps))
    result = TrainResult(collector.episodes, 0, 0.0, agent)
    start = time.perf_counter()

    for _update in range(n_updates):
        seen = len(collector.episodes.returns)
        rollout = collector.collect(agent, config.n_steps, cost=True)
        adv, returns = gae(rollout.rewards, rollout.values, rollout.dones, rollout.last_value,
                           config.gamma, config.gae_lambda)
        cost_adv, cost_returns = gae(rollout.costs, rollout.cost_values, rollout.dones,
                                     rollout.last_cost_value, config.cost_gamma,
                                     config.gae_lambda)
        obs, actions, logp_old, values_old = rollout.flat("obs", "actions", "logp", "values")
        adv, returns = normalize(adv.reshape(-1)), returns.reshape(-1)
        cost_adv = cost_adv.reshape(-1) - cost_adv.mean()  # centred, not scaled
        cost_returns = cost_returns.reshape(-1)
        with torch.no_grad():
            head_old = agent.head(obs)
        # L̄ (and, with cost_estimate="episodes", J_C(π_k)) from the episodes finished during this
        # batch, or the latest 20 if fewer finished
        recent = max(len(collector.episodes.costs) - seen, min(20, len(collector.episodes.costs)))
        ep_len = float(np.mean(collector.episodes.lengths[-recent:])) if recent else 1.0
        if config.cost_estimate == "rollout":  # L̄ × this batch's mean cost per step: no lag
            ep_cost = ep_len * float(rollout.costs.mean())
        else:  # mean over the latest ≥ 20 finished episodes: lags by several updates late on
            ep_cost = collector.episodes.mean_cost(recent) if recent else 0.0
        c = ep_cost - config.cost_limit * (1.0 - config.cost_margin)  # vs the tightened budget

        def ratio() -> torch.Tensor:
            return torch.exp(agent.log_prob(agent.dist(obs), actions) - logp_old)

        def surrogate() -> torch.Tensor:  # Ê[r Â]
            return (ratio() * adv).mean()

        def cost_surrogate() -> torch.Tensor:  # ≈ J_C(π) − J_C(π_k) = L̄ · Ê[r Â^C]
            return ep_len * (ratio() * cost_adv).mean()

        def kl() -> torch.Tensor:
            return agent.kl_from(head_old, obs).mean()

        g = flat_grad(surrogate(), params)
        fvp = fisher_vector_product(kl, params, config.damping)
        if config.constrained:
            b = flat_grad(cost_surrogate(), params)
            step, case = direction(g, b, c, fvp, config.max_kl, config.cg_iterations)
        else:
            step, _ = natural_gradient_direction(g, fvp, config.max_kl, config.cg_iterations)
            case = 4

        # ---- backtracking line search on the exact KL, the surrogate and the cost surrogate
        old = flat_params(params)
        with torch.no_grad():
            surr_old, cost_old = surrogate().item(), cost_surrogate().item()
            accepted = config.backtrack_iters
            for j in range(config.backtrack_iters):
                set_flat_params(params, old + config.backtrack_coef ** j * step)
                kl_new, surr_new = kl().item(), surrogate().item()
                cost_ok = (not config.constrained
                           or cost_surrogate().item() - cost_old <= max(-c, 0.0))
                improves = surr_new > surr_old if case > 1 else True
                if kl_new <= config.max_kl and improves and cost_ok:
                    accepted = j
                    break
            else:
                set_flat_params(params, old)
            kl_after = kl().item()
        v_loss = fit_critic(agent, critic_opt, obs, returns, config.vf_epochs,
                            config.vf_minibatch_size, cost_returns)

        result.global_step = collector.global_step
        metrics = {"losses/approx_kl": kl_after, "losses/value_loss": v_loss,
                   "charts/cpo_case": float(case), "charts/line_search_steps": float(accepted),
                   "charts/constraint_slack": -c,
                   "losses/explained_variance": explained_variance(values_old, returns),
                   "charts/SPS": collector.sps} | episode_metrics(collector.episodes, seen)
        log(metrics, collector.global_step)
        result.record(step=collector.global_step, episodic_cost=ep_cost, cpo_case=case)
    envs.close()
    result.wall_s = time.perf_counter() - start
    return result
