"""The figure of ``preference-data``: the gold rewards of the base model's continuations."""

from __future__ import annotations

from typing import Any

import numpy as np


def reward_histogram(rewards: np.ndarray, lengths: np.ndarray) -> Any:
    """Left: the distribution of gold rewards (VADER compound); right: reward against the
    continuation's length in tokens."""
    from algorithms.plotting import PALETTE, figure

    fig, (left, right) = figure(1, 2, figsize=(9, 3.4))
    left.hist(rewards, bins=np.linspace(-1, 1, 41), color=PALETTE[0])
    left.set_xlabel("gold reward (VADER compound)")
    left.set_ylabel("continuations")
    right.scatter(lengths, rewards, s=8, alpha=0.4, color=PALETTE[1], linewidths=0)
    right.set_xlabel("continuation length (tokens)")
    right.set_ylabel("gold reward")
    return fig
