"""Scaling laws of language-model loss in size N and tokens D, fitted with bootstrap intervals.

Two laws, each fitted as its paper does (the IsoFLOP profiles of Hoffmann et al.'s approach 2
are in ``isoflop.py``; the E + A·N^(−α) law in N alone, week 8's, is ``scaling.py``):

* Kaplan et al. 2020, "Scaling Laws for Neural Language Models", eqs. 1.1–1.2: the loss limited
  by parameters alone or by data alone is a pure power law,

      L(N) = (N_c / N)^α_N,   L(D) = (D_c / D)^α_D,                                      (K)

  a line in log–log space, log L = α log X_c − α log X, fitted by least squares
  (:func:`fit_kaplan`).

* Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", §3.3 and Appendix
  D.2, eq. 2 (their approach 3): a parametric loss in both

      L(N, D) = E + A / N^α + B / D^β,                                                   (H)

  with A = e^a, B = e^b, E = e^e so that

      log L̂(N, D) = LSE(a − α log N, b − β log D, e)                                     (H')

  (log-sum-exp, stable and positive by construction), fitted by minimising the Huber loss
  Σ_i Huber_δ(log L̂_i − log L_i), δ = 10⁻³, with L-BFGS from a grid of starts, keeping the
  best (:func:`fit_chinchilla`). Minimising (H) at fixed compute C = 6ND gives the allocation
  (their eq. 4)

      N*(C) = G (C/6)^a,  D*(C) = G⁻¹ (C/6)^b,  G = (αA / (βB))^(1/(α+β)),
      a = β / (α+β),  b = α / (α+β).                                                     (4)

Intervals are percentile bootstrap intervals (2.5%, 97.5%) from refits to resampled points.
Besiroglu et al. 2024 ("Chinchilla Scaling: A replication attempt"), refitting approach 3 to
data reconstructed from Hoffmann et al.'s Figure 4 by resampling the runs, argue that the
intervals Hoffmann et al. report are implausibly narrow for the few hundred runs behind them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

PUBLISHED: dict[str, dict[str, float]] = {
    # Hoffmann et al. 2022, Appendix D.2 (also §3.3): approach 3 fitted to their own runs.
    "hoffmann2022_approach3": {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28},
    # Besiroglu et al. 2024, their refit of approach 3 to data reconstructed from Hoffmann
    # et al.'s Figure 4 (α 0.3478, β 0.3658, E 1.8172, A 482.01, B 2085.43 to more digits).
    "besiroglu2024_replication": {"E": 1.82, "A": 482.0, "B": 2085.4,
                                  "alpha": 0.35, "beta": 0.37},
    # Kaplan et al. 2020, eqs. 1.1–1.3 (N non-embedding parameters, D tokens, C_min the
    # least compute reaching a loss, in PF-days; loss in nats).
    "kaplan2020": {"alpha_N": 0.076, "N_c": 8.8e13, "alpha_D": 0.095, "D_c": 5.4e13,
                   "alpha_C_min": 0.050, "C_c_min_pf_days": 3.1e8},
}
"""Published constants, for reports beside a fit. Hoffmann et al.'s Table 2 gives the
allocation exponents a = 0.46 (approach 3), 0.49 (approach 2), 0.50 (approach 1)."""

HUBER_DELTA = 1e-3  # Hoffmann et al., Appendix D.2
PAPER_GRID = {  # Hoffmann et al., Appendix D.2: 5·5·5·6·6 = 4500 starts
    "alpha": np.arange(0.0, 2.01, 0.5), "beta": np.arange(0.0, 2.01, 0.5),
    "e": np.arange(-1.0, 1.01, 0.5), "a": np.arange(0.0, 25.1, 5.0),
    "b": np.arange(0.0, 25.1, 5.0),
}
PARAMS = ("a", "b", "e", "alpha", "beta")  # the order of θ in the optimiser


def _interval(samples: np.ndarray) -> tuple[float, float]:
    if len(samples) == 0:
        return (float("nan"), float("nan"))
    lo, hi = np.percentile(samples, [2.5, 97.5])
    return (float(lo), float(hi))


def _positive(name: str, values: np.ndarray) -> None:
    if not np.isfinite(values).all() or (values <= 0).any():
        raise ValueError(f"{name} must be finite and positive")


# ----------------------------------------------------------------------------- Kaplan (K)

@dataclass
class KaplanFit:
    """(K) fitted: L(X) = (x_c / X)^α with X = ``variable`` ("N", "D" or "C"); ``rmse`` is that of
    the fitted quantity, log L, at the ``n_points`` points."""

    variable: str
    x_c: float
    alpha: float
    x_c_ci: tuple[float, float]
    alpha_ci: tuple[float, float]
    rmse: float
    n_points: int
    method: str

    def predict(self, x: np.ndarray) -> np.ndarray:
        """L(X) of (K) at ``x``."""
        return (self.x_c / np.asarray(x, dtype=np.float64)) ** self.alpha

    def label(self) -> str:
        """e.g. ``L(N) = (8.8e+13/N)^0.076``."""
        return f"L({self.variable}) = ({self.x_c:.3g}/{self.variable})^{self.alpha:.2g}"


def _kaplan_line(log_x: np.ndarray, log_l: np.ndarray) -> tuple[float, float]:
    """(x_c, α) from the least-squares line log L = c₀ + c₁ log X: α = −c₁, x_c = e^(c₀/α)."""
    if len(np.unique(log_x)) < 2:
        raise ValueError("a line needs at least 2 distinct sizes")
    c1, c0 = np.polyfit(log_x, log_l, 1)
    alpha = -c1
    with np.errstate(over="ignore"):  # α near 0 (a flat law): x_c is +inf, and says so
        return float(np.exp(c0 / alpha)), float(alpha)


def fit_kaplan(x: Sequence[float], losses: np.ndarray, variable: str = "N",
               n_boot: int = 1000, seed: int = 0) -> KaplanFit:
    """(K) fitted to sizes (or token counts) ``x`` and ``losses``, either (n_points,) or
    (n_seeds, n_points); with seeds the line is fitted to log of the seed-mean loss.

    95% intervals: percentiles over ``n_boot`` refits to resamples: of the points (one seed),
    or of the seeds, drawn independently at each point (several; a point's seeds are
    exchangeable, points are not). Degenerate resamples (one distinct size) are skipped and
    counted in ``method``. With few points or seeds the interval runs narrower than its 95%:
    a resample of n draws carries (n − 1)/n of their variance."""
    xs = np.asarray(x, dtype=np.float64)
    y = np.asarray(losses, dtype=np.float64)
    if y.ndim == 1:
        y = y[None]
    if xs.ndim != 1 or y.ndim != 2 or y.shape[1] != len(xs):
        raise ValueError(f"losses must be ({len(xs)},) or (n_seeds, {len(xs)}), got {y.shape}")
    if len(np.unique(xs)) < 3:
        raise ValueError(f"a 2-parameter line needs at least 3 distinct {variable} to have a "
                         f"residual, got {len(np.unique(xs))}")
    _positive(variable, xs)
    _positive("losses", y)
    log_x = np.log(xs)
    log_mean = np.log(y.mean(axis=0))
    x_c, alpha = _kaplan_line(log_x, log_mean)
    rng, (n_seeds, n_points), fits, failed = np.random.default_rng(seed), y.shape, [], 0
    for _ in range(n_boot):
        if n_seeds == 1:
            idx = rng.integers(0, n_points, size=n_points)
            bx, by = log_x[idx], log_mean[idx]
        else:
            draws = y[rng.integers(0, n_seeds, size=(n_seeds, n_points)), np.arange(n_points)]
            bx, by = log_x, np.log(draws.mean(axis=0))
        try:
            fits.append(_kaplan_line(bx, by))
        except ValueError:  # a resample with one distinct size
            failed += 1
    fits_arr = np.array(fits).reshape(-1, 2)
    what = "points" if n_seeds == 1 else "seeds"
    residual = np.log(x_c / xs) * alpha - log_mean
    return KaplanFit(variable, x_c, alpha, _interval(fits_arr[:, 0]), _interval(fits_arr[:, 1]),
                     float(np.sqrt((residual**2).mean())), n_points,
                     f"bootstrap over {what} ({n_boot} resamples, {failed} failed)")


# ----------------------------------------------------------------- Hoffmann approach 3 (H)

def huber(r: np.ndarray, delta: float = HUBER_DELTA) -> np.ndarray:
    """Huber_δ(r) = r²/2 for |r| <= δ, δ(|r| − δ/2) beyond: least squares for small residuals,
    linear (so an outlier's pull is bounded) for large ones; δ = inf is least squares."""
    r = np.abs(np.asarray(r, dtype=np.float64))
    if not np.isfinite(delta):
        return 0.5 * r**2
    return np.where(r <= delta, 0.5 * r**2, delta * (r - 0.5 * delta))


def _log_law(theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray) -> np.ndarray:
    """(H') at θ (..., 5), in ``PARAMS`` order: log L̂ at the points, (..., n)."""
    a, b, e, alpha, beta = (theta[..., i, None] for i in range(5))
    return np.logaddexp(np.logaddexp(a - alpha * log_n, b - beta * log_d), e)


def _objective(theta: np.ndarray, x: np.ndarray, y: np.ndarray, log_l: np.ndarray,
               delta: float, scale: float) -> tuple[float, np.ndarray]:
    """scale · Σ Huber_δ(log L̂ − log L) and its gradient in θ (chain rule through (H')), at
    one θ; x, y are the centred log N, log D of :func:`_minimise`. ``scale`` = 1/min(δ, 1)
    leaves the minimiser as it is: L-BFGS-B stops once a step gains less than
    ftol·max(|f|, 1), an absolute test for an objective of O(δ) per point."""
    a, b, e, alpha, beta = theta
    u1, u2 = a - alpha * x, b - beta * y
    top = np.maximum(np.maximum(u1, u2), e)
    w1, w2, w3 = np.exp(u1 - top), np.exp(u2 - top), np.exp(e - top)
    total = w1 + w2 + w3
    r = top + np.log(total) - log_l
    psi = np.clip(r, -delta, delta) / total  # Huber'(r), with the softmax's normaliser
    grad = np.array([psi @ w1, psi @ w2, psi @ w3, -(psi * w1) @ x, -(psi * w2) @ y])
    return scale * float(huber(r, delta).sum()), scale * grad


def _grid(grid: dict[str, Sequence[float]]) -> np.ndarray:
    missing = set(PARAMS) - set(grid)
    if missing:
        raise ValueError(f"grid lacks {sorted(missing)}")
    mesh = np.meshgrid(*(np.asarray(grid[p], dtype=np.float64) for p in PARAMS), indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


def _minimise(starts: np.ndarray, log_n: np.ndarray, log_d: np.ndarray, log_l: np.ndarray,
              delta: float) -> tuple[np.ndarray, float]:
    """L-BFGS-B from each start; the θ with the least objective and that objective.

    The optimiser works in a' = a − α·m_N, b' = b − β·m_D (m the mean log N, log D), so that
    a − α log N = a' − α (log N − m_N): the same objective and minimiser, better conditioned
    (with log N ~ 20, a and α move together along a narrow ridge; a' and α do not)."""
    from scipy.optimize import minimize

    m_n, m_d = log_n.mean(), log_d.mean()
    shift = np.array([[1, 0, 0, -m_n, 0], [0, 1, 0, 0, -m_d], [0, 0, 1, 0, 0],
                      [0, 0, 0, 1, 0], [0, 0, 0, 0, 1]], dtype=np.float64)  # θ' = shift θ
    args = (log_n - m_n, log_d - m_d, log_l, delta, 1.0 / min(delta, 1.0))
    best, best_f = starts[0], np.inf
    for start in starts:
        res = minimize(_objective, shift @ start, args=args, jac=True, method="L-BFGS-B",
                       options={"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-10})
        if np.isfinite(res.fun) and res.fun < best_f:
            best, best_f = np.linalg.solve(shift, res.x), float(res.fun)
    return best, best_f / args[-1]


def _best_starts(grid: np.ndarray, log_n: np.ndarray, log_d: np.ndarray, log_l: np.ndarray,
                 delta: float, n_starts: int | None) -> np.ndarray:
    """The ``n_starts`` grid points with the least objective (all of them for None)."""
    if n_starts is None or n_starts >= len(grid):
        return grid
    values = np.empty(len(grid))
    for i in range(0, len(grid), 1024):  # in blocks: (block, n, 3) floats at a time
        pred = _log_law(grid[i:i + 1024], log_n, log_d)
        values[i:i + 1024] = huber(pred - log_l, delta).sum(axis=-1)
    return grid[np.argsort(values, kind="stable")[:n_starts]]


@dataclass
class ChinchillaFit:
    """(H) fitted by Huber-loss L-BFGS; ``ci`` maps E, A, B, alpha, beta and the allocation
    exponents a, b of (4) to bootstrap 95% intervals; ``objective`` is Σ Huber_δ at the fit and
    ``rmse`` that of the fitted quantity, log L. Built from constants alone (e.g.
    ``ChinchillaFit(**PUBLISHED["hoffmann2022_approach3"])``) it evaluates a published law."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    objective: float = float("nan")
    rmse: float = float("nan")
    n_points: int = 0
    method: str = "given"
    boot: np.ndarray = field(repr=False, default_factory=lambda: np.empty((0, 5)))
    """The bootstrap fits, one row (E, A, B, α, β) per converged resample."""

    @property
    def a(self) -> float:
        """N*(C) ∝ C^a, a = β/(α+β) of (4)."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """D*(C) ∝ C^b, b = α/(α+β) of (4)."""
        return self.alpha / (self.alpha + self.beta)

    @property
    def G(self) -> float:
        """G = (αA / (βB))^(1/(α+β)) of (4)."""
        return (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / (self.alpha + self.beta))

    def predict(self, n: np.ndarray, d: np.ndarray) -> np.ndarray:
        """L(N, D) of (H)."""
        n, d = np.asarray(n, dtype=np.float64), np.asarray(d, dtype=np.float64)
        return self.E + self.A * n**-self.alpha + self.B * d**-self.beta

    def compute_optimal(self, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N*(C), D*(C)) of (4): the size and tokens minimising (H) at C = 6ND FLOPs."""
        scaled = np.asarray(c, dtype=np.float64) / 6.0
        return self.G * scaled**self.a, scaled**self.b / self.G

    def label(self) -> str:
        """e.g. ``L(N, D) = 1.69 + 406/N^0.34 + 411/D^0.28``."""
        return (f"L(N, D) = {self.E:.3g} + {self.A:.3g}/N^{self.alpha:.2g} + "
                f"{self.B:.3g}/D^{self.beta:.2g}")

    def summary(self) -> dict[str, float]:
        """The parameters, a, b and their interval bounds as flat keys (E, E_lo, E_hi, …)."""
        out = {"rmse": self.rmse, "n_points": float(self.n_points), "objective": self.objective}
        for name, (lo, hi) in self.ci.items():
            out[name], out[f"{name}_lo"], out[f"{name}_hi"] = float(getattr(self, name)), lo, hi
        return out


def _check_runs(n: np.ndarray, d: np.ndarray, losses: np.ndarray) -> None:
    if not (n.ndim == d.ndim == losses.ndim == 1 and len(n) == len(d) == len(losses)):
        raise ValueError(f"n_params, tokens and losses must be 1-D of one length, got "
                         f"{n.shape}, {d.shape}, {losses.shape}")
    for name, values in (("n_params", n), ("tokens", d), ("losses", losses)):
        _positive(name, values)


def fit_chinchilla(n_params: Sequence[float], tokens: Sequence[float], losses: Sequence[float],
                   n_boot: int = 100, seed: int = 0, delta: float = HUBER_DELTA,
                   grid: dict[str, Sequence[float]] | None = None, n_starts: int | None = 8,
                   boot_starts: int = 1) -> ChinchillaFit:
    """(H) fitted to runs (N, D, L) by L-BFGS-B on Σ Huber_δ(log L̂ − log L) (``delta=inf``: least
    squares in log L), keeping the best of several starts.

    Starts: the points of ``grid`` (a value list per name in ``PARAMS``; default the paper's
    4500-point grid). L-BFGS runs from the ``n_starts`` of them with the least objective
    (``None``: from every one, as the paper does, at 4500 times the cost of one). Each of
    the ``n_boot`` bootstrap refits, to the runs drawn with replacement, starts from the
    full-data fit and from the ``boot_starts`` best grid points for its resample; resamples
    with fewer than 2 distinct N or D are skipped and counted in ``method``."""
    n = np.asarray(n_params, dtype=np.float64)
    d = np.asarray(tokens, dtype=np.float64)
    y = np.asarray(losses, dtype=np.float64)
    _check_runs(n, d, y)
    if len(y) < len(PARAMS) or len(np.unique(n)) < 2 or len(np.unique(d)) < 2:
        raise ValueError(f"a 5-parameter law needs at least 5 runs over at least 2 distinct N "
                         f"and 2 distinct D, got {len(y)} runs")
    if not delta > 0:
        raise ValueError(f"delta must be positive, got {delta}")
    points = _grid(PAPER_GRID if grid is None else grid)
    log_n, log_d, log_l = np.log(n), np.log(d), np.log(y)
    theta, objective = _minimise(_best_starts(points, log_n, log_d, log_l, delta, n_starts),
                                 log_n, log_d, log_l, delta)

    rng, boot, failed = np.random.default_rng(seed), [], 0
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), size=len(y))
        if len(np.unique(n[idx])) < 2 or len(np.unique(d[idx])) < 2:
            failed += 1
            continue
        args = (log_n[idx], log_d[idx], log_l[idx])
        starts = np.vstack([theta[None], _best_starts(points, *args, delta, boot_starts)])
        boot.append(_minimise(starts, *args, delta)[0])

    def natural(t: np.ndarray) -> np.ndarray:  # (a, b, e, α, β) → (E, A, B, α, β)
        t = np.atleast_2d(t)
        return np.stack([np.exp(t[:, 2]), np.exp(t[:, 0]), np.exp(t[:, 1]), t[:, 3], t[:, 4]], 1)

    E, A, B, alpha, beta = (float(v) for v in natural(theta)[0])
    boot_nat = natural(np.array(boot).reshape(-1, 5))
    with np.errstate(divide="ignore", invalid="ignore"):
        exps = {"a": boot_nat[:, 4] / (boot_nat[:, 3] + boot_nat[:, 4]),
                "b": boot_nat[:, 3] / (boot_nat[:, 3] + boot_nat[:, 4])}
    ci = {name: _interval(boot_nat[:, i]) for i, name in enumerate(("E", "A", "B", "alpha",
                                                                      "beta"))}
    ci |= {name: _interval(v[np.isfinite(v)]) for name, v in exps.items()}
    pred = _log_law(theta, log_n, log_d)
    kind = "Huber" if np.isfinite(delta) else "least squares"
    return ChinchillaFit(E, A, B, alpha, beta, ci, objective,
                         float(np.sqrt(((pred - log_l) ** 2).mean())), len(y),
                         f"{kind} L-BFGS-B, bootstrap over runs ({n_boot} resamples, "
                         f"{failed} failed)", boot_nat)
