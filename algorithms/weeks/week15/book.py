"""Sutton & Barto (2nd ed., 2018) chapter 8 reproduced with tabular agents (numpy):

* ``dyna-maze``: Example 8.1 / Figure 8.2, Dyna-Q's steps per episode for n = 0, 5, 50.
* ``changing-mazes``: Examples 8.2–8.3 / Figures 8.4–8.5, Dyna-Q+ against Dyna-Q when the maze
  changes (a blocked path, an opened shortcut).
* ``prioritized-sweeping``: Example 8.4, Q updates until the greedy policy is optimal on Dyna
  mazes of increasing resolution, prioritized sweeping against Dyna-Q.

Every comparison is a seed study (:mod:`algorithms.harness`): the book's repetitions are seeds.
"""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import Tracker, experiment
from algorithms.weeks.rl_common import StudyConfig

# ----------------------------------------------------------------------------- dyna-maze


class DynaMazeConfig(StudyConfig):
    n_seeds: int = 30  # the book's 30 repetitions
    episodes: int = 50  # Figure 8.2's x axis
    planning_steps: tuple[int, ...] = (0, 5, 50)  # n of each agent
    alpha: float = 0.1  # step size α (Example 8.1)
    epsilon: float = 0.1  # ε of the ε-greedy behaviour
    gamma: float = 0.95  # discount γ
    near_optimal: float = 1.5  # "near-optimal": at most this × the shortest path's steps
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"n_seeds": 2, "episodes": 5, "planning_steps": (0, 50)},
        "gpu": {"n_seeds": 100}}


def _episodes_reported(episodes: int) -> list[int]:
    return [e for e in (1, 2, 3, 5, 10, 20, 50) if e <= episodes] + (
        [episodes] if episodes not in (1, 2, 3, 5, 10, 20, 50) else [])


@experiment(week=15, name="dyna-maze", covers=(1, 2), config=DynaMazeConfig,
            units={"*steps*": "steps", "*episode*": "episodes"})
def dyna_maze(config: DynaMazeConfig, tracker: Tracker) -> dict[str, float]:
    """Figure 8.2: Dyna-Q's steps per episode on the Dyna maze for each number of planning
    steps n, mean over seeds."""
    import numpy as np

    from algorithms.harness import ROW_COLUMNS, Measurement, Method, mean_ci, run_seed_study
    from algorithms.model_based import dyna, mazes
    from algorithms.weeks.week15 import figures

    maze = mazes.dyna_maze()
    shortest = maze.shortest_path_length()

    def method(n: int) -> Method:
        def run(seed: int) -> Any:
            agent = dyna.DynaQ(maze.n_states, len(mazes.ACTIONS), alpha=config.alpha,
                               gamma=config.gamma, n_planning=n, seed=seed)
            return dyna.run_episodes(maze, agent, config.episodes, config.epsilon)
        return Method(f"n{n}", f"{n} planning steps", run)

    def measure(steps: Any, grid: Any) -> Measurement:
        return Measurement(curves={"steps_per_episode": steps[grid - 1].astype(float)},
                           scalars={"mean_steps_last10": float(steps[-10:].mean())})

    grid = np.arange(1, config.episodes + 1)
    methods = [method(n) for n in config.planning_steps]
    study = run_seed_study(tracker, methods, config.seeds, measure, grid, prefix="dyna_maze",
                           description="dyna maze", x="episode")
    summary: dict[str, float] = {"shortest_path": float(shortest)}
    summary |= study.summary("mean_steps_last10")
    reported = _episodes_reported(config.episodes)
    rows = []
    for m in methods:
        mean, _ = mean_ci(study.curves(m.key, "steps_per_episode"))
        for e in reported:
            summary[m.summary_key(f"steps_episode_{e}")] = float(mean[e - 1])
        near = np.flatnonzero(mean <= config.near_optimal * shortest)
        # the first episode from which the mean over seeds stays near-optimal
        later = [e for e in near if np.all(mean[e:] <= config.near_optimal * shortest)]
        summary[m.summary_key("episodes_to_near_optimal")] = float(
            later[0] + 1 if later else config.episodes + 1)
        rows.append([m.label, *(round(float(mean[e - 1]), 1) for e in reported)])
    tracker.log_table("dyna_maze/steps_per_episode", ["agent", *(f"episode {e}" for e in reported)],
                      rows)
    tracker.log_table("dyna_maze/mean_steps_last10", ["agent", *ROW_COLUMNS],
                      study.table("mean_steps_last10"))
    tracker.log_figure(
        "dyna_maze/figure_8_2", figures.steps_per_episode(study.bands("steps_per_episode"),
                                                          shortest),
        f"Dyna-Q on the Dyna maze (Example 8.1; α = {config.alpha:g}, ε = {config.epsilon:g}, "
        f"γ = {config.gamma:g}): steps per episode for n planning steps per real step, mean over "
        f"{config.n_seeds} seeds with 95% t-intervals, from episode 2 as in Figure 8.2; dotted "
        f"line: the shortest path ({shortest} steps).")
    return summary


