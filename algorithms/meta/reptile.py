"""Reptile (Nichol, Achiam & Schulman 2018, "On First-Order Meta-Learning Algorithms",
Algorithm 2, the batched version) on the sinusoid tasks.

For each of n tasks of a meta-batch, start from θ and take k steps of SGD on the task's K
points, ending at φ̃_i = U^k_Ti(θ); then move θ toward the adapted parameters:

    θ ← θ + ε · 1/n Σ_i (φ̃_i − θ)                                         (Algorithm 2)

No second derivatives and no query set: to leading order in the inner step size, (θ − φ̃)/α
is the joint-training gradient plus a term that maximises the inner product of gradients of
different mini-batches of the same task (§5 of the paper), which is what makes θ quick to
adapt. ε is annealed linearly to 0 over training, as in the paper's experiments.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from algorithms.meta.maml import adapt
from algorithms.meta.sinusoid import Callback, TrainResult, init_mlp, mse, per_task, sample_tasks


@dataclass(frozen=True)
class ReptileConfig:
    shots: int = 10  # K points per task: the k inner steps are full-batch SGD on them
    meta_batch: int = 25  # n tasks per outer step
    inner_lr: float = 0.01  # SGD step size of the k inner steps
    inner_steps: int = 5  # k
    outer_lr: float = 1.0  # ε at the start, annealed linearly to 0
    iterations: int = 2_000
    seed: int = 0


def reptile_step(params: list[torch.Tensor], support: tuple[torch.Tensor, torch.Tensor],
                 inner_lr: float, inner_steps: int, outer_lr: float) -> None:
    """One outer update in place: θ ← θ + ε · mean_i (φ̃_i − θ), φ̃_i after k SGD steps."""
    n_tasks = support[0].shape[0]
    adapted = adapt(per_task(params, n_tasks), mse, *support, inner_lr, inner_steps,
                    create_graph=False)
    with torch.no_grad():
        for p, phi in zip(params, adapted):
            p += outer_lr * (phi.mean(dim=0) - p)


def train_reptile(config: ReptileConfig, callback: Callback | None = None,
                  every: int = 100) -> TrainResult:
    """Batched Reptile on fresh sinusoid tasks every iteration. The recorded loss is the mean
    support loss before the inner steps. ``callback(iteration, params)`` is called every
    ``every`` iterations and at the end."""
    generator = torch.Generator().manual_seed(config.seed)
    params = init_mlp(generator)
    losses, start = [], time.perf_counter()
    for iteration in range(config.iterations):
        if callback is not None and iteration % every == 0:
            callback(iteration, params)
        tasks = sample_tasks(config.meta_batch, generator)
        # the meta-learners see 2K points per task and iteration; Reptile trains on all 2K
        support = tasks.sample(2 * config.shots, generator)
        with torch.no_grad():
            losses.append(mse(params, *support).mean().item())
        epsilon = config.outer_lr * (1 - iteration / config.iterations)
        reptile_step(params, support, config.inner_lr, config.inner_steps, epsilon)
    if callback is not None:
        callback(config.iterations, params)
    return TrainResult(params, losses, time.perf_counter() - start)
