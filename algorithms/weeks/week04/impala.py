"""``impala-vtrace``: IMPALA (actor processes feeding a learner through a queue) on one
environment with and without the V-trace correction, and APPO (the same actors and V-trace
targets with PPO's clipped surrogate on π/μ), at IMPALA's usual small policy lag and with
actors that refresh their weights only every k unrolls; seeds inside the run."""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import Tracker, experiment
from algorithms.weeks.rl_common import UNITS, StudyConfig, algorithm_config

CORRECTIONS = {"vtrace": "V-trace", "none": "no correction"}  # ImpalaConfig.correction → label
ARMS = {"vtrace": ("vtrace", "impala"), "none": ("none", "impala"),
        "appo": ("vtrace", "appo")}  # key → (correction, objective)
LABELS = {"vtrace": "IMPALA, V-trace", "none": "IMPALA, no correction",
          "appo": "APPO (clipped surrogate, V-trace targets)"}


class ImpalaStudyConfig(StudyConfig):
    env_id: str = "CartPole-v1"
    total_timesteps: int = 150_000
    # policy lag: actors refresh their weights every k unrolls; k = 1 is IMPALA's usual small
    # lag, a large k makes the behaviour policy μ trail π by many learner updates
    sync_every: tuple[int, ...] = (1, 128)
    algo: dict[str, Any] = {"n_actors": 2, "queue_size": 8}  # impala.ImpalaConfig fields
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"total_timesteps": 640, "sync_every": (4,), "n_seeds": 1,
                  "algo": {"queue_size": 2}},
        "gpu": {"total_timesteps": 1_000_000, "sync_every": (1, 8, 32, 128), "n_seeds": 5,
                "algo": {"n_actors": 8}}}

    def algorithm_configs(self) -> dict[str, Any]:
        """``sync{k}/{arm}`` → its config (arm: vtrace, none, appo), policy lags outermost."""
        return {f"sync{sync}/{arm}": algorithm_config(
                    "impala", self.algo, env_id=self.env_id, total_timesteps=self.total_timesteps,
                    sync_every=sync, correction=correction, objective=objective, seed=self.seed)
                for sync in self.sync_every for arm, (correction, objective) in ARMS.items()}


def lag_panel(sync: int) -> str:
    return f"μ refreshed every {sync} unroll{'s' if sync > 1 else ''}"


def measure(result: Any, grid: Any) -> Any:
    """The return measurement, plus how off-policy the learner's batches were: KL(μ ‖ π) per
    batch on the grid (10-batch window) and its mean over the run."""
    import numpy as np

    from algorithms.harness import Measurement, curve_of
    from algorithms.weeks.rl_common import measure_returns

    measured = measure_returns(result, grid)
    lag = np.asarray(result.history["policy_lag_kl"])
    return Measurement(
        {**measured.curves,
         "policy_lag_kl": curve_of(np.asarray(result.history["step"]), lag, grid, 10)},
        {**measured.scalars, "policy_lag_kl": float(np.mean(lag))})


@experiment(week=4, name="impala-vtrace", covers=(), config=ImpalaStudyConfig, units=UNITS)
def impala_vtrace(config: ImpalaStudyConfig, tracker: Tracker) -> dict[str, float]:
    """IMPALA actor–learner (actor processes) with and without V-trace, and APPO, at two
    policy lags."""
    import numpy as np

    from algorithms.harness import ROW_COLUMNS, run_seed_study
    from algorithms.plotting import band_figure
    from algorithms.weeks.rl_common import seeded_method

    configs = config.algorithm_configs()
    methods = [seeded_method(key, LABELS[key.split("/")[1]], c, panel=lag_panel(c.sync_every))
               for key, c in configs.items()]
    grid = np.linspace(0, config.total_timesteps, config.grid_points)
    study = run_seed_study(tracker, methods, config.seeds, measure, grid, prefix="impala",
                           description="IMPALA")
    summary = study.summary("final_return") | study.summary("policy_lag_kl")
    tracker.log_table("impala/final_return", ["run", *ROW_COLUMNS], study.table("final_return"))
    first = next(iter(configs.values()))
    fig = band_figure(study.bands("episodic_return"), "return (20-episode moving average)")
    tracker.log_figure(
        "impala/episodic_return", fig,
        f"IMPALA on {config.env_id}: {first.n_actors} actor processes feeding a learner through "
        f"a queue of {first.queue_size} trajectories, with the V-trace correction (ρ̄ = "
        f"{first.rho_bar:g}, c̄ = {first.c_bar:g}) and without it (ρ = c = 1), and APPO (PPO's "
        f"clipped surrogate on π/μ, ε = {first.clip_eps:g}, with V-trace targets); one panel per "
        f"policy lag (actors refresh their weights every k unrolls); mean over {config.n_seeds} "
        "seeds with 95% t-intervals.")
    fig = band_figure(study.bands("policy_lag_kl"), "KL(μ ‖ π) per learner batch (k3)",
                      logy=True)
    tracker.log_figure(
        "impala/policy_lag_kl", fig,
        "How off-policy the learner's data is: the approximate KL between the actors' behaviour "
        "policy μ and the learner's π on each batch, against environment steps, per policy lag; "
        f"mean over {config.n_seeds} seeds with 95% t-intervals, log scale.")
    return summary
