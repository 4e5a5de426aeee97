"""Synthetic annotators who label pairs by Bradley-Terry on a gold reward, and the measures of a
preference data set's quality: agreement between annotators and length bias.

**Annotators.** Response a (shown first) and response b, with gold rewards r_a, r_b and lengths
n_a, n_b, are labelled "a preferred" (1) with probability

    p = σ((r_a − r_b)/τ + β_len (n_a − n_b)/λ + β_pos)                                  (1)

(Bradley & Terry 1952 on the reward, as in Christiano et al. 2017 and Ouyang et al. 2022,
eq. 1, with temperature τ; β_len a preference for the longer response per λ tokens; β_pos one
for the first position), and then each label is flipped with probability ε, independently, so

    P(label = 1) = (1 − ε) p + ε (1 − p).                                                (2)

τ → 0 with ε = 0 and no biases labels every pair by the gold ordering.

**Agreement.** Cohen (1960), "A Coefficient of Agreement for Nominal Scales": for two annotators,
κ = (p_o − p_e)/(1 − p_e), p_o the fraction of items they label alike and p_e = Σ_c q₁(c) q₂(c)
the agreement expected by chance from each one's label frequencies q. Fleiss (1971), "Measuring
nominal scale agreement among many raters": for N items each labelled by n raters, n_ic of them
choosing category c, P_i = (Σ_c n_ic² − n)/(n(n − 1)), P̄ = mean_i P_i, p_c = Σ_i n_ic/(Nn),
P̄_e = Σ_c p_c², κ = (P̄ − P̄_e)/(1 − P̄_e). Both are NaN when chance agreement is already
certain (p_e = 1: one category only), where they are undefined.

**Length bias.** The logistic regression of the label on the length difference, with an
intercept (which absorbs a position bias) and, when the gold rewards are known, the reward
difference as a covariate, so the length coefficient is the length effect at equal reward:

    logit P(label = 1) = b₀ + b_len (n_a − n_b)/λ [+ b_r (r_a − r_b)].                   (3)

With the rewards given and ε = 0, (3) is (1) itself: b_len estimates β_len, b₀ β_pos and
b_r 1/τ; flips shrink all three toward 0. Fitted by maximum likelihood with the Newton iteration
of :mod:`.bradley_terry`. Also reported, model-free: the fraction of pairs of unequal length
in which the longer response is preferred.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import expit

from algorithms.preference.bradley_terry import newton


class Annotations(NamedTuple):
    """``labels``: int8, 1 where a is preferred; ``prob``: P(label = 1) of eq. (2);
    ``flipped``: bool, the labels the noise flipped (the truth a noise detector is scored on)."""

    labels: np.ndarray
    prob: np.ndarray
    flipped: np.ndarray


def _vector(x: ArrayLike, n: int | None, name: str) -> np.ndarray:
    v = np.asarray(x, dtype=np.float64)
    if v.ndim != 1 or len(v) == 0 or (n is not None and len(v) != n):
        raise ValueError(f"{name} must be a non-empty 1-d array"
                         + (f" of length {n}" if n is not None else "") + f", got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be finite")
    return v


def annotate(reward_a: ArrayLike, reward_b: ArrayLike, rng: np.random.Generator,
             temperature: float = 1.0, length_a: ArrayLike | None = None,
             length_b: ArrayLike | None = None, length_bias: float = 0.0,
             length_scale: float = 100.0, position_bias: float = 0.0,
             flip_rate: float = 0.0) -> Annotations:
    """Label each pair (a, b) by eq. (1), then flip each label with probability ``flip_rate``
    (eq. 2). Lengths are needed only when ``length_bias`` is not 0."""
    r_a = _vector(reward_a, None, "reward_a")
    r_b = _vector(reward_b, len(r_a), "reward_b")
    if not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    if not 0.0 <= flip_rate <= 1.0:
        raise ValueError(f"flip_rate must be in [0, 1], got {flip_rate!r}")
    if not np.isfinite(length_scale) or length_scale <= 0:
        raise ValueError(f"length_scale must be a finite number > 0, got {length_scale!r}")
    logit = (r_a - r_b) / temperature + position_bias
    if length_bias != 0:
        if length_a is None or length_b is None:
            raise ValueError("length_bias needs length_a and length_b")
        n_a = _vector(length_a, len(r_a), "length_a")
        n_b = _vector(length_b, len(r_a), "length_b")
        logit = logit + length_bias * (n_a - n_b) / length_scale
    p = expit(logit)
    clean = rng.random(len(p)) < p
    flipped = rng.random(len(p)) < flip_rate
    return Annotations(labels=(clean ^ flipped).astype(np.int8),
                       prob=(1 - flip_rate) * p + flip_rate * (1 - p), flipped=flipped)


def _labels(x: ArrayLike, n: int | None, name: str) -> np.ndarray:
    v = np.asarray(x)
    if v.size == 0 or (n is not None and v.shape[0] != n):
        raise ValueError(f"{name} must be non-empty" + (f" with {n} items" if n else ""))
    return v


def agreement_rate(labels_1: ArrayLike, labels_2: ArrayLike) -> float:
    """p_o: the fraction of items two annotators label alike."""
    a = _labels(labels_1, None, "labels_1")
    b = _labels(labels_2, len(a), "labels_2")
    return float(np.mean(a == b))


def cohen_kappa(labels_1: ArrayLike, labels_2: ArrayLike) -> float:
    """Cohen's κ = (p_o − p_e)/(1 − p_e) between two annotators' labels of the same items."""
    a = _labels(labels_1, None, "labels_1")
    b = _labels(labels_2, len(a), "labels_2")
    categories, codes = np.unique(np.concatenate([a, b]), return_inverse=True)
    q1 = np.bincount(codes[: len(a)], minlength=len(categories)) / len(a)
    q2 = np.bincount(codes[len(a):], minlength=len(categories)) / len(a)
    p_o, p_e = np.mean(a == b), q1 @ q2
    return float("nan") if p_e == 1 else float((p_o - p_e) / (1 - p_e))


def fleiss_kappa(labels: ArrayLike) -> float:
    """Fleiss' κ of a ``(n_items, n_raters)`` array of categorical labels (n_raters >= 2)."""
    x = np.asarray(labels)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] < 2:
        raise ValueError(f"labels must be (n_items, n_raters >= 2), got shape {x.shape}")
    n_items, n = x.shape
    categories, codes = np.unique(x, return_inverse=True)
    counts = np.zeros((n_items, len(categories)))  # n_ic
    np.add.at(counts, (np.repeat(np.arange(n_items), n), codes.reshape(-1)), 1.0)
    p_bar = np.mean(((counts ** 2).sum(axis=1) - n) / (n * (n - 1)))
    p_e = ((counts.sum(axis=0) / (n_items * n)) ** 2).sum()
    return float("nan") if p_e == 1 else float((p_bar - p_e) / (1 - p_e))


