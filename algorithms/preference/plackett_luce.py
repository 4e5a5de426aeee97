"""The Plackett-Luce model of rankings and its maximum-likelihood strengths.

Luce (1959), "Individual Choice Behavior": an item is chosen from a set A with probability
exp(θ_i) / Σ_{m ∈ A} exp(θ_m). Plackett (1975), "The Analysis of Permutations": a ranking
r_1 ≻ r_2 ≻ ... ≻ r_L is that choice made again and again from what is left, so

    P(r | θ) = Π_{k=1}^{L−1} exp(θ_{r_k}) / Σ_{m ≥ k} exp(θ_{r_m}),                      (1)

and a top-k observation (the first k places known, the rest of the shown items unordered)
keeps the first k factors. Every factor is one choice stage (winner r_k, alternatives
r_k..r_L), so the log-likelihood of a set of rankings is a sum over stages

    ℓ(θ) = Σ_stages [θ_winner − log Σ_{m ∈ alternatives} exp(θ_m)],                      (2)

concave and shift-invariant like Bradley-Terry's, which is (2) with every ranking of length
two. The penalty is choix's ``opt_rankings`` convention, −ℓ(θ) + α Σθ²; the maximum exists
without it iff the graph with an edge from each stage's winner to each of its other
alternatives is strongly connected (Hunter 2004, "MM algorithms for generalized Bradley-Terry
models", extends his Assumption 1 so). :func:`fit_plackett_luce` minimises it by the Newton
iteration of :func:`~algorithms.preference.bradley_terry.fit_bradley_terry` (the gradient of
−ℓ is, per stage, softmax(θ_A) − e_winner, and the Hessian diag(p) − ppᵀ over A).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import logsumexp, softmax

from algorithms.preference.bradley_terry import check_items, newton, strongly_connected


def choice_stages(n_items: int, rankings: Sequence[Sequence[int]],
                  top_k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The choice stages of eq. (1): ``(alternatives, mask)``, int ``(S, L_max)`` padded with 0
    and bool ``(S, L_max)``, one row per stage, its winner in column 0. A ranking of length L
    gives its first min(L − 1, top_k) stages; rankings are checked (length >= 2, distinct
    items in 0..n_items−1)."""
    if top_k is not None and (not isinstance(top_k, (int, np.integer)) or top_k < 1):
        raise ValueError(f"top_k must be an integer >= 1 or None, got {top_k!r}")
    if len(rankings) == 0:
        raise ValueError("no rankings given: need at least one")
    rows: list[np.ndarray] = []
    for ranking in rankings:
        r = np.asarray(ranking)
        if r.ndim != 1 or len(r) < 2 or not np.issubdtype(r.dtype, np.integer):
            raise ValueError(f"a ranking must list at least 2 integer items, got {list(r)!r}")
        check_items(n_items, r)
        if len(np.unique(r)) != len(r):
            raise ValueError(f"a ranking lists an item twice: {r.tolist()}")
        stages = len(r) - 1 if top_k is None else min(len(r) - 1, top_k)
        rows += [r[k:] for k in range(stages)]
    width = max(len(row) for row in rows)
    alternatives = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=bool)
    for s, row in enumerate(rows):
        alternatives[s, : len(row)], mask[s, : len(row)] = row, True
    return alternatives, mask


def _stage_log_likelihood(theta: np.ndarray, alternatives: np.ndarray,
                          mask: np.ndarray) -> float:
    scores = np.where(mask, theta[alternatives], -np.inf)
    return float((scores[:, 0] - logsumexp(scores, axis=1)).sum())


def ranking_log_likelihood(theta: ArrayLike, rankings: Sequence[Sequence[int]],
                           top_k: int | None = None) -> float:
    """ℓ(θ) (eq. 2, natural log) of rankings, each listed best first, of their first
    ``top_k`` places (all of them when None)."""
    theta = np.asarray(theta, dtype=np.float64)
    return _stage_log_likelihood(theta, *choice_stages(len(theta), rankings, top_k))


def ranking_probability(theta: ArrayLike, ranking: Sequence[int],
                        top_k: int | None = None) -> float:
    """P(ranking | θ) of eq. (1): the product of its choice stages' probabilities."""
    return float(np.exp(ranking_log_likelihood(theta, [ranking], top_k)))


