"""Sampling trajectories of a finite MDP under a stochastic policy, many at once.

Monte Carlo estimates on a :class:`TabularMDP` (off-policy value targets in week 4, returns to
check against :func:`exact_policy_value`) need episodes drawn from the model itself:

    a_t ~ π(· | s_t),   s_{t+1} ~ p(· | s_t, a_t),   r_t = r(s_t, a_t)

The MDP stores only the expected reward r(s, a) (see :mod:`algorithms.mdp.mdp`), so r_t is that
expectation: the sampled returns carry the noise of the actions and transitions, not of rewards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from algorithms.mdp.mdp import TabularMDP


@dataclass(frozen=True)
class Trajectories:
    """M trajectories of ``horizon`` steps, time-major: ``states`` (H + 1, M) with the state
    after the last step, ``actions`` and ``rewards`` (H, M)."""

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray

    @property
    def horizon(self) -> int:
        return self.actions.shape[0]


def _draw(cdf: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One index per row of ``cdf`` (rows of cumulative probabilities), by inverting it with one
    uniform draw per row; the clip guards against a last entry rounded just below 1."""
    u = rng.random(cdf.shape[0])[:, None]
    return np.minimum((u > cdf).sum(axis=1), cdf.shape[1] - 1)


def sample_trajectories(mdp: TabularMDP, policy: np.ndarray, start_states: np.ndarray,
                        horizon: int, rng: np.random.Generator) -> Trajectories:
    """``policy`` (S, A probabilities) rolled out for ``horizon`` steps from each of
    ``start_states``, all trajectories in step. At each step every trajectory draws its action,
    then its next state (one uniform each, in that order), so a seeded ``rng`` reproduces the
    sample. Terminal states loop with reward 0: a trajectory that reaches one stays there."""
    policy = np.asarray(policy, dtype=float)
    if policy.shape != mdp.R.shape or (policy < 0).any() or \
            not np.allclose(policy.sum(axis=1), 1.0):
        raise ValueError(f"policy must be (S, A) = {mdp.R.shape} probabilities, rows summing to 1")
    start_states = np.asarray(start_states, dtype=int)
    M = len(start_states)
    states = np.zeros((horizon + 1, M), dtype=int)
    actions = np.zeros((horizon, M), dtype=int)
    rewards = np.zeros((horizon, M))
    states[0] = start_states
    policy_cdf, transition_cdf = policy.cumsum(axis=1), mdp.P.cumsum(axis=2)
    for t in range(horizon):
        s = states[t]
        actions[t] = _draw(policy_cdf[s], rng)
        rewards[t] = mdp.R[s, actions[t]]
        states[t + 1] = _draw(transition_cdf[s, actions[t]], rng)
    return Trajectories(states, actions, rewards)
