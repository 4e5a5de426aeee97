"""``world-model-mpc``: a learned world model on CartPole-v1 (PETS: Chua, Calandra, McAllister &
Levine 2018): a probabilistic ensemble of dynamics MLPs trained on random and then MPC data, used
for model-predictive control with random shooting and CEM. Measured: the model's open-loop
prediction error against the horizon on held-out real trajectories (ensemble mean and spread),
and MPC's return against environment steps beside model-free PPO's and DQN's with the same
budget."""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import Tracker, experiment
from algorithms.weeks.rl_common import UNITS, StudyConfig, algorithm_config

OPTIMIZERS = {"random": "MPC (random shooting)", "cem": "MPC (CEM)"}
MODEL_FREE = {"ppo": "PPO (model-free)", "dqn": "DQN (model-free)"}  # the baselines
REPORTED_HORIZONS = (1, 5, 10, 20)  # the horizons whose errors are summary keys


class WorldModelConfig(StudyConfig):
    env_id: str = "CartPole-v1"
    total_timesteps: int = 1_500  # real environment steps of every method, random ones included
    grid_points: int = 30
    optimizers: tuple[str, ...] = ("random", "cem")  # the MPC variants (keys of OPTIMIZERS)
    # mpc.MPCConfig fields shared by both optimisers
    mpc: dict[str, Any] = {"random_steps": 200, "horizon": 20, "shaping": 0.1}
    # per optimiser: the same 100 candidate sequences scored per real step (CEM: 2 × 50)
    random_shooting: dict[str, Any] = {"population": 100}
    cem: dict[str, Any] = {"population": 50, "elites": 5, "iterations": 2}
    model: dict[str, Any] = {"ensemble_size": 5, "hidden": 64}  # world_model.EnsembleConfig
    ppo: dict[str, Any] = {}  # ppo.PPOConfig fields (its defaults: RL Zoo's CartPole settings)
    # dqn.DQNConfig fields: RL Zoo's CartPole settings (week 14) with learning and ε's decay
    # started early enough for the short budget (RL Zoo waits 1,000 steps before learning)
    dqn: dict[str, Any] = {"learning_rate": 2.3e-3, "batch_size": 64, "buffer_size": 100_000,
                           "learning_starts": 200, "gamma": 0.99, "train_freq": 256,
                           "gradient_steps": 128, "target_update_interval": 128,
                           "exploration_fraction": 0.16, "exploration_final_eps": 0.04,
                           "hidden": [256, 256]}
    eval_episodes: int = 1  # held-out episodes of each trained policy (MPC's: the model's test)
    error_horizon: int = 20  # H of the open-loop prediction error
    window: int = 3  # episodes in the moving average of the return curves (MPC has few)
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"total_timesteps": 120, "n_seeds": 1, "grid_points": 4, "error_horizon": 5,
                  "mpc": {"random_steps": 60, "horizon": 5}, "random_shooting": {"population": 16},
                  "cem": {"population": 8, "elites": 2},
                  "model": {"hidden": 16, "epochs": 1}, "ppo": {"n_envs": 2, "n_steps": 16,
                                                              "n_epochs": 1},
                  "dqn": {"learning_starts": 40, "train_freq": 16, "gradient_steps": 2,
                          "hidden": [16]}},
        "gpu": {"total_timesteps": 5_000, "n_seeds": 5, "eval_episodes": 5, "grid_points": 50,
                "mpc": {"horizon": 30}, "random_shooting": {"population": 2000},
                "cem": {"population": 400, "elites": 40, "iterations": 5},
                "model": {"hidden": 200}}}

    def algorithm_configs(self) -> dict[str, Any]:
        """method key → the config it trains (MPCConfig for each optimiser, PPO's, DQN's)."""
        from algorithms.model_based.mpc import MPCConfig
        from algorithms.model_based.world_model import EnsembleConfig

        configs: dict[str, Any] = {
            f"mpc_{opt}": MPCConfig(env_id=self.env_id, total_timesteps=self.total_timesteps,
                                    optimizer=opt, model=EnsembleConfig(**self.model),
                                    seed=self.seed, **self.mpc,
                                    **(self.cem if opt == "cem" else self.random_shooting))
            for opt in self.optimizers}
        for key in MODEL_FREE:
            configs[key] = algorithm_config(key, getattr(self, key), env_id=self.env_id,
                                            total_timesteps=self.total_timesteps, seed=self.seed)
        return configs


@experiment(week=15, name="world-model-mpc", covers=(1, 2), config=WorldModelConfig,
            units=UNITS | {"*error_h*": "state std units", "*spread_h*": "state std units",
                           "*return*": "return"})