def fit_plackett_luce(n_items: int, rankings: Sequence[Sequence[int]], alpha: float = 0.0,
                      top_k: int | None = None, max_iter: int = 100) -> np.ndarray:
    """The centred strengths θ ``(n_items,)`` minimising −ℓ(θ) + α Σθ² over rankings (each
    best first, their first ``top_k`` places) by Newton's method (module docstring).

    ``alpha = 0`` is the maximum-likelihood estimate and needs the choice graph strongly
    connected (ValueError otherwise).
    """
    if not np.isfinite(alpha) or alpha < 0:
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
    alternatives, mask = choice_stages(n_items, rankings, top_k)
    winners = alternatives[:, 0]
    if alpha == 0:
        beats = np.zeros((n_items, n_items))
        rest = mask[:, 1:]  # each stage's winner beat every other alternative in it
        chooser = np.broadcast_to(winners[:, None], rest.shape)
        np.add.at(beats, (chooser[rest], alternatives[:, 1:][rest]), 1.0)
        if not strongly_connected(beats):
            raise ValueError("the maximum-likelihood strengths do not exist: the choice graph "
                             "is not strongly connected (pass alpha > 0 to regularise)")
    wins = np.bincount(winners, minlength=n_items).astype(np.float64)
    # the flat (a, b) index of every pair of alternatives within a stage, for the Hessian
    pair_index = (alternatives[:, :, None] * n_items + alternatives[:, None, :])
    pair_mask = mask[:, :, None] & mask[:, None, :]
    ones = np.ones((n_items, n_items)) / n_items  # pins the shift (see bradley_terry)

    def objective(theta: np.ndarray) -> float:
        return (-_stage_log_likelihood(theta, alternatives, mask) + alpha * theta @ theta
                + theta.sum() ** 2 / (2 * n_items))

    def grad_hess(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = np.where(mask, softmax(np.where(mask, theta[alternatives], -np.inf), axis=1), 0.0)
        grad = np.bincount(alternatives[mask], weights=p[mask], minlength=n_items) - wins
        grad += 2 * alpha * theta + theta.sum() / n_items
        outer = (p[:, :, None] * p[:, None, :])[pair_mask]
        hess = -np.bincount(pair_index[pair_mask], weights=outer,
                            minlength=n_items * n_items).reshape(n_items, n_items)
        hess += np.diag(np.bincount(alternatives[mask], weights=p[mask], minlength=n_items))
        return grad, hess + 2 * alpha * np.eye(n_items) + ones

    theta = newton(objective, grad_hess, n_items, max_iter=max_iter)
    return theta - theta.mean()


def sample_rankings(theta: ArrayLike, n_rankings: int, size: int,
                    rng: np.random.Generator) -> np.ndarray:
    """``n_rankings`` rankings int ``(n_rankings, size)``, best first, of ``size`` distinct
    items drawn uniformly: sorting θ + Gumbel noise draws a ranking from eq. (1) (Yellott 1977,
    "The relationship between Luce's Choice Axiom, Thurstone's Theory of Comparative Judgment,
    and the double exponential distribution")."""
    theta = np.asarray(theta, dtype=np.float64)
    if not 2 <= size <= len(theta):
        raise ValueError(f"size must be in 2..{len(theta)}, got {size}")
    if n_rankings < 1:
        raise ValueError(f"n_rankings must be >= 1, got {n_rankings}")
    shown = np.argsort(rng.random((n_rankings, len(theta))), axis=1)[:, :size]
    noisy = theta[shown] + rng.gumbel(size=shown.shape)
    return np.take_along_axis(shown, np.argsort(-noisy, axis=1), axis=1)


def rank_break(rankings: Sequence[Sequence[int]]) -> np.ndarray:
    """Every full ranking (best first, all of one length k) as all its implied [winner, loser]
    pairs, k(k − 1)/2 each: the rank-broken data a Bradley-Terry fit reads."""
    rankings = np.asarray(rankings)
    above, below = np.triu_indices(rankings.shape[1], k=1)
    return np.stack([rankings[:, above], rankings[:, below]], axis=-1).reshape(-1, 2)


def observed_information(n_items: int, rankings: Sequence[Sequence[int]],
                         theta: ArrayLike) -> np.ndarray:
    """The observed information of the PL likelihood at θ: Σ over choice stages of
    diag(p_A) − p_A p_Aᵀ, p_A the softmax of θ over the stage's alternatives A."""
    from scipy.special import softmax

    theta = np.asarray(theta, dtype=np.float64)
    alternatives, mask = choice_stages(n_items, rankings)
    p = np.where(mask, softmax(np.where(mask, theta[alternatives], -np.inf), axis=1), 0.0)
    hess = np.zeros((n_items, n_items))
    for s in range(alternatives.shape[0]):
        a, q = alternatives[s, mask[s]], p[s, mask[s]]
        hess[np.ix_(a, a)] += np.diag(q) - np.outer(q, q)
    return hess
