"""The Bradley-Terry model of paired comparisons and its maximum-likelihood strengths.

Bradley & Terry (1952), "Rank Analysis of Incomplete Block Designs: I. The Method of Paired
Comparisons": item i beats item j with probability π_i / (π_i + π_j). With θ = log π,

    P(i beats j) = σ(θ_i − θ_j),   σ(x) = 1 / (1 + e^{−x}),                            (1)

and the log-likelihood of m comparisons (w_c beat l_c) depends on them only through the win
counts W_ij = #{c : w_c = i, l_c = j}:

    ℓ(θ) = Σ_c log σ(θ_{w_c} − θ_{l_c}) = Σ_ij W_ij log σ(θ_i − θ_j).                   (2)

(2) is concave and invariant to θ → θ + c·1, so the strengths are reported centred (mean 0).
The maximum exists and is unique, up to that shift, iff in every partition of the items into
two non-empty sets some item of each set beats some item of the other (Ford 1957; Hunter 2004,
"MM algorithms for generalized Bradley-Terry models", Assumption 1): the directed graph
i → j when i beat j is strongly connected. An L2 penalty makes the maximum exist always; its
convention is choix's ``opt_pairwise`` (``alpha``): the minimised objective is

    −ℓ(θ) + α Σ_i θ_i²,                                                                 (3)

whose minimiser is centred already (the gradient of −ℓ sums to 0, so Σθ = 0 at the optimum).

:func:`fit_bradley_terry` minimises (3) by Newton's method with a backtracking line search
(Boyd & Vandenberghe 2004, Algorithm 9.5). The Hessian of −ℓ is the weighted graph Laplacian
L = diag(C1) − C, C_ij = (W_ij + W_ji) σ(θ_i − θ_j) σ(θ_j − θ_i), singular along 1; adding
(1ᵀθ)² / (2n) to (3) leaves the centred minimiser where it is (that term's gradient, (1ᵀθ)/n · 1,
vanishes there) and makes the Newton system positive definite whenever the graph is connected.
The fit reads only W, built by integer counting, so it is exactly (bit for bit) the same for
every order of the comparisons, which Elo's online updates are not (:mod:`.elo`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike
from scipy.sparse.csgraph import connected_components
from scipy.special import expit


def check_items(n_items: int, items: np.ndarray, what: str = "item") -> None:
    """Raise ValueError unless every index in ``items`` is an integer in 0..n_items−1."""
    if not isinstance(n_items, (int, np.integer)) or n_items < 2:
        raise ValueError(f"n_items must be an integer >= 2, got {n_items!r}")
    if items.size and (items.min() < 0 or items.max() >= n_items):
        bad = items[(items < 0) | (items >= n_items)].flat[0]
        raise ValueError(f"{what} index {bad} is out of range 0..{n_items - 1}")


def as_comparisons(n_items: int, comparisons: ArrayLike, what: str = "item") -> np.ndarray:
    """``comparisons`` as an int ``(m, 2)`` array of [winner, loser] rows, checked: non-empty,
    indices in 0..n_items−1, no item compared with itself."""
    pairs = np.asarray(comparisons)
    if pairs.size == 0:
        raise ValueError("no comparisons given: need at least one (winner, loser) pair")
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(f"comparisons must be (winner, loser) pairs, got shape {pairs.shape}")
    if not np.issubdtype(pairs.dtype, np.integer):
        if not np.all(np.equal(np.mod(pairs, 1), 0)):
            raise ValueError("comparisons must hold integer indices")
        pairs = pairs.astype(np.int64)
    check_items(n_items, pairs, what)
    if np.any(pairs[:, 0] == pairs[:, 1]):
        i = int(pairs[pairs[:, 0] == pairs[:, 1], 0][0])
        raise ValueError(f"{what} {i} is compared with itself")
    return pairs.astype(np.int64)


def win_matrix(n_items: int, comparisons: ArrayLike) -> np.ndarray:
    """W, float ``(n, n)``: W_ij = the number of comparisons i won against j (eq. 2)."""
    pairs = as_comparisons(n_items, comparisons)
    counts = np.bincount(pairs[:, 0] * n_items + pairs[:, 1], minlength=n_items * n_items)
    return counts.reshape(n_items, n_items).astype(np.float64)


def win_probability(theta: ArrayLike, i: ArrayLike, j: ArrayLike) -> np.ndarray:
    """P(i beats j) = σ(θ_i − θ_j) (eq. 1); ``i`` and ``j`` broadcast."""
    theta = np.asarray(theta, dtype=np.float64)
    return expit(theta[np.asarray(i)] - theta[np.asarray(j)])


def pairwise_log_likelihood(theta: ArrayLike, comparisons: ArrayLike) -> float:
    """ℓ(θ) = Σ_c log σ(θ_{w_c} − θ_{l_c}) (eq. 2), natural log, of [winner, loser] rows."""
    theta = np.asarray(theta, dtype=np.float64)
    pairs = as_comparisons(len(theta), comparisons)
    return float(-np.logaddexp(0.0, theta[pairs[:, 1]] - theta[pairs[:, 0]]).sum())


def strongly_connected(beats: np.ndarray) -> bool:
    """Whether the directed graph with an edge i → j wherever ``beats[i, j] > 0`` is strongly
    connected: Hunter's (2004) Assumption 1, the condition for the unpenalised MLE to exist."""
    n_components, _ = connected_components(beats > 0, directed=True, connection="strong")
    return n_components == 1