def world_model_mpc(config: WorldModelConfig, tracker: Tracker) -> dict[str, float]:
    """A PETS ensemble for MPC on CartPole: prediction error against horizon, and return against
    environment steps beside PPO and DQN with the same budget."""
    import dataclasses

    import numpy as np
    import torch

    from algorithms.harness import ROW_COLUMNS, Measurement, Method, curve, run_seed_study
    from algorithms.model_based import mpc
    from algorithms.model_based.world_model import horizon_errors
    from algorithms.plotting import band_figure
    from algorithms.policy.envs import evaluate
    from algorithms.weeks.rl_common import train
    from algorithms.weeks.week15 import figures

    unknown = sorted(set(config.optimizers) - set(OPTIMIZERS))
    if unknown or not config.optimizers:
        raise ValueError(f"unknown MPC optimizer {', '.join(unknown) or '(none given)'} "
                         f"(known: {', '.join(OPTIMIZERS)})")
    torch.set_num_threads(1)  # small networks: threads cost more than they give
    configs = config.algorithm_configs()
    eval_seed = 10_000  # held-out episodes' seeds, apart from training's

    def run(key: str) -> Any:
        def trained(seed: int) -> Any:
            algo = dataclasses.replace(configs[key], seed=seed)
            result = train(algo)
            if key in MODEL_FREE:
                returns = evaluate(result.agent, config.env_id, config.eval_episodes,
                                   seed=eval_seed + 100 * seed)
                return result, returns, None
            episodes = mpc.evaluate(result.agent, config.env_id, config.eval_episodes,
                                    seed=eval_seed + 100 * seed)
            errors = horizon_errors(result.agent.model, [(s, a) for s, a, _ in episodes],
                                    config.error_horizon)
            return result, [ret for _, _, ret in episodes], errors
        return trained

    def measure(run_out: Any, grid: Any) -> Measurement:
        result, returns, errors = run_out
        scalars = {"eval_return": float(np.mean(returns)),
                   "final_return": result.episodes.mean_return(config.window),
                   "episodes": float(len(result.episodes.returns)), "wall_s": result.wall_s}
        if errors is not None:
            for h, (err, spread) in enumerate(zip(*errors), start=1):
                scalars[f"error_h{h}"], scalars[f"spread_h{h}"] = float(err), float(spread)
        return Measurement(curves={"episodic_return": curve(result.episodes, grid,
                                                            config.window)},
                           scalars=scalars)

    methods = [Method(f"mpc_{opt}", label, run(f"mpc_{opt}"))
               for opt, label in OPTIMIZERS.items() if opt in config.optimizers]
    methods += [Method(key, label, run(key)) for key, label in MODEL_FREE.items()]
    grid = np.linspace(0, config.total_timesteps, config.grid_points)
    study = run_seed_study(tracker, methods, config.seeds, measure, grid, prefix="world_model",
                           description="world-model MPC vs PPO and DQN")

    summary = study.summary("eval_return") | study.summary("final_return") | \
        study.summary("wall_s")
    summary["budget_env_steps"] = float(config.total_timesteps)
    horizons = np.arange(1, config.error_horizon + 1)
    error, spread = {}, {}
    for m in (m for m in methods if m.key not in MODEL_FREE):  # the MPC methods: a model each
        error[m.label] = np.stack([study.scalars(m.key, f"error_h{h}") for h in horizons], 1)
        spread[m.label] = np.stack([study.scalars(m.key, f"spread_h{h}") for h in horizons], 1)
        for h in (h for h in REPORTED_HORIZONS if h <= config.error_horizon):
            summary[m.summary_key(f"model_error_h{h}")] = float(error[m.label][:, h - 1].mean())
            summary[m.summary_key(f"model_spread_h{h}")] = float(spread[m.label][:, h - 1].mean())
        for h in horizons:
            tracker.log({f"{m.key}/model_error": float(error[m.label][:, h - 1].mean()),
                         f"{m.key}/model_spread": float(spread[m.label][:, h - 1].mean())},
                        step=int(h), x="horizon")
    tracker.log_table("world_model/eval_return", ["method", *ROW_COLUMNS],
                      study.table("eval_return"))
    tracker.log_table("world_model/final_return", ["method", *ROW_COLUMNS],
                      study.table("final_return"))
    tracker.log_table("world_model/prediction_error",
                      ["method", *(f"error_h{h}" for h in horizons)],
                      [[label, *np.round(values.mean(0), 4).tolist()]
                       for label, values in error.items()])
    mpc_cfg = next(iter(configs.values()))
    planners = ", ".join(
        f"{OPTIMIZERS[c.optimizer]}: {c.population} candidates per step"
        + (f" × {c.iterations} iterations" if c.optimizer == "cem" else "")
        for key, c in configs.items() if key not in MODEL_FREE)
    fig = band_figure(study.bands("episodic_return", title=config.env_id),
                      f"return ({config.window}-episode moving average)")
    tracker.log_figure(
        "world_model/sample_efficiency", fig,
        f"{config.env_id}: training-episode return against environment steps (every method "
        f"the same {config.total_timesteps} steps; MPC's first {mpc_cfg.random_steps} are the "
        f"random policy's), MPC with a {mpc_cfg.model.ensemble_size}-member probabilistic "
        f"ensemble (horizon {mpc_cfg.horizon}; {planners}) beside PPO and DQN; "
        f"mean over {config.n_seeds} seeds with 95% t-intervals.")
    tracker.log_figure(
        "world_model/horizon_error", figures.horizon_error(horizons, error, spread),
        f"Open-loop prediction error of the trained ensemble on {config.eval_episodes} held-out "
        f"MPC episode(s) per seed (never trained on): from every state, h steps predicted from "
        "the real actions alone, each member following its own mean. Left: RMS error of the "
        "ensemble mean; right: RMS std of the members around it (both in units of the data's "
        f"state std); mean ± 95% interval over {config.n_seeds} seeds, each seed a dot.")
    return summary
