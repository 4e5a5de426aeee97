"""A language model's loss against its size, L(N) = E + A · N^(−α), fitted with its uncertainty.

Kaplan et al. 2020 ("Scaling Laws for Neural Language Models", eq. 1.1) write the
parameter-limited loss as a pure power law L(N) = (N_c / N)^α_N. Hoffmann et al. 2022
("Training Compute-Optimal Large Language Models", eq. 2) add an irreducible term E, the
entropy of text that no model removes; restricted to N (data not the bottleneck) that is

    L(N) = E + A · N^(−α),   E >= 0, A > 0, α > 0                                      (1)

Fitting (1) directly is badly conditioned: N spans decades, so A and α trade off along a narrow
valley (A ~ N^α) and A alone may be 10^5. We fit instead

    L = E + B · (N / N_g)^(−α),   N_g the geometric mean of the sizes, B = A · N_g^(−α)    (2)

in (E, log B, α): all three are O(1) near the data, and log B keeps B > 0 without a bound. The
start comes from variable projection: for each α on a grid, (2) is linear in (E, B), solved by
least squares; the best α starts :func:`scipy.optimize.curve_fit`.

Uncertainty (:func:`fit_with_uncertainty`): the law is fitted to the mean loss over seeds at
each size; its 95% intervals are percentiles of the fits to bootstrap resamples that draw
seeds with replacement independently at each size (a size's runs are exchangeable, sizes are
not). With one seed there is nothing to resample, and the interval is ±1.96 standard errors
from curve_fit's covariance (infinite when there are only 3 sizes: the fit is then exact).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ALPHA_GRID = np.geomspace(0.01, 4.0, 60)  # starts for α; language models have α ~ 0.05–1


@dataclass
class PowerLawFit:
    """A fitted (1) with 95% intervals for each parameter; ``rmse`` is that of the fit to the
    seed-mean losses at the ``n_points`` sizes."""

    E: float
    A: float
    alpha: float
    E_ci: tuple[float, float]
    A_ci: tuple[float, float]
    alpha_ci: tuple[float, float]
    method: str
    n_points: int
    rmse: float

    def predict(self, n: np.ndarray) -> np.ndarray:
        """L(N) of (1) at the sizes ``n``."""
        return self.E + self.A * np.asarray(n, dtype=np.float64) ** -self.alpha

    def label(self) -> str:
        """The law as a figure legend, e.g. ``L(N) = 1.23 + 45.6·N^−0.31``."""
        return f"L(N) = {self.E:.3g} + {self.A:.3g}·N^−{self.alpha:.2g}"

    def summary(self) -> dict[str, float]:
        """The parameters and their interval bounds as flat keys (E, E_lo, E_hi, …)."""
        out = {"rmse": self.rmse, "n_points": float(self.n_points)}
        for name, ci in (("E", self.E_ci), ("A", self.A_ci), ("alpha", self.alpha_ci)):
            out[name], out[f"{name}_lo"], out[f"{name}_hi"] = getattr(self, name), *ci
        return out


def _law(x: np.ndarray, E: float, log_B: float, alpha: float) -> np.ndarray:
    return E + np.exp(log_B) * x ** -alpha  # eq. (2), x = N / N_g


def _start(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(E, log B, α) minimising the squared error over ``ALPHA_GRID``, (E, B) by least squares
    at each α (clipped into the feasible E >= 0, B > 0)."""
    best, start = np.inf, (0.0, 0.0, 0.5)
    for alpha in ALPHA_GRID:
        design = np.stack([np.ones_like(x), x ** -alpha], axis=1)
        (E, B), *_ = np.linalg.lstsq(design, y, rcond=None)
        E, B = max(E, 0.0), max(B, 1e-8)
        sse = float(((E + B * x ** -alpha - y) ** 2).sum())
        if sse < best:
            best, start = sse, (E, float(np.log(B)), float(alpha))
    return start


