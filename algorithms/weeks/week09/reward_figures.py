"""The figures of ``reward-models``: a reliability diagram and the active-elicitation curves."""

from __future__ import annotations

from typing import Any

import numpy as np


def reliability_diagram(reliabilities: dict[str, Any]) -> Any:
    """Per model: the mean predicted P(a ≻ b) of each bin against the frequency with which a
    won, with the diagonal of perfect calibration; the legend gives each ECE."""
    from algorithms.plotting import PALETTE, figure

    fig, ax = figure(figsize=(4.6, 4.2))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    for i, (label, rel) in enumerate(reliabilities.items()):
        ax.plot(rel.confidence, rel.frequency, marker="o", color=PALETTE[i % len(PALETTE)],
                label=f"{label} (ECE {rel.ece:.3f})")
    ax.set_xlabel("predicted P(a ≻ b)")
    ax.set_ylabel("fraction a is the gold winner")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend()
    return fig


def active_curves(budgets: np.ndarray, curves: dict[str, np.ndarray]) -> Any:
    """Test accuracy against labels, each strategy's mean ± 95% interval over seeds."""
    from algorithms.plotting import figure, seed_errorbars

    fig, ax = figure(figsize=(5.2, 3.6))
    seed_errorbars(ax, {name: (budgets, values) for name, values in curves.items()})
    ax.set_xlabel("labelled pairs")
    ax.set_ylabel("test accuracy (gold ordering)")
    ax.legend()
    return fig
