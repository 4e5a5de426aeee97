"""How far to trust a reward model's preferences: calibration of its pairwise probabilities, and
the pairs whose labels it confidently disputes.

**Calibration.** A reward model (or ensemble) predicts P(a ≻ b) = σ(r_a − r_b). Guo et al.
(2017), "On Calibration of Modern Neural Networks", §2: sort the n predictions into M equal-width
bins B_m of predicted probability and compare each bin's mean prediction with how often the
event happened in it,

    ECE = Σ_m (|B_m| / n) · |freq(B_m) − conf(B_m)|

here with the event "a was preferred" and the prediction P(a ≻ b) (a reliability diagram of a
binary event; Guo et al.'s max-probability form is the same on pairs shown in both orders).

**Preference strength.** Wang et al. (2024), "Secrets of RLHF in Large Language Models Part II:
Reward Modeling", §2: with M reward models, the strength of a labelled pair is the mean over
members of r_i(chosen) − r_i(rejected); pairs of strongly negative strength are likely
mislabelled, those near 0 ambiguous. :func:`label_noise_auroc` scores such a detector against
the flips that synthetic annotators recorded (``annotators.Annotations.flipped``): the
probability that a flipped pair has lower strength than a clean one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata


@dataclass(frozen=True)
class Reliability:
    """Per bin (empty bins left out): the bin's ``lower`` edge, ``count``, mean ``confidence``
    (predicted probability) and ``frequency`` of the event; and the ``ece`` over all bins."""

    lower: np.ndarray
    count: np.ndarray
    confidence: np.ndarray
    frequency: np.ndarray
    ece: float


def reliability(prob: ArrayLike, outcome: ArrayLike, n_bins: int = 10) -> Reliability:
    """The reliability table and expected calibration error of predictions ``prob`` ∈ [0, 1] of
    binary ``outcome`` (1: the event happened), in ``n_bins`` equal-width bins (the last one
    closed at 1)."""
    p = np.asarray(prob, dtype=float)
    y = np.asarray(outcome, dtype=float)
    if p.ndim != 1 or p.shape != y.shape or len(p) == 0:
        raise ValueError(f"prob and outcome must be equal-length non-empty vectors, got "
                         f"{p.shape} and {y.shape}")
    if not np.all((p >= 0) & (p <= 1)) or not np.all((y == 0) | (y == 1)):
        raise ValueError("prob must lie in [0, 1] and outcome be 0 or 1")
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    index = np.minimum((p * n_bins).astype(int), n_bins - 1)
    count = np.bincount(index, minlength=n_bins)
    used = count > 0
    confidence = np.bincount(index, weights=p, minlength=n_bins)[used] / count[used]
    frequency = np.bincount(index, weights=y, minlength=n_bins)[used] / count[used]
    ece = float(np.sum(count[used] / len(p) * np.abs(frequency - confidence)))
    return Reliability(lower=np.arange(n_bins)[used] / n_bins, count=count[used],
                       confidence=confidence, frequency=frequency, ece=ece)


def preference_strength(chosen: ArrayLike, rejected: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over ensemble members of r_i(chosen) − r_i(rejected): from
    rewards ``(members, pairs)`` (or ``(pairs,)`` for one model, whose spread is 0)."""
    difference = np.atleast_2d(np.asarray(chosen, dtype=float)) - \
        np.atleast_2d(np.asarray(rejected, dtype=float))
    return difference.mean(0), difference.std(0)


def label_noise_auroc(strength: ArrayLike, flipped: ArrayLike) -> float:
    """The area under the ROC curve of "lower strength means flipped": P(strength of a flipped
    pair < that of a clean pair), ties counting ½ (the Mann-Whitney U over both counts); NaN
    when either group is empty."""
    s = np.asarray(strength, dtype=float)
    bad = np.asarray(flipped, dtype=bool)
    n_bad, n_good = int(bad.sum()), int((~bad).sum())
    if n_bad == 0 or n_good == 0:
        return float("nan")
    ranks = rankdata(-s)  # ranked by −strength: the lowest strength ranks highest
    return float((ranks[bad].sum() - n_bad * (n_bad + 1) / 2) / (n_bad * n_good))
