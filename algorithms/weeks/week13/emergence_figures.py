"""The emergence experiment's figure, in forge's one style (``algorithms.plotting``); it only
draws."""

from __future__ import annotations

from typing import Any

import numpy as np

from algorithms.plotting import PALETTE, figure, seed_errorbars


def two_pictures(params: np.ndarray, scores: dict[int, dict[str, np.ndarray]],
                 independent: dict[int, np.ndarray], labels: dict[str, str]) -> Any:
    """One panel per score (``labels``: name → axis label, in order; the first is exact match),
    each against parameters (log x) with one line per width: ``scores[width][name]`` is
    values[seed, size]. The first panel also draws ``independent[width]`` (p^L, mean over
    seeds) dotted in the width's colour."""
    fig, axes = figure(2, 2, squeeze=False)
    for ax, (name, label) in zip(axes.flat, labels.items()):
        seed_errorbars(ax, {f"width {k} (L = {k + 1})": (params, by_name[name])
                            for k, by_name in scores.items()})
        if ax is axes.flat[0]:
            for i, (k, p_l) in enumerate(independent.items()):
                ax.plot(params, np.mean(p_l, axis=0), color=PALETTE[i % len(PALETTE)],
                        linestyle=":", linewidth=1.2, label=f"p^L, width {k}")
        ax.set_xscale("log")
        ax.set(xlabel="parameters", ylabel=label, title=label.split(" (")[0])
        ax.legend(loc="best", fontsize="x-small")
    return fig
