"""The one seed-study harness: methods × seeds → curves on a common grid, mean and 95%
confidence bands over seeds, summary rows.

A seed study trains every :class:`Method` once per seed, takes a :class:`Measurement` of each
run (curves sampled on one shared grid, per-run scalars, per-update samples), logs each method's
mean curves over seeds, and returns a :class:`SeedStudy` from which an experiment reads its
summary, tables and figure panels::

    study = run_seed_study(tracker, methods, seeds=range(3), measure=measure, grid=grid,
                           prefix="compare")
    summary = study.summary("final_return")                      # {"a2c.final_return": ...}
    tracker.log_table("compare/final_return", ROW_COLUMNS, study.table("final_return"))
    band_figure(study.bands("episodic_return", title="CartPole-v1"), "return")

A method's ``key`` is the one spelling of its name in every metric (``prefix/key/curve``) and
summary key (``key.scalar``, with ``/`` read as ``.``); its ``label`` is the name in tables and
legends. Numpy only: figures are drawn by :mod:`algorithms.plotting`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Student-t 97.5% quantiles for n − 1 degrees of freedom (n seeds), for the 95% CI of a mean.
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
         9: 2.262}

# the columns of :func:`table_rows` (and :meth:`SeedStudy.table`) after the label column
ROW_COLUMNS = ["mean", "ci95", "per_seed"]


# ----------------------------------------------------------------------------- statistics

def curve(episodes: Any, grid: np.ndarray, window: int = 20) -> np.ndarray:
    """The ``window``-episode moving-average return at each grid step (NaN before the first)."""
    steps, returns = np.asarray(episodes.steps), np.asarray(episodes.returns, dtype=float)
    return curve_of(steps, returns, grid, window)


def curve_of(steps: np.ndarray, values: np.ndarray, grid: np.ndarray,
             window: int = 20) -> np.ndarray:
    """The mean of the last ``window`` values recorded at or before each grid step (``steps``
    ascending); NaN at grid steps before the first value."""
    out = np.full(len(grid), np.nan)
    if len(values) == 0:
        return out
    cumsum = np.concatenate([[0.0], np.cumsum(values)])
    idx = np.searchsorted(steps, grid, side="right")  # values recorded by each grid step
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


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation of ``x`` and ``y`` (``scipy.stats.spearmanr``: ties get
    their mean rank); 0 when either is constant, where ρ is undefined and there is no trend."""
    from scipy.stats import spearmanr

    if len(set(x)) < 2 or len(set(y)) < 2:
        return 0.0
    return float(spearmanr(x, y).statistic)


def table_rows(values: dict[str, Sequence[float]]) -> list[list[Any]]:
    """label → per-seed values as rows [label, mean, ci95, per-seed list] (:data:`ROW_COLUMNS`)."""
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


# ----------------------------------------------------------------------------- the study

_KEY = re.compile(r"[a-z0-9_.]+(/[a-z0-9_.]+)*")


@dataclass(frozen=True)
class Method:
    """One arm of a seed study.

    ``key`` names it in metrics and summaries (``"gae_lambda0.9"``; ``"cartpole/ppo"`` nests:
    metric ``prefix/cartpole/ppo/…``, summary ``cartpole.ppo.…``), ``label`` in tables and
    legends (``"GAE λ=0.9"``). ``run(seed)`` trains it once and returns whatever ``measure``
    reads. Methods with a ``panel`` are drawn in that panel of a band figure.
    """

    key: str
    label: str
    run: Callable[[int], Any]
    panel: str = ""

    def __post_init__(self) -> None:
        if not _KEY.fullmatch(self.key):
            raise ValueError(f"method key {self.key!r}: lower-case words joined by '/'")

    def metric(self, prefix: str, name: str) -> str:
        return f"{prefix}/{self.key}/{name}"

    def summary_key(self, name: str) -> str:
        return f"{self.key.replace('/', '.')}.{name}"

    @property
    def row(self) -> str:
        """The method's name in a table that lists the methods of every panel."""
        return f"{self.label} ({self.panel})" if self.panel else self.label


