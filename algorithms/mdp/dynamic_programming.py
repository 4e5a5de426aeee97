"""Dynamic programming for finite MDPs: Sutton & Barto (2nd ed., 2018), chapter 4.

Everything here is built on one backup, the expected one-step return

    q(s, a) = r(s, a) + γ Σ_s' p(s'|s, a) v(s')                                  (eq. 4.6)

evaluated either for every action (the Bellman optimality backup, eq. 4.10, and policy
improvement, eq. 4.9) or for the actions of a fixed policy (policy evaluation, eq. 4.5).

Counting convention, the same for every algorithm so that their costs compare fairly:
one *backup* is one evaluation of q(s, a) for one state-action pair, i.e. one expectation over
next states. A sweep that applies the optimality backup to state s costs |A(s)| backups (the
allowed actions); an evaluation sweep costs |{a : π(a|s) > 0}| backups per state (1 for a
deterministic policy); a policy-improvement step costs |A(s)| per state. Terminal states are never
backed up (their value is 0). Extracting the greedy policy once at the end of value iteration is
not counted: the comparison is about computing v.

A *sweep* is one pass over the non-terminal states that updates V. Synchronous sweeps compute all
new values from the old array (the two-array version of §4.1); in-place sweeps overwrite V state
by state, so later states already see the new values (the one-array version, Gauss–Seidel).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from algorithms.mdp.mdp import TabularMDP


@dataclass(frozen=True, eq=False)
class DPResult:
    """What a DP algorithm returns.

    ``history[k]`` is ‖V_{k+1} − V_k‖∞ for sweep k+1; ``backups_history`` and
    ``seconds_history`` are the cumulative backups and wall-clock seconds after that sweep, and
    ``values`` the value arrays after each sweep when the algorithm was asked to record them.
    ``improvements`` counts policy-improvement steps (every sweep of value iteration is one).
    ``policy`` is greedy w.r.t. V (action indices), or for ``policy_evaluation`` the policy that
    was evaluated.
    """

    V: np.ndarray
    policy: np.ndarray
    sweeps: int
    improvements: int
    backups: int
    converged: bool
    history: list[float]
    backups_history: list[int]
    seconds_history: list[float]
    values: list[np.ndarray] | None


class _Trace:
    """Counts an algorithm's work and records what it did after each sweep."""

    def __init__(self, record_values: bool):
        self.start = time.perf_counter()
        self.backups = 0
        self.improvements = 0
        self.history: list[float] = []
        self.backups_history: list[int] = []
        self.seconds_history: list[float] = []
        self.values: list[np.ndarray] | None = [] if record_values else None

    @property
    def sweeps(self) -> int:
        return len(self.history)

    def sweep(self, delta: float, backups: int, V: np.ndarray, improves: bool = False) -> None:
        self.backups += backups
        self.improvements += improves
        self.history.append(float(delta))
        self.backups_history.append(self.backups)
        self.seconds_history.append(time.perf_counter() - self.start)
        if self.values is not None:
            self.values.append(V.copy())

    def improvement(self, backups: int) -> None:
        self.backups += backups
        self.improvements += 1

    def result(self, V: np.ndarray, policy: np.ndarray, converged: bool) -> DPResult:
        return DPResult(V, policy, self.sweeps, self.improvements, self.backups, converged,
                        self.history, self.backups_history, self.seconds_history, self.values)


# ----------------------------------------------------------------------------- the backup

def _backup(r: np.ndarray, P: np.ndarray, V: np.ndarray, gamma: float) -> np.ndarray:
    """r + γ Σ_s' P(s') V(s'): the bracket of eqs. 4.5, 4.6 and 4.10, for any batch of rows."""
    return r + gamma * (P @ V)


def q_from_v(mdp: TabularMDP, V: np.ndarray, states: np.ndarray | int | slice = slice(None)
             ) -> np.ndarray:
    """q(s, a) = r(s, a) + γ Σ_s' p(s'|s,a) V(s') (eq. 4.6) for ``states`` (default: all)."""
    return _backup(mdp.R[states], mdp.P[states], V, mdp.gamma)


def _sweep(V: np.ndarray, states: np.ndarray,
           backup: Callable[[np.ndarray, np.ndarray], np.ndarray], in_place: bool) -> float:
    """Apply ``backup(V, s)`` to every state in ``states``, updating V; return ‖ΔV‖∞."""
    if not in_place:
        new = backup(V, states)
        delta = np.max(np.abs(new - V[states]), initial=0.0)
        V[states] = new
        return float(delta)
    delta = 0.0
    for s in states:  # one at a time, so that V[s'] for s' < s is already the new value
        v = backup(V, s)
        delta = max(delta, abs(v - V[s]))
        V[s] = v
    return float(delta)


