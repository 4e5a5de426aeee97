"""Natural policy gradient (Kakade 2001), with a fixed step size or a step normalised to a KL
radius (Rajeswaran et al. 2017).

The steepest-ascent direction under the Fisher metric F(θ) = E_s E_{a~π}[∇ log π ∇ log π^T] is
F^{-1} ∇J (Kakade 2001, Theorem 1). Each update:

    g   = ∇_θ L(θ)|_{θ_old},  L(θ) = Ê_t[π_θ(a_t|s_t)/π_θold(a_t|s_t) Â_t]      (the surrogate)
    x   = F^{-1} g                        (conjugate gradient with Fisher-vector products)
    θ  ← θ + α · x                         (``step_size=α``: Kakade's update, and the "natural
                                            gradient" baseline of Schulman et al. 2015 §8, whose
                                            step 1/λ is "treated as an algorithm parameter")
    θ  ← θ + sqrt(2δ / (x^T F x)) · x      (``step_size=None``: ½ Δ^T F Δ = δ, the quadratic KL
                                            model; the normalised NPG of Rajeswaran et al.)

A fixed α moves the policy by a KL that changes with the gradient, large early and small late;
the normalised step fixes the *modelled* KL instead. Neither checks the true KL: that is TRPO's
line search (``trpo.py``, which reuses this loop with the normalised step). Advantages come from
GAE, and the critic V_φ is fitted by Adam minibatch regression on the λ-returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
from algorithms.policy.networks import ActorCritic, make_agent


@dataclass(frozen=True)
class NPGConfig:
    env_id: str = "CartPole-v1"
    total_timesteps: int = 150_000
    n_envs: int = 8  # N envs
    n_steps: int = 256  # T steps per env: batch N·T = 2048
    max_kl: float = 0.01  # δ: the KL radius of each step (when step_size is None)
    step_size: float | None = None  # α of Kakade's fixed step θ ← θ + α F^{-1} g
    cg_iterations: int = 10  # conjugate-gradient iterations for F^{-1} g
    damping: float = 0.1  # F + damping·I (keeps CG well-posed)
    gamma: float = 0.99  # discount γ
    gae_lambda: float = 0.97  # GAE λ
    vf_learning_rate: float = 1e-3  # Adam step size for the critic
    vf_epochs: int = 5  # critic epochs per batch ...
    vf_minibatch_size: int = 256  # ... of this many samples
    backtrack_iters: int = 10  # TRPO only: line-search steps
    backtrack_coef: float = 0.5  # TRPO only: step shrink factor
    normalize_env: bool = False
    hidden: int = 64
    seed: int = 0


def fit_critic(agent: ActorCritic, optimizer: torch.optim.Optimizer, obs: torch.Tensor,
               returns: torch.Tensor, epochs: int, minibatch_size: int,
               cost_returns: torch.Tensor | None = None) -> float:
    """Minibatch regression of V_φ (and V^C_ψ) on their targets; returns the last loss."""
    n = len(obs)
    loss = torch.zeros(())
    for _ in range(epochs):
        order = torch.randperm(n)
        for i in range(0, n, minibatch_size):
            mb = order[i:i + minibatch_size]
            loss = ((agent.value(obs[mb]) - returns[mb]) ** 2).mean()
            if cost_returns is not None:
                loss = loss + ((agent.cost_value(obs[mb]) - cost_returns[mb]) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return loss.item()


StepFn = Callable[..., dict[str, float]]


def natural_step(agent: ActorCritic, params: list, full_step: torch.Tensor,
                 expected: torch.Tensor, surrogate: Callable[[], torch.Tensor],
                 kl: Callable[[], torch.Tensor], config: NPGConfig) -> dict[str, float]:
    """NPG: take the whole natural-gradient step it is given (Kakade's fixed α·F⁻¹g), no search."""
    set_flat_params(params, flat_params(params) + full_step)
    return {}


def train(config: NPGConfig, log: LogFn = no_log, step_fn: StepFn = natural_step) -> TrainResult:
    """Train NPG (or, with ``step_fn=trpo.line_search``, TRPO); ``log`` once per update."""
    torch.set_num_threads(1)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    envs = make_vec_env(config.env_id, config.n_envs, config.seed, config.normalize_env,
                        config.gamma)
    agent = make_agent(envs, config.hidden)
    params = agent.actor_parameters()
    critic_opt = torch.optim.Adam(agent.critic.parameters(), lr=config.vf_learning_rate)
    collector = StepCollector(envs, config.gamma, config.seed)
    n_updates = max(1, config.total_timesteps // (config.n_envs * config.n_steps))
    result = TrainResult(collector.episodes, 0, 0.0, agent)
    start = time.perf_counter()

    for _update in range(n_updates):
        seen = len(collector.episodes.returns)
        rollout = collector.collect(agent, config.n_steps)
        advantages, returns = gae(rollout.rewards, rollout.values, rollout.dones,
                                  rollout.last_value, config.gamma, config.gae_lambda)
        obs, actions, logp_old, values_old = rollout.flat("obs", "actions", "logp", "values")
        advantages, returns = normalize(advantages.reshape(-1)), returns.reshape(-1)
        with torch.no_grad():
            head_old = agent.head(obs)

        def surrogate() -> torch.Tensor:  # L(θ) = Ê[π_θ/π_old · Â]
            logp = agent.log_prob(agent.dist(obs), actions)
            return (torch.exp(logp - logp_old) * advantages).mean()

        def kl() -> torch.Tensor:  # Ê_s[KL(π_old(·|s) ‖ π_θ(·|s))]
            return agent.kl_from(head_old, obs).mean()

        g = flat_grad(surrogate(), params)
        fvp = fisher_vector_product(kl, params, config.damping)
        if config.step_size is None:
            full_step, expected = natural_gradient_direction(g, fvp, config.max_kl,
                                                             config.cg_iterations)
        else:
            full_step = config.step_size * conjugate_gradient(fvp, g, config.cg_iterations)
            expected = g @ full_step
        modelled_kl = 0.5 * float(full_step @ fvp(full_step))  # ½ Δ^T F Δ
        step_info = step_fn(agent, params, full_step, expected, surrogate, kl, config)
        with torch.no_grad():
            kl_after = kl().item()
            improvement = surrogate().item()  # Ê[r Â] − Ê[Â] with Ê[Â] = 0 after normalisation
        v_loss = fit_critic(agent, critic_opt, obs, returns, config.vf_epochs,
                            config.vf_minibatch_size)

        result.global_step = collector.global_step
        metrics = {"losses/approx_kl": kl_after, "losses/modelled_kl": modelled_kl,
                   "losses/surrogate_improvement": improvement,
                   "losses/expected_improvement": float(expected), "losses/value_loss": v_loss,
                   "losses/grad_norm": float(g.norm()),
                   "losses/explained_variance": explained_variance(values_old, returns),
                   "charts/SPS": collector.sps} | step_info
        metrics |= episode_metrics(collector.episodes, seen)
        log(metrics, collector.global_step)
        result.record(step=collector.global_step, approx_kl=kl_after, modelled_kl=modelled_kl,
                      step_fraction=step_info.get("charts/step_fraction", 1.0))
    envs.close()
    result.wall_s = time.perf_counter() - start
    return result
