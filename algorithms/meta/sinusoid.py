"""The sinusoid regression tasks of Finn, Abbeel & Levine (2017), "Model-Agnostic Meta-Learning
for Fast Adaptation of Deep Networks", §5.1, and the network they regress with.

A task is y = A sin(x − φ) with amplitude A ~ U[0.1, 5.0] and phase φ ~ U[0, π]; its inputs are
x ~ U[−5, 5]. The regressor is an MLP with two hidden layers of 40 ReLU units, written as a pure
function of a list of parameter tensors (``mlp(params, x)``) so that MAML can evaluate it at the
adapted parameters θ' without copying modules. Parameters may carry a leading task dimension:
``params[i]`` of shape (T, ...) holds one network per task, and ``x`` of shape (T, N, 1) one
batch per task, so a whole meta-batch runs as batched matrix products.

Also here: the baseline that is *not* meta-learned, one network trained on all tasks jointly
(Finn et al.'s "pretrained" comparison), which is fine-tuned at test time exactly as MAML is.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

AMPLITUDE = (0.1, 5.0)
PHASE = (0.0, math.pi)
X_RANGE = (-5.0, 5.0)
HIDDEN = (40, 40)


@dataclass(frozen=True)
class SinusoidTasks:
    """T sinusoid tasks: ``amplitude`` and ``phase``, each of shape (T,)."""

    amplitude: Tensor
    phase: Tensor

    def __len__(self) -> int:
        return len(self.amplitude)

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """``n`` points of every task: x ~ U[−5, 5] and y = A sin(x − φ), each (T, n, 1)."""
        lo, hi = X_RANGE
        x = lo + (hi - lo) * torch.rand(len(self), n, 1, generator=generator)
        return x, self.function(x)

    def function(self, x: Tensor) -> Tensor:
        """y = A sin(x − φ) for x of shape (T, n, 1)."""
        return self.amplitude[:, None, None] * torch.sin(x - self.phase[:, None, None])


def sample_tasks(n: int, generator: torch.Generator) -> SinusoidTasks:
    """``n`` tasks with A ~ U[0.1, 5.0] and φ ~ U[0, π] (Finn et al. §5.1)."""
    (a_lo, a_hi), (p_lo, p_hi) = AMPLITUDE, PHASE
    return SinusoidTasks(a_lo + (a_hi - a_lo) * torch.rand(n, generator=generator),
                         p_lo + (p_hi - p_lo) * torch.rand(n, generator=generator))


# ----------------------------------------------------------------------------- the network

def init_mlp(generator: torch.Generator, hidden: tuple[int, ...] = HIDDEN,
             n_in: int = 1, n_out: int = 1) -> list[Tensor]:
    """Leaf parameters [W1, b1, W2, b2, ...] (W: (in, out), b: (1, out)) with PyTorch's
    ``nn.Linear`` initialisation, U(−1/√in, 1/√in) for weights and biases."""
    sizes = (n_in, *hidden, n_out)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / math.sqrt(fan_in)
        for shape in ((fan_in, fan_out), (1, fan_out)):
            params.append((2 * torch.rand(*shape, generator=generator) - 1) * bound)
    return [p.requires_grad_() for p in params]


def mlp(params: list[Tensor], x: Tensor) -> Tensor:
    """The ReLU MLP at ``params``: x @ W + b per layer, ReLU between layers. Broadcasting makes
    one function serve shared parameters (W: (in, out)) and per-task ones (W: (T, in, out))."""
    h = x
    n_layers = len(params) // 2
    for i in range(n_layers):
        h = h @ params[2 * i] + params[2 * i + 1]
        if i < n_layers - 1:
            h = torch.relu(h)
    return h


def mse(params: list[Tensor], x: Tensor, y: Tensor) -> Tensor:
    """Each task's mean squared error, shape (T,): L_Ti(θ) = 1/N Σ_j (f_θ(x_j) − y_j)²."""
    return ((mlp(params, x) - y) ** 2).mean(dim=(-2, -1))


def per_task(params: list[Tensor], n_tasks: int) -> list[Tensor]:
    """Shared parameters viewed as one copy per task, (T, ...): gradients of a sum of per-task
    losses with respect to these views are the per-task gradients."""
    return [p.unsqueeze(0).expand(n_tasks, *p.shape) for p in params]


# ----------------------------------------------------------------------------- the baseline

@dataclass(frozen=True)
class PretrainConfig:
    """One network regressed on all tasks at once (Finn et al. §5.1's "pretrained" baseline)."""

    shots: int = 10  # K points per task per iteration (as many as the meta-learners see)
    meta_batch: int = 25  # tasks per iteration
    lr: float = 1e-3  # Adam
    iterations: int = 2_000
    seed: int = 0


@dataclass
class TrainResult:
    """Trained (shared) parameters, the training loss every iteration and the wall time."""

    params: list[Tensor]
    losses: list[float]
    wall_s: float


Callback = Callable[[int, list[Tensor]], None]


def train_pretrained(config: PretrainConfig, callback: Callback | None = None,
                     every: int = 100) -> TrainResult:
    """min_θ E_T[L_T(θ)] by Adam on fresh tasks every iteration: the best single function for
    the task distribution (≈ 0, the mean sinusoid), with no term that rewards adaptability.
    ``callback(iteration, params)`` is called every ``every`` iterations and at the end."""
    generator = torch.Generator().manual_seed(config.seed)
    params = init_mlp(generator)
    optimizer = torch.optim.Adam(params, lr=config.lr)
    losses, start = [], time.perf_counter()
    for iteration in range(config.iterations):
        if callback is not None and iteration % every == 0:
            callback(iteration, params)
        tasks = sample_tasks(config.meta_batch, generator)
        # the meta-learners see 2K points per task per iteration (support + query): so does this
        x, y = tasks.sample(2 * config.shots, generator)
        loss = mse(params, x, y).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    if callback is not None:
        callback(config.iterations, params)
    return TrainResult(params, losses, time.perf_counter() - start)
