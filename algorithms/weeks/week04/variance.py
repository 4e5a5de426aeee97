"""``variance-reduction``: REINFORCE with Ψ_t = G_t (no baseline), G_t − V(s_t) (baseline) and
GAE(λ) over a λ sweep, seeds inside the run: the measured variance of the gradient estimator
along each training run, as well as the returns."""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import Tracker, experiment
from algorithms.weeks.rl_common import UNITS, StudyConfig, algorithm_config


class VarianceConfig(StudyConfig):
    env_id: str = "CartPole-v1"
    total_timesteps: int = 40_000
    lambdas: tuple[float, ...] = (0.0, 0.5, 0.9, 0.97)  # GAE λ sweep
    grid_points: int = 40
    algo: dict[str, Any] = {"episodes_per_batch": 8}  # reinforce.ReinforceConfig fields
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"total_timesteps": 300, "n_seeds": 1, "lambdas": (0.9,), "grid_points": 5,
                  "algo": {"episodes_per_batch": 4}},
        "gpu": {"total_timesteps": 200_000, "n_seeds": 10,
                "lambdas": (0.0, 0.5, 0.8, 0.9, 0.95, 0.97, 0.99)}}

    def estimators(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """method key → (label, the ReinforceConfig fields that choose Ψ_t)."""
        estimators = {"no_baseline": ("no baseline", {"estimator": "return"}),
                      "baseline": ("baseline", {"estimator": "baseline"})}
        estimators |= {f"gae_lambda{lam:g}": (f"GAE λ={lam:g}",
                                              {"estimator": "gae", "gae_lambda": lam})
                       for lam in self.lambdas}
        return estimators

    def algorithm_configs(self) -> dict[str, Any]:
        return {key: algorithm_config("reinforce", self.algo, env_id=self.env_id,
                                      total_timesteps=self.total_timesteps,
                                      measure_variance=True, seed=self.seed, **fields)
                for key, (_, fields) in self.estimators().items()}


def measure(result: Any, grid: Any) -> Any:
    """Return curve and final return; tr Cov of the batch gradient on the grid (5-update
    window), its mean over updates, and the mean signal-to-noise ratio ‖ḡ‖² / tr Cov."""
    import numpy as np

    from algorithms.harness import Measurement, curve, curve_of

    steps = np.asarray(result.history["step"])
    variance = np.asarray(result.history["grad_variance"])
    norm = np.asarray(result.history["grad_norm"])
    return Measurement(
        curves={"episodic_return": curve(result.episodes, grid),
                "grad_variance": curve_of(steps, variance, grid, 5)},
        scalars={"final_return": result.episodes.mean_return(20),
                 "grad_variance": float(np.mean(variance)),
                 "grad_snr": float(np.mean(norm ** 2 / np.maximum(variance, 1e-12)))})


@experiment(week=4, name="variance-reduction", covers=(3,), config=VarianceConfig, units=UNITS)
def variance_reduction(config: VarianceConfig, tracker: Tracker) -> dict[str, float]:
    """REINFORCE's gradient variance: no baseline vs baseline vs GAE(λ), measured."""
    import numpy as np

    from algorithms.harness import ROW_COLUMNS, run_seed_study
    from algorithms.plotting import band_figure
    from algorithms.weeks.rl_common import seeded_method

    configs = config.algorithm_configs()
    methods = [seeded_method(key, label, configs[key])
               for key, (label, _) in config.estimators().items()]
    grid = np.linspace(0, config.total_timesteps, config.grid_points)
    study = run_seed_study(tracker, methods, config.seeds, measure, grid, prefix="variance",
                           description="variance ablation")
    summary: dict[str, float] = {}
    for name in ("final_return", "grad_variance", "grad_snr"):
        summary |= study.summary(name)
    tracker.log_table("variance/summary", ["estimator", "grad_variance_mean", "grad_snr_mean",
                                           "final_return_mean"],
                      [[m.label, round(float(np.mean(study.scalars(m.key, "grad_variance"))), 3),
                        round(float(np.mean(study.scalars(m.key, "grad_snr"))), 4),
                        round(float(np.mean(study.scalars(m.key, "final_return"))), 1)]
                       for m in study.methods])
    tracker.log_table("variance/final_return", ["estimator", *ROW_COLUMNS],
                      study.table("final_return"))
    episodes = next(iter(configs.values())).episodes_per_batch
    fig = band_figure(study.bands("grad_variance", title=config.env_id),
                      "tr Cov of the batch gradient", logy=True)
    tracker.log_figure(
        "variance/grad_variance", fig,
        "Measured variance of REINFORCE's policy-gradient estimate (trace of the covariance of "
        f"the {episodes}-episode batch mean, from per-episode gradients) along each estimator's "
        "own training run; mean over seeds with 95% t-intervals, log scale.")
    fig = band_figure(study.bands("episodic_return", title=config.env_id),
                      "return (20-episode moving average)")
    tracker.log_figure(
        "variance/episodic_return", fig,
        f"REINFORCE on {config.env_id} with Ψ_t = G_t, G_t − V(s_t) and GAE(λ) for λ in "
        f"{config.lambdas}: return against environment steps, mean over {config.n_seeds} seeds "
        "with 95% t-intervals.")
    return summary
