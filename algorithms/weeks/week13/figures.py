"""Week 13's figures, in forge's one style (``algorithms.plotting``); they only draw."""

from __future__ import annotations

from typing import Any

import numpy as np

from algorithms.plotting import PALETTE, figure


def isoflop_profiles(profiles: dict[str, tuple[np.ndarray, np.ndarray, Any]]) -> Any:
    """Loss against parameters (log x), one colour per compute budget: label →
    (N, loss, parabola in log N or None), each profile's fitted minimum marked."""
    fig, ax = figure(figsize=(6.2, 3.9))
    for i, (label, (n, loss, parabola)) in enumerate(profiles.items()):
        colour = PALETTE[i % len(PALETTE)]
        ax.scatter(n, loss, color=colour, s=18, label=label)
        if parabola is not None:
            grid = np.geomspace(n.min() / 1.3, n.max() * 1.3, 100)
            ax.plot(grid, np.polyval(parabola, np.log(grid)), color=colour, linewidth=1.0)
            vertex = -parabola[1] / (2 * parabola[0]) if parabola[0] > 0 else None
            if vertex is not None:
                ax.axvline(np.exp(vertex), color=colour, linestyle=":", linewidth=0.8)
    ax.set_xscale("log")
    ax.set(xlabel="parameters N (embeddings included)", ylabel="final validation loss")
    ax.legend(loc="best", fontsize="small")
    return fig


def frontier(compute: np.ndarray, n_opt: np.ndarray, lines: dict[str, tuple[float, float]]
             ) -> Any:
    """The loss-minimising N at each compute budget (log-log), with lines N = k · C^a:
    label → (k, a)."""
    fig, ax = figure(figsize=(6.0, 3.6))
    ax.scatter(compute, n_opt, color=PALETTE[0], zorder=3, label="IsoFLOP minima")
    grid = np.geomspace(compute.min() / 2, compute.max() * 2, 50)
    for i, (label, (k, a)) in enumerate(lines.items()):
        ax.plot(grid, k * grid ** a, color=PALETTE[(i + 1) % len(PALETTE)], label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set(xlabel="training compute C (FLOPs)", ylabel="compute-optimal parameters N*")
    ax.legend(loc="best", fontsize="small")
    return fig


def predicted_vs_observed(observed: np.ndarray, predicted: dict[str, np.ndarray]) -> Any:
    """Each law's prediction against the measured loss; the diagonal is a perfect fit."""
    fig, ax = figure(figsize=(4.6, 4.2))
    low, high = float(np.nanmin(observed)), float(np.nanmax(observed))
    for i, (label, values) in enumerate(predicted.items()):
        ax.scatter(observed, values, color=PALETTE[i % len(PALETTE)], s=16, label=label)
    ax.plot([low, high], [low, high], color="black", linestyle=":", linewidth=1.0)
    ax.set(xlabel="measured validation loss", ylabel="fitted law's loss")
    ax.legend(loc="best", fontsize="small")
    return fig
