"""Week 15's figures, in forge's one style (``algorithms.plotting``); they only draw."""

from __future__ import annotations

from typing import Any

import numpy as np

from algorithms.plotting import band_figure, figure, seed_errorbars


def steps_per_episode(bands: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]],
                      shortest: int) -> Any:
    """Figure 8.2: steps per episode against episodes (from episode 2, y up to 800), one line
    per agent; label → (episodes, steps[seed, episode])."""
    trimmed = {panel: {label: (grid[1:], curves[:, 1:]) for label, (grid, curves) in lines.items()}
               for panel, lines in bands.items()}
    fig = band_figure(trimmed, "steps per episode", xlabel="episodes",
                      hlines={f"shortest path ({shortest})": shortest})
    (ax,) = fig.axes
    ax.set_ylim(0, 800)
    ax.set_title("Dyna maze (Figure 8.2)")
    return fig


def cumulative_reward(bands: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]],
                      changes: dict[str, int]) -> Any:
    """Figures 8.4 and 8.5: cumulative reward against time steps, one panel per maze, a dotted
    vertical line where that maze changes."""
    fig = band_figure(bands, "cumulative reward", xlabel="time steps")
    for ax, (panel, step) in zip(fig.axes, changes.items()):
        ax.axvline(step, color="black", linestyle=":", linewidth=1.0)
        ax.set_title(panel)
        ax.legend(loc="upper left", fontsize="small")
    return fig


def updates_until_optimal(lines: dict[str, tuple[np.ndarray, np.ndarray]]) -> Any:
    """Example 8.4: Q updates until optimal against the maze's size (log–log); label →
    (states, updates[seed, size]), mean ± 95% interval over seeds, each seed a dot."""
    fig, ax = figure(figsize=(5.6, 4.0))
    seed_errorbars(ax, lines)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set(title="Example 8.4", xlabel="gridworld size (open cells)",
           ylabel="Q updates until optimal")
    sizes = next(iter(lines.values()))[0]
    ax.set_xticks(sizes, [f"{size:g}" for size in sizes])
    ax.minorticks_off()
    ax.legend(loc="upper left", fontsize="small")
    return fig


def horizon_error(horizons: np.ndarray, error: dict[str, np.ndarray],
                  spread: dict[str, np.ndarray]) -> Any:
    """Two panels against the open-loop horizon h: the ensemble mean's error and the members'
    spread (log y); label → values[seed, h]."""
    fig, (left, right) = figure(1, 2, figsize=(8.4, 3.8))
    seed_errorbars(left, {label: (horizons, values) for label, values in error.items()})
    seed_errorbars(right, {label: (horizons, values) for label, values in spread.items()})
    left.set(title="prediction error", xlabel="open-loop horizon h (steps)",
             ylabel="RMS error (state std units)")
    right.set(title="ensemble spread", xlabel="open-loop horizon h (steps)",
              ylabel="RMS std over members")
    for ax in (left, right):
        ax.set_yscale("log")
        ax.legend(loc="upper left", fontsize="small")
    return fig
