"""The one figure style of forge: every week draws its figures through :func:`figure`.

Matplotlib is switched to the non-interactive Agg backend before pyplot is imported, so figures
render the same on a laptop, in CI and on a headless GPU box. Import this module only on the code
paths that draw, so that importing an experiment module stays cheap.
"""

from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (the backend has to be chosen first)

# Okabe & Ito's colour-blind-safe palette; the first colour is for "the method", black for
# references (bounds, book values).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442",
           "#000000")

DPI = 150
POST_WIDTH_PX = 690
"""How wide a figure is shown in a post (Material's content column): the sizes below are chosen
so that a figure of up to :data:`MAX_PANELS_PER_ROW` default panels still has tick labels of
about 9 px or more there, before any zoom."""
MAX_PANELS_PER_ROW = 3
"""Figures with more panels wrap them into rows (:func:`panel_grid`)."""
PANEL_SIZE = (4.0, 3.2)
"""Inches per panel, width × height, when a figure does not set ``figsize``."""

STYLE: dict[str, Any] = {
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "savefig.bbox": "tight",
    "font.size": 12,
    "axes.titlesize": 13,
    "axes.titleweight": "bold",
    "axes.labelsize": 12,
    "xtick.labelsize": 11.5,
    "ytick.labelsize": 11.5,
    "legend.fontsize": 11,
    "legend.frameon": False,
    "figure.titlesize": 14,
    "figure.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
    "lines.linewidth": 1.6,
    "image.cmap": "viridis",
}


def figure(nrows: int = 1, ncols: int = 1, **kw: Any) -> tuple[plt.Figure, Any]:
    """A new figure in forge's style: ``(fig, axes)`` exactly as ``plt.subplots`` returns them.

    ``figsize`` defaults to :data:`PANEL_SIZE` per panel; every other keyword goes to
    ``plt.subplots`` (``sharex``, ``squeeze``, ``gridspec_kw``, ...). The layout is constrained,
    so titles, colour bars and legends never overlap.
    """
    plt.rcParams.update(STYLE)
    kw.setdefault("figsize", (PANEL_SIZE[0] * ncols, PANEL_SIZE[1] * nrows))
    return plt.subplots(nrows, ncols, layout="constrained", **kw)


def panel_grid(n: int) -> tuple[int, int]:
    """(rows, columns) for ``n`` panels, at most :data:`MAX_PANELS_PER_ROW` per row: a row of
    six panels shown 690 px wide would have unreadable labels."""
    ncols = max(1, min(MAX_PANELS_PER_ROW, n))
    return -(-max(n, 1) // ncols), ncols


def band_figure(panels: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], ylabel: str,
                title: str = "", xlabel: str = "environment steps",
                hlines: dict[str, float] | None = None, logy: bool = False) -> Any:
    """One panel per key of ``panels``; each maps label → (grid, curves[seed, step])."""
    from algorithms.harness import mean_ci

    nrows, ncols = panel_grid(len(panels))
    fig, axes = figure(nrows, ncols, squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (panel, lines) in zip(axes.flat, panels.items()):
        for i, (label, (grid, curves)) in enumerate(lines.items()):
            mean, half = mean_ci(curves)
            colour = PALETTE[i % len(PALETTE)]
            ax.plot(grid, mean, color=colour, label=f"{label} (n={len(curves)})")
            ax.fill_between(grid, mean - half, mean + half, color=colour, alpha=0.2, linewidth=0)
        for name, y in (hlines or {}).items():
            ax.axhline(y, color="black", linestyle=":", linewidth=1.0, label=name)
        ax.set(title=panel, xlabel=xlabel, ylabel=ylabel)
        if logy:
            ax.set_yscale("log")
        ax.legend(loc="best", fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


def seed_errorbars(ax: Any, lines: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """label → (x (k,), values[seed, k]): mean ± 95% interval over seeds, each seed a dot."""
    from algorithms.harness import mean_ci

    for i, (label, (x, values)) in enumerate(lines.items()):
        colour = PALETTE[i % len(PALETTE)]
        values = np.asarray(values, dtype=float)
        mean, half = mean_ci(values)
        ax.errorbar(x, mean, yerr=half, color=colour, marker="o", markersize=4, capsize=3,
                    label=f"{label} (n={len(values)})")
        for row in values:
            ax.scatter(x, row, color=colour, s=8, alpha=0.35, linewidths=0)
