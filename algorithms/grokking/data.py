"""Modular addition as a sequence task: "a b =" → (a + b) mod p.

Power et al. (2022), "Grokking: Generalization Beyond Overfitting on Small Algorithmic Datasets",
train on a fraction of the table of a binary operation and test on the rest; Nanda et al.
(2023), "Progress Measures for Grokking via Mechanistic Interpretability", §3, take the operation
a + b mod p and write each input as three tokens: a, b (ids 0..p−1) and '=' (id p). The model
predicts c = (a + b) mod p at the last position.

All p² pairs are shuffled once with a seeded generator and the first ⌊fraction · p²⌋ are the
training set, the rest the test set (the authors' ``gen_train_test``). The grid order used by
:mod:`algorithms.grokking.progress` is a-major: pair (a, b) is row a · p + b of :func:`all_pairs`.
"""

from __future__ import annotations

import torch
from torch import Tensor


def equals_token(p: int) -> int:
    """The id of '=': the one token after the p numbers (the vocabulary has p + 1 tokens)."""
    return p


def all_pairs(p: int) -> tuple[Tensor, Tensor]:
    """Every input ``(p², 3)`` as rows [a, b, '='] in a-major order, and its answers ``(p²,)``."""
    if not isinstance(p, int) or p < 2:
        raise ValueError(f"p must be an integer >= 2, got {p!r}")
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    a, b = a.reshape(-1), b.reshape(-1)
    x = torch.stack([a, b, torch.full_like(a, equals_token(p))], dim=1)
    return x, (a + b) % p


def split_indices(p: int, train_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """The a-major grid indices (a · p + b) of the training and the test pairs: a seeded
    permutation of all p² pairs, its first ⌊train_fraction · p²⌋ for training."""
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction!r}")
    n_train = int(train_fraction * p * p)
    if not 0 < n_train < p * p:
        raise ValueError(f"train_fraction {train_fraction} of {p * p} pairs leaves an empty "
                         f"training or test set")
    order = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))
    return order[:n_train], order[n_train:]


def modular_addition(p: int, train_fraction: float = 0.3,
                     seed: int = 0) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(train_x, train_y, test_x, test_y)``: inputs ``(n, 3)`` of [a, b, '='] and answers
    (a + b) mod p, every one of the p² pairs in exactly one of the two sets."""
    x, y = all_pairs(p)
    train, test = split_indices(p, train_fraction, seed)
    return x[train], y[train], x[test], y[test]


def grid_mask(x: Tensor, p: int) -> Tensor:
    """A ``(p, p)`` bool mask, True at [a, b] for every input row [a, b, '='] of ``x``."""
    mask = torch.zeros(p, p, dtype=torch.bool)
    mask[x[:, 0].cpu(), x[:, 1].cpu()] = True
    return mask
