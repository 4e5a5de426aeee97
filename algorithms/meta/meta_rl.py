"""MAML for reinforcement learning on 2-D point navigation (Finn, Abbeel & Levine 2017, §5.3,
Algorithm 3), with a policy-gradient inner step.

The task: a point starts at the origin and must reach a goal g ~ U[−0.5, 0.5]²; an action is
a velocity clipped to [−0.1, 0.1]² and the reward is −‖s_{t+1} − g‖ every step for H = 100
steps (we do not end an episode at the goal). The policy is a Gaussian MLP, mean μ_θ(s) with a
state-independent learned log standard deviation.

The inner step (Eq. 1 with the REINFORCE loss, Eq. 4) adapts θ on N trajectories sampled from
π_θ in task T_i:

    L_Ti(θ) = −1/(N H) Σ_n Σ_t log π_θ(a_t | s_t) Â_t,       θ'_i = θ − α ∇_θ L_Ti(θ)

with Â_t the discounted reward-to-go minus its mean over the N trajectories at step t, scaled
to unit variance per task (rllab's centred advantages). The meta-objective is the same loss on
N fresh trajectories from π_θ'_i, differentiated through θ'_i (``create_graph=True``):
Σ_i L_Ti(θ'_i). Like the paper's implementation, the gradient ignores how the *pre-update*
sampling distribution depends on θ (the term ProMP and DiCE later added). The paper's outer
optimiser is TRPO; here it is Adam, which is simpler and enough for this small task.

Parameters carry a leading task dimension, as in :mod:`algorithms.meta.sinusoid`, so a whole
meta-batch of tasks is rolled out and adapted in one batched pass.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from algorithms.meta.sinusoid import init_mlp, mlp, per_task

GOAL_RANGE = 0.5
ACTION_BOUND = 0.1


@dataclass(frozen=True)
class PointNavConfig:
    horizon: int = 100  # H
    trajectories: int = 10  # N per task for each gradient step (the paper: 20)
    meta_batch: int = 10  # tasks per meta-update (the paper: 20)
    inner_lr: float = 0.1  # α (the paper: 0.1)
    meta_lr: float = 3e-3  # Adam (the paper meta-trains with TRPO instead)
    iterations: int = 200  # meta-updates (or, for the pretrained policy, policy-gradient steps)
    hidden: tuple[int, ...] = (32, 32)  # the paper: (100, 100)
    init_std: float = 1.0  # initial σ of the Gaussian policy (rllab's default), before clipping
    gamma: float = 0.99
    meta: bool = True  # False: plain policy gradient on the task mixture (the pretrained policy)
    seed: int = 0


@dataclass
class Rollouts:
    """N trajectories of each of T tasks: obs and actions (T, N, H, 2), rewards (T, N, H)."""

    obs: Tensor
    actions: Tensor
    rewards: Tensor

    def returns(self) -> Tensor:
        """Each task's mean undiscounted return, (T,)."""
        return self.rewards.sum(-1).mean(-1)


def sample_goals(n: int, generator: torch.Generator) -> Tensor:
    """``n`` goals uniform in [−0.5, 0.5]², shape (n, 2)."""
    return GOAL_RANGE * (2 * torch.rand(n, 2, generator=generator) - 1)


def init_policy(generator: torch.Generator, hidden: tuple[int, ...], init_std: float
                ) -> list[Tensor]:
    """[MLP parameters of μ_θ (2 → hidden → 2, ReLU)..., log σ (1, 2)]."""
    log_std = torch.full((1, 2), math.log(init_std)).requires_grad_()
    return [*init_mlp(generator, hidden, n_in=2, n_out=2), log_std]