# ----------------------------------------------------------------------------- changing-mazes


class ChangingMazesConfig(StudyConfig):
    n_seeds: int = 10
    grid_points: int = 60  # time steps at which the cumulative reward is logged
    alpha: float = 1.0  # α = 1: each Q update copies its (deterministic) target exactly
    epsilon: float = 0.1
    gamma: float = 0.95
    blocking_steps: tuple[int, int] = (1000, 3000)  # (change, total) of Figure 8.4
    blocking_planning: int = 10  # n on the blocking maze
    blocking_kappa: float = 1e-4  # Dyna-Q+'s κ on the blocking maze
    shortcut_steps: tuple[int, int] = (3000, 6000)  # (change, total) of Figure 8.5
    shortcut_planning: int = 50  # n on the shortcut maze
    shortcut_kappa: float = 1e-3  # Dyna-Q+'s κ on the shortcut maze
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"n_seeds": 2, "grid_points": 10, "blocking_steps": (200, 400),
                  "shortcut_steps": (300, 600), "shortcut_planning": 5},
        "gpu": {"n_seeds": 50}}


@experiment(week=15, name="changing-mazes", covers=(1, 2), config=ChangingMazesConfig,
            units={"*reward_rate*": "reward/step", "*fraction": "fraction of seeds",
                   "*reward*": "reward", "*steps*": "steps"})
