"""Fitting reward models to preference pairs: a whole backbone with its head, or a linear head
alone on frozen features.

Both minimise the pairwise loss of ``reward_model.py`` (InstructGPT eq. 1),

    loss = −mean log σ(r(x, y_w) − r(x, y_l) − m),

by AdamW on minibatches of pairs drawn without replacement each epoch.

* :func:`train_reward_model` fine-tunes a :class:`~algorithms.preference.reward_model.RewardModel`
  end to end: the *separate tower*, a backbone of its own initialised from the base model, as
  InstructGPT's 6B reward model is initialised from a supervised policy.
* :func:`fit_linear_head` fits r(x, y) = w · h(x, y) on fixed features h: a frozen
  backbone's (:func:`backbone_features`), or the token counts of a bag of tokens
  (:func:`token_counts`). With a backbone's features it is the *shared tower*, whose features are the policy's own; only d numbers are learned
  (the bias cancels in every difference). Cheap enough to refit many times, which is what
  ensembles of bootstrap resamples and active elicitation need.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from algorithms.preference.pairs import pad_rows
from algorithms.preference.reward_model import RewardModel, pairwise_reward_loss


def _rows(rows: Sequence[Sequence[int]], device: str) -> tuple[Tensor, Tensor]:
    ids, lengths = pad_rows(rows)
    return torch.as_tensor(ids, device=device), torch.as_tensor(lengths, device=device)


def train_reward_model(model: RewardModel, chosen: Sequence[Sequence[int]],
                       rejected: Sequence[Sequence[int]], steps: int, batch_size: int,
                       lr: float, seed: int, weight_decay: float = 0.0,
                       margin: Sequence[float] | None = None,
                       on_log: Callable[[dict[str, float]], None] | None = None,
                       log_every: int = 25) -> list[dict[str, float]]:
    """Fine-tune ``model`` (backbone and head) for ``steps`` AdamW steps on minibatches of
    ``batch_size`` pairs (``chosen[i]`` preferred to ``rejected[i]``, full token rows), with a
    constant learning rate after a 10% linear warm-up; ``margin`` one m per pair (Llama 2).
    Returns the logged rows (step, loss, accuracy, margin), each passed to ``on_log``."""
    if len(chosen) != len(rejected) or not chosen:
        raise ValueError(f"need as many chosen as rejected rows, and some: {len(chosen)} and "
                         f"{len(rejected)}")
    if steps < 1 or batch_size < 1 or not lr > 0:
        raise ValueError("steps and batch_size must be >= 1 and lr > 0")
    device = next(model.parameters()).device.type
    model.train()
    params = [p for name, p in model.named_parameters()
              if p.requires_grad and not name.startswith("backbone.lm_head")]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    warmup = max(1, steps // 10)
    rng = np.random.default_rng(seed)
    order, cursor, history = rng.permutation(len(chosen)), 0, []
    m_all = None if margin is None else np.asarray(margin, dtype=np.float32)
    for step in range(steps):
        if cursor + batch_size > len(order):
            order, cursor = rng.permutation(len(chosen)), 0
        idx = order[cursor:cursor + batch_size]
        cursor += batch_size
        for group in optimizer.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / warmup)
        c_ids, c_len = _rows([chosen[i] for i in idx], device)
        r_ids, r_len = _rows([rejected[i] for i in idx], device)
        m = 0.0 if m_all is None else torch.as_tensor(m_all[idx], device=device)
        loss, stats = pairwise_reward_loss(model(c_ids, c_len), model(r_ids, r_len), m)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % log_every == 0 or step == steps - 1:
            row = {"step": float(step), **stats.metrics()}
            history.append(row)
            if on_log is not None:
                on_log(row)
    model.eval()
    return history


@torch.no_grad()
def rewards_of(model: RewardModel, rows: Sequence[Sequence[int]], batch_size: int = 64
               ) -> np.ndarray:
    """r(x, y) of every full token row, ``(n,)``."""
    device = next(model.parameters()).device.type
    was_training = model.training
    model.eval()
    out = [model(*_rows(rows[i:i + batch_size], device)).float().cpu().numpy()
           for i in range(0, len(rows), batch_size)]
    model.train(was_training)
    return np.concatenate(out)


@torch.no_grad()
def backbone_features(backbone, rows: Sequence[Sequence[int]], batch_size: int = 64,
                        pooling: str = "last") -> np.ndarray:
    """The frozen ``backbone``'s final hidden state at each row's last token, ``(n, d)``, or
    (``pooling="sum"``) its sum over the row's tokens: what a reward head on it reads (a
    linear head commutes with the sum)."""
    device = next(backbone.parameters()).device.type
    was_training = backbone.training
    backbone.eval()
    out = []
    for i in range(0, len(rows), batch_size):
        ids, lengths = _rows(rows[i:i + batch_size], device)
        hidden = backbone.hidden_states(ids)
        if pooling == "sum":
            real = torch.arange(ids.shape[1], device=device)[None, :] < lengths[:, None]
            out.append((hidden * real[..., None]).sum(1).float().cpu())
        elif pooling == "last":
            out.append(hidden[torch.arange(len(ids), device=device), lengths - 1].float().cpu())
        else:
            raise ValueError(f"unknown pooling {pooling!r}; known: last, sum")
    backbone.train(was_training)
    return torch.cat(out).numpy()


def token_counts(rows: Sequence[Sequence[int]], vocab_size: int) -> np.ndarray:
    """Each row's count of every token, ``(n, vocab_size)``: the features of a bag-of-tokens
    reward r = Σ_t u[token_t] = u · counts, fitted by :func:`fit_linear_head`. Tokens a pair's
    two rows share (its prompt) cancel in every difference."""
    counts = np.zeros((len(rows), vocab_size), dtype=np.float32)
    for i, row in enumerate(rows):
        np.add.at(counts[i], list(row), 1.0)
    return counts


def fit_linear_head(chosen: np.ndarray, rejected: np.ndarray, steps: int = 300,
                    lr: float = 0.05, weight_decay: float = 1e-3, seed: int = 0) -> np.ndarray:
    """w minimising −mean log σ(w · (h_w − h_l)) + ``weight_decay`` · |w|²/2 over the pairs'
    features ``(n, d)`` each, by full-batch Adam: a logistic regression on feature
    differences, with no intercept (a reward's constant cancels in every pair)."""
    if chosen.shape != rejected.shape or chosen.ndim != 2 or len(chosen) == 0:
        raise ValueError(f"chosen {chosen.shape} and rejected {rejected.shape} features must "
                         "be the same (n, d), n >= 1")
    generator = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(chosen - rejected, dtype=torch.float32)
    w = (torch.randn(x.shape[1], generator=generator) * 0.01).requires_grad_()
    optimizer = torch.optim.Adam([w], lr=lr)
    for _ in range(steps):
        loss = -torch.nn.functional.logsigmoid(x @ w).mean() + weight_decay * 0.5 * (w @ w)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return w.detach().numpy()
