"""algorithms.model_based against hand computations: the mazes, one Dyna-Q update, the Dyna-Q+
bonus, prioritized sweeping's predecessor sweep, the ensemble's shapes, CEM on a quadratic and
the open-loop horizon error of a model that predicts no change."""

import math

import numpy as np
import pytest

from algorithms.model_based import dyna, mazes
from algorithms.model_based.prioritized_sweeping import PrioritizedSweeping, updates_until_optimal

UP, DOWN, RIGHT, LEFT = range(4)


# ----------------------------------------------------------------------------- mazes

def _entering_goal(maze) -> float:
    """Rewarded moves from the open cells outside the goal."""
    inside = maze.goal_states | {maze.index(cell) for cell in maze.walls}
    outside = [s for s in range(maze.n_states) if s not in inside]
    return float(maze.transitions()[1][outside].sum())


def test_the_dyna_maze_is_the_books_and_its_shortest_path_is_14_steps():
    maze = mazes.dyna_maze()
    assert (maze.rows, maze.cols, maze.start, maze.goal) == (6, 9, (2, 0), (0, 8))
    assert maze.n_open == 47 and maze.shortest_path_length() == 14
    next_state, reward = maze.transitions()
    s = maze.index((2, 1))
    assert next_state[s, RIGHT] == s  # (2, 2) is a wall: the agent stays
    assert next_state[maze.start_state, LEFT] == maze.start_state  # off the grid: stays
    # +1 only on entering the goal: from below ((0, 7) is a wall); the goal's own row is moot
    assert reward[maze.index((1, 8)), UP] == 1.0
    assert _entering_goal(maze) == 1
    assert next_state[maze.index((0, 7)) - 1, RIGHT] == maze.index((0, 6))  # (0, 7) is a wall


def test_the_changing_mazes_block_the_short_path_and_open_a_shortcut():
    assert mazes.blocking_maze(False).shortest_path_length() == 10  # round the right end
    assert mazes.blocking_maze(True).shortest_path_length() == 16  # round the left end
    assert mazes.shortcut_maze(False).shortest_path_length() == 16
    assert mazes.shortcut_maze(True).shortest_path_length() == 10
    assert mazes.SHORTCUT_CELL not in mazes.shortcut_maze(True).walls
    assert mazes.SHORTCUT_CELL in mazes.shortcut_maze(False).walls


def test_a_scaled_maze_turns_every_cell_into_a_block():
    maze = mazes.scaled(mazes.dyna_maze(), 2)
    assert (maze.rows, maze.cols, len(maze.walls), maze.n_open) == (12, 18, 28, 188)
    assert maze.goal_states == {maze.index(c) for c in [(0, 16), (0, 17), (1, 16), (1, 17)]}
    assert maze.start == (4, 0)
    assert _entering_goal(maze) == 2  # from the two cells below it (walls on its left)
    assert maze.shortest_path_length() == 27


# ----------------------------------------------------------------------------- Dyna-Q

def test_one_dyna_q_update_by_hand():
    agent = dyna.DynaQ(3, 4, alpha=0.1, gamma=0.95, n_planning=0)
    agent.q[1] = [0.0, 2.0, 1.0, 0.0]
    agent.q[0, RIGHT] = 0.5
    delta = agent.q_update(0, RIGHT, 1.0, 1)
    assert delta == pytest.approx(1.0 + 0.95 * 2.0 - 0.5)
    assert agent.q[0, RIGHT] == pytest.approx(0.5 + 0.1 * 2.4)


def test_dyna_q_learns_models_and_replays_only_observed_pairs():
    agent = dyna.DynaQ(3, 4, alpha=0.5, gamma=0.9, n_planning=1)
    agent.learn(0, RIGHT, 1.0, 1)
    # direct update: 0.5 · 1 = 0.5; planning replays the one observed pair: 0.5 + 0.5 · 0.5
    assert agent.q[0, RIGHT] == pytest.approx(0.75)
    assert (agent.model_reward[0, RIGHT], agent.model_next[0, RIGHT]) == (1.0, 1)
    assert agent.tried == {0: [RIGHT]} and agent.updates == 2
    assert np.count_nonzero(agent.q) == 1


