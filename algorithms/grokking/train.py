"""Full-batch AdamW on modular addition, with the progress measures at every evaluation.

Nanda et al. (2023), "Progress Measures for Grokking via Mechanistic Interpretability", §3 and
appendix: every step is one gradient of the mean cross-entropy over the whole training set,

    L(θ) = −(1/|D|) Σ_{(a,b) ∈ D} log softmax(f_θ(a, b, =)_last)[(a + b) mod p]

(the log-softmax in float64, see ``progress.py``), taken by AdamW (Loshchilov & Hutter 2019,
"Decoupled Weight Decay Regularization", Algorithm 2) with decay λ on every parameter:

    m ← β₁ m + (1 − β₁) g,   v ← β₂ v + (1 − β₂) g²,   θ ← θ − η_t (m̂ / (√v̂ + ε) + λ θ)

η_t = η · min((t + 1)/warmup_steps, 1) at step t = 0, 1, ...: a linear warm-up, full after
``warmup_steps`` steps (the authors' ``LambdaLR(min(t/10, 1))`` is the same shifted by one, its
first step at η = 0). Their setting: p = 113, 30% of the pairs, η = 1e-3, λ = 1, β = (0.9,
0.98), 10 warm-up steps, 40k steps (:class:`GrokConfig`'s defaults).

Weight decay is the regulariser both papers credit with bringing on generalisation; λ = 0 is
the control. The split, the initialisation and every step are a function of ``seed``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from algorithms.grokking.data import grid_mask, modular_addition
from algorithms.grokking.model import GrokTransformer
from algorithms.grokking.progress import key_frequencies, progress_measures


@dataclass(frozen=True)
class GrokConfig:
    """A grokking run. ``key_frequencies`` fixes the frequencies the restricted and excluded
    losses use (the authors measure every checkpoint against the final network's); None takes
    the current embedding's top ``n_key_frequencies`` at each evaluation."""

    p: int = 113
    train_fraction: float = 0.3
    d_model: int = 128
    n_heads: int = 4
    d_mlp: int = 512
    lr: float = 1e-3
    weight_decay: float = 1.0
    betas: tuple[float, float] = (0.9, 0.98)
    steps: int = 40_000
    warmup_steps: int = 10
    eval_every: int = 100
    seed: int = 0
    device: str = "cpu"
    n_key_frequencies: int = 5
    key_frequencies: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("steps", "eval_every", "n_key_frequencies"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.p < 3 or self.p % 2 == 0:
            raise ValueError(f"p must be odd and >= 3 (the Fourier measures), got {self.p}")
        if self.warmup_steps < 0 or self.lr <= 0 or self.weight_decay < 0:
            raise ValueError("warmup_steps and weight_decay must be >= 0 and lr > 0")
        K = (self.p - 1) // 2
        if not 1 <= self.n_key_frequencies <= K:
            raise ValueError(f"n_key_frequencies must be in 1..{K}")
        keys = self.key_frequencies
        if keys is not None and (not keys or len(set(keys)) != len(keys)
                                 or not all(1 <= k <= K for k in keys)):
            raise ValueError(f"key_frequencies must be distinct, in 1..{K}, got {keys!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GrokResult:
    """``history``: one row of floats per evaluation (step 0, every ``eval_every`` steps, the
    last step): ``step``, ``lr`` (of the step just taken; 0 at step 0), the measures of
    :func:`~algorithms.grokking.progress.progress_measures` but its lists. ``key_frequencies``
    and ``spectra`` hold those lists per row (the frequencies the row's restricted and excluded
    losses used; the embedding spectrum S_1..S_K). ``final_key_frequencies``: the last model's
    top ``n_key_frequencies``, to rerun with fixed frequencies as the authors measure."""

    model: GrokTransformer
    config: GrokConfig
    history: list[dict[str, float]] = field(default_factory=list)
    key_frequencies: list[tuple[int, ...]] = field(default_factory=list)
    spectra: list[list[float]] = field(default_factory=list)
    final_key_frequencies: tuple[int, ...] = ()
    seconds: float = 0.0


def lr_at(step: int, config: GrokConfig) -> float:
    """η_t of the module docstring, for step t = ``step`` (0-based)."""
    if config.warmup_steps == 0:
        return config.lr
    return config.lr * min((step + 1) / config.warmup_steps, 1.0)


def make_optimizer(model: torch.nn.Module, config: GrokConfig) -> torch.optim.AdamW:
    """AdamW over every parameter, one group, λ = ``weight_decay``, as the authors'."""
    return torch.optim.AdamW(model.parameters(), lr=lr_at(0, config), betas=config.betas,
                             weight_decay=config.weight_decay)


def cross_entropy_f64(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean −log softmax(logits)[label], the log-softmax in float64."""
    logp = F.log_softmax(logits.double(), dim=-1)
    return -logp.gather(-1, labels[:, None]).mean()


def milestones(history: list[dict[str, float]]) -> dict[str, int | None]:
    """The first evaluated step at which train accuracy is 1 (``memorised``) and test accuracy
    reaches 0.5 and 0.95 (``test_50``, ``test_95``); None where it never does."""
    def first(key: str, level: float) -> int | None:
        return next((int(row["step"]) for row in history if row[key] >= level), None)

    return {"memorised": first("train_acc", 1.0), "test_50": first("test_acc", 0.5),
            "test_95": first("test_acc", 0.95)}


def train_grokking(config: GrokConfig,
                   on_log: Callable[[dict[str, float]], None] | None = None) -> GrokResult:
    """Train :class:`GrokTransformer` on :func:`modular_addition` for ``config.steps`` steps;
    every history row is passed to ``on_log`` as it is made."""
    device = torch.device(config.device)
    train_x, train_y, _, _ = modular_addition(config.p, config.train_fraction, config.seed)
    mask = grid_mask(train_x, config.p)
    model = GrokTransformer(config.p, config.d_model, config.n_heads, config.d_mlp,
                            generator=torch.Generator().manual_seed(config.seed)).to(device)
    train_x, train_y = train_x.to(device), train_y.to(device)
    optimizer = make_optimizer(model, config)
    result = GrokResult(model=model, config=config)
    start = time.perf_counter()

    def evaluate(step: int, lr: float) -> None:
        measures = progress_measures(model, mask, config.n_key_frequencies,
                                     config.key_frequencies)
        result.key_frequencies.append(measures.pop("key_frequencies"))
        result.spectra.append(measures.pop("spectrum"))
        row = {"step": step, "lr": lr, **measures}
        result.history.append(row)
        if on_log is not None:
            on_log(row)

    evaluate(0, 0.0)
    for step in range(config.steps):
        lr = lr_at(step, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss = cross_entropy_f64(model(train_x, last_only=True)[:, -1], train_y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        done = step + 1
        if done % config.eval_every == 0 or done == config.steps:
            evaluate(done, lr)
    result.final_key_frequencies = key_frequencies(torch.tensor(result.spectra[-1]),
                                                   config.n_key_frequencies)[0]
    result.seconds = time.perf_counter() - start
    return result