# ----------------------------------------------------------------------------- greedy policies

def _only_allowed(q: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """q with disallowed actions at −∞, so that max and argmax never pick them."""
    return np.where(allowed, q, -np.inf)


def _ties(q: np.ndarray, allowed: np.ndarray, tol: float) -> np.ndarray:
    """The allowed actions whose q is within ``tol`` of the best: the argmax set of eq. 4.9."""
    q = _only_allowed(q, allowed)
    return q >= q.max(axis=-1, keepdims=True) - tol


def _greedy(q: np.ndarray, allowed: np.ndarray, prefer: np.ndarray, tol: float) -> np.ndarray:
    # Keeping the current action whenever it is still among the best stops policy iteration from
    # cycling forever between equally good policies (the bug of S&B Exercise 4.4).
    ties = _ties(q, allowed, tol)
    keep = np.take_along_axis(ties, np.expand_dims(prefer, -1), axis=-1).squeeze(-1)
    return np.where(keep, prefer, ties.argmax(axis=-1))


def greedy_actions(mdp: TabularMDP, V: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    """Boolean (S, A): the allowed actions maximising q(s, a) within ``tol`` (all ties)."""
    return _ties(q_from_v(mdp, V), mdp.action_mask, tol)


def greedy_policy(mdp: TabularMDP, V: np.ndarray, prefer: np.ndarray | None = None,
                  tol: float = 1e-12) -> np.ndarray:
    """π'(s) = argmax_a q(s, a) (eq. 4.9), as action indices.

    Ties (within ``tol``) go to ``prefer[s]`` when it is among them, else to the lowest index.
    """
    if prefer is None:
        return greedy_actions(mdp, V, tol).argmax(axis=1)
    return _greedy(q_from_v(mdp, V), mdp.action_mask, np.asarray(prefer), tol)


def uniform_random_policy(mdp: TabularMDP) -> np.ndarray:
    """π(a|s) = 1/|A(s)|: the equiprobable random policy of Example 4.1, shape (S, A).

    Terminal states with no allowed action get an all-zero row; their value is 0 regardless.
    """
    counts = mdp.action_mask.sum(axis=1, keepdims=True)
    return np.divide(mdp.action_mask, counts, out=np.zeros(mdp.R.shape), where=counts > 0)


# ----------------------------------------------------------------------------- policy evaluation

def _policy_model(mdp: TabularMDP, policy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The MDP seen through π: r_π(s) = Σ_a π(a|s) r(s,a), P_π(s'|s) = Σ_a π(a|s) p(s'|s,a),
    and the number of actions each state's backup looks at."""
    policy = np.asarray(policy)
    states = mdp.nonterminal
    if policy.shape == (mdp.n_states,) and np.issubdtype(policy.dtype, np.integer):
        if not ((0 <= policy) & (policy < mdp.n_actions)).all() or \
                not mdp.action_mask[states, policy[states]].all():
            raise ValueError("a deterministic policy must pick an allowed action in every state")
        rows = np.arange(mdp.n_states)
        return mdp.R[rows, policy], mdp.P[rows, policy], np.ones(mdp.n_states, int)
    if policy.shape != mdp.R.shape or (policy < 0).any() or (policy[~mdp.action_mask] > 0).any() \
            or not np.allclose(policy[states].sum(axis=1), 1.0):
        raise ValueError("a policy is (S,) action indices or (S, A) probabilities over allowed "
                         "actions")
    return (np.einsum("sa,sa->s", policy, mdp.R), np.einsum("sa,sat->st", policy, mdp.P),
            (policy > 0).sum(axis=1))


def _start(mdp: TabularMDP, V: np.ndarray | None) -> np.ndarray:
    V = np.zeros(mdp.n_states) if V is None else np.array(V, dtype=np.float64)
    V[mdp.terminal] = 0.0
    return V


def _evaluate(mdp: TabularMDP, policy: np.ndarray, V: np.ndarray, theta: float, in_place: bool,
              max_sweeps: float, trace: _Trace) -> bool:
    """Sweep v ← r_π + γ P_π v (eq. 4.5) on V until ‖ΔV‖∞ < θ; False if max_sweeps ran out."""
    r, P, n_actions = _policy_model(mdp, policy)
    states = mdp.nonterminal
    backups = int(n_actions[states].sum())
    sweeps = 0
    while sweeps < max_sweeps:
        delta = _sweep(V, states, lambda V, s: _backup(r[s], P[s], V, mdp.gamma), in_place)
        trace.sweep(delta, backups, V)
        sweeps += 1
        if delta < theta:
            return True
    return False


def policy_evaluation(mdp: TabularMDP, policy: np.ndarray, theta: float = 1e-10,
                      in_place: bool = False, max_sweeps: int = 1_000_000,
                      V: np.ndarray | None = None, record_values: bool = False) -> DPResult:
    """Iterative policy evaluation (S&B §4.1, eq. 4.5, boxed algorithm p. 75).

        v_{k+1}(s) = Σ_a π(a|s) Σ_s' p(s'|s,a) [r + γ v_k(s')]

    ``policy`` is (S,) action indices or (S, A) probabilities. Stops when a sweep changes no
    value by more than θ. ``in_place=True`` is the book's one-array version, which usually
    converges in fewer sweeps. Each sweep is a γ-contraction, so for γ < 1 the remaining error
    is at most θγ/(1−γ).
    """
    trace = _Trace(record_values)
    V = _start(mdp, V)
    converged = _evaluate(mdp, policy, V, theta, in_place, max_sweeps, trace)
    return trace.result(V, np.asarray(policy), converged)


def exact_policy_value(mdp: TabularMDP, policy: np.ndarray) -> np.ndarray:
    """v_π from the Bellman equation (eq. 4.4) as one linear system: (I − γ P_π) v = r_π.

    Terminal values are 0, so their columns drop out. Over the non-terminal states I − γP_π is
    invertible when γ < 1, and for γ = 1 whenever π reaches a terminal state with probability 1
    (a *proper* policy); for an improper one numpy raises ``LinAlgError``.
    """
    r, P, _ = _policy_model(mdp, policy)
    states = mdp.nonterminal
    V = np.zeros(mdp.n_states)
    V[states] = np.linalg.solve(np.eye(len(states)) - mdp.gamma * P[np.ix_(states, states)],
                                r[states])
    return V


# ----------------------------------------------------------------------------- control

def value_iteration(mdp: TabularMDP, theta: float = 1e-10, in_place: bool = False,
                    max_sweeps: int = 1_000_000, V: np.ndarray | None = None,
                    record_values: bool = False) -> DPResult:
    """Value iteration (S&B §4.4, eq. 4.10, boxed algorithm p. 83).

        v_{k+1}(s) = max_a Σ_s' p(s'|s,a) [r + γ v_k(s')]

    Stops, as the book's box does, when a sweep changes no value by more than θ. This plain rule
    bounds no error by itself (for γ < 1, stopping at ε(1−γ)/(2γ) instead would guarantee
    ‖v − v*‖∞ < ε/2 and an ε-optimal greedy policy: Puterman 1994, Thm. 6.3.1); forge's
    experiments measure ‖v − v*‖∞ directly against an exact v*. The policy returned is greedy
    w.r.t. the final V (eq. 4.9).
    """
    trace = _Trace(record_values)
    V = _start(mdp, V)
    states = mdp.nonterminal
    backups = int(mdp.action_mask[states].sum())

    def backup(V: np.ndarray, s: np.ndarray) -> np.ndarray:
        return _only_allowed(q_from_v(mdp, V, s), mdp.action_mask[s]).max(axis=-1)

    converged = False
    while trace.sweeps < max_sweeps and not converged:
        delta = _sweep(V, states, backup, in_place)
        trace.sweep(delta, backups, V, improves=True)
        converged = delta < theta
    return trace.result(V, greedy_policy(mdp, V), converged)


def policy_iteration(mdp: TabularMDP, theta_eval: float = 1e-10, in_place: bool = False,
                     policy: np.ndarray | None = None, max_sweeps: int = 1_000_000,
                     tie_tol: float = 1e-12, record_values: bool = False) -> DPResult:
    """Policy iteration (S&B §4.3, boxed algorithm p. 80).

    Alternate (1) iterative policy evaluation of π to ``theta_eval`` and (2) greedy improvement
    π'(s) = argmax_a q_π(s, a) (eq. 4.9) until the policy is stable. A tie keeps the current
    action, so the loop cannot cycle between equally good policies (Exercise 4.4).

    Each evaluation starts from the previous policy's values, as §4.3 suggests. The default first
    policy is the equiprobable random one (as in Example 4.1) rather than an arbitrary
    deterministic one: in every episodic task here it ends episodes with probability 1, so its
    evaluation converges even when γ = 1.
    """
    trace = _Trace(record_values)
    V = _start(mdp, None)
    policy = uniform_random_policy(mdp) if policy is None else np.asarray(policy)
    improvement_backups = int(mdp.action_mask[mdp.nonterminal].sum())
    while _evaluate(mdp, policy, V, theta_eval, in_place, max_sweeps - trace.sweeps, trace):
        deterministic = policy.ndim == 1
        new_policy = greedy_policy(mdp, V, prefer=policy if deterministic else None, tol=tie_tol)
        trace.improvement(improvement_backups)
        if deterministic and np.array_equal(new_policy, policy):
            return trace.result(V, policy, converged=True)
        policy = new_policy
    return trace.result(V, policy, converged=False)


def modified_policy_iteration(mdp: TabularMDP, k: float, theta: float = 1e-10,
                              in_place: bool = False, max_sweeps: int = 1_000_000,
                              V: np.ndarray | None = None, tie_tol: float = 1e-12,
                              record_values: bool = False) -> DPResult:
    """Modified policy iteration (Puterman & Shin 1978; Puterman 1994 §6.5; S&B §4.6 calls it a
    form of generalized policy iteration).

        π_{n+1} = greedy(v_n),    v_{n+1} = (T_{π_{n+1}})^k v_n

    Computing the greedy policy already evaluates every q(s, a), and T_π v = max_a q(s, a) for
    the greedy π, so the improvement pass doubles as the first of the k evaluation sweeps: k = 1
    is exactly value iteration (same sweeps, same backups) and k = ∞ is policy iteration with
    evaluation run to θ. Evaluation sweeps stop early once ‖ΔV‖∞ < θ, and the whole algorithm
    stops, like value iteration, when an improvement pass changes no value by more than θ.

    Convergence is guaranteed from any V with T V ≥ V (Puterman 1994, §6.5), e.g. the value of
    any policy. V = 0 is fine for finite k, but with γ = 1 and large k it can be a trap: when
    every reward is negative, the greedy policy w.r.t. 0 may never terminate (it walks into a
    wall for ever) and evaluating it diverges.
    """
    if not k >= 1:
        raise ValueError(f"k must be at least 1, got {k}")
    trace = _Trace(record_values)
    V = _start(mdp, V)
    states = mdp.nonterminal
    backups = int(mdp.action_mask[states].sum())
    policy = mdp.action_mask.argmax(axis=1)  # preferring it in the first step = lowest index

    def improve(V: np.ndarray, s: np.ndarray) -> np.ndarray:
        # the greedy action is stored in passing: T_π v for the new π is then q(s, π(s))
        q = q_from_v(mdp, V, s)
        policy[s] = _greedy(q, mdp.action_mask[s], policy[s], tie_tol)
        return np.take_along_axis(q, np.expand_dims(policy[s], -1), axis=-1).squeeze(-1)

    converged = False
    while trace.sweeps < max_sweeps and not converged:
        delta = _sweep(V, states, improve, in_place)
        trace.sweep(delta, backups, V, improves=True)
        converged = delta < theta
        if not converged:
            _evaluate(mdp, policy, V, theta, in_place, min(k - 1, max_sweeps - trace.sweeps), trace)
    return trace.result(V, policy.copy(), converged)


def value_errors(result: DPResult, v_star: np.ndarray) -> np.ndarray:
    """‖V_k − v*‖∞ after every sweep k = 1, 2, … of a run that recorded its values
    (``record_values=True``)."""
    if result.values is None:
        raise ValueError("the run did not record its values: pass record_values=True")
    return np.abs(np.array(result.values) - v_star).max(axis=1)


def bellman_residual(mdp: TabularMDP, V: np.ndarray) -> float:
    """‖T V − V‖∞ with T the Bellman optimality operator (eq. 4.1); zero exactly when V = v*."""
    best = _only_allowed(q_from_v(mdp, V), mdp.action_mask).max(axis=1)
    return float(np.max(np.abs(best - V)[mdp.nonterminal], initial=0.0))


def optimal_values(mdp: TabularMDP, theta: float = 1e-12) -> DPResult:
    """v* to machine precision: value iteration to θ finds an optimal policy, and solving its
    Bellman equation exactly (``exact_policy_value``) removes value iteration's remaining error.
    Raises if the result does not satisfy the Bellman optimality equation."""
    result = value_iteration(mdp, theta=theta)
    V = exact_policy_value(mdp, result.policy)
    if bellman_residual(mdp, V) > 1e-9 * max(1.0, np.abs(V).max()):
        raise RuntimeError(f"{mdp.name}: value iteration to θ={theta} found no optimal policy")
    return dataclasses.replace(result, V=V)