@dataclass(frozen=True)
class Measurement:
    """What a study keeps of one run: ``curves`` sampled on the study's grid, per-run
    ``scalars``, and per-update ``samples`` that are pooled over seeds (medians over updates)."""

    curves: dict[str, np.ndarray] = field(default_factory=dict)
    scalars: dict[str, float] = field(default_factory=dict)
    samples: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class SeedStudy:
    """Every method's measurements, one per seed, in the order of ``seeds``."""

    methods: tuple[Method, ...]
    seeds: tuple[int, ...]
    grid: np.ndarray
    runs: dict[str, list[Measurement]]

    def curves(self, key: str, name: str) -> np.ndarray:
        """Curve ``name`` of method ``key`` for every seed: shape (seeds, grid points)."""
        return np.asarray([run.curves[name] for run in self.runs[key]], dtype=float)

    def scalars(self, key: str, name: str) -> np.ndarray:
        """Scalar ``name`` of method ``key`` for every seed."""
        return np.asarray([run.scalars[name] for run in self.runs[key]], dtype=float)

    def pooled(self, key: str, name: str) -> np.ndarray:
        """Samples ``name`` of method ``key``, all seeds' updates together (empty if none)."""
        parts = [np.asarray(run.samples[name], dtype=float) for run in self.runs[key]
                 if name in run.samples]
        return np.concatenate(parts) if parts else np.zeros(0)

    def summary(self, name: str, reduce: Callable[[np.ndarray], Any] = np.mean,
                as_name: str | None = None) -> dict[str, float]:
        """``{method.summary_key(as_name or name): reduce(scalar over seeds)}`` for every method
        whose runs measured scalar ``name``."""
        return {method.summary_key(as_name or name): float(reduce(self.scalars(method.key, name)))
                for method in self.methods
                if all(name in run.scalars for run in self.runs[method.key])}

    def table(self, name: str) -> list[list[Any]]:
        """Rows [method, mean, ci95, per-seed values] of scalar ``name`` (:data:`ROW_COLUMNS`)."""
        return table_rows({method.row: self.scalars(method.key, name) for method in self.methods})

    def bands(self, name: str, title: str = "") -> dict[str, dict[str, tuple[Any, Any]]]:
        """Curve ``name`` as ``band_figure``'s panels: panel → label → (grid, curves[seed, step]);
        methods without a panel go to the one titled ``title``."""
        panels: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
        for method in self.methods:
            panels.setdefault(method.panel or title, {})[method.label] = (
                self.grid, self.curves(method.key, name))
        return panels


def run_seed_study(tracker: Any, methods: Sequence[Method], seeds: Iterable[int],
                   measure: Callable[[Any, np.ndarray], Measurement], grid: np.ndarray,
                   prefix: str, description: str = "seed study", x: str = "env_step") -> SeedStudy:
    """Train every method on every seed (method-major, one progress bar), measure each run on
    ``grid``, and log each method's mean over seeds of every curve at every grid step where it
    is defined: metric ``prefix/key/curve`` against ``x`` (the grid step, as an integer)."""
    methods, seeds = tuple(methods), tuple(seeds)
    keys = [method.key for method in methods]
    if len(set(keys)) != len(keys):
        raise ValueError(f"method keys must be unique: {keys}")
    runs: dict[str, list[Measurement]] = {key: [] for key in keys}
    by_key = {method.key: method for method in methods}
    jobs = [(key, seed) for key in keys for seed in seeds]
    for key, seed in tracker.track(jobs, total=len(jobs), description=description):
        runs[key].append(measure(by_key[key].run(seed), grid))
    study = SeedStudy(methods, seeds, np.asarray(grid), runs)
    for method in methods:
        names = list(runs[method.key][0].curves) if runs[method.key] else []
        means = {name: nanmean(study.curves(method.key, name), axis=0) for name in names}
        for i, step in enumerate(study.grid):
            metrics = {method.metric(prefix, name): float(mean[i])
                       for name, mean in means.items() if np.isfinite(mean[i])}
            if metrics:
                tracker.log(metrics, step=int(step), x=x)
    return study
