"""Week 1: the MDPs and DP algorithms, checked against independent references.

References: gymnasium's own transition tables, the numbers printed in Sutton & Barto (2nd ed.,
2018), closed-form values (bold play in the gambler's problem) and exact linear solves.
"""

import gymnasium as gym
import numpy as np
import pytest

from algorithms.mdp import (
    ENVIRONMENTS,
    TabularMDP,
    bellman_residual,
    cliff_walking,
    exact_policy_value,
    frozen_lake,
    gamblers_problem,
    greedy_actions,
    greedy_policy,
    gridworld_4x4,
    gridworld_5x5,
    modified_policy_iteration,
    optimal_values,
    policy_evaluation,
    policy_iteration,
    q_from_v,
    uniform_random_policy,
    value_errors,
    value_iteration,
)

ENV_NAMES = list(ENVIRONMENTS)


def from_gymnasium(env_id: str, **kwargs) -> TabularMDP:
    env = gym.make(env_id, **kwargs).unwrapped
    return TabularMDP.from_gymnasium_P(env.P, env.observation_space.n, env.action_space.n, 1.0)


@pytest.fixture(scope="module")
def v_star() -> dict[str, np.ndarray]:
    return {name: optimal_values(make()).V for name, make in ENVIRONMENTS.items()}


# ----------------------------------------------------------------------------- the model

@pytest.mark.parametrize("map_name", ["4x4", "8x8"])
@pytest.mark.parametrize("slippery", [True, False])
def test_frozen_lake_equals_gymnasium_table(map_name, slippery):
    ours = frozen_lake(map_name, slippery=slippery)
    reference = from_gymnasium("FrozenLake-v1", map_name=map_name, is_slippery=slippery)
    assert np.array_equal(ours.P, reference.P)
    assert np.array_equal(ours.R, reference.R)
    assert np.array_equal(ours.terminal, reference.terminal)


def test_cliff_walking_equals_gymnasium_table():
    ours = cliff_walking()
    reference = from_gymnasium("CliffWalking-v1")
    assert np.array_equal(ours.P, reference.P)
    assert np.array_equal(ours.R, reference.R)
    assert np.array_equal(ours.terminal, reference.terminal)
    assert np.flatnonzero(ours.terminal).tolist() == [47]


def test_from_gymnasium_P_sums_repeats_and_makes_terminated_states_absorbing():
    P = {0: {0: [(0.5, 1, 1.0, True), (0.25, 0, 0.0, False), (0.25, 0, 2.0, False)]},
         1: {0: [(1.0, 0, 5.0, False)]}}  # never used: the episode has ended in state 1
    mdp = TabularMDP.from_gymnasium_P(P, 2, 1, 0.9)
    assert mdp.P[0, 0].tolist() == [0.5, 0.5]
    assert mdp.R[0, 0] == pytest.approx(0.5 * 1.0 + 0.25 * 2.0)
    assert mdp.terminal.tolist() == [False, True]
    assert mdp.P[1, 0].tolist() == [0.0, 1.0] and mdp.R[1, 0] == 0.0


def test_from_gymnasium_P_rejects_termination_that_depends_on_more_than_the_next_state():
    P = {0: {0: [(0.5, 1, 0.0, True), (0.5, 1, 0.0, False)]}, 1: {0: [(1.0, 1, 0.0, True)]}}
    with pytest.raises(ValueError, match="termination"):
        TabularMDP.from_gymnasium_P(P, 2, 1, 0.9)


def test_every_environment_is_a_valid_mdp():
    for name, make in ENVIRONMENTS.items():
        mdp = make()
        assert mdp.P.shape == (mdp.n_states, mdp.n_actions, mdp.n_states), name
        np.testing.assert_allclose(mdp.P.sum(axis=2), 1.0)
        assert not mdp.P.flags.writeable


