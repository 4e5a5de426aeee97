"""MAML and first-order MAML (Finn, Abbeel & Levine 2017, "Model-Agnostic Meta-Learning for Fast
Adaptation of Deep Networks", Algorithm 2, supervised regression).

For each task T_i of a meta-batch, the inner step adapts the shared parameters on K support
points (Eq. 1, here with ``inner_steps`` steps):

    θ'_i = θ − α ∇_θ L_Ti(θ)                                              (Eq. 1)

and the meta-objective is the loss of the adapted parameters on fresh query points of the same
task, minimised over θ by Adam (Eq. 2–3):

    min_θ  Σ_i L_Ti(θ'_i) = Σ_i L_Ti(θ − α ∇_θ L_Ti(θ))

Its gradient goes *through* the inner step, ∇_θ L(θ') = (I − α ∇²_θ L_tr(θ)) ∇_θ' L(θ'): MAML
keeps the Hessian term by building the inner gradient with ``create_graph=True``; first-order
MAML (FOMAML, §5.2) treats ∇_θ L_tr as a constant, which drops it and leaves ∇_θ' L(θ').

The network is any pure function ``loss(params, x, y) -> per-task losses (T,)`` of per-task
parameter views (``sinusoid.per_task``), so one call adapts the whole meta-batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from algorithms.meta.sinusoid import Callback, TrainResult, init_mlp, mse, per_task, sample_tasks

Loss = Callable[[list[Tensor], Tensor, Tensor], Tensor]


def adapt(params: list[Tensor], loss: Loss, x: Tensor, y: Tensor, lr: float, steps: int,
          create_graph: bool) -> list[Tensor]:
    """``steps`` inner gradient steps θ ← θ − α ∇_θ Σ_i L_Ti(θ_i) on per-task parameters (T, ...)
    (Eq. 1). The sum's gradient with respect to task i's parameters is ∇L_Ti alone.
    ``create_graph=True`` keeps the step differentiable (MAML); False detaches the inner
    gradient (first-order MAML, and plain fine-tuning at test time)."""
    for _ in range(steps):
        grads = torch.autograd.grad(loss(params, x, y).sum(), params, create_graph=create_graph)
        params = [p - lr * g for p, g in zip(params, grads)]
    return params


def meta_loss(params: list[Tensor], loss: Loss, support: tuple[Tensor, Tensor],
              query: tuple[Tensor, Tensor], lr: float, steps: int = 1,
              first_order: bool = False) -> Tensor:
    """The meta-objective 1/T Σ_i L_Ti(θ'_i): each task adapted on its support points and
    scored on its query points. Differentiate it with respect to the shared ``params``."""
    n_tasks = support[0].shape[0]
    adapted = adapt(per_task(params, n_tasks), loss, *support, lr, steps,
                    create_graph=not first_order)
    return loss(adapted, *query).mean()


def meta_gradient(params: list[Tensor], loss: Loss, support: tuple[Tensor, Tensor],
                  query: tuple[Tensor, Tensor], lr: float, steps: int = 1,
                  first_order: bool = False) -> list[Tensor]:
    """∇_θ of :func:`meta_loss`: MAML's (second-order) or FOMAML's meta-gradient."""
    return list(torch.autograd.grad(meta_loss(params, loss, support, query, lr, steps,
                                              first_order), params))


def adaptation_curve(params: list[Tensor], loss: Loss, support: tuple[Tensor, Tensor],
                     query: tuple[Tensor, Tensor], lr: float, steps: int) -> list[float]:
    """Mean query loss over tasks after 0, 1, …, ``steps`` plain gradient steps of size ``lr``
    on the support points (the test-time fine-tuning every method gets)."""
    n_tasks = support[0].shape[0]
    theta = [p.detach().clone().requires_grad_() for p in per_task(params, n_tasks)]
    curve = []
    for step in range(steps + 1):
        with torch.no_grad():
            curve.append(loss(theta, *query).mean().item())
        if step < steps:
            theta = [p.detach().requires_grad_()
                     for p in adapt(theta, loss, *support, lr, 1, create_graph=False)]
    return curve


@dataclass(frozen=True)
class MAMLConfig:
    """Finn et al. §5.1's sinusoid settings; ``first_order`` selects FOMAML."""

    shots: int = 10  # K support points (and K query points) per task
    meta_batch: int = 25  # tasks per meta-update
    inner_lr: float = 0.01  # α
    inner_steps: int = 1  # gradient steps in the inner loop while meta-training
    meta_lr: float = 1e-3  # β, Adam
    iterations: int = 2_000  # meta-updates (the paper: 70 000)
    first_order: bool = False
    seed: int = 0


def train_maml(config: MAMLConfig, callback: Callback | None = None,
               every: int = 100) -> TrainResult:
    """Algorithm 2 on the sinusoid tasks: every iteration samples a meta-batch of tasks, K
    support and K query points each, and takes one Adam step on the meta-objective.
    ``callback(iteration, params)`` is called every ``every`` iterations and at the end."""
    generator = torch.Generator().manual_seed(config.seed)
    params = init_mlp(generator)
    optimizer = torch.optim.Adam(params, lr=config.meta_lr)
    losses, start = [], time.perf_counter()
    for iteration in range(config.iterations):
        if callback is not None and iteration % every == 0:
            callback(iteration, params)
        tasks = sample_tasks(config.meta_batch, generator)
        support = tasks.sample(config.shots, generator)
        query = tasks.sample(config.shots, generator)
        objective = meta_loss(params, mse, support, query, config.inner_lr,
                              config.inner_steps, config.first_order)
        optimizer.zero_grad()
        objective.backward()
        optimizer.step()
        losses.append(objective.item())
    if callback is not None:
        callback(config.iterations, params)
    return TrainResult(params, losses, time.perf_counter() - start)
