"""``pi-vs-vi``, ``convergence`` and ``heatmaps``: what each dynamic-programming algorithm of
``contenders.py`` costs to reach v*, how its error shrinks, and what v* and π* look like.

The reference v* of every environment is exact (``optimal_values``: value iteration finds an
optimal policy, a linear solve gives its value), so an algorithm's error ‖V_k − v*‖∞ is measured,
not estimated. Costs are counted as ``algorithms/mdp/dynamic_programming.py`` defines them: one
backup is one q(s, a) evaluated; a sweep is one pass over the non-terminal states.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from algorithms.experiment import ExperimentConfig, Tracker, experiment
from algorithms.mdp import (
    ENVIRONMENTS,
    DPResult,
    TabularMDP,
    greedy_actions,
    optimal_values,
    value_errors,
)
from algorithms.weeks.week01.book import TIE_TOL
from algorithms.weeks.week01.contenders import contenders, family, in_place, label

# ----------------------------------------------------------------------------- pi-vs-vi

class PiVsViConfig(ExperimentConfig):
    environments: tuple[str, ...] = tuple(ENVIRONMENTS)
    gammas: tuple[float, ...] = (0.9, 0.95, 0.99)
    native_gamma: bool = True  # also each episodic task's own γ = 1
    mpi_ks: tuple[int, ...] = (2, 5, 20)  # evaluation sweeps per improvement of MPI
    epsilon: float = 1e-6  # the cost of an algorithm is counted until ‖V − v*‖∞ < ε
    theta: float = 1e-10  # every algorithm runs on until a sweep changes V by less than θ
    summary_gamma: float = 0.99  # the discount whose costs go into the summary
    timing_repeats: int = 5  # wall time: best of up to this many runs ...
    timing_budget_s: float = 0.2  # ... while their total stays under this
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"environments": ("gridworld4x4", "frozenlake4x4", "gambler"),
                  "gammas": (0.9,), "mpi_ks": (5,), "summary_gamma": 0.9, "timing_repeats": 1},
        "gpu": {"gammas": (0.5, 0.8, 0.9, 0.95, 0.99, 0.999), "mpi_ks": (2, 5, 10, 20, 50),
                "timing_repeats": 10, "timing_budget_s": 1.0},
    }


COST_COLUMNS = ["sweeps_to_eps", "backups_to_eps", "ms_to_eps", "improvements", "sweeps_total",
                "final_error"]


def _gamma_tag(gamma: float) -> str:
    return "g" + f"{gamma:g}".replace(".", "")  # 0.99 -> g099, 1.0 -> g1


@experiment(week=1, name="pi-vs-vi", covers=(2,), config=PiVsViConfig, seeded=False,
            units={"*.backups": "backups", "*.sweeps": "sweeps", "*.ms": "ms",
                   "*.pi_over_vi_backups": "×"})
def pi_vs_vi(config: PiVsViConfig, tracker: Tracker) -> dict[str, float]:
    """Sweeps, backups and wall time to reach ‖V − v*‖∞ < ε: VI vs PI vs modified PI."""
    from algorithms.weeks.week01 import figures

    algorithms = contenders(config.mpi_ks, config.theta)
    jobs = []
    for env in config.environments:
        native = ENVIRONMENTS[env]().gamma
        extra = {native} if config.native_gamma and native == 1.0 else set()
        jobs += [(env, gamma) for gamma in sorted(set(config.gammas) | extra)]

    costs: dict[tuple[str, float], dict[str, dict[str, float]]] = {}
    titles: dict[str, str] = {}
    summary = {}
    for env, gamma in tracker.track(jobs, total=len(jobs), description="pi-vs-vi"):
        mdp = ENVIRONMENTS[env]().with_gamma(gamma)
        titles[env] = mdp.name
        v_star = optimal_values(mdp).V
        costs[env, gamma] = {name: _cost_to_eps(run, mdp, v_star, config)
                             for name, run in algorithms.items()}
        for name, cost in costs[env, gamma].items():
            tracker.log({f"compare/{env}/{name}/{column}": cost[column]
                         for column in COST_COLUMNS[:3]}, step=gamma, x="gamma")
            if gamma == config.summary_gamma:
                summary |= {f"{env}.{name}.{column.removesuffix('_to_eps')}": float(cost[column])
                            for column in COST_COLUMNS[:3]}
        summary[f"{env}.{_gamma_tag(gamma)}.pi_over_vi_backups"] = \
            costs[env, gamma]["pi"]["backups_to_eps"] / costs[env, gamma]["vi"]["backups_to_eps"]

    rows = [[env, gamma, label(family(name)), "in-place" if in_place(name) else "synchronous",
             *(cost[column] for column in COST_COLUMNS)]
            for (env, gamma), by_name in costs.items() for name, cost in by_name.items()]
    tracker.log_table("compare/cost_to_eps", ["env", "gamma", "algorithm", "update", *COST_COLUMNS],
                      rows)
    summary["reached_eps_fraction"] = float(np.mean([np.isfinite(row[5]) for row in rows]))

    for column, unit in (("backups_to_eps", "Bellman backups"), ("ms_to_eps", "wall time (ms)")):
        tracker.log_figure(
            f"compare/{column}", figures.cost_vs_gamma(costs, column, unit, titles),
            f"{unit} until ‖V − v*‖∞ < {config.epsilon:g} against the discount γ, one panel per "
            "environment (log scale): value iteration (VI), modified policy iteration with k "
            f"sweeps per improvement (MPI k={', '.join(map(str, config.mpi_ks))}) and policy "
            f"iteration (PI, evaluation to θ = {config.theta:g}, starting from the equiprobable "
            "random policy); solid synchronous, dashed in-place sweeps. One backup = one "
            "q(s, a) evaluated."
            + (f" Best of up to {config.timing_repeats} runs. In-place sweeps loop over states "
               "in Python and synchronous sweeps are whole-array operations, so on MDPs this "
               "small the wall time mostly measures interpreter overhead."
               if column == "ms_to_eps" else ""))
    return summary


def _cost_to_eps(run: Callable[[TabularMDP], DPResult], mdp: TabularMDP, v_star: np.ndarray,
                 config: PiVsViConfig) -> dict[str, float]:
    """Sweeps, backups and best-of-repeats wall time at the first sweep with ‖V − v*‖∞ < ε."""
    result = run(mdp)
    errors = value_errors(result, v_star)
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
    from algorithms.weeks.week01 import figures

    algorithms = contenders(config.mpi_ks, config.theta)
    # env -> algorithm -> (‖V_k − v*‖∞, backups done) for k = 0, 1, ... until the floor
    curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    bounds: dict[str, np.ndarray] = {}
    titles: dict[str, str] = {}
    summary = {}
    for env in tracker.track(config.environments, total=len(config.environments),
                             description="convergence"):
        mdp = ENVIRONMENTS[env]().with_gamma(config.gamma)
        titles[env] = mdp.name
        v_star = optimal_values(mdp).V
        curves[env] = {}
        for name, run in algorithms.items():
            result = run(mdp)
            errors = np.concatenate([[np.abs(v_star).max()], value_errors(result, v_star)])
            backups = np.concatenate([[0], result.backups_history])
            end = np.flatnonzero(errors < config.floor)
            end = end[0] + 1 if len(end) else len(errors)
            curves[env][name] = (errors[:end], backups[:end])
            summary[f"{env}.{name}.sweeps_to_floor"] = float(end - 1)
        # VI's error shrinks at least by γ per sweep (eq. 4.10 is a γ-contraction):
        # ‖V_k − v*‖∞ ≤ γ^k ‖V_0 − v*‖∞; the empirical rate is the average factor it achieved
        vi_errors = curves[env]["vi"][0]
        bounds[env] = vi_errors[0] * config.gamma ** np.arange(1, len(vi_errors))
        last = np.flatnonzero(vi_errors >= config.floor)[-1]
        if last > 0:
            summary[f"{env}.vi.empirical_rate"] = float((vi_errors[last] / vi_errors[0])
                                                        ** (1 / last))
        _log_curves(tracker, env, curves[env], config.points_logged)

    title = rf"Convergence to $v_*$, $\gamma$ = {config.gamma:g}"
    for x_axis in ("sweeps", "backups"):
        fig = figures.error_curves(curves, titles, x_axis, config.floor, title,
                                   bounds if x_axis == "sweeps" else None)
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
    """Log each curve at ~``points`` geometrically spaced sweep counts, one call per count."""
    longest = max(len(errors) for errors, _ in curves.values())
    for sweep in np.unique(np.geomspace(1, longest, points).astype(int)) - 1:
        tracker.log({f"convergence/{env}/{name}/value_error": float(errors[sweep])
                     for name, (errors, _) in curves.items() if sweep < len(errors)},
                    step=int(sweep), x="sweep")


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
    from algorithms.weeks.week01 import figures

    summary = {}
    for env in tracker.track(config.environments, total=len(config.environments),
                             description="heatmaps"):
        mdp = ENVIRONMENTS[env]()
        v_star = optimal_values(mdp, theta=config.theta).V
        ties = greedy_actions(mdp, v_star, TIE_TOL)
        start = mdp.start_state
        summary[f"{env}.v_start" if start is not None else f"{env}.v_max"] = \
            float(v_star[start] if start is not None else v_star.max())
        if mdp.shape is None:  # the gambler: a line, not a grid
            fig = figures.gambler(mdp, ties, ties.argmax(axis=1), {r"$v_*$": v_star})
            what = "v* against capital (top) and the optimal stakes (bottom: smallest optimal " \
                   "stake as a line, every optimal stake as dots)"
        else:
            fig = figures.value_heatmap(mdp, v_star, ties)
            what = "v* (colour and numbers) and every optimal action (arrows)"
        tracker.log_figure(
            f"heatmaps/{env}", fig,
            f"{mdp.name}, γ = {mdp.gamma:g}: {what}; v* from value iteration to θ = "
            f"{config.theta:g}, then solved exactly for the greedy policy.")
    return summary
