"""Weak-to-strong generalisation (Burns, Izmailov, Kirchner, Baker, Gao, Aschenbrenner, Chen,
Ecoffet, Joglekar, Leike, Sutskever & Wu 2023, "Weak-to-Strong Generalization: Eliciting Strong
Capabilities With Weak Supervision").

A weak supervisor is trained on gold labels; its predictions label a second set of inputs, on
which a strong student is trained; the strong ceiling is the student's model trained on the
gold labels of that set. On held-out inputs, the **performance gap recovered** (§3)

    PGR = (student − weak) / (ceiling − weak)

is 0 when the student only imitates its supervisor and 1 when weak labels cost nothing.

The student's loss is either the naive cross-entropy with the weak soft labels, or the
**auxiliary confidence loss** (§4.3.2, eq. 1) that lets it disagree with its supervisor:

    L_conf(f) = (1 − α) · CE(f(x), f_w(x)) + α · CE(f(x), f̂_t(x))

where f̂_t(x) is the student's own prediction hardened to 0/1 at a threshold t chosen so that
the batch's fraction of positives matches the weak labels' (Burns et al. use the weak labels'
prior), and α rises linearly from 0 to ``alpha_max`` over the first 20% of training.

The classifier is :class:`algorithms.preference.reward_model.RewardModel`: a scalar head on
the last token's hidden state of a pretrained language model, read as a logit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from algorithms.preference.pairs import pad_rows
from algorithms.preference.reward_model import RewardModel


def performance_gap_recovered(weak: float, student: float, ceiling: float) -> float:
    """PGR = (student − weak) / (ceiling − weak); NaN when the ceiling is not above the weak."""
    gap = ceiling - weak
    return float((student - weak) / gap) if gap > 0 else float("nan")


def hardened(probs: Tensor, positive_fraction: float) -> Tensor:
    """0/1 labels: 1 for the ``positive_fraction`` of ``probs`` that are largest (the adaptive
    threshold t of Burns et al. §4.3.2)."""
    k = int(round(positive_fraction * len(probs)))
    labels = torch.zeros_like(probs)
    if k > 0:
        labels[torch.topk(probs, k).indices] = 1.0
    return labels


def confidence_loss(logits: Tensor, weak_probs: Tensor, alpha: float) -> Tensor:
    """Burns et al.'s eq. 1: (1 − α) CE(f, f_w) + α CE(f, f̂_t), binary, mean over the batch."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], not {alpha}")
    target = hardened(torch.sigmoid(logits).detach(), float(weak_probs.mean()))
    return ((1 - alpha) * F.binary_cross_entropy_with_logits(logits, weak_probs)
            + alpha * F.binary_cross_entropy_with_logits(logits, target))


def train_classifier(model: RewardModel, rows: Sequence[Sequence[int]], targets: Sequence[float],
                     steps: int, batch_size: int, lr: float, seed: int,
                     alpha_max: float = 0.0) -> list[float]:
    """Fine-tune ``model`` (backbone and head) with AdamW on ``rows`` against soft ``targets``
    in [0, 1]: the naive cross-entropy when ``alpha_max`` is 0, else the confidence loss with α
    warmed up over the first 20% of the steps. Returns the loss of every step."""
    if len(rows) != len(targets) or not rows:
        raise ValueError(f"need one target per row, and some rows: {len(rows)} and {len(targets)}")
    if steps < 1 or batch_size < 1 or not lr > 0:
        raise ValueError("steps and batch_size must be >= 1 and lr > 0")
    ids, lengths = (torch.as_tensor(a) for a in pad_rows(rows))
    y = torch.as_tensor(np.asarray(targets, dtype=np.float32))
    params = [p for name, p in model.named_parameters() if not name.startswith("backbone.lm_head")]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    rng = np.random.default_rng(seed)
    warmup = max(1, int(0.2 * steps))
    model.train()
    losses = []
    for step in range(steps):
        batch = torch.as_tensor(rng.choice(len(rows), size=min(batch_size, len(rows)),
                                           replace=False))
        logits = model(ids[batch], lengths[batch])
        if alpha_max > 0:
            loss = confidence_loss(logits, y[batch], alpha_max * min(1.0, step / warmup))
        else:
            loss = F.binary_cross_entropy_with_logits(logits, y[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    return losses


@torch.no_grad()
def predict(model: RewardModel, rows: Sequence[Sequence[int]], batch_size: int = 128) -> np.ndarray:
    """P(label = 1) for every row."""
    model.eval()
    out = []
    for start in range(0, len(rows), batch_size):
        ids, lengths = (torch.as_tensor(a) for a in pad_rows(rows[start:start + batch_size]))
        out.append(torch.sigmoid(model(ids, lengths)).numpy())
    return np.concatenate(out)
