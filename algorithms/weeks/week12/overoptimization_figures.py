"""The figures of ``overoptimization``: gold (and proxy) reward against d = √KL, the fits of
Gao et al. (2022) dashed."""

from __future__ import annotations

from typing import Any

import numpy as np


def gold_figure(lines: dict[str, tuple]) -> Any:
    """label → (d, gold gain mean, ± half-width, proxy mean or None, ± half-width, fit or
    None): the gold gain with its fitted curve in the left panel, the proxy's reward (when
    given) in the right one, each point mean ± 95% interval."""
    from algorithms.plotting import PALETTE, figure

    with_proxy = any(line[3] is not None for line in lines.values())
    fig, axes = figure(1, 2 if with_proxy else 1, squeeze=False)
    gold_ax = axes[0, 0]
    for i, (label, (d, gold, gold_half, proxy, proxy_half, fit)) in enumerate(lines.items()):
        colour = PALETTE[i % len(PALETTE)]
        gold_ax.errorbar(d, gold, yerr=gold_half, color=colour, marker="o", markersize=4,
                         capsize=3, linestyle="none", label=label)
        if fit is not None and len(d):
            grid = np.linspace(0.0, float(np.max(d)), 100)
            gold_ax.plot(grid, fit.predict(grid), color=colour, linestyle="--", linewidth=1.2)
        if with_proxy and proxy is not None:
            axes[0, 1].errorbar(d, proxy, yerr=proxy_half, color=colour, marker="o",
                                markersize=4, capsize=3, label=label)
    gold_ax.axhline(0.0, color="black", linestyle=":", linewidth=1.0)
    gold_ax.set(xlabel="d = √KL (√nats)", ylabel="gold gain (VADER compound)",
                title="gold reward")
    gold_ax.legend(fontsize="small")
    if with_proxy:
        axes[0, 1].set(xlabel="d = √KL (√nats)", ylabel="proxy reward (std of base samples)",
                       title="proxy reward")
    return fig