def log_prob(params: list[Tensor], obs: Tensor, actions: Tensor) -> Tensor:
    """log π_θ(a | s) of the unclipped Gaussian actions, summed over the 2 action dimensions;
    obs and actions (T, N, H, 2) with per-task params (T, ...) → (T, N, H)."""
    t, n, h, _ = obs.shape
    mean = mlp(params[:-1], obs.reshape(t, n * h, 2)).reshape(t, n, h, 2)
    log_std = params[-1].unsqueeze(1)  # (T, 1, 2) → (T, 1, 1, 2)
    z = (actions - mean) / log_std.exp()
    return (-0.5 * z ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


@torch.no_grad()
def rollout(params: list[Tensor], goals: Tensor, n: int, horizon: int,
            generator: torch.Generator) -> Rollouts:
    """``n`` trajectories of π_θi in every task i (goals (T, 2)), all tasks in one batch."""
    t = goals.shape[0]
    pos = torch.zeros(t, n, 2)
    std = params[-1].exp()  # (T, 1, 2)
    obs, actions, rewards = [], [], []
    for _ in range(horizon):
        action = mlp(params[:-1], pos) + std * torch.randn(t, n, 2, generator=generator)
        obs.append(pos)
        actions.append(action)
        pos = pos + action.clamp(-ACTION_BOUND, ACTION_BOUND)
        rewards.append(-(pos - goals[:, None, :]).norm(dim=-1))
    return Rollouts(torch.stack(obs, 2), torch.stack(actions, 2), torch.stack(rewards, 2))


def advantages(rewards: Tensor, gamma: float) -> Tensor:
    """Â_t: discounted reward-to-go, minus its mean over each task's trajectories at step t,
    divided by the task's standard deviation of the result; (T, N, H)."""
    to_go = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[..., 0])
    for step in reversed(range(rewards.shape[-1])):
        running = rewards[..., step] + gamma * running
        to_go[..., step] = running
    centred = to_go - to_go.mean(dim=1, keepdim=True)
    return centred / (centred.std(dim=(1, 2), keepdim=True) + 1e-8)


def pg_loss(params: list[Tensor], data: Rollouts, gamma: float) -> Tensor:
    """L_Ti(θ) = −mean_{n,t} log π_θ(a_t | s_t) Â_t for every task, shape (T,)."""
    adv = advantages(data.rewards, gamma)
    return -(log_prob(params, data.obs, data.actions) * adv).mean(dim=(1, 2))


def adapt(params: list[Tensor], data: Rollouts, lr: float, gamma: float,
          create_graph: bool) -> list[Tensor]:
    """One policy-gradient step per task, θ'_i = θ_i − α ∇ L_Ti(θ_i) (per-task params)."""
    grads = torch.autograd.grad(pg_loss(params, data, gamma).sum(), params,
                                create_graph=create_graph)
    return [p - lr * g for p, g in zip(params, grads)]


@dataclass
class MetaRLResult:
    params: list[Tensor]
    returns: list[float] = field(default_factory=list)  # mean post-update (or plain) return
    wall_s: float = 0.0


def train(config: PointNavConfig,
          callback: Callable[[int, list[Tensor]], None] | None = None,
          every: int = 25) -> MetaRLResult:
    """MAML-RL (``meta=True``) or the pretrained policy (``meta=False``: the same loss on
    pre-update trajectories of many goals, no inner step)."""
    generator = torch.Generator().manual_seed(config.seed)
    params = init_policy(generator, config.hidden, config.init_std)
    optimizer = torch.optim.Adam(params, lr=config.meta_lr)
    result, start = MetaRLResult(params), time.perf_counter()
    for iteration in range(config.iterations):
        if callback is not None and iteration % every == 0:
            callback(iteration, params)
        goals = sample_goals(config.meta_batch, generator)
        theta = per_task(params, config.meta_batch)
        pre = rollout(theta, goals, config.trajectories, config.horizon, generator)
        if config.meta:
            adapted = adapt(theta, pre, config.inner_lr, config.gamma, create_graph=True)
            post = rollout(adapted, goals, config.trajectories, config.horizon, generator)
            objective = pg_loss(adapted, post, config.gamma).mean()
            result.returns.append(post.returns().mean().item())
        else:
            objective = pg_loss(theta, pre, config.gamma).mean()
            result.returns.append(pre.returns().mean().item())
        optimizer.zero_grad()
        objective.backward()
        optimizer.step()
    if callback is not None:
        callback(config.iterations, params)
    result.wall_s = time.perf_counter() - start
    return result


def adaptation_returns(params: list[Tensor], goals: Tensor, config: PointNavConfig,
                       steps: int, generator: torch.Generator) -> list[float]:
    """Mean return over the tasks ``goals`` after 0, 1, …, ``steps`` policy-gradient steps of
    size α, each step on N fresh trajectories of the current policy (the paper's test)."""
    theta = [p.detach().clone() for p in per_task(params, goals.shape[0])]
    curve = []
    for step in range(steps + 1):
        data = rollout(theta, goals, config.trajectories, config.horizon, generator)
        curve.append(data.returns().mean().item())
        if step < steps:
            theta = [p.requires_grad_() for p in theta]
            theta = [p.detach() for p in adapt(theta, data, config.inner_lr, config.gamma,
                                                create_graph=False)]
    return curve