def newton(objective: Callable[[np.ndarray], float],
           grad_hess: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
           n: int, max_iter: int = 100, tol: float = 1e-12) -> np.ndarray:
    """Minimise a smooth convex function of θ ∈ R^n from θ = 0 by Newton's method with a
    backtracking (Armijo) line search (Boyd & Vandenberghe 2004, Algorithm 9.5).

    ``grad_hess`` must return a positive-definite Hessian. Stops when the squared Newton
    decrement λ² = gᵀH⁻¹g (twice the predicted remaining decrease) is at most
    tol · (1 + |f|), after taking that last full step: inside the quadratic region the error
    after it is of order λ⁴, well below what the objective's rounding lets a line search see.
    """
    theta = np.zeros(n)
    for _ in range(max_iter):
        f = objective(theta)
        g, h = grad_hess(theta)
        step = np.linalg.solve(h, -g)
        decrement = float(-g @ step)
        if decrement <= tol * (1.0 + abs(f)):
            return theta + step
        t = 1.0
        while objective(theta + t * step) > f - 0.25 * t * decrement:
            t *= 0.5
            if t < 1e-12:
                raise RuntimeError("Newton line search failed: the objective does not decrease")
        theta = theta + t * step
    raise RuntimeError(f"Newton's method did not converge in {max_iter} iterations")


def fit_bradley_terry(n_items: int, comparisons: ArrayLike, alpha: float = 0.0,
                      max_iter: int = 100) -> np.ndarray:
    """The centred strengths θ ``(n_items,)`` minimising −ℓ(θ) + α Σθ² (eq. 3) over
    [winner, loser] rows, by Newton's method on W (module docstring).

    ``alpha = 0`` is the maximum-likelihood estimate and needs the comparison graph strongly
    connected (ValueError otherwise: some item never wins or never loses against the rest).
    """
    if not np.isfinite(alpha) or alpha < 0:
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
    wins = win_matrix(n_items, comparisons)
    if alpha == 0 and not strongly_connected(wins):
        raise ValueError("the maximum-likelihood strengths do not exist: the comparison graph "
                         "is not strongly connected (pass alpha > 0 to regularise)")
    total = wins + wins.T
    ones = np.ones((n_items, n_items)) / n_items

    def objective(theta: np.ndarray) -> float:
        diff = theta[:, None] - theta[None, :]
        return float((wins * np.logaddexp(0.0, -diff)).sum() + alpha * theta @ theta
                     + theta.sum() ** 2 / (2 * n_items))

    def grad_hess(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = expit(theta[:, None] - theta[None, :])  # p[i, j] = P(i beats j)
        surprise = wins * p.T  # W_ij σ(θ_j − θ_i): each win weighted by how unexpected it was
        grad = surprise.sum(axis=0) - surprise.sum(axis=1) + 2 * alpha * theta
        grad += theta.sum() / n_items
        c = total * p * p.T
        hess = np.diag(c.sum(axis=1)) - c + 2 * alpha * np.eye(n_items) + ones
        return grad, hess

    theta = newton(objective, grad_hess, n_items, max_iter=max_iter)
    return theta - theta.mean()


def sample_comparisons(theta: ArrayLike, n_comparisons: int,
                       rng: np.random.Generator) -> np.ndarray:
    """``n_comparisons`` [winner, loser] rows of int64: each a pair of distinct items drawn
    uniformly, the winner drawn by eq. (1)."""
    theta = np.asarray(theta, dtype=np.float64)
    n = len(theta)
    if n < 2:
        raise ValueError(f"need at least 2 items to compare, got {n}")
    if n_comparisons < 1:
        raise ValueError(f"n_comparisons must be >= 1, got {n_comparisons}")
    i = rng.integers(n, size=n_comparisons)
    j = (i + rng.integers(1, n, size=n_comparisons)) % n  # uniform over the other n − 1
    first_wins = rng.random(n_comparisons) < expit(theta[i] - theta[j])
    return np.stack([np.where(first_wins, i, j), np.where(first_wins, j, i)], axis=1)


def observed_information(n_items: int, comparisons: ArrayLike, theta: ArrayLike) -> np.ndarray:
    """The observed information of the BT likelihood at θ (the Hessian of −ℓ): the Laplacian of
    C_ij = (W_ij + W_ji) σ(θ_i − θ_j) σ(θ_j − θ_i). Singular along 1 (θ is defined up to a
    shift)."""
    theta = np.asarray(theta, dtype=np.float64)
    wins = win_matrix(n_items, comparisons)
    p = expit(theta[:, None] - theta[None, :])
    c = (wins + wins.T) * p * p.T
    return np.diag(c.sum(axis=1)) - c


def standard_errors(information: np.ndarray) -> np.ndarray:
    """Each θ̂_i's model-based standard error from the pseudo-inverse of the information (the
    covariance of the centred estimate)."""
    return np.sqrt(np.clip(np.diag(np.linalg.pinv(information)), 0.0, None))
