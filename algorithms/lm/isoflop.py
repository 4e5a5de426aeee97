"""IsoFLOP profiles: the compute-optimal size and tokens, N_opt(C) and D_opt(C), from runs at
fixed budgets (Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", §3.2,
their approach 2).

Runs (N, D, L) are grouped by compute budget C ≈ 6ND FLOPs (the paper's approximation of a
transformer's training cost). Along one budget the loss against log N is U-shaped; as the
paper does, a parabola is fitted to each profile,

    L ≈ c₀ + c₁ x + c₂ x²,   x = log N,   N_opt(C) = exp(−c₁ / (2 c₂)),                 (P)

and D_opt(C) = C / (6 N_opt(C)). Then the two power laws

    N_opt ∝ C^a,   D_opt ∝ C^b                                                           (S)

are least-squares lines in log–log space. Since log D_opt = log(C/6) − log N_opt at the same
budgets, the fitted b is exactly 1 − a; both are reported, as in the paper's Table 2
(a = 0.49, b = 0.51 for approach 2).

Uncertainty: percentile 95% intervals over bootstrap refits of (P) and (S), each resample drawing
every budget's runs with replacement within that budget (a budget's runs are the profile; the
budgets are the design). Resamples in which a profile has fewer than 3 distinct sizes or opens
downward have no minimum; they are skipped and counted in ``method``.

The parabola is a local approximation of the profile. For L = E + A/N^α + B/D^β the profile in
u = log N − log N*(C) is the same curve at every C, scaled and shifted, so the parabola's
minimum is off the true one by an amount fixed by the sampled window of u: when every budget
samples the same window, noise-free losses give the exponents exactly and the prefactors carry
the offset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class IsoFLOPFit:
    """Per-budget minima of (P) (arrays over ``budgets``, ascending) and the fitted (S),
    N_opt = k_n · C^a and D_opt = k_d · C^b, with bootstrap 95% intervals. ``inside`` marks the
    minima within the sizes their profile sampled (outside, (P) is extrapolated)."""

    budgets: np.ndarray
    n_opt: np.ndarray
    d_opt: np.ndarray
    loss_opt: np.ndarray
    inside: np.ndarray
    n_opt_ci: np.ndarray
    """(n_budgets, 2): the bootstrap interval of each N_opt."""
    a: float
    k_n: float
    b: float
    k_d: float
    a_ci: tuple[float, float]
    b_ci: tuple[float, float]
    n_runs: int
    method: str

    def predict_n_opt(self, c: np.ndarray) -> np.ndarray:
        """N_opt(C) = k_n · C^a of (S)."""
        return self.k_n * np.asarray(c, dtype=np.float64) ** self.a

    def predict_d_opt(self, c: np.ndarray) -> np.ndarray:
        """D_opt(C) = k_d · C^b of (S)."""
        return self.k_d * np.asarray(c, dtype=np.float64) ** self.b

    def summary(self) -> dict[str, float]:
        """a, b and their interval bounds as flat keys (a, a_lo, a_hi, …)."""
        return {"a": self.a, "a_lo": self.a_ci[0], "a_hi": self.a_ci[1], "b": self.b,
                "b_lo": self.b_ci[0], "b_hi": self.b_ci[1], "n_budgets": float(len(self.budgets)),
                "n_runs": float(self.n_runs)}


def _parabola_minimum(log_n: np.ndarray, losses: np.ndarray) -> tuple[float, float] | None:
    """(log N_opt, L at it) of (P) fitted by least squares; None when there is no minimum
    (under 3 distinct sizes, or a profile opening downward)."""
    if len(np.unique(log_n)) < 3:
        return None
    centre = log_n.mean()  # conditions the Vandermonde matrix: log N ~ 20 otherwise
    c2, c1, c0 = np.polyfit(log_n - centre, losses, 2)
    if not c2 > 0:
        return None
    return centre - c1 / (2 * c2), c0 - c1**2 / (4 * c2)


def _group(n: np.ndarray, d: np.ndarray, budgets: Sequence[float] | None,
           log_c_resolution: float) -> tuple[np.ndarray, list[np.ndarray]]:
    """(C of each budget ascending, the indices of each budget's runs)."""
    if budgets is not None:
        labels = np.asarray(budgets, dtype=np.float64)
        if labels.shape != n.shape or not np.isfinite(labels).all() or (labels <= 0).any():
            raise ValueError(f"budgets must be one positive FLOP count per run ({n.shape}), "
                             f"got shape {labels.shape}")
        values = np.unique(labels)
        return values, [np.flatnonzero(labels == c) for c in values]
    if not log_c_resolution > 0:
        raise ValueError(f"log_c_resolution must be positive, got {log_c_resolution}")
    log_c = np.log10(6.0 * n * d)
    keys = np.round(log_c / log_c_resolution)
    groups = [np.flatnonzero(keys == k) for k in np.unique(keys)]
    # the budget of a group is the geometric mean of its runs' 6ND
    return np.array([10 ** log_c[g].mean() for g in groups]), groups


def _line(log_c: np.ndarray, log_y: np.ndarray) -> tuple[float, float]:
    """(slope, e^intercept) of the least-squares line log y = log k + slope · log C."""
    slope, intercept = np.polyfit(log_c, log_y, 1)
    return float(slope), float(np.exp(intercept))


def fit_isoflop(n_params: Sequence[float], tokens: Sequence[float], losses: Sequence[float],
                budgets: Sequence[float] | None = None, log_c_resolution: float = 0.1,
                n_boot: int = 1000, seed: int = 0) -> IsoFLOPFit:
    """Approach 2 on runs (N, D, L): (P) on each budget's profile, then (S).

    ``budgets`` gives each run's compute budget C in FLOPs (runs sharing a value form a
    profile); without it runs are grouped by log₁₀(6ND) rounded to multiples of
    ``log_c_resolution`` decades, and a budget is the geometric mean of its runs' 6ND.
    D_opt = C / (6 N_opt). Raises ValueError for fewer than 2 budgets, a budget with fewer than
    3 distinct sizes, or a profile without a minimum."""
    n = np.asarray(n_params, dtype=np.float64)
    d = np.asarray(tokens, dtype=np.float64)
    y = np.asarray(losses, dtype=np.float64)
    if not (n.ndim == d.ndim == y.ndim == 1 and len(n) == len(d) == len(y)):
        raise ValueError(f"n_params, tokens and losses must be 1-D of one length, got "
                         f"{n.shape}, {d.shape}, {y.shape}")
    for name, values in (("n_params", n), ("tokens", d), ("losses", y)):
        if not np.isfinite(values).all() or (values <= 0).any():
            raise ValueError(f"{name} must be finite and positive")
    c, groups = _group(n, d, budgets, log_c_resolution)
    if len(c) < 2:
        raise ValueError(f"a line in log C needs at least 2 compute budgets, got {len(c)}")
    log_n, log_c = np.log(n), np.log(c)

    minima = []
    for budget, g in zip(c, groups, strict=True):
        if len(np.unique(n[g])) < 3:
            raise ValueError(f"the profile at C = {budget:.3g} has {len(np.unique(n[g]))} "
                             f"distinct sizes; a parabola needs 3")
        found = _parabola_minimum(log_n[g], y[g])
        if found is None:
            raise ValueError(f"the profile at C = {budget:.3g} has no minimum (the fitted "
                             f"parabola opens downward)")
        minima.append(found)
    log_n_opt, loss_opt = (np.array(v) for v in zip(*minima, strict=True))
    log_d_opt = log_c - np.log(6.0) - log_n_opt
    a, k_n = _line(log_c, log_n_opt)
    b, k_d = _line(log_c, log_d_opt)

    rng, boot_n, boot_ab, failed = np.random.default_rng(seed), [], [], 0
    for _ in range(n_boot):
        found = [_parabola_minimum(log_n[idx], y[idx]) for idx in
                 (g[rng.integers(0, len(g), size=len(g))] for g in groups)]
        if any(f is None for f in found):
            failed += 1
            continue
        resampled = np.array([f[0] for f in found])
        boot_n.append(resampled)
        boot_ab.append((np.polyfit(log_c, resampled, 1)[0],
                        np.polyfit(log_c, log_c - np.log(6.0) - resampled, 1)[0]))
    if boot_ab:
        n_ci = np.exp(np.percentile(np.array(boot_n), [2.5, 97.5], axis=0)).T
        (a_lo, b_lo), (a_hi, b_hi) = np.percentile(np.array(boot_ab), [2.5, 97.5], axis=0)
    else:
        n_ci, a_lo, a_hi, b_lo, b_hi = np.full((len(c), 2), np.nan), *[np.nan] * 4
    inside = np.array([n[g].min() <= np.exp(v) <= n[g].max()
                       for g, v in zip(groups, log_n_opt, strict=True)])
    return IsoFLOPFit(c, np.exp(log_n_opt), np.exp(log_d_opt), loss_opt, inside, n_ci, a, k_n,
                      b, k_d, (float(a_lo), float(a_hi)), (float(b_lo), float(b_hi)), len(y),
                      f"parabola per budget, bootstrap over runs within budgets ({n_boot} "
                      f"resamples, {failed} failed)")