def changing_mazes(config: ChangingMazesConfig, tracker: Tracker) -> dict[str, float]:
    """Figures 8.4 and 8.5: Dyna-Q+ against Dyna-Q on the blocking and shortcut mazes."""
    import numpy as np

    from algorithms.harness import Measurement, Method, run_seed_study
    from algorithms.model_based import dyna, mazes
    from algorithms.weeks.week15 import figures

    setups = {"blocking": (mazes.blocking_maze, config.blocking_steps, config.blocking_planning,
                           config.blocking_kappa),
              "shortcut": (mazes.shortcut_maze, config.shortcut_steps, config.shortcut_planning,
                           config.shortcut_kappa)}
    summary: dict[str, float] = {}
    bands, changes, rows = {}, {}, []
    for name, (make, (change, total), n, kappa) in setups.items():
        before, after = make(False), make(True)
        shortcut = after.index(mazes.SHORTCUT_CELL)

        def method(key: str, label: str, k: float) -> Method:
            def run(seed: int) -> Any:
                agent = dyna.DynaQ(before.n_states, len(mazes.ACTIONS), alpha=config.alpha,
                                   gamma=config.gamma, n_planning=n, kappa=k, seed=seed)
                cumulative = dyna.run_changing(before, after, change, total, agent,
                                               config.epsilon)
                return cumulative, dyna.greedy_path(after, agent.q)
            return Method(key, label, run, panel=f"{name} maze")

        def measure(run: Any, grid: Any) -> Measurement:
            cumulative, path = run
            window = (total - change) // 2  # the second half of the changed phase
            return Measurement(
                curves={"cumulative_reward": cumulative[grid - 1]},
                scalars={"reward_before_change": float(cumulative[change - 1]),
                         "reward_after_change": float(cumulative[-1] - cumulative[change - 1]),
                         "reward_rate_after": float(cumulative[-1] - cumulative[-1 - window])
                         / window,
                         "greedy_reaches_goal": float(dyna.reaches_goal(after, path)),
                         "greedy_uses_shortcut": float(dyna.reaches_goal(after, path)
                                                       and shortcut in path)})

        methods = [method("dyna_q", "Dyna-Q", 0.0),
                   method("dyna_q_plus", f"Dyna-Q+ (κ = {kappa:g})", kappa)]
        grid = np.linspace(total / config.grid_points, total, config.grid_points).astype(int)
        study = run_seed_study(tracker, methods, config.seeds, measure, grid, prefix=name,
                               description=f"{name} maze", x="time_step")
        for scalar in ("reward_before_change", "reward_after_change", "reward_rate_after"):
            summary |= {f"{name}.{k}": v for k, v in study.summary(scalar).items()}
        if name == "shortcut":  # Figure 8.5's point: does the greedy policy take the shortcut?
            summary |= study.summary("greedy_uses_shortcut", as_name="shortcut_found_fraction")
        else:  # Figure 8.4's: has the greedy policy found the new path round the wall?
            summary |= {f"blocking.{k}": v for k, v in study.summary(
                "greedy_reaches_goal", as_name="recovered_fraction").items()}
        for m in methods:
            rows.append([f"{m.label} ({name})", n, *(round(float(study.scalars(m.key, s).mean()), 3)
                         for s in ("reward_before_change", "reward_after_change",
                                   "reward_rate_after", "greedy_reaches_goal",
                                   "greedy_uses_shortcut"))])
        bands |= study.bands("cumulative_reward")
        changes[f"{name} maze"] = change
    tracker.log_table("changing_mazes/summary",
                      ["agent", "n", "reward_before_change", "reward_after_change",
                       "reward_rate_after", "greedy_reaches_goal_fraction",
                       "greedy_uses_shortcut_fraction"], rows)
    tracker.log_figure(
        "changing_mazes/figures_8_4_8_5", figures.cumulative_reward(bands, changes),
        f"Dyna-Q and Dyna-Q+ (α = {config.alpha:g}, ε = {config.epsilon:g}, "
        f"γ = {config.gamma:g}) on the blocking maze (Example 8.2, n = "
        f"{config.blocking_planning}, κ = {config.blocking_kappa:g}) and the shortcut maze "
        f"(Example 8.3, n = {config.shortcut_planning}, κ = {config.shortcut_kappa:g}): "
        f"cumulative reward against time steps, mean over {config.n_seeds} seeds with 95% "
        "t-intervals, as in Figures 8.4 and 8.5; dotted line: the step at which the maze "
        "changes.")
    return summary


# ----------------------------------------------------------------------------- prioritized sweeping


class PrioritizedSweepingConfig(StudyConfig):
    n_seeds: int = 3
    resolutions: tuple[int, ...] = (1, 2, 3, 4)  # k: each Dyna-maze cell becomes k × k cells
    alpha: float = 0.5  # α of both agents
    epsilon: float = 0.1
    gamma: float = 0.95
    planning_steps: int = 5  # n: Dyna-Q's planning updates / prioritized sweeping's queue pops
    theta: float = 1e-4  # θ: prioritized sweeping's queue threshold
    tolerance: float = 0.2  # "optimal": greedy path ≤ (1 + tolerance) × the shortest path
    max_episodes: int = 500  # give up on a run after this many episodes
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"n_seeds": 2, "resolutions": (1, 2)},
        "gpu": {"n_seeds": 10, "resolutions": (1, 2, 3, 4, 5, 6)}}


AGENTS = {"dyna_q": "Dyna-Q", "prioritized_sweeping": "prioritized sweeping"}


@experiment(week=15, name="prioritized-sweeping", covers=(1, 2),
            config=PrioritizedSweepingConfig,
            units={"*updates": "Q updates", "*episodes": "episodes", "*speedup*": "×",
                   "*fraction": "fraction of seeds", "*states": "states"})
