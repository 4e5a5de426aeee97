"""``clip-sweep``: PPO's clip ε ∈ {0.1, 0.2, 0.3, none} and the adaptive-KL variant on one
environment, seeds inside the run: return, clip fraction and approximate KL (k3) over training."""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import Tracker, experiment
from algorithms.weeks.rl_common import UNITS, StudyConfig, algorithm_config

UNCLIPPED = 1e6  # a clip ε at or above this never binds: the plain importance-sampling surrogate


class ClipSweepConfig(StudyConfig):
    env_id: str = "CartPole-v1"
    total_timesteps: int = 60_000
    clips: tuple[float, ...] = (0.1, 0.2, 0.3, 1e9)  # 1e9: unclipped
    adaptive_kl: bool = True  # add the adaptive-KL-penalty variant (PPOConfig's d_targ)
    algo: dict[str, Any] = {"n_epochs": 10}  # ppo.PPOConfig fields shared by every variant
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"total_timesteps": 512, "n_seeds": 1, "clips": (0.2, 1e9), "grid_points": 5,
                  "algo": {"n_epochs": 2}},
        "gpu": {"total_timesteps": 200_000, "n_seeds": 10}}

    def variants(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """method key → (label, the PPOConfig fields that make the variant)."""
        variants = {
            ("no_clip" if clip >= UNCLIPPED else f"clip{clip:g}"):
                ("no clip" if clip >= UNCLIPPED else f"ε={clip:g}",
                 {"variant": "clip", "clip_coef": clip})
            for clip in self.clips}
        if self.adaptive_kl:
            variants["adaptive_kl"] = ("adaptive KL", {"variant": "kl"})
        return variants

    def algorithm_configs(self) -> dict[str, Any]:
        # ε stays constant (no annealing), so that each variant keeps the ε it is named after
        return {key: algorithm_config("ppo", self.algo, env_id=self.env_id,
                                      total_timesteps=self.total_timesteps, anneal_clip=False,
                                      seed=self.seed, **fields)
                for key, (_, fields) in self.variants().items()}


def measure(result: Any, grid: Any) -> Any:
    """Return curve and final return, and the clip fraction and k3 KL of each update (window 1)."""
    import numpy as np

    from algorithms.harness import Measurement, curve, curve_of

    steps = np.asarray(result.history["step"])
    return Measurement(
        curves={"episodic_return": curve(result.episodes, grid),
                "clipfrac": curve_of(steps, np.asarray(result.history["clipfrac"]), grid, 1),
                "approx_kl": curve_of(steps, np.asarray(result.history["approx_kl"]), grid, 1)},
        scalars={"final_return": result.episodes.mean_return(20)})


FIGURES = (("episodic_return", "return (20-episode moving average)", False),
           ("clipfrac", "clip fraction", False),
           ("approx_kl", "approx KL(π_old‖π_new) per update (k3)", True))


@experiment(week=7, name="clip-sweep", covers=(1,), config=ClipSweepConfig, units=UNITS)
def clip_sweep(config: ClipSweepConfig, tracker: Tracker) -> dict[str, float]:
    """PPO's clip ε sweep (and adaptive KL): return, clip fraction and KL over training."""
    import numpy as np

    from algorithms.harness import ROW_COLUMNS, nanmean, run_seed_study
    from algorithms.plotting import band_figure
    from algorithms.weeks.rl_common import seeded_method

    configs = config.algorithm_configs()
    variants = config.variants()
    methods = [seeded_method(key, label, configs[key]) for key, (label, _) in variants.items()]
    grid = np.linspace(0, config.total_timesteps, config.grid_points)
    study = run_seed_study(tracker, methods, config.seeds, measure, grid, prefix="sweep",
                           description="clip sweep")
    summary = study.summary("final_return")
    for method in study.methods:  # over every seed and grid step
        for name in ("approx_kl", "clipfrac"):
            summary[method.summary_key(f"mean_{name}")] = float(
                nanmean(study.curves(method.key, name)))
    tracker.log_table("sweep/final_return", ["variant", *ROW_COLUMNS],
                      study.table("final_return"))
    n_epochs = next(iter(configs.values())).n_epochs
    labels = ", ".join(label for label, _ in variants.values())
    for name, ylabel, logy in FIGURES:
        fig = band_figure(study.bands(name, title=config.env_id), ylabel, logy=logy)
        tracker.log_figure(
            f"sweep/{name}", fig,
            f"PPO on {config.env_id} with clip ε in {{{labels}}} (ε constant, {n_epochs} epochs "
            f"per batch): {ylabel} against environment steps; mean over {config.n_seeds} seeds "
            "with 95% t-intervals.")
    return summary