def test_dyna_q_plus_plans_with_the_kappa_sqrt_tau_bonus():
    agent = dyna.DynaQ(3, 4, alpha=1.0, gamma=0.0, n_planning=1, kappa=0.01)
    agent.model_update(0, RIGHT, 0.0, 1)
    # the footnote's initial model: every untried action of a visited state stays put, reward 0
    assert sorted(agent.tried[0]) == [0, 1, 2, 3]
    assert agent.model_next[0, UP] == 0 and agent.model_reward[0, UP] == 0.0
    agent.tried[0] = [RIGHT]  # plan this pair only
    agent.t = 9  # τ = 9 real steps since (0, right) was tried at t = 0
    agent.plan()
    assert agent.q[0, RIGHT] == pytest.approx(0.01 * 3.0)


def test_random_tie_breaking_picks_every_tied_action_and_only_those():
    rng = np.random.default_rng(0)
    picks = {dyna.argmax_random(np.array([1.0, 3.0, 3.0, 0.0]), rng) for _ in range(200)}
    assert picks == {1, 2}


def test_dyna_q_with_planning_finds_the_shortest_path():
    maze = mazes.dyna_maze()
    agent = dyna.DynaQ(maze.n_states, 4, n_planning=50, seed=0)
    dyna.run_episodes(maze, agent, 15)
    path = dyna.greedy_path(maze, agent.q)
    assert dyna.reaches_goal(maze, path) and len(path) - 1 == 14


# ----------------------------------------------------------------------------- prioritized sweeping

def test_the_sweep_updates_the_predecessors_of_a_changed_state():
    agent = PrioritizedSweeping(3, 4, alpha=1.0, gamma=0.9, n_planning=10, theta=1e-6)
    agent.learn(0, RIGHT, 0.0, 1)  # priority |0 + 0.9 · 0 − 0| = 0: nothing queued
    assert agent.updates == 0 and not agent.queued
    agent.learn(1, RIGHT, 1.0, 2)  # P = 1: Q(1, right) ← 1, then its predecessor (0, right)
    assert agent.q[1, RIGHT] == pytest.approx(1.0)
    assert agent.q[0, RIGHT] == pytest.approx(0.9)  # |0 + 0.9 · 1 − 0| = 0.9 > θ: swept
    assert agent.updates == 2 and agent.pop() is None


def test_the_queue_pops_the_highest_priority_once():
    agent = PrioritizedSweeping(3, 4)
    agent.insert(0, UP, 0.5)
    agent.insert(1, UP, 0.2)
    agent.insert(0, UP, 0.9)  # re-inserted higher: its older entry is skipped
    agent.insert(2, UP, agent.theta / 2)  # under θ: never queued
    assert [agent.pop(), agent.pop(), agent.pop()] == [(0, UP), (1, UP), None]


def test_prioritized_sweeping_needs_fewer_updates_than_dyna_q_on_the_dyna_maze():
    maze = mazes.dyna_maze()
    ps = updates_until_optimal(maze, PrioritizedSweeping(maze.n_states, 4, seed=0))
    dq = updates_until_optimal(maze, dyna.DynaQ(maze.n_states, 4, alpha=0.5, seed=0))
    assert ps[2] and dq[2] and ps[0] < dq[0]


# ----------------------------------------------------------------------------- world model, MPC

torch = pytest.importorskip("torch")


def test_the_ensemble_members_are_independent_gaussians_of_the_right_shapes():
    from algorithms.model_based.world_model import DynamicsEnsemble, EnsembleConfig, EnsembleLinear

    model = DynamicsEnsemble(4, 2, EnsembleConfig(ensemble_size=5, hidden=8))
    obs, actions = torch.randn(5, 7, 4), torch.randint(0, 2, (5, 7))
    mean, logvar = model(obs, actions)
    assert mean.shape == logvar.shape == (5, 7, 4)
    assert bool((logvar <= model.max_logvar).all() and (logvar >= model.min_logvar).all())
    assert model.step(obs, actions).shape == (5, 7, 4)
    same = obs[:1].expand(5, -1, -1)
    out = model.step(same, actions[:1].expand(5, -1), sample=False)
    assert not torch.allclose(out[0], out[1])  # independently initialised members
    layer = EnsembleLinear(3, 4, 2)
    x = torch.randn(3, 6, 4)
    assert torch.allclose(layer(x)[1], x[1] @ layer.weight[1] + layer.bias[1])


