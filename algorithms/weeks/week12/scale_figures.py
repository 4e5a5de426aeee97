"""The figure of ``overoptimization-scale``: best-of-n's gold gain against d = √KL, one line
per proxy data size and one panel per proxy model size, Gao et al.'s (2022) eq. 1 fits dashed."""

from __future__ import annotations

from typing import Any

import numpy as np


def scale_figure(panels: dict[str, dict[str, tuple]], params: dict[str, float]) -> Any:
    """model → {label → (d, gold gain mean, ± half-width, fit)}, ``params`` its non-embedding
    parameter count: one panel per model (smallest first), shared y-axis, each point mean ±
    95% interval, each fit dashed in its line's colour."""
    from algorithms.plotting import PALETTE, figure, panel_grid

    rows, cols = panel_grid(len(panels))
    fig, axes = figure(rows, cols, squeeze=False, sharey=True)
    flat = axes.ravel()
    for ax, (name, lines) in zip(flat, panels.items()):
        for i, (label, (d, gold, half, fit)) in enumerate(lines.items()):
            colour = PALETTE[i % len(PALETTE)]
            ax.errorbar(d, gold, yerr=half, color=colour, marker="o", markersize=3,
                        capsize=2, linestyle="none", label=label)
            grid = np.linspace(0.0, float(np.max(d)), 100)
            ax.plot(grid, fit.predict(grid), color=colour, linestyle="--", linewidth=1.0)
        ax.axhline(0.0, color="black", linestyle=":", linewidth=1.0)
        ax.set(xlabel="d = √KL (√nats)", title=f"{name} ({params[name]:,.0f} params)")
    for ax in axes[:, 0]:
        ax.set_ylabel("gold gain (VADER compound)")
    flat[0].legend(fontsize="small", title="proxy trained on")
    for ax in flat[len(panels):]:
        ax.set_visible(False)
    return fig
