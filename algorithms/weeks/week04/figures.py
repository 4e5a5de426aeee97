"""Week 4's figures beyond the seed studies' band figures (drawing only: the experiments compute
what is drawn and write the captions)."""

from __future__ import annotations

from typing import Any


def bias_variance_figure(curves: dict[str, list[tuple[int, float, float]]]) -> Any:
    """Two panels against n, one line per estimator: the variance of its value targets (log
    scale) and their bias against V^π. ``curves`` maps label → [(n, variance, bias), ...]."""
    from algorithms.plotting import figure

    fig, (left, right) = figure(1, 2)
    for label, points in curves.items():
        ns, variances, biases = zip(*points)
        left.plot(ns, variances, marker="o", label=label)
        right.plot(ns, biases, marker="o", label=label)
    left.set(xlabel="n (steps of μ-data per target)", ylabel="variance of v_s", yscale="log",
             title="variance")
    right.set(xlabel="n (steps of μ-data per target)", ylabel="max_s |E[v_s] − V^π(s)|",
              title="bias against V^π")
    right.legend(fontsize=7)
    return fig
