"""``meta-rl``: MAML with a policy-gradient inner step on 2-D point navigation (Finn, Abbeel &
Levine 2017, §5.3, Figure 5's left panel). Three Gaussian MLP policies are adapted the same way
on held-out goals — vanilla policy gradient steps of size α, each on N fresh trajectories —
and scored by the mean return of N more: MAML's meta-learned policy, a policy pretrained by
policy gradient on the mixture of goals, and a randomly initialised one (learning from
scratch). Measured: return after 0, 1, 2, 3 adaptation steps, over seeds.

Smaller than the paper's run (it meta-trains with TRPO, 20 tasks × 20 trajectories per
update, 100-unit layers): Adam, 10 goals × 10 trajectories, 32-unit layers, 200 meta-updates
in the cpu profile; α = 0.1 as in the paper (see :mod:`algorithms.meta.meta_rl`)."""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import Tracker, experiment
from algorithms.weeks.rl_common import StudyConfig

METHODS = {"maml": "MAML", "pretrained": "pretrained", "scratch": "from scratch"}


class MetaRLConfig(StudyConfig):
    algo: dict[str, Any] = {}  # meta_rl.PointNavConfig fields (its defaults: the cpu profile)
    eval_tasks: int = 40  # held-out goals (the same for every method and seed)
    eval_steps: int = 3  # adaptation steps measured
    eval_every: int = 10  # updates between points of the training curves
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"n_seeds": 2, "eval_tasks": 4, "eval_every": 1,
                  "algo": {"iterations": 3, "horizon": 10, "trajectories": 4, "meta_batch": 3,
                           "hidden": (8, 8)}},
        "gpu": {"n_seeds": 5, "eval_every": 50,
                "algo": {"iterations": 1_000, "trajectories": 20, "meta_batch": 20,
                         "hidden": (100, 100)}}}

    def algorithm_configs(self) -> dict[str, Any]:
        """method key → the meta_rl.PointNavConfig it trains."""
        from algorithms.meta.meta_rl import PointNavConfig

        base = PointNavConfig(**self.algo, seed=self.seed)
        return {"maml": base,
                "pretrained": PointNavConfig(**{**self.algo, "meta": False}, seed=self.seed),
                "scratch": PointNavConfig(**{**self.algo, "iterations": 0}, seed=self.seed)}


@experiment(week=16, name="meta-rl", covers=(1,), config=MetaRLConfig,
            units={"*return*": "return", "*wall_s": "s"})
def meta_rl(config: MetaRLConfig, tracker: Tracker) -> dict[str, float]:
    """MAML-RL on 2-D point navigation against a pretrained policy and learning from scratch:
    return on held-out goals after 0–3 policy-gradient adaptation steps."""
    import dataclasses

    import numpy as np
    import torch

    from algorithms.harness import ROW_COLUMNS, Measurement, Method, mean_ci, run_seed_study
    from algorithms.meta import meta_rl as point_nav
    from algorithms.plotting import band_figure
    from algorithms.weeks.week16 import figures

    torch.set_num_threads(1)
    configs = config.algorithm_configs()
    goals = point_nav.sample_goals(config.eval_tasks, torch.Generator().manual_seed(10_000))

    def run(key: str) -> Any:
        def trained(seed: int) -> Any:
            algo = dataclasses.replace(configs[key], seed=seed)
            result = point_nav.train(algo)
            returns = point_nav.adaptation_returns(
                result.params, goals, algo, config.eval_steps,
                torch.Generator().manual_seed(20_000 + seed))
            return result, returns
        return trained

    def measure(run_out: Any, grid: Any) -> Measurement:
        result, returns = run_out
        scalars = {f"return_step{s}": v for s, v in enumerate(returns)}
        scalars["wall_s"] = result.wall_s
        if not result.returns:  # learning from scratch trains nothing
            return Measurement(scalars=scalars)
        smoothed = np.convolve(result.returns, np.ones(config.eval_every) / config.eval_every,
                               mode="valid")  # a moving average over eval_every updates
        at = np.clip(grid.astype(int) - config.eval_every, 0, len(smoothed) - 1)
        return Measurement(curves={"train_return": smoothed[at]}, scalars=scalars)

    methods = [Method(key, label, run(key)) for key, label in METHODS.items()]
    iterations = configs["maml"].iterations
    grid = np.arange(config.eval_every, iterations + 1, config.eval_every)
    study = run_seed_study(tracker, methods, config.seeds, measure, grid, prefix="meta_rl",
                           description="meta-RL on point navigation", x="update")

    summary: dict[str, float] = {"meta_updates": float(iterations)}
    steps = np.arange(config.eval_steps + 1)
    lines = {}
    for method in methods:
        per_step = np.stack([study.scalars(method.key, f"return_step{s}") for s in steps], 1)
        lines[method.label] = (steps, per_step)
        mean, half = mean_ci(per_step)
        for s in steps:
            summary[method.summary_key(f"return_step{s}")] = float(mean[s])
            summary[method.summary_key(f"return_step{s}_ci")] = float(half[s])
            tracker.log({f"adaptation/{method.key}/return": float(mean[s])}, step=int(s),
                        x="adaptation_step")
        summary[method.summary_key("wall_s")] = float(study.scalars(method.key, "wall_s").mean())
    for s in (0, 1):
        tracker.log_table(f"meta_rl/return_step{s}", ["method", *ROW_COLUMNS],
                          study.table(f"return_step{s}"))
    algo, n = configs["maml"], config.n_seeds
    tracker.log_figure(
        "meta_rl/adaptation", figures.adaptation_returns(lines),
        f"2-D point navigation, {config.eval_tasks} held-out goals: return (horizon "
        f"{algo.horizon}, reward −distance to the goal) after 0–{config.eval_steps} "
        f"policy-gradient steps of size α = {algo.inner_lr}, each on {algo.trajectories} "
        f"trajectories per goal; MAML and the pretrained policy trained for {iterations} "
        f"updates of {algo.meta_batch} goals; mean ± 95% interval over {n} seeds, each seed a "
        "dot.")
    panels = {"training": {m.label: (grid, study.curves(m.key, "train_return"))
                           for m in methods if m.key != "scratch"}}
    fig = band_figure(panels, "training return", xlabel="updates")
    tracker.log_figure(
        "meta_rl/training", fig,
        f"Training curves: MAML's mean return after its inner step (on the meta-batch's "
        f"goals) and the pretrained policy's return without one, moving average over "
        f"{config.eval_every} updates; mean and 95% t-interval over {n} seeds.")
    return summary