def test_fitting_lowers_the_negative_log_likelihood():
    from algorithms.model_based.world_model import (
        DynamicsEnsemble,
        EnsembleConfig,
        fit,
        make_optimizer,
    )

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(256, 2)).astype(np.float32)
    actions = rng.integers(0, 2, 256)
    next_obs = obs + 0.1 * obs[:, ::-1] + 0.05 * (2 * actions[:, None] - 1)
    model = DynamicsEnsemble(2, 2, EnsembleConfig(ensemble_size=4, hidden=32, epochs=1))
    optimizer = make_optimizer(model)
    first = fit(model, obs, actions, next_obs, optimizer, rng)
    for _ in range(5):
        last = fit(model, obs, actions, next_obs, optimizer, rng)
    assert math.isfinite(first) and last < first


def test_cem_finds_the_minimum_of_a_quadratic():
    from algorithms.model_based.mpc import cem, random_shooting

    centre = np.array([1.5, -2.0, 0.5])
    objective = lambda x: -((x - centre) ** 2).sum(axis=1)  # noqa: E731
    found = cem(objective, np.zeros(3), np.full(3, 3.0), np.random.default_rng(0),
                iterations=30, population=200, elites=20)
    assert np.abs(found - centre).max() < 1e-2
    best = random_shooting(lambda x: x.sum(axis=1), 2, np.random.default_rng(0), 50)
    assert best.sum() > 1.5  # the best of 50 uniform draws of a monotone objective


def _still_model(obs_dim: int = 4):
    """A model whose prediction is "no change": zero head, zero target mean, a variance of
    e^−30 (sampling adds nothing)."""
    from algorithms.model_based.world_model import DynamicsEnsemble, EnsembleConfig

    model = DynamicsEnsemble(obs_dim, 2, EnsembleConfig(ensemble_size=3, hidden=8))
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
        model.max_logvar.fill_(-30.0)
        model.min_logvar.fill_(-40.0)
    return model


def test_the_horizon_error_of_a_no_change_model_is_the_state_drift():
    from algorithms.model_based.world_model import horizon_errors

    model = _still_model(2)
    with torch.no_grad():
        model.in_std.copy_(torch.tensor([1.0, 2.0]))
    states = np.array([[0, 0], [1, 2], [3, 2], [6, 4]], dtype=np.float32)
    error, spread = horizon_errors(model, [(states, np.zeros(3, dtype=np.int64))], 3)
    # h = 1: drifts (1, 1), (2, 0), (3, 1) in std units; RMS over starts and dimensions
    assert error[0] == pytest.approx(math.sqrt((1 + 1 + 4 + 0 + 9 + 1) / 6))
    assert error[2] == pytest.approx(math.sqrt((36 + 4) / 2))  # one start: (6, 2)
    assert np.allclose(spread, 0.0)


def test_a_plan_that_never_fails_earns_the_whole_horizon():
    from algorithms.model_based.mpc import cartpole_alive, predicted_return

    model = _still_model()
    u = np.random.default_rng(0).uniform(-1, 1, (6, 7))
    assert np.allclose(predicted_return(model, np.zeros(4, dtype=np.float32), u), 7.0)
    out = np.array([2.5, 0.0, 0.0, 0.0], dtype=np.float32)  # beyond |x| = 2.4
    assert np.allclose(predicted_return(model, out, u), 0.0)
    assert cartpole_alive(torch.tensor([[0.0, 0, 0.2, 0], [0.0, 0, 0.22, 0]])).tolist() == [1, 0]
