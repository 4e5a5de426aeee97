"""``grokking``: a one-layer transformer on a + b mod p memorises its training pairs, then, long
after, generalises — with weight decay, and not without it — and Nanda et al.'s progress
measures show the generalising circuit forming before test accuracy moves.

Power et al. (2022), "Grokking: Generalization Beyond Overfitting on Small Algorithmic
Datasets"; Nanda et al. (2023), "Progress Measures for Grokking via Mechanistic
Interpretability", §5: the restricted loss (the logits kept only along the key Fourier
frequencies' cos/sin(w_k(a + b)) directions) falls before the test loss does, and the excluded
loss (those directions removed) rises on the training set: the memorising solution is being
replaced by the Fourier one. Nanda's setup is p = 113 for ~40k full-batch steps (the gpu
profile); the cpu profile uses p = 53 with a peak learning rate of 3e-3 so that it groks in
minutes on one core (``algorithms.grokking``).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from algorithms.experiment import ExperimentConfig, Tracker, experiment

UNITS = {"*acc*": "", "*loss*": "nats", "*step*": "steps"}


class GrokkingConfig(ExperimentConfig):
    """The run (fields of ``algorithms.grokking.GrokConfig``) and ``n_seeds`` seeds each of
    weight decay ``weight_decay`` and the control without it."""

    p: int = 53
    train_fraction: float = 0.3
    d_model: int = 128
    n_heads: int = 4
    d_mlp: int = 512
    lr: float = 3e-3
    weight_decay: float = 1.0
    steps: int = 7000
    eval_every: int = 100
    n_seeds: int = 2
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"p": 11, "d_model": 16, "n_heads": 2, "d_mlp": 32, "steps": 20,
                  "eval_every": 5},
        "gpu": {"p": 113, "lr": 1e-3, "steps": 40_000, "n_seeds": 3}}


@experiment(week=13, name="grokking", covers=(2,), config=GrokkingConfig, units=UNITS)
def grokking(config: GrokkingConfig, tracker: Tracker) -> dict[str, float]:
    """Train/test accuracy and the progress measures over training, with weight decay and the
    weight-decay-0 control, over seeds."""
    import numpy as np

    from algorithms.attention.profiling import intra_op_threads
    from algorithms.grokking import GrokConfig, milestones, train_grokking
    from algorithms.harness import Measurement, Method, run_seed_study
    from algorithms.plotting import band_figure

    grid = np.array(sorted({0, *range(config.eval_every, config.steps, config.eval_every),
                            config.steps}))
    names = ("train_acc", "test_acc", "train_loss", "test_loss", "restricted_loss",
             "excluded_loss", "gini")

    def trainer(weight_decay: float, key: str):
        def run(seed: int):
            run_config = GrokConfig(p=config.p, train_fraction=config.train_fraction,
                                    d_model=config.d_model, n_heads=config.n_heads,
                                    d_mlp=config.d_mlp, lr=config.lr,
                                    weight_decay=weight_decay, steps=config.steps,
                                    eval_every=config.eval_every, seed=seed)

            def on_log(row: dict[str, float]) -> None:
                tracker.log({f"grokking/{key}/seed{seed}/{name}": row[name] for name in names
                             if name in row}, step=int(row["step"]), x="train_step")

            with intra_op_threads(1):  # one small model: a second thread only spin-waits
                return train_grokking(run_config, on_log=on_log)
        return run

    def measure(result, grid) -> Measurement:
        rows = {int(row["step"]): row for row in result.history}
        curves = {name: np.array([rows.get(int(s), {}).get(name, np.nan) for s in grid])
                  for name in names}
        marks = milestones(result.history)
        return Measurement(curves=curves, scalars={
            **{f"{k}_step": float(v) if v is not None else math.nan for k, v in marks.items()},
            "final_test_acc": float(result.history[-1]["test_acc"]),
            "final_train_acc": float(result.history[-1]["train_acc"])})

    methods = [Method("wd", f"weight decay {config.weight_decay:g}",
                      trainer(config.weight_decay, "wd")),
               Method("control", "weight decay 0 (control)", trainer(0.0, "control"))]
    study = run_seed_study(tracker, methods, range(config.seed, config.seed + config.n_seeds),
                           measure, grid, prefix="grokking", description="grokking × seeds",
                           x="train_step")

    panels = {m.label: {"train accuracy": (grid, study.curves(m.key, "train_acc")),
                        "test accuracy": (grid, study.curves(m.key, "test_acc"))}
              for m in methods}
    tracker.log_figure("grokking/accuracy", band_figure(panels, "accuracy",
                                                        xlabel="optimizer steps"),
                       f"Train and test accuracy on a + b mod {config.p} "
                       f"({config.train_fraction:.0%} of pairs for training), with weight "
                       f"decay and without, mean and 95% interval over {len(study.seeds)} "
                       f"seeds.")
    tracker.log_figure("grokking/progress", band_figure({
        m.label: {label: (grid, study.curves(m.key, name)) for name, label in (
            ("train_loss", "train loss"), ("test_loss", "test loss"),
            ("restricted_loss", "restricted loss"), ("excluded_loss", "excluded loss"))}
        for m in methods}, "cross-entropy (nats)", xlabel="optimizer steps", logy=True),
        "Nanda et al.'s progress measures: the restricted loss (only the key Fourier "
        "frequencies kept, on all pairs) and the excluded loss (those removed, on the training "
        "pairs) beside the train and test loss, mean and 95% interval over seeds.")
    rows, summary = [], {}
    for m in methods:
        values = {name: study.scalars(m.key, name) for name in (
            "memorised_step", "test_50_step", "test_95_step", "final_test_acc")}
        rows.append([m.label] + [" ".join("never" if not math.isfinite(v) else f"{v:g}"
                                          for v in values[name]) for name in values])
        for name, v in values.items():
            finite = v[np.isfinite(v)]
            if finite.size:
                summary[f"{m.key}.{name}"] = round(float(finite.mean()), 4)
            if name.endswith("_step"):
                summary[f"{m.key}.{name.removesuffix('_step')}_reached"] = int(finite.size)
    tracker.log_table("grokking/milestones", ["run", "100% train accuracy at step",
                                              "50% test accuracy at step",
                                              "95% test accuracy at step",
                                              "final test accuracy"], rows)
    summary["grokking.n_seeds"] = len(study.seeds)
    return summary
