"""``maml-sinusoid``: few-shot sinusoid regression (Finn, Abbeel & Levine 2017, §5.1). MAML
(second order), first-order MAML and Reptile meta-train a 2×40 ReLU MLP; a pretrained network
(one regressor trained on all tasks jointly) is the baseline. Every method is then fine-tuned
the same way on K points of held-out tasks (plain gradient steps of size α = 0.01) and scored
on 100 fresh points of each: MSE after 0, 1, …, 10 steps, for K = 5 and 10, over seeds.

The paper meta-trains for 70 000 iterations; the cpu profile trains every method for 2 000
(the gpu profile 20 000), so its MAML numbers are those of a shorter run."""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import Tracker, experiment
from algorithms.weeks.rl_common import StudyConfig

METHODS = {"maml": "MAML", "fomaml": "first-order MAML", "reptile": "Reptile",
           "pretrained": "pretrained"}
REPORTED_STEPS = (0, 1, 10)  # the adaptation steps whose MSEs are summary keys


class SinusoidConfig(StudyConfig):
    shots: tuple[int, ...] = (5, 10)  # K
    iterations: int = 2_000  # meta-updates of every method (the paper: 70 000)
    meta_batch: int = 25  # tasks per meta-update (the paper: 25)
    inner_lr: float = 0.01  # α: MAML's inner step and every method's test-time step
    meta_lr: float = 1e-3  # Adam (MAML, FOMAML, pretrained)
    reptile: dict[str, Any] = {"inner_steps": 5, "outer_lr": 1.0}  # reptile.ReptileConfig
    eval_tasks: int = 100  # held-out tasks (the same for every method and seed)
    eval_points: int = 100  # query points per held-out task
    eval_steps: int = 10  # adaptation steps measured
    val_tasks: int = 25  # validation tasks of the meta-training curves
    eval_every: int = 100  # meta-iterations between points of the training curves
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"iterations": 10, "n_seeds": 2, "meta_batch": 4, "eval_tasks": 8,
                  "eval_points": 20, "val_tasks": 4, "eval_every": 5,
                  "reptile": {"inner_steps": 2}},
        "gpu": {"iterations": 20_000, "n_seeds": 5, "eval_every": 500}}


@experiment(week=16, name="maml-sinusoid", covers=(1,), config=SinusoidConfig,
            units={"*mse*": "MSE", "*wall_s": "s"})
