"""Elo ratings, and how much they depend on the order of the games.

Elo (1978), "The Rating of Chessplayers, Past and Present": player i, rated R_i, expects to score

    E_i = 1 / (1 + 10^{(R_j − R_i)/s})     (s = 400)                                    (1)

against j, and after the game, scoring S_i (1 a win, ½ a draw, 0 a loss),

    R_i ← R_i + K (S_i − E_i),   R_j ← R_j − K (S_i − E_i).                              (2)

(1) is Bradley-Terry's σ(θ_i − θ_j) with θ = R ln(10)/s (:func:`elo_to_bradley_terry`), and
(2) is one stochastic-gradient step, of size K ln(10)/s in θ, on that game's log-likelihood.
Being online, the final ratings depend on the order of the games, and with a fixed K they keep
moving by about K on every game instead of converging to the maximum-likelihood strengths,
which are a function of the win counts alone (:mod:`.bradley_terry`).
:func:`order_dependence` replays the same games in random orders and measures both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata

from algorithms.preference.bradley_terry import as_comparisons, fit_bradley_terry


def expected_score(r_i: ArrayLike, r_j: ArrayLike, scale: float = 400.0) -> np.ndarray:
    """E_i of eq. (1): the score i, rated ``r_i``, expects against j, rated ``r_j``."""
    return 1.0 / (1.0 + 10.0 ** ((np.asarray(r_j, dtype=np.float64) - r_i) / scale))


def _check(k: float, scale: float) -> None:
    if not np.isfinite(k) or k <= 0:
        raise ValueError(f"K must be a finite number > 0, got {k!r}")
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}")


def _scores(games: np.ndarray, scores: ArrayLike | None) -> np.ndarray:
    """S of the first player of every game: 1 (the default: rows are [winner, loser])."""
    if scores is None:
        return np.ones(len(games))
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != (len(games),) or np.any((s < 0) | (s > 1)):
        raise ValueError(f"scores must be {len(games)} numbers in [0, 1], one per game")
    return s


def _replay(n_players: int, first: np.ndarray, second: np.ndarray, s: np.ndarray,
            k: float, initial: float, scale: float) -> np.ndarray:
    """Eq. (2) over games in order, for B orders at once: ``first``, ``second`` and ``s`` are
    ``(B, m)``; returns the final ratings ``(B, n_players)``."""
    ratings = np.full((first.shape[0], n_players), float(initial))
    rows = np.arange(first.shape[0])
    for t in range(first.shape[1]):
        i, j = first[:, t], second[:, t]
        delta = k * (s[:, t] - expected_score(ratings[rows, i], ratings[rows, j], scale))
        ratings[rows, i] += delta
        ratings[rows, j] -= delta
    return ratings


def elo_ratings(n_players: int, games: ArrayLike, k: float = 32.0, initial: float = 1500.0,
                scale: float = 400.0, scores: ArrayLike | None = None) -> np.ndarray:
    """The ratings ``(n_players,)`` after eq. (2) over ``games`` in the order given: rows
    [i, j], i scoring ``scores`` (default 1: rows are [winner, loser]), everyone starting at
    ``initial``."""
    _check(k, scale)
    pairs = as_comparisons(n_players, games, what="player")
    s = _scores(pairs, scores)
    return _replay(n_players, pairs[None, :, 0], pairs[None, :, 1], s[None], k, initial,
                   scale)[0]


def elo_to_bradley_terry(ratings: ArrayLike, scale: float = 400.0) -> np.ndarray:
    """θ = (R − mean R) ln(10)/s: Elo ratings on Bradley-Terry's centred natural-log scale,
    so that σ(θ_i − θ_j) equals eq. (1)."""
    r = np.asarray(ratings, dtype=np.float64)
    return (r - r.mean()) * math.log(10.0) / scale


@dataclass(frozen=True)
class OrderDependence:
    """Final ratings over random orders of the same games, Elo's and Bradley-Terry's.

    ``elo``: ``(n_orders, n_players)`` final Elo ratings, one row per order;
    ``elo_std``: their standard deviation over orders, per player (rating points);
    ``elo_rank_correlation``: the mean Spearman ρ between the players' final ratings of two
    different orders, over all pairs of orders (1: every order ranks the players alike);
    ``bt``: ``(n_orders, n_players)`` Bradley-Terry MLE (or MAP) strengths, one row per order;
    ``bt_max_deviation``: max |θ_order − θ_first order| over orders and players (0: invariant).
    """

    elo: np.ndarray
    elo_std: np.ndarray
    elo_rank_correlation: float
    bt: np.ndarray
    bt_max_deviation: float


def order_dependence(n_players: int, games: ArrayLike, rng: np.random.Generator,
                     n_orders: int = 100, k: float = 32.0, initial: float = 1500.0,
                     scale: float = 400.0, alpha: float = 0.0) -> OrderDependence:
    """Replay the [winner, loser] ``games`` in ``n_orders`` random permutations (the given
    order first), rate by Elo (eq. 2) and by Bradley-Terry (``alpha`` as
    :func:`~algorithms.preference.bradley_terry.fit_bradley_terry`), and measure the spread."""
    _check(k, scale)
    if n_orders < 2:
        raise ValueError(f"n_orders must be >= 2 to compare orders, got {n_orders}")
    pairs = as_comparisons(n_players, games, what="player")
    orders = np.stack([np.arange(len(pairs))]
                      + [rng.permutation(len(pairs)) for _ in range(n_orders - 1)])
    shuffled = pairs[orders]  # (n_orders, m, 2)
    elo = _replay(n_players, shuffled[..., 0], shuffled[..., 1],
                  np.ones(orders.shape), k, initial, scale)
    ranks = rankdata(elo, axis=1)
    rho = np.corrcoef(ranks)  # Spearman's ρ: Pearson's r of the ranks
    # an order whose final ratings are all equal ranks no one: its ρ is undefined (NaN), left out
    off_diagonal = rho[~np.eye(n_orders, dtype=bool)]
    bt = np.stack([fit_bradley_terry(n_players, order, alpha=alpha) for order in shuffled])
    return OrderDependence(elo=elo, elo_std=elo.std(axis=0),
                           elo_rank_correlation=float(np.nanmean(off_diagonal)), bt=bt,
                           bt_max_deviation=float(np.abs(bt - bt[0]).max()))