@pytest.mark.parametrize("broken, message", [
    (dict(P=np.full((2, 1, 2), 0.4)), "probability distribution"),
    (dict(P=np.array([[[1.5, -0.5]], [[0.0, 1.0]]])), "probability distribution"),
    (dict(P=np.ones((2, 1, 3)) / 3), "shape"),
    (dict(R=np.zeros((2, 2))), "R must have shape"),
    (dict(gamma=1.5), "gamma"),
    (dict(gamma=-0.1), "gamma"),
    (dict(terminal=np.array([True, False])), "terminal states must loop"),
    (dict(action_mask=np.array([[False], [True]])), "allowed action"),
    (dict(shape=(3, 1)), "grid shape"),
])
def test_invalid_mdps_raise_value_error(broken, message):
    valid = dict(P=np.array([[[0.0, 1.0]], [[0.0, 1.0]]]), R=np.zeros((2, 1)), gamma=0.9)
    TabularMDP(**valid)
    with pytest.raises(ValueError, match=message):
        TabularMDP(**(valid | broken))


def test_with_gamma_copies_and_validates():
    mdp = gridworld_5x5()
    assert mdp.with_gamma(0.5).gamma == 0.5 and mdp.gamma == 0.9
    with pytest.raises(ValueError):
        mdp.with_gamma(2.0)


def test_invalid_policies_raise_value_error():
    mdp = gamblers_problem()
    with pytest.raises(ValueError):
        exact_policy_value(mdp, np.full(mdp.n_states, 49))  # stakes 50 with 3 dollars
    with pytest.raises(ValueError):
        exact_policy_value(mdp, np.ones((mdp.n_states, mdp.n_actions)))


# ----------------------------------------------------------------------------- the book's numbers

def test_random_policy_on_4x4_gridworld_matches_figure_4_1():
    book = [[0, -14, -20, -22], [-14, -18, -20, -20], [-20, -20, -18, -14], [-22, -20, -14, 0]]
    mdp = gridworld_4x4()
    np.testing.assert_allclose(exact_policy_value(mdp, uniform_random_policy(mdp)).reshape(4, 4),
                               book, atol=1e-9)


def test_random_policy_on_5x5_gridworld_matches_figure_3_2():
    book = [[3.3, 8.8, 4.4, 5.3, 1.5], [1.5, 3.0, 2.3, 1.9, 0.5], [0.1, 0.7, 0.7, 0.4, -0.4],
            [-1.0, -0.4, -0.4, -0.6, -1.2], [-1.9, -1.3, -1.2, -1.4, -2.0]]
    mdp = gridworld_5x5()
    V = exact_policy_value(mdp, uniform_random_policy(mdp))
    np.testing.assert_array_equal(np.round(V, 1).reshape(5, 5), book)


def test_optimal_values_and_policy_on_5x5_gridworld_match_figure_3_5():
    book = [[22.0, 24.4, 22.0, 19.4, 17.5], [19.8, 22.0, 19.8, 17.8, 16.0],
            [17.8, 19.8, 17.8, 16.0, 14.4], [16.0, 17.8, 16.0, 14.4, 13.0],
            [14.4, 16.0, 14.4, 13.0, 11.7]]
    mdp = gridworld_5x5()
    V = value_iteration(mdp).V
    np.testing.assert_array_equal(np.round(V, 1).reshape(5, 5), book)
    ties = greedy_actions(mdp, V, tol=1e-9)
    up, right, down, left = (mdp.action_names.index(a) for a in ("up", "right", "down", "left"))
    assert ties[1].all() and ties[3].all()  # in A and B every action jumps
    assert np.flatnonzero(ties[0]).tolist() == [right]
    assert sorted(np.flatnonzero(ties[20])) == sorted([up, right])  # bottom-left corner
    assert np.flatnonzero(ties[21]).tolist() == [up]  # straight up to A


def test_gamblers_problem_value_function_is_that_of_bold_play():
    """For p < 1/2 bold play (stake min(s, 100 − s)) is optimal (Dubins & Savage), which gives
    v*(50) = p, v*(25) = p², v*(75) = p + (1 − p) p."""
    mdp = gamblers_problem(p_heads=0.4)
    V = value_iteration(mdp, theta=1e-12).V
    capital = np.arange(101)
    bold = np.clip(np.minimum(capital, 100 - capital), 1, None) - 1
    np.testing.assert_allclose(V, exact_policy_value(mdp, bold), atol=1e-10)
    assert V[50] == pytest.approx(0.4, abs=1e-12)
    assert V[25] == pytest.approx(0.16, abs=1e-12)
    assert V[75] == pytest.approx(0.64, abs=1e-12)
    assert (np.diff(V[:100]) >= -1e-12).all()  # nondecreasing in the capital
    assert np.flatnonzero(greedy_actions(mdp, V, tol=1e-9)[50]).tolist() == [49]  # stake 50


