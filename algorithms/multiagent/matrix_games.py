"""Learning in two-player matrix games: fictitious play, Hedge and independent Q-learning, and
how far their strategies are from a Nash equilibrium.

A game gives the row player payoff A[i, j] and the column player B[i, j] when row plays i and
column plays j. For mixed strategies x (row) and y (column) the expected payoffs are xᵀAy and
xᵀBy. A best response to y is any pure strategy in argmax_i (Ay)_i. How much each player could
gain by deviating alone:

    NashConv(x, y) = [max_i (Ay)_i − xᵀAy] + [max_j (xᵀB)_j − xᵀBy]   (0 exactly at a Nash
                                                                       equilibrium)
    exploitability(x, y) = NashConv(x, y) / 2                          (OpenSpiel's convention)

so in rock–paper–scissors with ±1 payoffs the uniform profile has exploitability 0 and a pure
profile (rock, rock) has 1.

* Fictitious play (Brown 1951, "Iterative solution of games by fictitious play"; simultaneous
  form): at iteration t each player plays a best response to the other's empirical frequency of
  play so far, x̄_t = 1/t Σ_{s≤t} e_{a_s}. In two-player zero-sum games the empirical
  frequencies converge to a Nash equilibrium (Robinson 1951) while the played actions cycle.
* Hedge / multiplicative weights (Freund & Schapire 1999), each player alone with the expected
  payoff vector of its actions: x_{t+1} ∝ x_t ⊙ exp(η A y_t), y_{t+1} ∝ y_t ⊙ exp(η Bᵀ x_t).
  No-regret, so in zero-sum games the *average* strategies approach equilibrium at
  O(1/√T) for η ∝ 1/√T; the last iterate spirals away from it in RPS.
* Independent Q-learning (Claus & Boutilier 1998): each player treats the other as part of a
  stationary environment, keeps Q over its own actions, samples from the Boltzmann policy
  softmax(Q/τ) (τ annealed) and updates Q(a) ← Q(a) + λ (r − Q(a)) with its sampled reward.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MatrixGame:
    name: str
    actions: tuple[str, ...]  # both players' action names (all games here are square)
    row_payoff: np.ndarray  # A
    col_payoff: np.ndarray  # B

    @property
    def zero_sum(self) -> bool:
        return bool(np.allclose(self.row_payoff, -self.col_payoff))


def _game(name: str, actions: tuple[str, ...], a: list[list[float]], b: list[list[float]]
          ) -> MatrixGame:
    return MatrixGame(name, actions, np.asarray(a, dtype=float), np.asarray(b, dtype=float))


_RPS = [[0, -1, 1], [1, 0, -1], [-1, 1, 0]]
_PD = [[3, 0], [5, 1]]  # cooperate / defect; T = 5 > R = 3 > P = 1 > S = 0
GAMES = {
    "rps": _game("rock–paper–scissors", ("rock", "paper", "scissors"), _RPS,
                 (-np.asarray(_RPS)).tolist()),
    "matching_pennies": _game("matching pennies", ("heads", "tails"), [[1, -1], [-1, 1]],
                              [[-1, 1], [1, -1]]),
    "prisoners_dilemma": _game("prisoner's dilemma", ("cooperate", "defect"), _PD,
                               np.asarray(_PD).T.tolist()),
    "coordination": _game("coordination", ("A", "B"), [[2, 0], [0, 1]], [[2, 0], [0, 1]]),
}
"""The games by key. Their Nash equilibria: RPS uniform; matching pennies (½, ½); prisoner's
dilemma (defect, defect) by strict dominance; coordination (A, A), (B, B) and a mixed one."""


# ----------------------------------------------------------------------------- equilibrium gaps

def best_response(values: np.ndarray, rng: np.random.Generator | None = None) -> int:
    """A pure best response to the payoff vector ``values`` (Ay for the row player): the
    lowest maximising index, or a uniformly random one of the ties when ``rng`` is given."""
    best = np.flatnonzero(np.isclose(values, values.max(), rtol=0.0, atol=1e-12))
    return int(best[0] if rng is None else rng.choice(best))


def nash_conv(game: MatrixGame, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """NashConv of profiles x (..., n) and y (..., m): the sum of both players' gains from a
    best response; broadcasts over leading dimensions (a whole trajectory at once)."""
    a, b = game.row_payoff, game.col_payoff
    row_values = y @ a.T  # (Ay)_i for every profile
    col_values = x @ b  # (xᵀB)_j
    row_gain = row_values.max(-1) - (x * row_values).sum(-1)
    col_gain = col_values.max(-1) - (col_values * y).sum(-1)
    return row_gain + col_gain


def exploitability(game: MatrixGame, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """NashConv / 2, the mean gain from deviating (the exploitability of a zero-sum game)."""
    return nash_conv(game, x, y) / 2


def running_average(strategies: np.ndarray) -> np.ndarray:
    """x̄_t = 1/t Σ_{s≤t} x_s along axis 0."""
    return np.cumsum(strategies, axis=0) / np.arange(1, len(strategies) + 1)[:, None]


# ----------------------------------------------------------------------------- dynamics

@dataclass(frozen=True)
class Play:
    """What each player played at iterations 1..T: its strategy that iteration (one-hot for a
    pure action), shape (T, n) for the row player and (T, m) for the column player."""

    row: np.ndarray
    col: np.ndarray

    def averages(self) -> tuple[np.ndarray, np.ndarray]:
        return running_average(self.row), running_average(self.col)


def fictitious_play(game: MatrixGame, iterations: int, rng: np.random.Generator | None = None,
                    first: tuple[int, int] | None = None) -> Play:
    """Simultaneous fictitious play for ``iterations`` plays (the first included). The first
    actions are ``first``, or drawn uniformly with ``rng``; ties between best responses go to
    the lowest index, or are broken at random with ``rng``."""
    a, b = game.row_payoff, game.col_payoff
    n, m = a.shape
    if first is None:
        first = (0, 0) if rng is None else (int(rng.integers(n)), int(rng.integers(m)))
    row_counts, col_counts = np.zeros(n), np.zeros(m)
    row, col = np.zeros((iterations, n)), np.zeros((iterations, m))
    i, j = first
    for t in range(iterations):
        if t > 0:  # best responses to the other's empirical frequencies after t plays
            i = best_response(a @ (col_counts / t), rng)
            j = best_response(b.T @ (row_counts / t), rng)
        row[t, i] = col[t, j] = 1.0
        row_counts[i] += 1
        col_counts[j] += 1
    return Play(row, col)


def hedge(game: MatrixGame, iterations: int, lr: float, x0: np.ndarray | None = None,
          y0: np.ndarray | None = None) -> Play:
    """Both players run Hedge on their expected payoff vectors, simultaneously, from x0 and y0
    (uniform by default): x_{t+1} ∝ x_t exp(η Ay_t), y_{t+1} ∝ y_t exp(η Bᵀx_t)."""
    a, b = game.row_payoff, game.col_payoff
    n, m = a.shape
    x = np.full(n, 1 / n) if x0 is None else np.asarray(x0, dtype=float)
    y = np.full(m, 1 / m) if y0 is None else np.asarray(y0, dtype=float)
    row, col = np.zeros((iterations, n)), np.zeros((iterations, m))
    for t in range(iterations):
        row[t], col[t] = x, y
        # the log-domain update, normalised by the max, never overflows
        log_x = np.log(x) + lr * (a @ y)
        log_y = np.log(y) + lr * (b.T @ x)
        x = np.exp(log_x - log_x.max())
        y = np.exp(log_y - log_y.max())
        x, y = x / x.sum(), y / y.sum()
    return Play(row, col)


def softmax(q: np.ndarray, temperature: float) -> np.ndarray:
    z = (q - q.max()) / temperature
    return np.exp(z) / np.exp(z).sum()


def independent_q_learning(game: MatrixGame, iterations: int, rng: np.random.Generator,
                           lr: float = 0.1, temperature: float = 1.0,
                           final_temperature: float = 0.05) -> Play:
    """Both players run stateless Q-learning with Boltzmann exploration, each seeing only its
    own sampled reward. τ decays geometrically from ``temperature`` to ``final_temperature``
    over the run (with a small fixed τ the first action tried locks in: Q starts at 0 and every
    payoff of the prisoner's dilemma is ≥ 0). Recorded: each player's Boltzmann policy
    softmax(Q/τ) every iteration (the strategy it plays, whose exploitability is measured)."""
    a, b = game.row_payoff, game.col_payoff
    n, m = a.shape
    q_row, q_col = np.zeros(n), np.zeros(m)
    row, col = np.zeros((iterations, n)), np.zeros((iterations, m))
    taus = np.geomspace(temperature, final_temperature, iterations)
    for t in range(iterations):
        x, y = softmax(q_row, taus[t]), softmax(q_col, taus[t])
        row[t], col[t] = x, y
        i, j = int(rng.choice(n, p=x)), int(rng.choice(m, p=y))
        q_row[i] += lr * (a[i, j] - q_row[i])  # Q(a) ← Q(a) + λ (r − Q(a))
        q_col[j] += lr * (b[i, j] - q_col[j])
    return Play(row, col)


def loglog_slope(steps: np.ndarray, values: np.ndarray) -> float:
    """The least-squares slope of log(values) against log(steps): the empirical rate exponent
    (values ∝ steps^slope). Non-positive values are left out."""
    keep = (np.asarray(values) > 0) & (np.asarray(steps) > 0)
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(steps[keep]), np.log(values[keep]), 1)[0])
