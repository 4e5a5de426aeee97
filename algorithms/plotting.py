"""The one figure style of forge: every week draws its figures through :func:`figure`.

Matplotlib is switched to the non-interactive Agg backend before pyplot is imported, so figures
render the same on a laptop, in CI and on a headless GPU box. Import this module only on the code
paths that draw, so that importing an experiment module stays cheap.
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (the backend has to be chosen first)

# Okabe & Ito's colour-blind-safe palette; the first colour is for "the method", black for
# references (bounds, book values).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442",
           "#000000")

DPI = 150

STYLE: dict[str, Any] = {
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "figure.titlesize": 12,
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

    ``figsize`` defaults to 4.4 × 3.4 inches per panel; every other keyword goes to
    ``plt.subplots`` (``sharex``, ``squeeze``, ``gridspec_kw``, ...). The layout is constrained,
    so titles, colour bars and legends never overlap.
    """
    plt.rcParams.update(STYLE)
    kw.setdefault("figsize", (4.4 * ncols, 3.4 * nrows))
    return plt.subplots(nrows, ncols, layout="constrained", **kw)


def band_figure(panels: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], ylabel: str,
                title: str = "", xlabel: str = "environment steps",
                hlines: dict[str, float] | None = None, logy: bool = False) -> Any:
    """One panel per key of ``panels``; each maps label → (grid, curves[seed, step])."""
    from algorithms.harness import mean_ci

    n = len(panels)
    fig, axes = figure(1, n, squeeze=False)
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
        ax.legend(loc="best", fontsize=7)
    if title:
        fig.suptitle(title)
    return fig