def test_cliff_walking_optimal_path_runs_along_the_cliff_edge():
    mdp = cliff_walking()
    policy = value_iteration(mdp).policy
    assert mdp.start_state == 36 and gamblers_problem().start_state is None
    path = mdp.path(policy, mdp.start_state)
    assert len(path) - 1 == 13
    assert [divmod(s, 12) for s in path] == [(3, 0)] + [(2, c) for c in range(12)] + [(3, 11)]
    assert exact_policy_value(mdp, policy)[36] == pytest.approx(-13.0)
    with pytest.raises(ValueError, match="random"):  # a slippery lake has no single path
        frozen_lake().path(np.zeros(16, int), 0)


# ----------------------------------------------------------------------------- the algorithms

@pytest.mark.parametrize("name", ENV_NAMES)
@pytest.mark.parametrize("in_place", [False, True])
def test_iterative_policy_evaluation_equals_the_linear_solve(name, in_place):
    # γ ≤ 0.99: the random walk on the undiscounted cliff takes ~65,000 steps to finish, and
    # evaluating it to convergence needs ~10⁵ sweeps
    mdp = ENVIRONMENTS[name]()
    mdp = mdp.with_gamma(min(mdp.gamma, 0.99))
    policy = uniform_random_policy(mdp)
    result = policy_evaluation(mdp, policy, theta=1e-11, in_place=in_place)
    assert result.converged
    np.testing.assert_allclose(result.V, exact_policy_value(mdp, policy), atol=1e-7)


@pytest.mark.parametrize("name", ENV_NAMES)
def test_deterministic_policy_evaluation_at_the_native_discount(name, v_star):
    mdp = ENVIRONMENTS[name]()
    policy = greedy_policy(mdp, v_star[name])
    for in_place in (False, True):
        result = policy_evaluation(mdp, policy, theta=1e-12, in_place=in_place)
        np.testing.assert_allclose(result.V, v_star[name], atol=1e-8)


@pytest.mark.parametrize("name", ENV_NAMES)
def test_v_star_satisfies_the_bellman_optimality_equation(name, v_star):
    mdp = ENVIRONMENTS[name]()
    assert bellman_residual(mdp, v_star[name]) < 1e-10
    q = q_from_v(mdp, v_star[name])
    for s in mdp.nonterminal:
        assert v_star[name][s] == pytest.approx(q[s, mdp.action_mask[s]].max(), abs=1e-10)


@pytest.mark.parametrize("name", ENV_NAMES)
@pytest.mark.parametrize("algorithm", ["vi", "vi_inplace", "pi", "pi_inplace", "mpi1", "mpi5",
                                       "mpi20_inplace", "mpi_inf"])
def test_every_algorithm_finds_v_star_and_an_optimal_policy(name, algorithm, v_star):
    mdp = ENVIRONMENTS[name]()
    in_place = algorithm.endswith("_inplace")
    run = {"vi": lambda: value_iteration(mdp, theta=1e-11, in_place=in_place),
           "pi": lambda: policy_iteration(mdp, theta_eval=1e-11, in_place=in_place),
           "mpi1": lambda: modified_policy_iteration(mdp, k=1, theta=1e-11),
           "mpi5": lambda: modified_policy_iteration(mdp, k=5, theta=1e-11),
           "mpi20": lambda: modified_policy_iteration(mdp, k=20, theta=1e-11, in_place=True),
           # from V = v_random (T V ≥ V), so the first greedy policy ends its episodes
           "mpi_inf": lambda: modified_policy_iteration(
               mdp, k=np.inf, theta=1e-11, V=exact_policy_value(mdp, uniform_random_policy(mdp))),
           }[algorithm.removesuffix("_inplace")]
    if name == "cliffwalking" and algorithm in ("pi", "pi_inplace"):
        mdp = mdp.with_gamma(0.95)  # see test_iterative_policy_evaluation_equals_the_linear_solve
        expected = optimal_values(mdp).V
    else:
        expected = v_star[name]
    result = run()
    assert result.converged
    scale = max(1.0, np.abs(expected).max())
    np.testing.assert_allclose(result.V, expected, atol=1e-7 * scale)
    np.testing.assert_allclose(exact_policy_value(mdp, result.policy), expected, atol=1e-9 * scale)