def maml_sinusoid(config: SinusoidConfig, tracker: Tracker) -> dict[str, float]:
    """MAML, first-order MAML and Reptile against a pretrained network on sinusoid regression:
    held-out MSE after 0–10 adaptation steps, K = 5 and 10."""
    import numpy as np
    import torch

    from algorithms.harness import ROW_COLUMNS, Measurement, Method, mean_ci, run_seed_study
    from algorithms.meta import maml, reptile, sinusoid
    from algorithms.plotting import band_figure
    from algorithms.weeks.week16 import figures

    torch.set_num_threads(1)  # small networks: threads cost more than they give

    def tasks_and_points(shots: int, n_tasks: int, seed: int) -> tuple[Any, Any, Any]:
        generator = torch.Generator().manual_seed(seed)
        tasks = sinusoid.sample_tasks(n_tasks, generator)
        return tasks, tasks.sample(shots, generator), tasks.sample(config.eval_points, generator)

    def trainer(key: str, shots: int, seed: int) -> tuple[Any, Any]:
        common = {"shots": shots, "meta_batch": config.meta_batch,
                  "iterations": config.iterations, "seed": seed}
        if key in ("maml", "fomaml"):
            return maml.train_maml, maml.MAMLConfig(
                inner_lr=config.inner_lr, meta_lr=config.meta_lr,
                first_order=key == "fomaml", **common)
        if key == "reptile":
            return reptile.train_reptile, reptile.ReptileConfig(
                inner_lr=config.inner_lr, **config.reptile, **common)
        return sinusoid.train_pretrained, sinusoid.PretrainConfig(lr=config.meta_lr, **common)

    def run(key: str, shots: int) -> Any:
        # held-out tasks apart from training's (which are drawn from the seed's generator)
        _, eval_support, eval_query = tasks_and_points(shots, config.eval_tasks, 10_000 + shots)
        _, val_support, val_query = tasks_and_points(shots, config.val_tasks, 20_000 + shots)

        def trained(seed: int) -> Any:
            val_curve: dict[int, float] = {}

            def validate(iteration: int, params: Any) -> None:
                val_curve[iteration] = maml.adaptation_curve(
                    params, sinusoid.mse, val_support, val_query, config.inner_lr, 1)[1]

            train, algo = trainer(key, shots, seed)
            result = train(algo, callback=validate, every=config.eval_every)
            test = maml.adaptation_curve(result.params, sinusoid.mse, eval_support, eval_query,
                                         config.inner_lr, config.eval_steps)
            return val_curve, test, result.wall_s
        return trained

    def measure(run_out: Any, grid: Any) -> Measurement:
        val_curve, test, wall_s = run_out
        steps, values = np.array(sorted(val_curve)), np.array([val_curve[s] for s in
                                                               sorted(val_curve)])
        on_grid = np.interp(grid, steps, values)
        return Measurement(curves={"val_mse_step1": on_grid},
                           scalars={**{f"mse_step{s}": v for s, v in enumerate(test)},
                                    "wall_s": wall_s})

    methods = [Method(f"k{shots}/{key}", label, run(key, shots), panel=f"K = {shots}")
               for shots in config.shots for key, label in METHODS.items()]
    grid = np.arange(0, config.iterations + 1, config.eval_every)
    if grid[-1] != config.iterations:
        grid = np.append(grid, config.iterations)
    study = run_seed_study(tracker, methods, config.seeds, measure, grid, prefix="sinusoid",
                           description="meta-learning on sinusoids", x="meta_iteration")

    summary: dict[str, float] = {"meta_iterations": float(config.iterations)}
    steps = np.arange(config.eval_steps + 1)
    curves: dict[str, dict[str, Any]] = {}
    for method in methods:
        per_step = np.stack([study.scalars(method.key, f"mse_step{s}") for s in steps], 1)
        curves.setdefault(method.panel, {})[method.label] = (steps, per_step)
        mean, half = mean_ci(per_step)
        for s in REPORTED_STEPS:
            if s <= config.eval_steps:
                summary[method.summary_key(f"mse_step{s}")] = float(mean[s])
                summary[method.summary_key(f"mse_step{s}_ci")] = float(half[s])
        summary[method.summary_key("wall_s")] = float(study.scalars(method.key, "wall_s").mean())
        for s in steps:
            tracker.log({f"adaptation/{method.key}/mse": float(mean[s])}, step=int(s),
                        x="adaptation_step")
    for s in (s for s in REPORTED_STEPS if s <= config.eval_steps):
        tracker.log_table(f"sinusoid/mse_step{s}", ["method", *ROW_COLUMNS],
                          study.table(f"mse_step{s}"))
    n = config.n_seeds
    tracker.log_figure(
        "sinusoid/adaptation", figures.adaptation_curves(curves),
        f"Held-out sinusoid tasks ({config.eval_tasks} tasks, MSE on {config.eval_points} "
        f"fresh points each) after 0–{config.eval_steps} gradient steps of size "
        f"α = {config.inner_lr} on K points, one panel per K; every method meta-trained (or, "
        f"the pretrained network, trained jointly on all tasks) for {config.iterations} "
        f"iterations of {config.meta_batch} tasks; mean ± 95% interval over {n} seeds, each "
        "seed a dot.")
    fig = band_figure(study.bands("val_mse_step1"), "validation MSE after 1 step",
                      xlabel="meta-iterations", logy=True)
    tracker.log_figure(
        "sinusoid/meta_training", fig,
        f"Meta-training curves: MSE after one adaptation step (α = {config.inner_lr}) on "
        f"{config.val_tasks} validation tasks, every {config.eval_every} meta-iterations, "
        f"one panel per K; mean and 95% t-interval over {n} seeds.")
    return summary
