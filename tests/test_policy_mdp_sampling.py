"""Trajectories sampled from a tabular MDP follow its policy and dynamics, and their discounted
returns average to the exact policy value (the off-policy study's μ-data)."""

import numpy as np
import pytest

from algorithms.mdp import TabularMDP, exact_policy_value
from algorithms.mdp.trajectories import sample_trajectories


def _random_mdp(rng, S=4, A=3, gamma=0.5):
    return TabularMDP(rng.dirichlet(np.ones(S), size=(S, A)), rng.normal(size=(S, A)), gamma)


def test_actions_and_next_states_follow_the_policy_and_the_dynamics():
    rng = np.random.default_rng(0)
    mdp = _random_mdp(rng)
    policy = rng.dirichlet(np.ones(3), size=4)
    data = sample_trajectories(mdp, policy, np.full(40_000, 2), horizon=1, rng=rng)
    assert data.states.shape == (2, 40_000) and data.actions.shape == data.rewards.shape
    assert data.horizon == 1
    freq = np.bincount(data.actions[0], minlength=3) / 40_000
    assert freq == pytest.approx(policy[2], abs=0.01)
    a0 = data.actions[0] == 0
    next_freq = np.bincount(data.states[1][a0], minlength=4) / a0.sum()
    assert next_freq == pytest.approx(mdp.P[2, 0], abs=0.02)
    assert np.array_equal(data.rewards[0], mdp.R[2, data.actions[0]])


def test_discounted_returns_average_to_the_exact_policy_value():
    rng = np.random.default_rng(1)
    mdp = _random_mdp(rng)
    policy = rng.dirichlet(np.ones(3), size=4)
    starts = np.repeat(np.arange(4), 5000)
    data = sample_trajectories(mdp, policy, starts, horizon=30, rng=rng)  # 0.5^30: negligible
    returns = (mdp.gamma ** np.arange(30))[:, None] * data.rewards
    mc = returns.sum(axis=0).reshape(4, 5000).mean(axis=1)
    assert mc == pytest.approx(exact_policy_value(mdp, policy), abs=0.05)


def test_a_seeded_generator_reproduces_the_sample_and_terminal_states_absorb():
    P = np.zeros((2, 1, 2))
    P[0, 0, 1] = P[1, 0, 1] = 1.0
    mdp = TabularMDP(P, np.array([[1.0], [0.0]]), 0.9, terminal=np.array([False, True]))
    first = sample_trajectories(mdp, np.ones((2, 1)), [0, 0], 3, np.random.default_rng(5))
    again = sample_trajectories(mdp, np.ones((2, 1)), [0, 0], 3, np.random.default_rng(5))
    assert np.array_equal(first.states, again.states)
    assert first.states[:, 0].tolist() == [0, 1, 1, 1]
    assert first.rewards[:, 0].tolist() == [1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="probabilities"):
        sample_trajectories(mdp, np.full((2, 1), 0.5), [0], 1, np.random.default_rng(0))