@pytest.mark.parametrize("in_place", [False, True])
def test_modified_policy_iteration_with_k_1_is_value_iteration(in_place):
    mdp = frozen_lake("8x8")
    vi = value_iteration(mdp, theta=1e-9, in_place=in_place)
    mpi = modified_policy_iteration(mdp, k=1, theta=1e-9, in_place=in_place)
    assert (mpi.sweeps, mpi.backups) == (vi.sweeps, vi.backups)
    np.testing.assert_allclose(mpi.V, vi.V, rtol=0, atol=1e-12)  # ties within 1e-12 may differ


def test_in_place_evaluation_needs_no_more_sweeps_than_synchronous_on_4x4():
    mdp = gridworld_4x4()
    policy = uniform_random_policy(mdp)
    synchronous = policy_evaluation(mdp, policy, theta=1e-10)
    in_place = policy_evaluation(mdp, policy, theta=1e-10, in_place=True)
    assert in_place.sweeps <= synchronous.sweeps


def test_backup_counting_convention():
    mdp = gamblers_problem()
    allowed = int(mdp.action_mask[1:100].sum())  # Σ_s |A(s)| = 2 · (1 + ... + 49) + 50
    assert allowed == 2500
    vi = value_iteration(mdp, theta=1e-9)
    assert vi.backups == vi.sweeps * allowed
    assert vi.backups_history == [allowed * k for k in range(1, vi.sweeps + 1)]
    evaluation = policy_evaluation(mdp, vi.policy, theta=1e-9)
    assert evaluation.backups == evaluation.sweeps * 99  # one action per non-terminal state
    pi = policy_iteration(mdp, theta_eval=1e-9)
    random_sweeps = policy_evaluation(mdp, uniform_random_policy(mdp), theta=1e-9).sweeps
    assert pi.backups == random_sweeps * allowed + (pi.sweeps - random_sweeps) * 99 \
        + pi.improvements * allowed


def test_policy_iteration_keeps_tied_actions_and_stops():
    """Gambler's problem: most states have several optimal stakes (S&B Exercise 4.4's bug would
    let policy iteration switch between them for ever)."""
    mdp = gamblers_problem()
    result = policy_iteration(mdp, theta_eval=1e-12)
    assert result.converged and result.improvements <= 10
    assert greedy_policy(mdp, result.V, prefer=result.policy).tolist() == result.policy.tolist()


def test_history_records_the_value_change_of_every_sweep():
    mdp = gridworld_5x5()
    result = value_iteration(mdp, theta=1e-6, record_values=True)
    values = [np.zeros(mdp.n_states), *result.values]
    expected = [np.abs(b - a).max() for a, b in zip(values, values[1:])]
    np.testing.assert_allclose(result.history, expected)
    assert result.history[-1] < 1e-6 <= result.history[-2]
    assert len(result.seconds_history) == result.sweeps


def test_value_errors_are_the_max_norm_distance_to_v_star_after_each_sweep(v_star):
    mdp = gridworld_5x5()
    result = value_iteration(mdp, theta=1e-6, record_values=True)
    errors = value_errors(result, v_star["gridworld5x5"])
    assert len(errors) == result.sweeps
    assert errors[0] == pytest.approx(np.abs(result.values[0] - v_star["gridworld5x5"]).max())
    assert (np.diff(errors) <= 1e-12).all()  # VI from V_0 = 0 here only gets closer
    with pytest.raises(ValueError, match="record_values"):
        value_errors(value_iteration(mdp, theta=1e-6), v_star["gridworld5x5"])
