"""Week 11's figures, in forge's one style (``algorithms.plotting``); they only draw."""

from __future__ import annotations

from typing import Any

import numpy as np

from algorithms.plotting import PALETTE, figure


def sae_tradeoff(points: dict[str, list[tuple[float, float, float]]]) -> Any:
    """λ → [(L0, loss recovered, variance explained) per seed]: two panels against L0 (log x),
    one colour per λ, one marker per seed."""
    fig, axes = figure(1, 2, squeeze=False)
    for i, (l1, runs) in enumerate(points.items()):
        l0, recovered, explained = np.asarray(runs, dtype=float).T
        colour = PALETTE[i % len(PALETTE)]
        axes[0, 0].scatter(l0, recovered, color=colour, label=f"λ = {l1}")
        axes[0, 1].scatter(l0, explained, color=colour, label=f"λ = {l1}")
    axes[0, 0].set(title="loss recovered (vs mean ablation)", xlabel="L0 (active features)",
                   ylabel="fraction recovered")
    axes[0, 1].set(title="variance explained", xlabel="L0 (active features)",
                   ylabel="fraction of variance")
    for ax in axes.flat:
        ax.set_xscale("log")
        ax.legend(loc="lower right", fontsize="small")
    return fig


def patching_heatmap(recovery: np.ndarray, tokens: list[str], sites: list[str]) -> Any:
    """Recovered fraction per (site, position): rows the sites, embeddings at the top; columns
    the clean prompt's tokens."""
    fig, ax = figure(figsize=(max(6.0, 0.42 * len(tokens)), 0.5 * len(sites) + 1.8))
    image = ax.imshow(recovery, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(len(tokens)), [t.strip() or "␣" for t in tokens], rotation=60,
                  ha="right", fontsize="small")
    ax.set_yticks(range(len(sites)), sites)
    ax.set(xlabel="position (clean prompt's token)", ylabel="residual-stream site")
    ax.grid(False)
    fig.colorbar(image, ax=ax, label="fraction of the logit difference recovered")
    return fig


def weak_to_strong_bars(accuracies: dict[str, dict[str, list[float]]], labels: list[str]) -> Any:
    """task → arm → per-seed accuracies: one panel per task, the arms side by side."""
    from algorithms.plotting import panel_grid, seed_errorbars

    nrows, ncols = panel_grid(len(accuracies))
    fig, axes = figure(nrows, ncols, squeeze=False)
    for ax in axes.flat[len(accuracies):]:
        ax.set_visible(False)
    for ax, (task, arms) in zip(axes.flat, accuracies.items()):
        for i, (arm, values) in enumerate(arms.items()):
            seed_errorbars(ax, {labels[i]: (np.array([i]), np.asarray(values)[:, None])})
        ax.set_xticks(range(len(arms)), ["weak", "naive", "conf. loss", "ceiling"])
        ax.set(title=task.replace("_", " "), ylabel="test accuracy")
        ax.legend(loc="lower right", fontsize="x-small")
    return fig