@dataclass(frozen=True)
class LengthBias:
    """The fit of eq. (3): ``coefficient`` b_len (logit per ``length_scale`` tokens of the
    difference), ``intercept`` b₀, ``reward_coefficient`` b_r (NaN when no rewards were
    given), and ``longer_win_rate``, the fraction of unequal-length pairs the longer won."""

    coefficient: float
    intercept: float
    reward_coefficient: float
    longer_win_rate: float


def length_bias(labels: ArrayLike, length_a: ArrayLike, length_b: ArrayLike,
                reward_a: ArrayLike | None = None, reward_b: ArrayLike | None = None,
                length_scale: float = 100.0) -> LengthBias:
    """Fit eq. (3) by maximum likelihood to labels (1: a preferred) of pairs with lengths
    ``length_a``, ``length_b`` and, optionally, gold rewards ``reward_a``, ``reward_b``.

    Labels that the covariates separate perfectly (e.g. noiseless labels by the gold reward,
    given as a covariate) have no finite maximum: ValueError."""
    y = _vector(labels, None, "labels")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("labels must be 0 or 1 (1: a preferred)")
    if not np.isfinite(length_scale) or length_scale <= 0:
        raise ValueError(f"length_scale must be a finite number > 0, got {length_scale!r}")
    diff = (_vector(length_a, len(y), "length_a") - _vector(length_b, len(y), "length_b"))
    columns = [np.ones(len(y)), diff / length_scale]
    if (reward_a is None) != (reward_b is None):
        raise ValueError("give both reward_a and reward_b, or neither")
    if reward_a is not None:
        columns.append(_vector(reward_a, len(y), "reward_a")
                       - _vector(reward_b, len(y), "reward_b"))
    x = np.stack(columns, axis=1)
    if np.linalg.matrix_rank(x) < x.shape[1]:
        raise ValueError("the covariates are collinear (e.g. no pair differs in length): "
                         "the length bias is not identifiable")

    def objective(beta: np.ndarray) -> float:  # −log-likelihood of eq. (3)
        z = x @ beta
        return float(np.logaddexp(0.0, z).sum() - y @ z)

    def grad_hess(beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = expit(x @ beta)
        return x.T @ (p - y), (x * (p * (1 - p))[:, None]).T @ x

    separated = ValueError("the covariates separate the labels (almost) perfectly: eq. (3) "
                           "has no finite maximum-likelihood fit")
    try:
        beta = newton(objective, grad_hess, x.shape[1], max_iter=200)
    except (RuntimeError, np.linalg.LinAlgError):  # the likelihood keeps rising to infinity
        raise separated from None
    if np.all((2 * y - 1) * (x @ beta) > 0):  # β itself separates them: scaling it up gains
        raise separated
    unequal = diff != 0
    longer_won = np.where(diff > 0, y, 1 - y)[unequal]
    return LengthBias(coefficient=float(beta[1]), intercept=float(beta[0]),
                      reward_coefficient=float(beta[2]) if len(beta) > 2 else float("nan"),
                      longer_win_rate=float(longer_won.mean()) if unequal.any() else float("nan"))
