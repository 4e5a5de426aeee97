"""Best responses, NashConv and exploitability exactly, and fictitious play's known behaviour."""

import numpy as np
import pytest

from algorithms.multiagent import matrix_games as mg

RPS = mg.GAMES["rps"]


def test_exploitability_of_uniform_rps_is_zero_and_of_a_pure_profile_is_one():
    uniform = np.full(3, 1 / 3)
    assert mg.exploitability(RPS, uniform, uniform) == pytest.approx(0.0, abs=1e-15)
    rock = np.array([1.0, 0, 0])
    assert mg.exploitability(RPS, rock, rock) == 1.0
    assert mg.nash_conv(RPS, rock, rock) == 2.0
    # against rock, paper earns 1; rock vs paper: row gains 2 (−1 → 1), column gains 0
    assert mg.nash_conv(RPS, rock, np.array([0, 1.0, 0])) == 2.0


def test_best_response_and_ties():
    assert mg.best_response(RPS.row_payoff @ np.array([1.0, 0, 0])) == 1  # paper beats rock
    assert mg.best_response(RPS.row_payoff @ np.array([0.5, 0.5, 0])) == 1
    ties = RPS.row_payoff @ np.array([1 / 3, 2 / 3, 0])  # paper and scissors tie
    assert mg.best_response(ties) == 1
    rng = np.random.default_rng(0)
    assert {mg.best_response(ties, rng) for _ in range(50)} == {1, 2}


def test_nash_conv_broadcasts_over_a_trajectory_and_matches_matching_pennies_by_hand():
    game = mg.GAMES["matching_pennies"]
    p, q = 0.8, 0.3
    x, y = np.array([[p, 1 - p], [0.5, 0.5]]), np.array([[q, 1 - q], [0.5, 0.5]])
    value = (2 * p - 1) * (2 * q - 1)  # xᵀAy
    row_gain = abs(2 * q - 1) - value
    col_gain = abs(2 * p - 1) + value
    np.testing.assert_allclose(mg.nash_conv(game, x, y), [row_gain + col_gain, 0.0], atol=1e-15)


def test_fictitious_play_in_rps_follows_the_hand_computed_best_responses():
    play = mg.fictitious_play(RPS, 5, first=(0, 0))  # lowest-index ties
    # counts (1,0,0) → paper; (1,1,0) → paper; (1,2,0): paper and scissors tie → paper;
    # (1,3,0) → scissors
    assert play.row.argmax(1).tolist() == [0, 1, 1, 1, 2]
    assert play.col.argmax(1).tolist() == [0, 1, 1, 1, 2]


def test_fictitious_play_in_the_prisoners_dilemma_has_nash_conv_two_t_plus_one_over_t_squared():
    game = mg.GAMES["prisoners_dilemma"]
    play = mg.fictitious_play(game, 50, first=(0, 0))  # both cooperate once, then defect
    x, y = play.averages()
    t = np.arange(1, 51)
    np.testing.assert_allclose(mg.nash_conv(game, x, y), 2 * (t + 1) / t ** 2, rtol=1e-12)
    assert mg.loglog_slope(t[10:], mg.nash_conv(game, x, y)[10:]) == pytest.approx(-1, abs=0.1)


def test_fictitious_play_average_converges_in_rps_while_the_last_iterate_does_not():
    play = mg.fictitious_play(RPS, 4000, np.random.default_rng(1))
    x, y = play.averages()
    assert mg.exploitability(RPS, x[-1], y[-1]) < 0.03
    assert mg.exploitability(RPS, play.row[-1], play.col[-1]) == 1.0  # a pure profile


def test_hedge_average_approaches_equilibrium_and_independent_q_learning_defects():
    play = mg.hedge(RPS, 3000, 0.05, np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.3, 0.5]))
    x, y = play.averages()
    assert mg.exploitability(RPS, x[-1], y[-1]) < 0.02
    np.testing.assert_allclose(play.row.sum(1), 1.0)
    pd = mg.GAMES["prisoners_dilemma"]
    q = mg.independent_q_learning(pd, 3000, np.random.default_rng(0))
    assert q.row[-1, 1] > 0.99 and q.col[-1, 1] > 0.99
