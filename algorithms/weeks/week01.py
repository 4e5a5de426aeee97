"""Week 1: finite MDPs and dynamic programming (Sutton & Barto, 2nd ed., chapters 3–4).

Four experiments:

* ``book-examples``: the book's value functions and optimal policies, number for number.
* ``pi-vs-vi``: what policy iteration, value iteration and modified policy iteration cost to get
  within ε of v*, on every environment and several discounts.
* ``convergence``: ‖V_k − v*‖∞ against sweeps and against backups, with VI's γ^k bound.
* ``heatmaps``: v* and π* of every environment, drawn.

Dynamic programming is deterministic, so no experiment is seeded. Matplotlib is imported only by
the drawing helpers at the bottom of this module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, ClassVar

import numpy as np

from algorithms.mdp import (
    ENVIRONMENTS,
    DPResult,
    TabularMDP,
    cliff_walking,
    exact_policy_value,
    gamblers_problem,
    greedy_actions,
    gridworld_4x4,
    gridworld_5x5,
    modified_policy_iteration,
    optimal_values,
    policy_evaluation,
    policy_iteration,
    uniform_random_policy,
    value_iteration,
)
from algorithms.mdp.environments import COMPASS
from algorithms.experiment import ExperimentConfig, Tracker, experiment

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

TIE_TOL = 1e-9  # q-values this close count as tied when drawing every optimal action


# ----------------------------------------------------------------------------- shared helpers

def _algorithms(ks: Sequence[int], theta: float) -> dict[str, Callable[[TabularMDP], DPResult]]:
    """The contenders by name, from VI (= MPI with k = 1) to PI (k = ∞), each synchronous and
    in place; all stop at θ and record V after every sweep."""
    contenders = {}
    for suffix, in_place in (("", False), ("_inplace", True)):
        contenders["vi" + suffix] = partial(value_iteration, theta=theta, in_place=in_place,
                                            record_values=True)
        for k in ks:
            contenders[f"mpi{k}{suffix}"] = partial(modified_policy_iteration, k=k, theta=theta,
                                                    in_place=in_place, record_values=True)
        contenders["pi" + suffix] = partial(policy_iteration, theta_eval=theta, in_place=in_place,
                                            record_values=True)
    return contenders


def _label(name: str) -> str:
    base = name.removesuffix("_inplace")
    label = {"vi": "VI", "pi": "PI"}.get(base, f"MPI k={base.removeprefix('mpi')}")
    return label + (" (in-place)" if name.endswith("_inplace") else "")


def _errors(result: DPResult, v_star: np.ndarray) -> np.ndarray:
    """‖V_k − v*‖∞ after every sweep k = 1, 2, ..."""
    return np.abs(np.array(result.values) - v_star).max(axis=1)


def _gamma_tag(gamma: float) -> str:
    return "g" + f"{gamma:g}".replace(".", "")  # 0.99 -> g099, 1.0 -> g1


def _start_state(mdp: TabularMDP) -> int | None:
    flat = "".join(mdp.layout or ())
    return flat.index("S") if "S" in flat else None


def _grid_table(values: np.ndarray, digits: int = 2) -> tuple[list[str], list[list[Any]]]:
    """A grid of values as table rows, one per grid row."""
    columns = ["row"] + [f"col {c}" for c in range(values.shape[1])]
    return columns, [[r, *np.round(row, digits).tolist()] for r, row in enumerate(values)]


# ----------------------------------------------------------------------------- book-examples

class BookExamplesConfig(ExperimentConfig):
    theta: float = 1e-10
    gambler_sweeps_shown: tuple[int, ...] = (1, 2, 3, 32)
    profiles: ClassVar[dict[str, dict[str, Any]]] = {"smoke": {"theta": 1e-8}}


@experiment(week=1, name="book-examples", covers=(1,), config=BookExamplesConfig, seeded=False,
            units={"*.sweeps": "sweeps", "*.optimal_path_length": "steps"})
def book_examples(config: BookExamplesConfig, tracker: Tracker) -> dict[str, float]:
    """Reproduce the value functions and optimal policies printed in Sutton & Barto ch. 3–4."""
    sections = {"gridworld4x4": _book_gridworld_4x4, "gridworld5x5": _book_gridworld_5x5,
                "gambler": _book_gambler, "cliffwalking": _book_cliff}
    summary: dict[str, float] = {}
    for name in tracker.track(list(sections), total=len(sections), description="book examples"):
        summary |= sections[name](config, tracker)
    summary["book.max_abs_dev"] = max(value for key, value in summary.items()
                                      if key.endswith("max_abs_dev"))
    return summary


def _book_gridworld_4x4(config: BookExamplesConfig, tracker: Tracker) -> dict[str, float]:
    mdp = gridworld_4x4()
    random_policy = uniform_random_policy(mdp)
    result = policy_evaluation(mdp, random_policy, theta=config.theta, record_values=True)
    v_exact = exact_policy_value(mdp, random_policy)
    snapshots = {k: result.values[k - 1] for k in (1, 2, 3, 10)} | {"inf": result.V}
    deviations = {k: np.abs(v.reshape(4, 4) - FIGURE_4_1[k]).max() for k, v in snapshots.items()}

    columns, rows = _grid_table(result.V.reshape(4, 4), digits=1)
    tracker.log_table("book/gridworld4x4_random_values", columns, rows)
    tracker.log_table("book/gridworld4x4_random_sweeps", ["k", "max_abs_dev_from_figure_4_1"],
                      [[str(k), float(d)] for k, d in deviations.items()])
    fig = _figure_4_1(mdp, {0: np.zeros(16)} | snapshots)
    tracker.log_figure(
        "book/gridworld4x4_random_policy", fig,
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


def _book_gridworld_5x5(config: BookExamplesConfig, tracker: Tracker) -> dict[str, float]:
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
    fig, axes = _new_figure(1, 2, figsize=(9.2, 3.9))
    _draw_grid(axes[0], mdp, v_random, value_label=r"$v_\pi(s)$",
               title=r"$v_\pi$ of the equiprobable random $\pi$ (Fig. 3.2)")
    _draw_grid(axes[1], mdp, optimal.V, ties, title=r"$v_*$ and $\pi_*$ (Fig. 3.5)",
               value_label=r"$v_*(s)$")
    tracker.log_figure(
        "book/gridworld5x5", fig,
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


def _book_gambler(config: BookExamplesConfig, tracker: Tracker) -> dict[str, float]:
    mdp = gamblers_problem(p_heads=0.4)
    # The two-array sweep of eq. 4.10, run on to θ, so that "sweep 32" exists as in Figure 4.3.
    result = value_iteration(mdp, theta=config.theta, record_values=True)
    shown = [k for k in config.gambler_sweeps_shown if k <= result.sweeps]
    sweeps = {f"sweep {k}": result.values[k - 1] for k in shown}
    ties = greedy_actions(mdp, result.V, TIE_TOL)
    policy = ties.argmax(axis=1)  # the smallest optimal stake
    stakes = policy + 1
    for sweep, delta in enumerate(result.history, start=1):
        tracker.log({"book/gambler_delta": delta}, step=sweep)

    capital = list(range(1, 100))
    tracker.log_table("book/gambler", ["capital", "v_star", "stake", "all_optimal_stakes"],
                      [[s, round(float(result.V[s]), 6), int(stakes[s]),
                        " ".join(str(a + 1) for a in np.flatnonzero(ties[s]))] for s in capital])
    fig = _gambler_figure(mdp, result.V, ties, policy, sweeps | {"final": result.V})
    tracker.log_figure(
        "book/gambler", fig,
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


def _book_cliff(config: BookExamplesConfig, tracker: Tracker) -> dict[str, float]:
    mdp = cliff_walking()
    optimal = value_iteration(mdp, theta=config.theta)
    path = _greedy_path(mdp, optimal.policy, _start_state(mdp))
    tracker.log_table("book/cliffwalking_optimal_path", ["step", "row", "col"],
                      [[i, *divmod(s, mdp.shape[1])] for i, s in enumerate(path)])
    fig, ax = _new_figure(figsize=(9.5, 3.6))
    _draw_grid(ax, mdp, optimal.V, path=path,
               title=r"Cliff walking: $v_*$ and the optimal path", value_label=r"$v_*(s)$")
    tracker.log_figure(
        "book/cliffwalking_optimal_path", fig,
        "Cliff walking (Example 6.6), γ = 1: optimal values from value iteration "
        f"(θ = {config.theta:g}) and the greedy path from S "
        f"({len(path) - 1} steps, along the cliff edge: Example 6.6's 'optimal path').")
    return {"cliffwalking.optimal_path_length": float(len(path) - 1),
            "cliffwalking.optimal_path_length.max_abs_dev":
                float(abs(len(path) - 1 - CLIFF_OPTIMAL_PATH_LENGTH)),
            "cliffwalking.v_start": float(optimal.V[path[0]])}


def _greedy_path(mdp: TabularMDP, policy: np.ndarray, start: int) -> list[int]:
    """The states visited by a deterministic policy in a deterministic MDP until it terminates."""
    path = [start]
    while not mdp.terminal[path[-1]] and len(path) <= mdp.n_states:
        path.append(int(mdp.P[path[-1], policy[path[-1]]].argmax()))
    return path


# ----------------------------------------------------------------------------- pi-vs-vi

class PiVsViConfig(ExperimentConfig):
    environments: tuple[str, ...] = tuple(ENVIRONMENTS)
    gammas: tuple[float, ...] = (0.9, 0.95, 0.99)
    native_gamma: bool = True  # also each episodic task's own γ = 1
    mpi_ks: tuple[int, ...] = (2, 5, 20)
    epsilon: float = 1e-6
    theta: float = 1e-10
    summary_gamma: float = 0.99
    timing_repeats: int = 5  # best of up to this many runs ...
    timing_budget_s: float = 0.2  # ... while their total stays under this
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"environments": ("gridworld4x4", "frozenlake4x4", "gambler"),
                  "gammas": (0.9,), "mpi_ks": (5,), "summary_gamma": 0.9, "timing_repeats": 1},
        "gpu": {"gammas": (0.5, 0.8, 0.9, 0.95, 0.99, 0.999), "mpi_ks": (2, 5, 10, 20, 50),
                "timing_repeats": 10, "timing_budget_s": 1.0},
    }


COST_COLUMNS = ["sweeps_to_eps", "backups_to_eps", "ms_to_eps", "improvements", "sweeps_total",
                "final_error"]


@experiment(week=1, name="pi-vs-vi", covers=(2,), config=PiVsViConfig, seeded=False,
            units={"*.backups": "backups", "*.sweeps": "sweeps", "*.ms": "ms",
                   "*.pi_over_vi_backups": "×"})
def pi_vs_vi(config: PiVsViConfig, tracker: Tracker) -> dict[str, float]:
    """Sweeps, backups and wall time to reach ‖V − v*‖∞ < ε: VI vs PI vs modified PI."""
    contenders = _algorithms(config.mpi_ks, config.theta)
    jobs = []
    for env in config.environments:
        native = ENVIRONMENTS[env]().gamma
        extra = {native} if config.native_gamma and native == 1.0 else set()
        jobs += [(env, gamma) for gamma in sorted(set(config.gammas) | extra)]

    costs: dict[tuple[str, float], dict[str, dict[str, float]]] = {}
    summary = {}
    for env, gamma in tracker.track(jobs, total=len(jobs), description="pi-vs-vi"):
        mdp = ENVIRONMENTS[env]().with_gamma(gamma)
        v_star = optimal_values(mdp).V
        costs[env, gamma] = {name: _cost_to_eps(run, mdp, v_star, config)
                             for name, run in contenders.items()}
        for name, cost in costs[env, gamma].items():
            # step = 100γ, so that the W&B charts of these costs have γ on the x-axis
            tracker.log({f"compare/{env}/{name}/{column}": cost[column]
                         for column in COST_COLUMNS[:3]}, step=round(100 * gamma))
            if gamma == config.summary_gamma:
                summary |= {f"{env}.{name}.{column.removesuffix('_to_eps')}": float(cost[column])
                            for column in COST_COLUMNS[:3]}
        summary[f"{env}.{_gamma_tag(gamma)}.pi_over_vi_backups"] = \
            costs[env, gamma]["pi"]["backups_to_eps"] / costs[env, gamma]["vi"]["backups_to_eps"]

    rows = [[env, gamma, _label(name.removesuffix("_inplace")),
             "in-place" if name.endswith("_inplace") else "synchronous",
             *(cost[column] for column in COST_COLUMNS)]
            for (env, gamma), by_name in costs.items() for name, cost in by_name.items()]
    tracker.log_table("compare/cost_to_eps", ["env", "gamma", "algorithm", "update", *COST_COLUMNS],
                      rows)
    summary["reached_eps_fraction"] = float(np.mean([np.isfinite(row[5]) for row in rows]))

    for column, unit in (("backups_to_eps", "Bellman backups"), ("ms_to_eps", "wall time (ms)")):
        tracker.log_figure(
            f"compare/{column}", _cost_figure(costs, column, unit),
            f"{unit} until ‖V − v*‖∞ < {config.epsilon:g} against the discount γ, one panel per "
            "environment (log scale): value iteration (VI), modified policy iteration with k "
            f"sweeps per improvement (MPI k={', '.join(map(str, config.mpi_ks))}) and policy "
            f"iteration (PI, evaluation to θ = {config.theta:g}, starting from the equiprobable "
            "random policy); solid synchronous, dashed in-place sweeps. One backup = one "
            "q(s, a) evaluated."
            + (f" Best of up to {config.timing_repeats} runs. On MDPs this small a sweep costs "
               "microseconds, so interpreter overhead dominates: in-place sweeps loop over states "
               "in Python." if column == "ms_to_eps" else ""))
    return summary


def _cost_to_eps(run: Callable[[TabularMDP], DPResult], mdp: TabularMDP, v_star: np.ndarray,
                 config: PiVsViConfig) -> dict[str, float]:
    """Sweeps, backups and best-of-repeats wall time at the first sweep with ‖V − v*‖∞ < ε."""
    result = run(mdp)
    errors = _errors(result, v_star)
    reached = np.flatnonzero(errors < config.epsilon)
    cost = {"improvements": result.improvements, "sweeps_total": result.sweeps,
            "final_error": float(errors[-1])}
    if len(reached) == 0:
        return cost | {"sweeps_to_eps": np.nan, "backups_to_eps": np.nan, "ms_to_eps": np.nan}
    k = reached[0]
    seconds = [result.seconds_history[k]]
    while len(seconds) < config.timing_repeats and \
            sum(seconds) + result.seconds_history[-1] < config.timing_budget_s:
        seconds.append(run(mdp).seconds_history[k])
    return cost | {"sweeps_to_eps": int(k + 1), "backups_to_eps": result.backups_history[k],
                   "ms_to_eps": round(1e3 * min(seconds), 3)}


# ----------------------------------------------------------------------------- convergence

class ConvergenceConfig(ExperimentConfig):
    environments: tuple[str, ...] = tuple(ENVIRONMENTS)
    gamma: float = 0.99
    mpi_ks: tuple[int, ...] = (2, 5, 20)
    theta: float = 1e-10
    floor: float = 1e-10  # curves stop here: below it only rounding is left
    points_logged: int = 40  # per curve, spaced geometrically in the sweep count
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"environments": ("gridworld5x5", "frozenlake4x4"), "gamma": 0.9,
                  "mpi_ks": (5,), "theta": 1e-8, "floor": 1e-8, "points_logged": 10},
    }


@experiment(week=1, name="convergence", covers=(2,), config=ConvergenceConfig, seeded=False,
            units={"*.sweeps_to_floor": "sweeps"})
def convergence(config: ConvergenceConfig, tracker: Tracker) -> dict[str, float]:
    """Convergence of ‖V_k − v*‖∞ per sweep and per backup for every algorithm and environment."""
    contenders = _algorithms(config.mpi_ks, config.theta)
    curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    summary = {}
    for env in tracker.track(config.environments, total=len(config.environments),
                             description="convergence"):
        mdp = ENVIRONMENTS[env]().with_gamma(config.gamma)
        v_star = optimal_values(mdp).V
        curves[env] = {}
        for name, run in contenders.items():
            result = run(mdp)
            errors = np.concatenate([[np.abs(v_star).max()], _errors(result, v_star)])
            backups = np.concatenate([[0], result.backups_history])
            end = np.flatnonzero(errors < config.floor)
            end = end[0] + 1 if len(end) else len(errors)
            curves[env][name] = (errors[:end], backups[:end])
            summary[f"{env}.{name}.sweeps_to_floor"] = float(end - 1)
        # VI's error shrinks at least by γ per sweep; this is the average factor it achieved
        vi_errors = curves[env]["vi"][0]
        last = np.flatnonzero(vi_errors >= config.floor)[-1]
        if last > 0:
            summary[f"{env}.vi.empirical_rate"] = float((vi_errors[last] / vi_errors[0])
                                                        ** (1 / last))
        _log_curves(tracker, env, curves[env], config.points_logged)

    title = rf"Convergence to $v_*$, $\gamma$ = {config.gamma:g}"
    for x_axis in ("sweeps", "backups"):
        fig = _convergence_figure(curves, config, x_axis, title)
        tracker.log_figure(
            f"convergence/error_vs_{x_axis}", fig,
            f"Max-norm error ‖V_k − v*‖∞ against {x_axis} (log–log) for every environment at "
            f"γ = {config.gamma:g}: value iteration (VI), modified policy iteration "
            f"(MPI k={', '.join(map(str, config.mpi_ks))}) and policy iteration (PI, from the "
            "equiprobable random policy); solid synchronous, dashed in-place. "
            + ("The dotted black line is VI's contraction bound γ^k ‖V_0 − v*‖∞. "
               if x_axis == "sweeps" else "One backup = one q(s, a) evaluated. ")
            + "v* is exact (linear solve for the optimal policy); curves start after the first "
            f"sweep and stop at {config.floor:g}.")
    return summary


def _log_curves(tracker: Tracker, env: str, curves: dict[str, tuple[np.ndarray, np.ndarray]],
                points: int) -> None:
    """Log each curve at ~``points`` geometrically spaced sweeps, one call per sweep."""
    longest = max(len(errors) for errors, _ in curves.values())
    for sweep in np.unique(np.geomspace(1, longest, points).astype(int)) - 1:
        tracker.log({f"convergence/{env}/{name}/value_error": float(errors[sweep])
                     for name, (errors, _) in curves.items() if sweep < len(errors)},
                    step=int(sweep))


# ----------------------------------------------------------------------------- heatmaps

class HeatmapsConfig(ExperimentConfig):
    environments: tuple[str, ...] = tuple(ENVIRONMENTS)
    theta: float = 1e-10
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"environments": ("gridworld4x4", "frozenlake4x4", "gambler")},
    }


@experiment(week=1, name="heatmaps", covers=(1,), config=HeatmapsConfig, seeded=False)
def heatmaps(config: HeatmapsConfig, tracker: Tracker) -> dict[str, float]:
    """v* heatmaps with optimal-policy arrows for every environment, at its own discount."""
    summary = {}
    for env in tracker.track(config.environments, total=len(config.environments),
                             description="heatmaps"):
        mdp = ENVIRONMENTS[env]()
        v_star = optimal_values(mdp, theta=config.theta).V
        ties = greedy_actions(mdp, v_star, TIE_TOL)
        start = _start_state(mdp)
        summary[f"{env}.v_start" if start is not None else f"{env}.v_max"] = \
            float(v_star[start] if start is not None else v_star.max())
        if mdp.shape is None:  # the gambler: a line, not a grid
            fig = _gambler_figure(mdp, v_star, ties, ties.argmax(axis=1), {r"$v_*$": v_star})
            what = "v* against capital (top) and the optimal stakes (bottom: smallest optimal " \
                   "stake as a line, every optimal stake as dots)"
        else:
            fig, ax = _new_figure(figsize=_grid_figsize(mdp))
            _draw_grid(ax, mdp, v_star, ties, title=rf"{mdp.name}: $v_*$ and $\pi_*$",
                       value_label=r"$v_*(s)$")
            what = "v* (colour and numbers) and every optimal action (arrows)"
        tracker.log_figure(
            f"heatmaps/{env}", fig,
            f"{mdp.name}, γ = {mdp.gamma:g}: {what}; v* from value iteration to θ = "
            f"{config.theta:g}, then solved exactly for the greedy policy.")
    return summary


# ----------------------------------------------------------------------------- drawing

def _new_figure(*args: Any, **kw: Any) -> tuple[Any, Any]:
    from algorithms.plotting import figure

    return figure(*args, **kw)


# Cells drawn as labelled patches instead of values: (face colour, label, label colour).
_SPECIAL_CELLS = {"T": ("#d9d9d9", "T", "black"), "G": ("#E69F00", "G", "black"),
                  "H": ("#23395d", "H", "white"), "C": ("#8c2d04", "", "white")}


def _grid_figsize(mdp: TabularMDP) -> tuple[float, float]:
    rows, cols = mdp.shape
    cell = 0.62 if cols > 6 else 0.8
    return cols * cell + 1.6, rows * cell + 0.9


def _draw_grid(ax: Any, mdp: TabularMDP, V: np.ndarray, ties: np.ndarray | None = None, *,
               title: str, value_label: str | None, path: Sequence[int] = (),
               vmin: float | None = None, vmax: float | None = None) -> Any:
    """A value heatmap of a grid world: numbers in every cell, optimal actions as arrows from
    the cell centre, special cells (terminal, goal, hole, cliff) as labelled patches. Returns the
    image; ``value_label=None`` leaves the colour bar to the caller."""
    from matplotlib.patches import Rectangle

    rows, cols = mdp.shape
    kinds = np.array([list(row) for row in mdp.layout])
    special = np.isin(kinds, list(_SPECIAL_CELLS))
    image = ax.imshow(np.ma.masked_array(V.reshape(rows, cols), special), vmin=vmin, vmax=vmax)
    if value_label is not None:
        ax.figure.colorbar(image, ax=ax, label=value_label, shrink=0.9, pad=0.02)
    ax.set(title=title, xlabel="column", ylabel="row", xticks=range(cols), yticks=range(rows))
    ax.grid(False)
    ax.set_xticks(np.arange(-0.5, cols), minor=True)
    ax.set_yticks(np.arange(-0.5, rows), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="minor", length=0)

    font = 8 if cols <= 5 else 6.5
    digits = 0 if np.allclose(V, np.round(V)) else 2 if np.abs(V).max() < 10 else 1
    # with arrows or a path below the centre, the number moves to the top of the cell
    text_y = -0.28 if ties is not None or len(path) else 0.0
    arrows = []  # (x, y, dx, dy, colour), drawn in one quiver call
    for s in range(mdp.n_states):
        r, c = divmod(s, cols)
        kind = kinds[r, c]
        if kind in _SPECIAL_CELLS:
            face, label, colour = _SPECIAL_CELLS[kind]
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, facecolor=face, edgecolor="white",
                                   linewidth=1.5))
            ax.text(c, r, label, ha="center", va="center", color=colour, fontsize=font + 2,
                    fontweight="bold")
            continue
        red, green, blue, _ = image.cmap(image.norm(V[s]))
        ink = "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"
        ax.text(c, r + text_y, f"{V[s]:.{digits}f}", ha="center", va="center", color=ink,
                fontsize=font, zorder=6)
        if kind in "SABab":
            ax.text(c - 0.44, r - 0.44, {"a": "A′", "b": "B′"}.get(kind, kind), ha="left",
                    va="top", color=ink, fontsize=font - 0.5, fontweight="bold")
        if ties is not None and not mdp.terminal[s]:
            arrows += [(c, r + 0.14, *COMPASS[mdp.action_names[a]][::-1], ink)
                       for a in np.flatnonzero(ties[s])]
    if arrows:
        x, y, dx, dy, colour = zip(*arrows)
        ax.quiver(x, y, 0.26 * np.array(dx), 0.26 * np.array(dy), color=colour, angles="xy",
                  scale_units="xy", scale=1, width=0.022 / cols, headwidth=4, headlength=4,
                  headaxislength=3.5, zorder=4)
    if (kinds == "C").any():
        cliff_cols = np.flatnonzero(kinds[-1] == "C")
        ax.text(cliff_cols.mean(), rows - 1, "The Cliff  (−100, back to S)", ha="center",
                va="center", color="white", fontsize=font + 1.5, fontweight="bold")
    if len(path) > 1:
        path_r, path_c = np.divmod(np.asarray(path), cols)
        ax.plot(path_c, path_r + 0.14, color="#D55E00", linewidth=2.5, alpha=0.9,
                solid_capstyle="round", marker="o", markersize=3, zorder=5)
    return image


def _figure_4_1(mdp: TabularMDP, snapshots: dict[Any, np.ndarray]) -> Any:
    fig, axes = _new_figure(2, 3, figsize=(11, 7.4))
    # one colour scale for all panels, so that the colours show the values growing with k
    low = min(values.min() for values in snapshots.values())
    for ax, (k, values) in zip(axes.flat, snapshots.items()):
        image = _draw_grid(ax, mdp, values, greedy_actions(mdp, values, TIE_TOL),
                           title=f"k = {'∞' if k == 'inf' else k}", value_label=None,
                           vmin=low, vmax=0.0)
    fig.colorbar(image, ax=axes, label=r"$v_k(s)$", shrink=0.6)
    fig.suptitle(r"Iterative evaluation of the equiprobable random policy: $v_k$ and the "
                 r"greedy policy w.r.t. $v_k$")
    return fig


def _gambler_figure(mdp: TabularMDP, V: np.ndarray, ties: np.ndarray, policy: np.ndarray,
                    curves: dict[str, np.ndarray]) -> Any:
    fig, (top, bottom) = _new_figure(2, 1, figsize=(7.5, 6.6), sharex=True)
    capital = np.arange(1, mdp.n_states - 1)
    for i, (label, values) in enumerate(curves.items()):
        final = i == len(curves) - 1  # dashed, so that a late sweep under it stays visible
        top.plot(capital, values[capital], label=label, color="black" if final else None,
                 linestyle="--" if final and len(curves) > 1 else "-", linewidth=1.3)
    top.set(ylabel="value", title=f"{mdp.name}: value function",
            ylim=(0, 1.02))
    top.legend(loc="upper left")
    states, actions = np.nonzero(ties[capital])
    bottom.scatter(capital[states], actions + 1, s=9, color="#56B4E9", label="every optimal stake",
                   zorder=2)
    bottom.step(capital, policy[capital] + 1, where="mid", color="#0072B2", linewidth=1.4,
                label="smallest optimal stake", zorder=3)
    bottom.set(xlabel="capital", ylabel="stake", title="Optimal policy: stake for each capital",
               xticks=[1, 25, 50, 75, 99], ylim=(0, 52))
    bottom.legend(loc="upper left")
    return fig


def _cost_figure(costs: dict[tuple[str, float], dict[str, dict[str, float]]], column: str,
                 unit: str) -> Any:
    from algorithms.plotting import PALETTE

    envs = list(dict.fromkeys(env for env, _ in costs))
    names = list(next(iter(costs.values())))
    families = list(dict.fromkeys(name.removesuffix("_inplace") for name in names))
    ncols = min(3, len(envs))
    nrows = -(-len(envs) // ncols)
    fig, axes = _new_figure(nrows, ncols, squeeze=False, figsize=(4.2 * ncols, 3.3 * nrows))
    for ax, env in zip(axes.flat, envs):
        gammas = sorted(gamma for e, gamma in costs if e == env)
        for name in names:
            family = name.removesuffix("_inplace")
            ax.plot(range(len(gammas)), [costs[env, g][name][column] for g in gammas],
                    marker="o", markersize=3.5, color=PALETTE[families.index(family)],
                    linestyle="--" if name != family else "-",
                    label=_label(name) if name == family else None)
        ax.set(title=ENVIRONMENTS[env]().name, yscale="log", xticks=range(len(gammas)),
               xticklabels=[f"{g:g}" for g in gammas], xlabel="γ", ylabel=unit)
    for ax in axes.flat[len(envs):]:
        ax.set_visible(False)
    _legend(fig, axes.flat[0])
    return fig


def _convergence_figure(curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]],
                        config: ConvergenceConfig, x_axis: str, title: str) -> Any:
    from algorithms.plotting import PALETTE

    envs = list(curves)
    ncols = min(3, len(envs))
    nrows = -(-len(envs) // ncols)
    fig, axes = _new_figure(nrows, ncols, squeeze=False, figsize=(4.2 * ncols, 3.3 * nrows))
    families = list(dict.fromkeys(name.removesuffix("_inplace") for name in curves[envs[0]]))
    for ax, env in zip(axes.flat, envs):
        # log x: PI's first evaluation takes 10-1000× more sweeps than VI needs in total
        for name, (errors, backups) in curves[env].items():
            family = name.removesuffix("_inplace")
            x = backups if x_axis == "backups" else np.arange(len(errors))
            ax.plot(x[1:], errors[1:], color=PALETTE[families.index(family)],
                    linestyle="--" if name != family else "-", linewidth=1.3,
                    label=_label(name) if name == family else None)
        if x_axis == "sweeps":
            vi = curves[env]["vi"][0]
            k = np.arange(1, len(vi))
            ax.plot(k, vi[0] * config.gamma ** k, color="black", linestyle=":", linewidth=1.2,
                    label=r"$\gamma^k\,\|V_0 - v_*\|_\infty$")
        ax.set(title=ENVIRONMENTS[env]().name, xscale="log", yscale="log",
               ylim=(config.floor / 3, None), ylabel=r"$\|V_k - v_*\|_\infty$",
               xlabel="sweeps k" if x_axis == "sweeps" else "Bellman backups")
    for ax in axes.flat[len(envs):]:
        ax.set_visible(False)
    _legend(fig, axes.flat[0])
    fig.suptitle(title)
    return fig


def _legend(fig: Any, ax: Any) -> None:
    """One legend for the figure, beside the panels: the algorithms' colours, then line styles."""
    from matplotlib.lines import Line2D

    handles, labels = ax.get_legend_handles_labels()
    handles += [Line2D([], [], color="grey"), Line2D([], [], color="grey", linestyle="--")]
    fig.legend(handles, labels + ["synchronous", "in-place"], loc="outside right upper")
