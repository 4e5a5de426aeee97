"""Replay for DQN, against hand computations: the sum-tree's sums, lookups and sampling
proportions, prioritized replay's probabilities and importance weights (Schaul et al. 2016),
n-step transitions cut at a termination and bootstrapped at a truncation."""

import numpy as np
import pytest

from algorithms.value.replay import (
    NStepAccumulator,
    PrioritizedReplayBuffer,
    ReplayBuffer,
    SumTree,
)


def test_sum_tree_keeps_every_inner_node_the_sum_of_its_children():
    tree = SumTree(5)  # 8 leaves, 3 of them never used
    tree.update(np.arange(5), np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert tree.total == 15.0
    leaves = tree.tree[8:]
    assert leaves.tolist() == [1, 2, 3, 4, 5, 0, 0, 0]
    assert tree.tree[4:8].tolist() == [3, 7, 5, 0]  # pairs of leaves
    assert tree.tree[2:4].tolist() == [10, 5] and tree.tree[1] == 15
    tree.update(np.array([1, 4]), np.array([0.5, 1.0]))  # two paths re-added at once
    assert tree.total == 9.5 and tree.tree[4:8].tolist() == [1.5, 7, 1, 0]
    assert tree[np.array([0, 1, 4])].tolist() == [1.0, 0.5, 1.0]


def test_sum_tree_finds_the_leaf_whose_prefix_interval_holds_u():
    tree = SumTree(4)
    tree.update(np.arange(4), np.array([1.0, 2.0, 3.0, 4.0]))  # intervals [0,1) [1,3) [3,6) [6,10)
    u = np.array([0.0, 0.999, 1.0, 2.5, 3.0, 5.999, 6.0, 9.999])
    assert tree.find(u).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_a_single_leaf_tree_and_a_capacity_that_is_not_a_power_of_two():
    one = SumTree(1)
    one.update(np.array([0]), np.array([2.0]))
    assert one.total == 2.0 and one.find(np.array([1.5])).tolist() == [0]
    odd = SumTree(3)
    odd.update(np.arange(3), np.array([1.0, 1.0, 2.0]))
    assert odd.find(np.array([3.9])).tolist() == [2]


def _filled_per(priorities, alpha, eps=0.0):
    buffer = PrioritizedReplayBuffer(8, (1,), alpha=alpha, eps=eps)
    for i in range(len(priorities)):
        buffer.add(np.array([i]), 0, 0.0, np.array([i]), 0.99)
    buffer.update_priorities(np.arange(len(priorities)), np.array(priorities))
    return buffer


def test_prioritized_sampling_proportions_are_p_to_the_alpha_over_the_sum():
    priorities = [1.0, 2.0, 3.0, 4.0]
    buffer = _filled_per(priorities, alpha=1.0)
    rng = np.random.default_rng(0)
    counts = np.zeros(4)
    for _ in range(200):
        np.add.at(counts, buffer.sample(100, rng).indices, 1)
    # P(i) = p_i / Σ p = 0.1, 0.2, 0.3, 0.4; 20 000 draws (stratified), so ±0.01 is ~3σ
    np.testing.assert_allclose(counts / counts.sum(), [0.1, 0.2, 0.3, 0.4], atol=0.01)
    half = _filled_per(priorities, alpha=0.5)
    expected = np.sqrt(priorities) / np.sqrt(priorities).sum()
    np.testing.assert_allclose(half.probabilities(np.arange(4)), expected)


def test_importance_weights_are_n_p_to_the_minus_beta_over_their_max():
    priorities = [1.0, 2.0, 3.0, 4.0]
    buffer = _filled_per(priorities, alpha=0.5)
    batch = buffer.sample(64, np.random.default_rng(1), beta=0.4)
    p_alpha = np.sqrt(priorities)
    P = p_alpha / p_alpha.sum()
    w = (4 * P[batch.indices]) ** -0.4
    np.testing.assert_allclose(batch.weights, w / w.max(), rtol=1e-6)
    assert batch.weights.max() == pytest.approx(1.0)
    # the lowest-priority transition carries the largest weight
    assert set(batch.indices) == {0, 1, 2, 3}
    assert batch.weights[batch.indices == 0][0] == pytest.approx(1.0)
    # β = 0 is no correction at all
    assert np.all(buffer.sample(16, np.random.default_rng(2), beta=0.0).weights == 1.0)


def test_priorities_are_abs_td_plus_eps_and_new_transitions_get_the_max():
    buffer = PrioritizedReplayBuffer(4, (1,), alpha=1.0, eps=0.01)
    buffer.add(np.zeros(1), 0, 0.0, np.zeros(1), 0.9)
    assert buffer.tree.total == 1.0  # the initial max priority
    buffer.update_priorities(np.array([0]), np.array([-3.0]))
    assert buffer.tree[np.array([0])][0] == pytest.approx(3.01)
    buffer.add(np.zeros(1), 0, 0.0, np.zeros(1), 0.9)
    assert buffer.tree[np.array([1])][0] == pytest.approx(3.01)


def test_uniform_buffer_overwrites_the_oldest_and_samples_what_it_holds():
    buffer = ReplayBuffer(3, (2,))
    for i in range(5):
        buffer.add(np.full(2, i), i % 2, float(i), np.full(2, i + 1), 0.99)
    assert len(buffer) == 3 and sorted(buffer.returns.tolist()) == [2.0, 3.0, 4.0]
    batch = buffer.sample(50, np.random.default_rng(0))
    assert set(batch.returns.tolist()) <= {2.0, 3.0, 4.0}
    np.testing.assert_array_equal(batch.next_obs[:, 0], batch.obs[:, 0] + 1)
    assert np.all(batch.weights == 1.0)


def _episode(acc, rewards, end):
    """Feed one env an episode s_0..s_len with ``end`` ∈ {"terminated", "truncated"} on the
    last step; s_t is the array [t]."""
    out = []
    for t, r in enumerate(rewards):
        last = t == len(rewards) - 1
        out += acc.push(np.array([[t]]), np.array([t % 2]), np.array([r]), np.array([[t + 1]]),
                        np.array([last and end == "terminated"]),
                        np.array([last and end == "truncated"]))
    return out


def test_n_step_returns_by_hand_cut_at_a_termination():
    g = 0.9
    out = _episode(NStepAccumulator(1, 3, g), [1.0, 2.0, 3.0, 4.0, 5.0], "terminated")
    starts = [int(o[0][0]) for o in out]
    assert starts == [0, 1, 2, 3, 4]
    by_start = {int(o[0][0]): o for o in out}
    # full 3-step returns bootstrap from s_{t+3} with γ³
    _, a, R, nxt, d = by_start[0]
    assert (a, nxt[0], d) == (0, 3, pytest.approx(g ** 3))
    assert R == pytest.approx(1 + g * 2 + g ** 2 * 3)
    assert by_start[1][2] == pytest.approx(2 + g * 3 + g ** 2 * 4)
    assert by_start[1][4] == pytest.approx(g ** 3)
    # the starts whose 3 steps reach the terminal: rewards up to it, no bootstrap
    assert by_start[2][2] == pytest.approx(3 + g * 4 + g ** 2 * 5) and by_start[2][4] == 0.0
    assert by_start[3][2] == pytest.approx(4 + g * 5) and by_start[3][4] == 0.0
    assert by_start[4][2] == pytest.approx(5.0) and by_start[4][4] == 0.0
    assert all(o[3][0] == 5 for o in out[2:])  # s' = the terminal observation


def test_n_step_returns_by_hand_bootstrap_at_a_truncation():
    g = 0.9
    out = _episode(NStepAccumulator(1, 3, g), [1.0, 2.0, 3.0, 4.0], "truncated")
    by_start = {int(o[0][0]): o for o in out}
    assert by_start[0][2] == pytest.approx(1 + g * 2 + g ** 2 * 3) and by_start[0][3][0] == 3
    # cut by the time limit after m steps: bootstrap from the last real observation with γ^m
    assert by_start[1][2] == pytest.approx(2 + g * 3 + g ** 2 * 4)
    assert (by_start[1][3][0], by_start[1][4]) == (4, pytest.approx(g ** 3))
    assert by_start[2][2] == pytest.approx(3 + g * 4)
    assert (by_start[2][3][0], by_start[2][4]) == (4, pytest.approx(g ** 2))
    assert by_start[3][2] == pytest.approx(4.0)
    assert (by_start[3][3][0], by_start[3][4]) == (4, pytest.approx(g))


def test_one_step_transitions_are_plain_dqn_and_envs_keep_separate_queues():
    acc = NStepAccumulator(2, 1, 0.99)
    out = acc.push(np.array([[0], [10]]), np.array([1, 0]), np.array([1.0, 2.0]),
                   np.array([[1], [11]]), np.array([False, True]), np.array([False, False]))
    assert [(o[0][0], o[2], o[3][0], o[4]) for o in out] == [(0, 1.0, 1, 0.99), (10, 2.0, 11, 0.0)]
    acc2 = NStepAccumulator(2, 2, 0.5)
    out = acc2.push(np.array([[0], [10]]), np.array([0, 0]), np.array([1.0, 1.0]),
                    np.array([[1], [11]]), np.array([False, False]), np.array([False, True]))
    # env 1 was truncated after one step: flushed alone, bootstrapped with γ¹; env 0 waits
    assert [(o[0][0], o[2], o[3][0], o[4]) for o in out] == [(10, 1.0, 11, 0.5)]
    assert len(acc2.queues[0]) == 1 and not acc2.queues[1]
    with pytest.raises(ValueError):
        NStepAccumulator(1, 0, 0.9)
