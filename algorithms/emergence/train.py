"""Training a language model on the addition family: the loss on the answer only.

Each step draws a fresh batch of problems (``tasks.mixed_batch``: widths uniform on 1 .. K) and
minimises the mean cross-entropy of the answer digits given the prompt and the true answer
prefix,

    L(θ) = −(1 / Σ_i L_i) Σ_i Σ_{t ∈ answer_i} log P_θ(x_t | x_<t)

(a token mean, so a width-k problem weighs k + 1 tokens): the prompt is given, not modelled,
and padding is never a target. The optimiser and schedule are week 8's (``algorithms.lm.train``):
AdamW with decay on matrices only, linear warm-up then cosine decay (:func:`lr_at`), the
gradient's norm clipped. ``algorithms.lm.train.train`` samples windows of a token stream and
cannot mask its loss, hence this loop.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from algorithms.emergence.tasks import mixed_batch
from algorithms.lm.train import TrainConfig, lr_at, make_optimizer

_TRAIN_STREAM = 1  # the problem stream of a seed, apart from its initialisation


def train_addition(model: torch.nn.Module, max_width: int, run: TrainConfig,
                   device: str = "cpu",
                   on_log: Callable[[dict[str, float]], None] | None = None
                   ) -> list[dict[str, float]]:
    """Train ``model`` in place for ``run.steps`` steps of ``run.batch_size`` problems; returns
    the history ``{"step", "lr", "train_loss"}`` every ``run.log_every`` steps (and at the end),
    each row also passed to ``on_log``. The problem stream depends on ``run.seed`` (and the batch
    size) alone, not on the model: every size trained at a seed sees the same problems."""
    model.to(device).train()
    optimizer = make_optimizer(model, run, device)
    rng = np.random.default_rng([run.seed, _TRAIN_STREAM])
    history: list[dict[str, float]] = []
    for step in range(run.steps):
        lr = lr_at(step, run)
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = mixed_batch(max_width, run.batch_size, rng)
        tokens = torch.as_tensor(batch.tokens, device=device)
        answer = torch.as_tensor(batch.answer[:, 1:], device=device)
        logits = model(tokens[:, :-1])  # row t predicts token t + 1
        loss = F.cross_entropy(logits[answer].float(), tokens[:, 1:][answer])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if run.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), run.grad_clip)
        optimizer.step()
        if (step + 1) % run.log_every == 0 or step + 1 == run.steps:
            row = {"step": step + 1, "lr": lr, "train_loss": float(loss.detach())}
            history.append(row)
            if on_log is not None:
                on_log(row)
    return history
