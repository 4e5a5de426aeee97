"""Week 16's figures, in forge's one style (``algorithms.plotting``); they only draw."""

from __future__ import annotations

from typing import Any

import numpy as np

from algorithms.plotting import PALETTE, figure, panel_grid, seed_errorbars


def adaptation_curves(panels: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]) -> Any:
    """Held-out MSE against adaptation steps (log y), one panel per K; panel → label →
    (steps, mse[seed, step]), mean ± 95% interval over seeds, each seed a dot."""
    nrows, ncols = panel_grid(len(panels))
    fig, axes = figure(nrows, ncols, squeeze=False)
    for ax, (panel, lines) in zip(axes.flat, panels.items()):
        seed_errorbars(ax, lines)
        ax.set_yscale("log")
        ax.set(title=panel, xlabel="gradient steps on the K points", ylabel="held-out MSE")
        ax.legend(loc="upper right", fontsize="small")
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    return fig


def adaptation_returns(lines: dict[str, tuple[np.ndarray, np.ndarray]]) -> Any:
    """Return on held-out goals against adaptation steps; label → (steps, return[seed, step])."""
    fig, ax = figure(figsize=(5.6, 4.0))
    seed_errorbars(ax, lines)
    ax.set(title="2-D point navigation", xlabel="policy-gradient adaptation steps",
           ylabel="return")
    ax.set_xticks(lines[next(iter(lines))][0])
    ax.legend(loc="lower right", fontsize="small")
    return fig


def exploitability_curves(average: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]],
                          last: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]) -> Any:
    """Exploitability against iterations (log–log), one panel per game: the mean over seeds of
    the average strategies' (solid) and of the current strategies' (dotted); panel → label →
    (grid, values[seed, point]). No bands: on a log axis a few seeds' t-intervals swamp it."""
    nrows, ncols = panel_grid(len(average))
    fig, axes = figure(nrows, ncols, squeeze=False)
    for ax, (panel, lines) in zip(axes.flat, average.items()):
        for i, (label, (grid, curves)) in enumerate(lines.items()):
            colour = PALETTE[i % len(PALETTE)]
            mean = np.mean(curves, axis=0)
            floor = 1e-5  # a log axis cannot show an exploitability of exactly 0
            ax.plot(grid, np.maximum(mean, floor), color=colour, label=label)
            last_mean = np.mean(last[panel][label][1], axis=0)
            ax.plot(grid, np.maximum(last_mean, floor), color=colour, linestyle=":")
        grid = next(iter(lines.values()))[0]
        ax.plot(grid, 1 / np.sqrt(grid), color="grey", linewidth=0.8, label="1/√t")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(bottom=floor / 2)
        ax.set(title=panel, xlabel="iteration t", ylabel="exploitability (floor 1e-5)")
        ax.legend(loc="lower left", fontsize="x-small")
    for ax in axes.flat[len(average):]:
        ax.set_visible(False)
    return fig


def rps_cycles(fp: Any, hedge: Any) -> Any:
    """The row player's probability of rock against iterations (log x): current strategy and
    running average, fictitious play on the left, Hedge on the right."""
    fig, axes = figure(1, 2, figsize=(8.4, 3.6), sharey=True)
    for ax, (title, play) in zip(axes, (("fictitious play", fp), ("Hedge", hedge))):
        t = np.arange(1, len(play.row) + 1)
        average = np.cumsum(play.row[:, 0]) / t
        if title == "fictitious play":
            ax.scatter(t, play.row[:, 0], s=2, color=PALETTE[1], label="played (rock = 1)")
        else:
            ax.plot(t, play.row[:, 0], color=PALETTE[1], linewidth=0.8, label="current")
        ax.plot(t, average, color=PALETTE[0], label="average")
        ax.axhline(1 / 3, color="black", linestyle=":", linewidth=1.0, label="Nash (1/3)")
        ax.set_xscale("log")
        ax.set(title=title, xlabel="iteration t", ylabel="P(rock)")
        ax.legend(loc="upper right", fontsize="x-small")
    return fig
