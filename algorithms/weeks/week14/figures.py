"""Week 14's figures (drawing only), in forge's one figure style."""

from __future__ import annotations

from typing import Any

import numpy as np


def variant_errorbars(panels: dict[str, dict[str, np.ndarray]], ylabel: str) -> Any:
    """One panel per environment: each variant's per-seed values as dots and their mean ± 95%
    t-interval, variants along the x-axis in the order given."""
    from algorithms.harness import mean_ci
    from algorithms.plotting import PALETTE, figure, panel_grid

    nrows, ncols = panel_grid(len(panels))
    fig, axes = figure(nrows, ncols, squeeze=False, figsize=(5.0 * ncols, 3.4 * nrows))
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (title, variants) in zip(axes.flat, panels.items()):
        for i, (label, values) in enumerate(variants.items()):
            values = np.asarray(values, dtype=float)
            mean, half = mean_ci(values[:, None])
            colour = PALETTE[i % len(PALETTE)]
            ax.errorbar([i], mean, yerr=half, color=colour, marker="o", capsize=3)
            ax.scatter(np.full(len(values), i), values, color=colour, s=10, alpha=0.4,
                       linewidths=0)
        ax.set_xticks(range(len(variants)), list(variants), rotation=30, ha="right")
        ax.set(title=title, ylabel=ylabel)
    return fig


def value_estimates(lines: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]) -> Any:
    """One panel per method: predicted Q(s₀) (solid) and realised return (dashed) over
    training, each mean ± 95% t-interval over seeds; ``lines`` maps the method's label to
    (grid, q[seed, step], realised[seed, step])."""
    from algorithms.harness import mean_ci
    from algorithms.plotting import PALETTE, figure

    fig, axes = figure(1, len(lines), squeeze=False, sharey=True)
    for ax, (label, (grid, q, g)) in zip(axes.flat, lines.items()):
        for values, name, style, colour in ((q, "max_a Q(s₀, a)", "-", PALETTE[0]),
                                            (g, "realised return", "--", PALETTE[1])):
            mean, half = mean_ci(values)
            ax.plot(grid, mean, style, color=colour, label=f"{name} (n={len(values)})")
            ax.fill_between(grid, mean - half, mean + half, color=colour, alpha=0.2,
                            linewidth=0)
        ax.set(title=label, xlabel="environment steps", ylabel="discounted value from s₀")
        ax.legend(loc="best", fontsize="small")
    return fig