def fit_power_law(n_params: Sequence[float], losses: Sequence[float]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares fit of (1) to (N, L) points: ((E, A, α), their 3×3 covariance).

    The covariance is curve_fit's, carried from (E, log B, α) of (2) to (E, A, α) by the
    Jacobian of A = exp(log B) · N_g^α (the delta method); with exactly 3 points it is infinite.
    Raises ValueError with fewer than 3 sizes, RuntimeError when the fit does not converge."""
    from scipy.optimize import OptimizeWarning, curve_fit

    n = np.asarray(n_params, dtype=np.float64)
    y = np.asarray(losses, dtype=np.float64)
    if n.shape != y.shape or n.ndim != 1:
        raise ValueError(f"n_params and losses must be 1-D of one length, got {n.shape}, {y.shape}")
    if len(np.unique(n)) < 3:
        raise ValueError(f"a 3-parameter law needs at least 3 distinct sizes, "
                         f"got {len(np.unique(n))}")
    if (n <= 0).any() or not np.isfinite(y).all():
        raise ValueError("sizes must be positive and losses finite")
    n_g = float(np.exp(np.log(n).mean()))
    x = n / n_g
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)  # 3 points: covariance not estimable
        theta, cov = curve_fit(_law, x, y, p0=_start(x, y), method="trf",
                               bounds=([0.0, -np.inf, 1e-6], [np.inf, np.inf, np.inf]),
                               xtol=1e-14, ftol=1e-14, gtol=1e-14, max_nfev=10_000)
    E, log_B, alpha = theta
    A = float(np.exp(log_B) * n_g**alpha)
    jacobian = np.array([[1.0, 0.0, 0.0], [0.0, A, A * np.log(n_g)], [0.0, 0.0, 1.0]])
    with np.errstate(invalid="ignore"):  # inf · 0 in the 3-point case stays inf or nan
        cov = jacobian @ cov @ jacobian.T
    return np.array([E, A, alpha]), cov


def fit_with_uncertainty(n_params: Sequence[float], losses_by_seed: np.ndarray,
                         n_boot: int = 200, seed: int = 0) -> PowerLawFit:
    """(1) fitted to the seed means of ``losses_by_seed`` (n_seeds, n_sizes), with 95% intervals
    from ``n_boot`` resamples of seeds (independently per size; fits that fail to converge are
    skipped and counted in ``method``), or from the covariance when there is one seed."""
    losses = np.atleast_2d(np.asarray(losses_by_seed, dtype=np.float64))
    n = np.asarray(n_params, dtype=np.float64)
    if losses.ndim != 2 or losses.shape[1] != len(n):
        raise ValueError(f"losses_by_seed must be (n_seeds, {len(n)}), got {losses.shape}")
    theta, cov = fit_power_law(n, losses.mean(axis=0))
    n_seeds, n_sizes = losses.shape
    if n_seeds == 1:
        half = 1.96 * np.sqrt(np.abs(np.diag(cov)))
        lo, hi = theta - half, theta + half
        method = "curve_fit covariance (one seed)"
    else:
        rng, cols, fits, failed = np.random.default_rng(seed), np.arange(n_sizes), [], 0
        for _ in range(n_boot):
            resample = losses[rng.integers(0, n_seeds, size=(n_seeds, n_sizes)), cols]
            try:
                fits.append(fit_power_law(n, resample.mean(axis=0))[0])
            except (RuntimeError, ValueError):  # no convergence (or a degenerate resample)
                failed += 1
        if fits:
            lo, hi = np.percentile(np.array(fits), [2.5, 97.5], axis=0)
        else:
            lo = hi = np.full(3, np.nan)
        method = f"bootstrap over seeds ({n_boot} resamples, {failed} failed)"
    E, A, alpha = (float(v) for v in theta)
    residual = E + A * n ** -alpha - losses.mean(axis=0)
    return PowerLawFit(E, A, alpha, (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1])),
                       (float(lo[2]), float(hi[2])), method, n_sizes,
                       float(np.sqrt((residual**2).mean())))
