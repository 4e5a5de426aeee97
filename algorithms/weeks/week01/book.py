"""``book-examples``: the value functions and optimal policies printed in Sutton & Barto
(2nd ed., 2018), chapters 3, 4 and 6, recomputed and compared with the printed numbers.

Each section solves one of the book's examples, logs its values as tables, draws the book's
figure and returns the largest deviation from what the book prints (``*.max_abs_dev``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from algorithms.experiment import ExperimentConfig, Tracker, experiment
from algorithms.mdp import (
    cliff_walking,
    exact_policy_value,
    gamblers_problem,
    greedy_actions,
    gridworld_4x4,
    gridworld_5x5,
    policy_evaluation,
    uniform_random_policy,
    value_iteration,
)

# ----------------------------------------------------------------------------- the book's numbers

# Figure 4.1: v_k of the equiprobable random policy on the 4×4 gridworld, as printed.
FIGURE_4_1 = {
    1: [[0.0, -1.0, -1.0, -1.0], [-1.0, -1.0, -1.0, -1.0],
        [-1.0, -1.0, -1.0, -1.0], [-1.0, -1.0, -1.0, 0.0]],
    2: [[0.0, -1.7, -2.0, -2.0], [-1.7, -2.0, -2.0, -2.0],
        [-2.0, -2.0, -2.0, -1.7], [-2.0, -2.0, -1.7, 0.0]],
    3: [[0.0, -2.4, -2.9, -3.0], [-2.4, -2.9, -3.0, -2.9],
        [-2.9, -3.0, -2.9, -2.4], [-3.0, -2.9, -2.4, 0.0]],
    10: [[0.0, -6.1, -8.4, -9.0], [-6.1, -7.7, -8.4, -8.4],
         [-8.4, -8.4, -7.7, -6.1], [-9.0, -8.4, -6.1, 0.0]],
    "inf": [[0.0, -14.0, -20.0, -22.0], [-14.0, -18.0, -20.0, -20.0],
            [-20.0, -20.0, -18.0, -14.0], [-22.0, -20.0, -14.0, 0.0]],
}
# Figure 3.2: v_π of the equiprobable random policy on the 5×5 gridworld (γ = 0.9).
FIGURE_3_2 = [[3.3, 8.8, 4.4, 5.3, 1.5], [1.5, 3.0, 2.3, 1.9, 0.5], [0.1, 0.7, 0.7, 0.4, -0.4],
              [-1.0, -0.4, -0.4, -0.6, -1.2], [-1.9, -1.3, -1.2, -1.4, -2.0]]
# Figure 3.5: v* and π* of the 5×5 gridworld (π* as the directions drawn in each cell).
FIGURE_3_5_V = [[22.0, 24.4, 22.0, 19.4, 17.5], [19.8, 22.0, 19.8, 17.8, 16.0],
                [17.8, 19.8, 17.8, 16.0, 14.4], [16.0, 17.8, 16.0, 14.4, 13.0],
                [14.4, 16.0, 14.4, 13.0, 11.7]]
FIGURE_3_5_PI = [["right", "up right down left", "left", "up right down left", "left"],
                 ["up right", "up", "up left", "left", "left"],
                 ["up right", "up", "up left", "up left", "up left"],
                 ["up right", "up", "up left", "up left", "up left"],
                 ["up right", "up", "up left", "up left", "up left"]]
# Example 4.3 with p_h = 0.4: bold play is optimal, so v*(50) = p, v*(25) = p·v*(50) and
# v*(75) = p + (1 − p)·v*(50).
GAMBLER_VALUES = {25: 0.16, 50: 0.4, 75: 0.64}
# Example 6.6: the optimal path walks along the cliff edge: up, 11 × right, down.
CLIFF_OPTIMAL_PATH_LENGTH = 13

TIE_TOL = 1e-9  # q-values this close count as tied when listing every optimal action


class BookExamplesConfig(ExperimentConfig):
    theta: float = 1e-10  # stop a DP run when a sweep changes no value by more than this
    gambler_sweeps_shown: tuple[int, ...] = (1, 2, 3, 32)  # the sweeps Figure 4.3 draws
    profiles: ClassVar[dict[str, dict[str, Any]]] = {"smoke": {"theta": 1e-8}}


@experiment(week=1, name="book-examples", covers=(1,), config=BookExamplesConfig, seeded=False,
            units={"*.sweeps": "sweeps", "*.optimal_path_length": "steps"})
def book_examples(config: BookExamplesConfig, tracker: Tracker) -> dict[str, float]:
    """Reproduce the value functions and optimal policies printed in Sutton & Barto ch. 3–4."""
    sections = {"gridworld4x4": _gridworld_4x4, "gridworld5x5": _gridworld_5x5,
                "gambler": _gambler, "cliffwalking": _cliff_walking}
    summary: dict[str, float] = {}
    for name in tracker.track(list(sections), total=len(sections), description="book examples"):
        summary |= sections[name](config, tracker)
    summary["book.max_abs_dev"] = max(value for key, value in summary.items()
                                      if key.endswith("max_abs_dev"))
    return summary


def _grid_table(values: np.ndarray, digits: int) -> tuple[list[str], list[list[Any]]]:
    """A grid of values as table rows, one per grid row."""
    columns = ["row"] + [f"col {c}" for c in range(values.shape[1])]
    return columns, [[r, *np.round(row, digits).tolist()] for r, row in enumerate(values)]


def _gridworld_4x4(config: BookExamplesConfig, tracker: Tracker) -> dict[str, float]:
    """Example 4.1 / Figure 4.1: iterative evaluation of the equiprobable random policy."""
    from algorithms.weeks.week01 import figures

    mdp = gridworld_4x4()
    random_policy = uniform_random_policy(mdp)
    result = policy_evaluation(mdp, random_policy, theta=config.theta, record_values=True)
    v_exact = exact_policy_value(mdp, random_policy)
    snapshots = {k: result.values[k - 1] for k in (1, 2, 3, 10)} | {"inf": result.V}
    deviations = {k: np.abs(v.reshape(4, 4) - FIGURE_4_1[k]).max() for k, v in snapshots.items()}

    tracker.log_table("book/gridworld4x4_random_values", *_grid_table(result.V.reshape(4, 4), 1))
    tracker.log_table("book/gridworld4x4_random_sweeps", ["k", "max_abs_dev_from_figure_4_1"],
                      [[str(k), float(d)] for k, d in deviations.items()])
    # Figure 4.1's right column: the greedy policy w.r.t. each v_k, every tied action drawn
    panels = {f"k = {'∞' if k == 'inf' else k}": (v, greedy_actions(mdp, v, TIE_TOL))
              for k, v in ({0: np.zeros(mdp.n_states)} | snapshots).items()}
    tracker.log_figure(
        "book/gridworld4x4_random_policy", figures.random_policy_evaluation(mdp, panels),
        "Gridworld 4×4 (Example 4.1), γ = 1: synchronous iterative policy evaluation of the "
        "equiprobable random policy after k = 0, 1, 2, 3, 10 sweeps and at convergence "
        f"(θ = {config.theta:g}), with the greedy policy w.r.t. each v_k (all tied actions "
        "drawn), as in Figure 4.1.")
    return {"gridworld4x4.random.max_abs_dev": float(deviations["inf"]),
            # not a "max_abs_dev" of the headline: the book prints the exact −1.75 of k = 2 as −1.7
            "gridworld4x4.random_k1_2_3_10.max_print_dev":
                float(max(deviations[k] for k in (1, 2, 3, 10))),
            "gridworld4x4.random.exact_vs_iterative": float(np.abs(v_exact - result.V).max()),
            "gridworld4x4.random.sweeps": float(result.sweeps)}


def _gridworld_5x5(config: BookExamplesConfig, tracker: Tracker) -> dict[str, float]:
    """Example 3.5: v_π of the random policy (Figure 3.2), v* and π* (Figure 3.5)."""
    from algorithms.weeks.week01 import figures

    mdp = gridworld_5x5()
    v_random = exact_policy_value(mdp, uniform_random_policy(mdp))
    optimal = value_iteration(mdp, theta=config.theta)
    ties = greedy_actions(mdp, optimal.V, TIE_TOL)
    names = mdp.action_names
    book_ties = np.array([[name in cell.split() for name in names]
                          for row in FIGURE_3_5_PI for cell in row])

    for key, values in (("random_values", v_random), ("optimal_values", optimal.V)):
        tracker.log_table(f"book/gridworld5x5_{key}", *_grid_table(values.reshape(5, 5), 1))
    tracker.log_table("book/gridworld5x5_optimal_policy",
                      ["row"] + [f"col {c}" for c in range(5)],
                      [[r] + [" ".join(names[a] for a in np.flatnonzero(ties[r * 5 + c]))
                              for c in range(5)] for r in range(5)])
    tracker.log_figure(
        "book/gridworld5x5", figures.gridworld_5x5(mdp, v_random, optimal.V, ties),
        "Gridworld 5×5 (Example 3.5), γ = 0.9. Left: value of the equiprobable random policy "
        "(exact linear solve), as in Figure 3.2. Right: optimal values from value iteration "
        f"(θ = {config.theta:g}) and every optimal action (arrows), as in Figure 3.5. "
        "A→A′: +10, B→B′: +5.")
    return {"gridworld5x5.random.max_abs_dev": float(np.abs(v_random.reshape(5, 5)
                                                            - FIGURE_3_2).max()),
            "gridworld5x5.optimal.max_abs_dev": float(np.abs(optimal.V.reshape(5, 5)
                                                             - FIGURE_3_5_V).max()),
            "gridworld5x5.optimal_policy_matches_book": float(np.array_equal(ties, book_ties)),
            "gridworld5x5.vi.sweeps": float(optimal.sweeps)}


def _gambler(config: BookExamplesConfig, tracker: Tracker) -> dict[str, float]:
    """Example 4.3 / Figure 4.3: value iteration on the gambler's problem, p_h = 0.4."""
    from algorithms.weeks.week01 import figures

    mdp = gamblers_problem(p_heads=0.4)
    # The two-array sweep of eq. 4.10, run on to θ, so that "sweep 32" exists as in Figure 4.3.
    result = value_iteration(mdp, theta=config.theta, record_values=True)
    shown = [k for k in config.gambler_sweeps_shown if k <= result.sweeps]
    ties = greedy_actions(mdp, result.V, TIE_TOL)
    policy = ties.argmax(axis=1)  # the smallest optimal stake
    stakes = policy + 1
    for sweep, delta in enumerate(result.history, start=1):
        tracker.log({"book/gambler_delta": delta}, step=sweep, x="sweep")

    tracker.log_table("book/gambler_values_and_stakes",
                      ["capital", "v_star", "stake", "all_optimal_stakes"],
                      [[s, round(float(result.V[s]), 6), int(stakes[s]),
                        " ".join(str(a + 1) for a in np.flatnonzero(ties[s]))]
                       for s in range(1, mdp.n_states - 1)])
    curves = {f"sweep {k}": result.values[k - 1] for k in shown} | {"final": result.V}
    tracker.log_figure(
        "book/gambler", figures.gambler(mdp, ties, policy, curves),
        "Gambler's problem (Example 4.3), p_h = 0.4, γ = 1. Top: value-iteration estimates "
        f"(synchronous sweeps) after sweeps {', '.join(map(str, shown))} "
        f"and at convergence (sweep {result.sweeps}, θ = {config.theta:g}), as in Figure 4.3. "
        "Bottom: the greedy stake w.r.t. the final values, ties broken towards the smallest "
        "stake (line), and every optimal stake (dots).")
    known = np.abs([result.V[s] - v for s, v in GAMBLER_VALUES.items()]).max()
    return {"gambler.v50": float(result.V[50]), "gambler.stake50": float(stakes[50]),
            "gambler.known_values.max_abs_dev": float(known),
            "gambler.vi.sweeps": float(result.sweeps),
            "gambler.n_states_with_tied_stakes": float((ties.sum(axis=1) > 1).sum())}


def _cliff_walking(config: BookExamplesConfig, tracker: Tracker) -> dict[str, float]:
    """Example 6.6: the optimal path of cliff walking, from v* by value iteration."""
    from algorithms.weeks.week01 import figures

    mdp = cliff_walking()
    optimal = value_iteration(mdp, theta=config.theta)
    path = mdp.path(optimal.policy, mdp.start_state)
    tracker.log_table("book/cliffwalking_path_cells", ["step", "row", "col"],
                      [[i, *divmod(s, mdp.shape[1])] for i, s in enumerate(path)])
    tracker.log_figure(
        "book/cliffwalking_optimal_path", figures.cliff_path(mdp, optimal.V, path),
        "Cliff walking (Example 6.6), γ = 1: optimal values from value iteration "
        f"(θ = {config.theta:g}) and the greedy path from S "
        f"({len(path) - 1} steps; Example 6.6's 'optimal path' runs along the cliff edge).")
    return {"cliffwalking.optimal_path_length": float(len(path) - 1),
            "cliffwalking.optimal_path_length.max_abs_dev":
                float(abs(len(path) - 1 - CLIFF_OPTIMAL_PATH_LENGTH)),
            "cliffwalking.v_start": float(optimal.V[path[0]])}
