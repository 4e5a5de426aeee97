"""The functional forms of reward-model overoptimization, and their least-squares fits.

Gao, Schulman & Hilton (2022), "Scaling Laws for Reward Model Overoptimization" (ICML 2023),
measure the gold reward R of a policy optimised against a learned proxy reward model as a
function of its distance from the initial policy, d = √KL(π ‖ π_init), and find two forms:

    R_bon(d) = d (α_bon − β_bon d)                   best-of-n sampling,          (eq. 1)
    R_RL(d)  = d (α_RL  − β_RL log d)                RL (PPO) against the proxy,   (eq. 2)

with R(0) = 0: R is the gold reward *gained* over the initial policy. For best-of-n,
KL = log n − (n − 1)/n (``algorithms.preference.best_of_n.best_of_n_kl``), so d is known
exactly; for RL it is the policy's measured KL. Both forms are linear in (α, β),

    R_bon = α · d − β · d²,      R_RL = α · d − β · d log d,

so each fit is one ordinary least-squares solve with no intercept (the forms pass through the
origin). β > 0 makes the curve turn over: gold rises, peaks and falls while the proxy keeps
climbing, the overoptimization the paper is named for. The peaks, where dR/dd = 0, are

    bon:  α − 2β d = 0                 →  d* = α / (2β),         R(d*) = α² / (4β),
    RL:   α − β (log d + 1) = 0        →  d* = exp(α/β − 1),     R(d*) = β d*.

With β ≤ 0 there is no maximum over d > 0 (the curve rises for ever, or falls from the
start when α ≤ 0 too): :attr:`OveroptimizationFit.peak_d` is then ``inf`` (or 0).

Best-of-n is estimated from one pool of N ≥ n samples per prompt by the expectation over all
n-subsets of the pool (:func:`best_of_n_expectation`), rather than from one subset: the same
mean, less noise, and every n from one pool.

The RL form is fitted on d > 0 only: d log d → 0 as d → 0, so a d = 0 point fits any (α, β)
and would only inflate R². Numpy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

FORMS = ("bon", "rl")


def distance(kl: np.ndarray | float) -> np.ndarray:
    """d = √KL, with a KL estimate below 0 (Monte-Carlo noise near the initial policy) read
    as 0."""
    return np.sqrt(np.maximum(np.asarray(kl, dtype=float), 0.0))


def bon_gold(d: np.ndarray | float, alpha: float, beta: float) -> np.ndarray:
    """Eq. (1): R_bon(d) = d (α − β d)."""
    d = np.asarray(d, dtype=float)
    return d * (alpha - beta * d)


def rl_gold(d: np.ndarray | float, alpha: float, beta: float) -> np.ndarray:
    """Eq. (2): R_RL(d) = d (α − β log d), continued by its limit 0 at d = 0."""
    d = np.asarray(d, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = d * (alpha - beta * np.log(d))
    return np.where(d > 0, out, 0.0)


@dataclass(frozen=True)
class OveroptimizationFit:
    """A least-squares fit of eq. (1) (``form="bon"``) or eq. (2) (``form="rl"``): α, β, the
    coefficient of determination R² on the points fitted, how many there were and their
    largest d, and the peak d* with the gold gain there (``inf`` when β ≤ 0 leaves no
    maximum)."""

    form: str
    alpha: float
    beta: float
    r2: float
    n_points: int
    d_max: float
    peak_d: float
    peak_gold: float

    @property
    def has_peak(self) -> bool:
        """Whether the fitted curve turns over at a finite d (β > 0)."""
        return math.isfinite(self.peak_d)

    @property
    def peak_in_range(self) -> bool:
        """Whether the peak lies within the d the fit saw (not an extrapolation)."""
        return self.has_peak and self.peak_d <= self.d_max

    def predict(self, d: np.ndarray | float) -> np.ndarray:
        return (bon_gold if self.form == "bon" else rl_gold)(d, self.alpha, self.beta)


def peak(form: str, alpha: float, beta: float) -> tuple[float, float]:
    """(d*, R(d*)): the maximum of eq. (1) or (2) over d ≥ 0 (see the module docstring);
    (inf, inf) when the curve rises without bound, (0, 0) when it never rises."""
    if form not in FORMS:
        raise ValueError(f"unknown form {form!r}; known: {', '.join(FORMS)}")
    if beta <= 0:
        return (math.inf, math.inf) if alpha > 0 or beta < 0 else (0.0, 0.0)
    if form == "bon":
        d_star = max(alpha / (2 * beta), 0.0)  # α ≤ 0: the parabola falls from d = 0
        return d_star, float(bon_gold(d_star, alpha, beta))
    # RL: d* = exp(α/β − 1) > 0 always; R(d*) = β d* (log d* = α/β − 1 in eq. 2);
    # overflow for a huge α/β is a peak beyond reach
    exponent = alpha / beta - 1.0
    if exponent > 700:
        return math.inf, math.inf
    d_star = math.exp(exponent)
    return d_star, beta * d_star


def _clean(d: np.ndarray, gold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d, gold = np.asarray(d, dtype=float).ravel(), np.asarray(gold, dtype=float).ravel()
    if d.shape != gold.shape:
        raise ValueError(f"d and gold must be the same length, got {d.size} and {gold.size}")
    if not (np.all(np.isfinite(d)) and np.all(np.isfinite(gold))):
        raise ValueError("d and gold must be finite numbers")
    if np.any(d < 0):
        raise ValueError("d = √KL must be >= 0")
    return d, gold


def _fit(form: str, d: np.ndarray, gold: np.ndarray) -> OveroptimizationFit:
    """Least squares of gold on the two columns of the form, no intercept."""
    if form == "bon":
        design = np.stack([d, -d * d], axis=1)
    else:
        design = np.stack([d, -d * np.log(d)], axis=1)
    if len(d) < 2 or np.linalg.matrix_rank(design) < 2:
        raise ValueError(f"fitting R_{form}(d) needs at least two points whose d values "
                         f"determine α and β, got {len(d)} with d = {sorted(set(d.round(4)))}")
    (alpha, beta), *_ = np.linalg.lstsq(design, gold, rcond=None)
    residual = gold - design @ np.array([alpha, beta])
    ss_res, ss_tot = float(residual @ residual), float(((gold - gold.mean()) ** 2).sum())
    # R² against the mean, the usual definition; a flat gold curve has nothing to explain, so
    # its R² is 1 if the fit is exact and 0 otherwise (not 0/0)
    if ss_tot > 1e-12 * max(1.0, float(gold @ gold)):
        r2 = 1.0 - ss_res / ss_tot
    else:
        r2 = 1.0 if ss_res <= 1e-12 * max(1.0, float(gold @ gold)) else 0.0
    d_star, gold_star = peak(form, float(alpha), float(beta))
    return OveroptimizationFit(form, float(alpha), float(beta), float(r2), len(d),
                               float(d.max()), d_star, gold_star)


def fit_bon(d: np.ndarray, gold: np.ndarray) -> OveroptimizationFit:
    """Fit eq. (1), R_bon(d) = d (α − β d), to gold-reward gains ``gold`` at distances ``d``
    (d = 0, best-of-1, included: it pins nothing but costs nothing). ValueError (one line)
    for mismatched, non-finite or negative input, or points that cannot fix two parameters."""
    d, gold = _clean(d, gold)
    return _fit("bon", d, gold)


def fit_rl(d: np.ndarray, gold: np.ndarray) -> OveroptimizationFit:
    """Fit eq. (2), R_RL(d) = d (α − β log d), to gold-reward gains on the points with d > 0
    (the form is 0 at d = 0 whatever α and β). ValueError (one line) as :func:`fit_bon`."""
    d, gold = _clean(d, gold)
    keep = d > 0
    return _fit("rl", d[keep], gold[keep])


def best_of_n_expectation(scores: np.ndarray, values: np.ndarray, n: int) -> float:
    """E[value of the highest-``scores`` sample among n drawn without replacement from each
    prompt's pool], averaged over prompts: ``scores`` and ``values`` are ``(P, N)``, N ≥ n.

    Over all C(N, n) subsets equally likely, the sample of ascending score rank i (1-based) is
    the subset's best exactly when it is in the subset and the other n − 1 come from the i − 1
    below it: probability C(i − 1, n − 1) / C(N, n). The weighted sum is an unbiased estimate
    of best-of-n from the pool (samples tied in score, rare with a continuous reward, are
    ranked by position)."""
    scores, values = np.asarray(scores, dtype=float), np.asarray(values, dtype=float)
    if scores.ndim != 2 or scores.shape != values.shape:
        raise ValueError(f"scores and values must be the same (P, N), got {scores.shape} and "
                         f"{values.shape}")
    pool = scores.shape[1]
    if not isinstance(n, (int, np.integer)) or not 1 <= n <= pool:
        raise ValueError(f"n must be an integer in 1 .. {pool} (the pool), got {n!r}")
    total = math.comb(pool, int(n))
    weights = np.array([math.comb(i - 1, int(n) - 1) / total for i in range(1, pool + 1)])
    ranked = np.take_along_axis(values, np.argsort(scores, axis=1, kind="stable"), axis=1)
    return float((ranked @ weights).mean())