def prioritized_sweeping(config: PrioritizedSweepingConfig, tracker: Tracker
                         ) -> dict[str, float]:
    """Example 8.4: Q updates until the greedy policy is optimal, prioritized sweeping against
    Dyna-Q, on Dyna mazes of increasing resolution."""
    import numpy as np

    from algorithms.harness import Measurement, Method, run_seed_study
    from algorithms.model_based import dyna, mazes
    from algorithms.model_based.prioritized_sweeping import (
        PrioritizedSweeping,
        updates_until_optimal,
    )
    from algorithms.weeks.week15 import figures

    scaled = {k: mazes.scaled(mazes.dyna_maze(), k) for k in config.resolutions}

    def method(agent: str, k: int) -> Method:
        maze = scaled[k]

        def run(seed: int) -> tuple[int, int, bool]:
            if agent == "dyna_q":
                learner: Any = dyna.DynaQ(maze.n_states, len(mazes.ACTIONS), alpha=config.alpha,
                                          gamma=config.gamma, n_planning=config.planning_steps,
                                          seed=seed)
            else:
                learner = PrioritizedSweeping(maze.n_states, len(mazes.ACTIONS),
                                              alpha=config.alpha, gamma=config.gamma,
                                              n_planning=config.planning_steps,
                                              theta=config.theta, seed=seed)
            return updates_until_optimal(maze, learner, config.epsilon, config.tolerance,
                                         config.max_episodes)
        return Method(f"{agent}/k{k}", AGENTS[agent], run, panel=f"k = {k}")

    def measure(run: tuple[int, int, bool], grid: Any) -> Measurement:
        updates, episodes, reached = run
        return Measurement(scalars={"updates": float(updates) if reached else float("nan"),
                                    "updates_made": float(updates),
                                    "episodes": float(episodes), "reached": float(reached)})

    methods = [method(agent, k) for k in config.resolutions for agent in AGENTS]
    study = run_seed_study(tracker, methods, config.seeds, measure, np.zeros(0),
                           prefix="prioritized_sweeping", description="prioritized sweeping")
    summary: dict[str, float] = {}
    rows, lines = [], {label: [] for label in AGENTS.values()}
    for k, maze in scaled.items():
        summary[f"k{k}.states"] = float(maze.n_open)
        for agent, label in AGENTS.items():
            key = f"{agent}/k{k}"
            made, reached = study.scalars(key, "updates_made"), study.scalars(key, "reached")
            # a run that never got there counts at the updates it had made: a lower bound
            summary[f"{agent}.k{k}.updates"] = float(made.mean())
            summary[f"{agent}.k{k}.reached_fraction"] = float(reached.mean())
            summary[f"{agent}.k{k}.episodes"] = float(study.scalars(key, "episodes").mean())
            lines[label].append(made)
        summary[f"speedup.k{k}"] = (summary[f"dyna_q.k{k}.updates"]
                                    / summary[f"prioritized_sweeping.k{k}.updates"])
        rows.append([k, maze.n_open, maze.shortest_path_length(),
                     round(summary[f"dyna_q.k{k}.updates"]),
                     round(summary[f"prioritized_sweeping.k{k}.updates"]),
                     round(summary[f"speedup.k{k}"], 2),
                     summary[f"dyna_q.k{k}.reached_fraction"],
                     summary[f"prioritized_sweeping.k{k}.reached_fraction"]])
        tracker.log({f"prioritized_sweeping/{agent}/updates": summary[f"{agent}.k{k}.updates"]
                     for agent in AGENTS}, step=maze.n_open, x="states")
    tracker.log_table("prioritized_sweeping/updates_until_optimal",
                      ["k", "states", "shortest_path", "dyna_q_updates",
                       "prioritized_sweeping_updates", "speedup", "dyna_q_reached_fraction",
                       "prioritized_sweeping_reached_fraction"], rows)
    states = np.array([maze.n_open for maze in scaled.values()], dtype=float)
    panel = {label: (states, np.stack(values, axis=1)) for label, values in lines.items()}
    tracker.log_figure(
        "prioritized_sweeping/example_8_4", figures.updates_until_optimal(panel),
        f"Q updates until the greedy policy's path is within {1 + config.tolerance:g}× the "
        f"shortest path, on the Dyna maze at resolutions k = "
        f"{', '.join(map(str, config.resolutions))} (each cell k × k; x: open cells), Dyna-Q and "
        f"prioritized sweeping (α = {config.alpha:g}, ε = {config.epsilon:g}, n = "
        f"{config.planning_steps}, θ = {config.theta:g}), as in Example 8.4; mean over "
        f"{config.n_seeds} seeds with 95% t-intervals, each seed a dot.")
    return summary
