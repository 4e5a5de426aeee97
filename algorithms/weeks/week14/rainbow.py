"""Week 14's studies of DQN's improvements: the Rainbow parts switched on one at a time and all
together (Hessel et al. 2018's ablation, run the other way round: added to DQN, not removed from
Rainbow), and the overestimation of Q that Double DQN corrects (van Hasselt et al. 2016, Fig. 3).
Seeds inside the run, through :mod:`algorithms.harness`."""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import Tracker, experiment
from algorithms.weeks.rl_common import UNITS, StudyConfig, algorithm_config
from algorithms.weeks.week14.common import ENV_LABELS, MINATAR_SHORT, RL_ZOO_CARTPOLE, SMOKE_DQN

# variant key → (label, the DQNConfig switches it turns on); n-step with n = 3 as in Rainbow,
# PER with Rainbow's α = 0.5 and β 0.4 → 1; C51 on each env's own [v_min, v_max] (see envs)
ALL_PARTS: dict[str, Any] = {"double": True, "dueling": True, "prioritized": True,
                             "per_alpha": 0.5, "n_step": 3}
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "dqn": ("DQN", {}),
    "double": ("+ Double", {"double": True}),
    "dueling": ("+ Dueling", {"dueling": True}),
    "per": ("+ PER", {"prioritized": True, "per_alpha": 0.5}),
    "nstep": ("+ 3-step", {"n_step": 3}),
    "c51": ("+ C51", {"distributional": True}),
    "all": ("all combined", ALL_PARTS),
    "all_c51": ("all + C51", {**ALL_PARTS, "distributional": True}),
}

# C51's support per env (only the distributional variants read it). CartPole: DQNConfig's
# [0, 100], its returns lie in [1, 1/(1 − γ)]. MinAtar Breakout pays +1 a brick and never a
# negative reward, and the ball hits at most about one brick per trip to the paddle and back
# (roughly 12 steps), so at γ = 0.99 even a perfect player's value is ≲ 1/(1 − γ^12) ≈ 9:
# [0, 10] gives Δz = 0.2 where Rainbow's ±10 would waste half the atoms below 0
MINATAR_SUPPORT: dict[str, Any] = {"v_min": 0.0, "v_max": 10.0}


class RainbowAblationConfig(StudyConfig):
    # per environment, the DQN settings every variant shares (CartPole: RL Zoo's at a shorter
    # budget, half the gradient steps, so that 36 runs fit the cpu profile; the two C51 variants
    # make it 48)
    envs: dict[str, dict[str, Any]] = {
        "cartpole": {**RL_ZOO_CARTPOLE, "total_timesteps": 20_000, "gradient_steps": 64,
                     "target_update_interval": 64, "exploration_fraction": 0.2},
        "minatar": {**MINATAR_SHORT, **MINATAR_SUPPORT}}
    eval_episodes: int = 10  # held-out greedy episodes of each trained agent
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"n_seeds": 1, "grid_points": 5, "eval_episodes": 2,
                  "envs": {"cartpole": SMOKE_DQN,
                           "minatar": {**SMOKE_DQN, "train_freq": 4, "gradient_steps": 1,
                                       "hidden": [32], "total_timesteps": 300}}},
        "gpu": {"n_seeds": 10,
                "envs": {"cartpole": {"total_timesteps": 50_000, "gradient_steps": 128,
                                      "target_update_interval": 128},
                         "minatar": {"total_timesteps": 1_000_000, "buffer_size": 100_000,
                                     "exploration_fraction": 0.1}}}}

    def algorithm_configs(self) -> dict[str, Any]:
        """``env/variant`` → its DQNConfig."""
        return {f"{env}/{key}": algorithm_config("dqn", self.envs[env], **switches, seed=self.seed)
                for env in self.envs for key, (_, switches) in VARIANTS.items()}


@experiment(week=14, name="rainbow-ablation", covers=(1,), config=RainbowAblationConfig,
            units=UNITS)
