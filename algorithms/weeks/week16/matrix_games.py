"""``matrix-games``: learning dynamics in two-player matrix games (``algorithms.multiagent``).
Fictitious play (Brown 1951), Hedge (multiplicative weights) and independent Q-learning on
rock–paper–scissors, matching pennies, the prisoner's dilemma and a coordination game.
Measured every iteration: the exploitability (NashConv / 2) of the players' average strategies
and of their current (last-iterate) strategies, on a log–log scale, over seeds (random first
actions and tie-breaks for fictitious play, a random interior start for Hedge, sampled actions
for Q-learning); in the zero-sum games, the empirical rate exponent of the average's
exploitability (its log–log slope from iteration ``rate_from`` on)."""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import Tracker, experiment
from algorithms.weeks.rl_common import StudyConfig

GAMES = ("rps", "matching_pennies", "prisoners_dilemma", "coordination")
ALGORITHMS = {"fictitious_play": "fictitious play", "hedge": "Hedge",
              "q_learning": "independent Q-learning"}


class MatrixGamesConfig(StudyConfig):
    games: tuple[str, ...] = GAMES
    iterations: int = 10_000
    grid_points: int = 40  # log-spaced iterations at which exploitability is recorded
    hedge_lr: float = 0.05  # η
    q_lr: float = 0.1  # λ
    temperature: float = 1.0  # τ of the Boltzmann policies at the start ...
    final_temperature: float = 0.05  # ... annealed geometrically to this
    rate_from: int = 100  # the rate exponent is fitted from this iteration on
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"iterations": 300, "grid_points": 10, "n_seeds": 2, "rate_from": 10},
        "gpu": {"iterations": 200_000, "grid_points": 60, "n_seeds": 10}}


@experiment(week=16, name="matrix-games", covers=(2,), config=MatrixGamesConfig,
            units={"*exploitability*": "payoff", "*slope": "log-log slope",
                   "*p_*": "probability"})
def matrix_games(config: MatrixGamesConfig, tracker: Tracker) -> dict[str, float]:
    """Fictitious play, Hedge and independent Q-learning on four matrix games: exploitability
    of the average and the last-iterate strategies over iterations."""
    import numpy as np

    from algorithms.harness import ROW_COLUMNS, Measurement, Method, run_seed_study, table_rows
    from algorithms.multiagent import matrix_games as mg
    from algorithms.weeks.week16 import figures

    unknown = sorted(set(config.games) - set(mg.GAMES))
    if unknown:
        raise ValueError(f"unknown game {', '.join(unknown)} (known: {', '.join(mg.GAMES)})")

    def run(game_key: str, algorithm: str) -> Any:
        game = mg.GAMES[game_key]

        def played(seed: int) -> Any:
            rng = np.random.default_rng([seed, GAMES.index(game_key)])
            if algorithm == "fictitious_play":
                return game, mg.fictitious_play(game, config.iterations, rng)
            if algorithm == "hedge":
                n, m = game.row_payoff.shape
                return game, mg.hedge(game, config.iterations, config.hedge_lr,
                                      rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(m)))
            return game, mg.independent_q_learning(game, config.iterations, rng, config.q_lr,
                                                   config.temperature, config.final_temperature)
        return played

    def measure(run_out: Any, grid: Any) -> Measurement:
        game, play = run_out
        x_avg, y_avg = play.averages()
        average = mg.exploitability(game, x_avg, y_avg)
        last = mg.exploitability(game, play.row, play.col)
        t = np.arange(1, config.iterations + 1)
        late = t >= config.rate_from
        scalars = {"exploitability_final": float(average[-1]),
                   "last_iterate_exploitability_final": float(last[-1]),
                   # the average strategies' probability of the first action (cooperate, A)
                   "p_first_action": float((x_avg[-1, 0] + y_avg[-1, 0]) / 2)}
        if game.zero_sum:  # the rate question (Karlin's) is one of zero-sum games
            scalars["slope"] = mg.loglog_slope(t[late], average[late])
        return Measurement(curves={"exploitability": average[grid - 1],
                                   "last_iterate_exploitability": last[grid - 1]},
                           scalars=scalars)

    methods = [Method(f"{g}/{a}", label, run(g, a), panel=mg.GAMES[g].name)
               for g in config.games for a, label in ALGORITHMS.items()]
    grid = np.unique(np.geomspace(1, config.iterations, config.grid_points).astype(int))
    study = run_seed_study(tracker, methods, config.seeds, measure, grid, prefix="matrix_games",
                           description="learning in matrix games", x="iteration")

    summary: dict[str, float] = {}
    for name in ("exploitability_final", "last_iterate_exploitability_final", "slope",
                 "p_first_action"):
        summary |= study.summary(name)
    for name in ("exploitability_final", "last_iterate_exploitability_final"):
        tracker.log_table(f"matrix_games/{name}", ["method", *ROW_COLUMNS], study.table(name))
    tracker.log_table("matrix_games/slope", ["method", *ROW_COLUMNS], table_rows(
        {m.row: study.scalars(m.key, "slope") for m in methods
         if mg.GAMES[m.key.split("/")[0]].zero_sum}))
    n = config.n_seeds
    tracker.log_figure(
        "matrix_games/exploitability",
        figures.exploitability_curves(study.bands("exploitability"),
                                      study.bands("last_iterate_exploitability")),
        f"Exploitability (NashConv / 2: the players' mean gain from a best response) over "
        f"{config.iterations} iterations, one panel per game, log–log: solid lines the "
        "players' average strategies, dotted lines their current strategies (fictitious "
        "play's current strategy is a pure action); the grey line is 1/√t; values below 1e-5 "
        f"(exactly 0 included) are drawn at 1e-5. Mean over {n} seeds (η = "
        f"{config.hedge_lr} for Hedge; λ = {config.q_lr}, τ from {config.temperature} to "
        f"{config.final_temperature} for Q-learning).")
    if "rps" in config.games:
        rps = mg.GAMES["rps"]
        fp = mg.fictitious_play(rps, config.iterations, np.random.default_rng([config.seed, 0]))
        hedge = mg.hedge(rps, config.iterations, config.hedge_lr,
                         np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.3, 0.5]))
        tracker.log_figure(
            "matrix_games/rps_cycles", figures.rps_cycles(fp, hedge),
            "Rock–paper–scissors, the row player's probability of rock: fictitious play's "
            "played action (dots) cycles with ever longer runs while its empirical frequency "
            "(line) settles at 1/3; Hedge's current strategy (from (0.5, 0.3, 0.2) against "
            f"(0.2, 0.3, 0.5), η = {config.hedge_lr}) oscillates with growing amplitude while "
            "its average settles at 1/3.")
    return summary
