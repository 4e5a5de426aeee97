"""The one seed-study harness: methods × seeds → curves on a common grid, mean and 95%
confidence bands over seeds, summary rows. Numpy only; figures are drawn by
:mod:`algorithms.plotting`."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

# Student-t 97.5% quantiles for n − 1 degrees of freedom (n seeds), for the 95% CI of a mean.
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
         9: 2.262}


def curve(episodes: Any, grid: np.ndarray, window: int = 20) -> np.ndarray:
    """The ``window``-episode moving-average return at each grid step (NaN before the first)."""
    steps, returns = np.asarray(episodes.steps), np.asarray(episodes.returns, dtype=float)
    return curve_of(steps, returns, grid, window)


def curve_of(steps: np.ndarray, values: np.ndarray, grid: np.ndarray, window: int = 20) -> np.ndarray:
    out = np.full(len(grid), np.nan)
    if len(values) == 0:
        return out
    cumsum = np.concatenate([[0.0], np.cumsum(values)])
    idx = np.searchsorted(steps, grid, side="right")  # episodes finished by each grid step
    for i, k in enumerate(idx):
        if k > 0:
            lo = max(0, k - window)
            out[i] = (cumsum[k] - cumsum[lo]) / (k - lo)
    return out


def mean_ci(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over seeds (axis 0) and the half-width of its 95% t-interval."""
    curves = np.asarray(curves, dtype=float)
    n = np.sum(~np.isnan(curves), axis=0)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(curves, axis=0)
        std = np.nanstd(curves, axis=0, ddof=1) if curves.shape[0] > 1 else np.zeros_like(mean)
    t = np.array([_T975.get(int(k) - 1, 1.96) if k > 1 else 0.0 for k in n])
    return mean, np.nan_to_num(t * std / np.sqrt(np.maximum(n, 1)))


def table_rows(values: dict[str, list[float]]) -> list[list[Any]]:
    """label → per-seed values as rows [label, mean, ci95, per-seed list]."""
    rows = []
    for label, xs in values.items():
        arr = np.asarray(xs, dtype=float)
        mean, half = mean_ci(arr[:, None])
        rows.append([label, round(float(mean[0]), 2), round(float(half[0]), 2),
                     " ".join(f"{x:.1f}" for x in arr)])
    return rows


def nanmean(x: Any, axis: int | None = None) -> Any:
    """``np.nanmean`` without the warning for all-NaN columns (grid steps before any episode)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.asarray(x, dtype=float), axis=axis)