def rainbow_ablation(config: RainbowAblationConfig, tracker: Tracker) -> dict[str, float]:
    """DQN, + Double, + Dueling, + PER, + 3-step, + C51, all combined and all + C51, on
    CartPole and MinAtar."""
    from functools import partial

    import numpy as np

    from algorithms.harness import ROW_COLUMNS, run_seed_study
    from algorithms.plotting import band_figure
    from algorithms.weeks.rl_common import seeded_method
    from algorithms.weeks.week14.common import measure
    from algorithms.weeks.week14.figures import variant_errorbars

    configs = config.algorithm_configs()
    summary: dict[str, float] = {}
    studies = {}
    for env in config.envs:
        env_id = configs[f"{env}/dqn"].env_id
        methods = [seeded_method(f"{env}/{key}", label, configs[f"{env}/{key}"], ENV_LABELS[env])
                   for key, (label, _) in VARIANTS.items()]
        budget = configs[f"{env}/dqn"].total_timesteps
        grid = np.linspace(0, budget, config.grid_points)
        study = run_seed_study(tracker, methods, config.seeds,
                               partial(measure, env_id=env_id, eval_episodes=config.eval_episodes),
                               grid, prefix="ablation", description=f"Rainbow parts: {env}")
        studies[env] = study
        for name in ("final_return", "eval_return", "auc", "wall_s"):
            summary |= study.summary(name)
        fig = band_figure(study.bands("episodic_return"), "return (20-episode moving average)")
        tracker.log_figure(f"ablation/{env}/episodic_return", fig,
                           f"DQN and its Rainbow parts, each added alone, all combined and all "
                           f"with C51, on {ENV_LABELS[env]} ({budget} env steps): training "
                           f"return, mean over {config.n_seeds} seeds with 95% t-intervals.")
    for name in ("final_return", "eval_return", "auc"):
        rows = [row for study in studies.values() for row in study.table(name)]
        tracker.log_table(f"ablation/{name}", ["method", *ROW_COLUMNS], rows)
    fig = variant_errorbars({ENV_LABELS[env]: {m.label: study.scalars(m.key, "auc")
                                               for m in study.methods}
                             for env, study in studies.items()},
                            "mean training return over the budget")
    tracker.log_figure("ablation/auc_by_variant", fig,
                       "Area under the learning curve (the 20-episode moving average, averaged "
                       "over the budget) of each variant, each seed a dot, mean ± 95% "
                       "t-interval.")
    return summary


# ----------------------------------------------------------------------------- overestimation


class OverestimationConfig(StudyConfig):
    algo: dict[str, Any] = {**RL_ZOO_CARTPOLE, "total_timesteps": 25_000}
    probe_every: int = 1_500  # env steps between value probes
    probe_episodes: int = 5  # greedy episodes from fresh resets per probe
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"n_seeds": 1, "grid_points": 5, "probe_every": 300, "probe_episodes": 2,
                  "algo": SMOKE_DQN},
        "gpu": {"n_seeds": 10, "algo": {"total_timesteps": 100_000}}}

    def algorithm_configs(self) -> dict[str, Any]:
        return {key: algorithm_config("dqn", self.algo, double=(key == "double"),
                                probe_every=self.probe_every,
                                probe_episodes=self.probe_episodes, seed=self.seed)
                for key in ("dqn", "double")}


def measure_values(result: Any, grid: Any) -> Any:
    """Q(s₀) and the realised discounted return on the grid (the last probe at or before each
    step), and the gap Q − G: its mean over the probes after the first quarter of training,
    its largest value, and the final probe's values."""
    import numpy as np

    from algorithms.harness import Measurement, curve_of
    from algorithms.weeks.rl_common import measure_returns

    steps = np.asarray(result.history["probe_step"])
    q, g = np.asarray(result.history["q_s0"]), np.asarray(result.history["return_s0"])
    gap = q - g
    late = steps >= steps[-1] / 4
    measured = measure_returns(result, grid)
    curves = {**measured.curves, "q_s0": curve_of(steps, q, grid, 1),
              "return_s0": curve_of(steps, g, grid, 1)}
    return Measurement(curves, {**measured.scalars, "final_q_s0": float(q[-1]),
                                "final_return_s0": float(g[-1]),
                                "mean_gap": float(np.mean(gap[late])),
                                "max_gap": float(np.max(gap))})


@experiment(week=14, name="overestimation", covers=(1,), config=OverestimationConfig, units=UNITS)
def overestimation(config: OverestimationConfig, tracker: Tracker) -> dict[str, float]:
    """DQN vs Double DQN: predicted Q(s₀, a) against the realised discounted return."""
    import numpy as np

    from algorithms.harness import ROW_COLUMNS, run_seed_study
    from algorithms.weeks.rl_common import seeded_method
    from algorithms.weeks.week14.figures import value_estimates

    configs = config.algorithm_configs()
    labels = {"dqn": "DQN", "double": "Double DQN"}
    methods = [seeded_method(key, label, configs[key]) for key, label in labels.items()]
    grid = np.linspace(0, configs["dqn"].total_timesteps, config.grid_points)
    study = run_seed_study(tracker, methods, config.seeds, measure_values, grid,
                           prefix="overestimation", description="DQN vs Double DQN")
    summary: dict[str, float] = {}
    for name in ("final_q_s0", "final_return_s0", "mean_gap", "max_gap", "final_return"):
        summary |= study.summary(name)
    for name in ("mean_gap", "max_gap"):
        tracker.log_table(f"overestimation/{name}", ["method", *ROW_COLUMNS], study.table(name))
    fig = value_estimates({m.label: (grid, study.curves(m.key, "q_s0"),
                                     study.curves(m.key, "return_s0")) for m in study.methods})
    gamma = configs["dqn"].gamma
    tracker.log_figure("overestimation/value_estimates", fig,
                       f"Value estimates against true values on {configs['dqn'].env_id} "
                       f"(γ = {gamma:g}): max_a Q(s₀, a) of the network (solid) and the realised "
                       f"discounted return of its greedy policy from s₀ (dashed), each the mean "
                       f"of {config.probe_episodes} fresh episodes every {config.probe_every} env "
                       f"steps; mean over {config.n_seeds} seeds with 95% t-intervals.")
    return summary
