"""``norm-stability``: pre-norm, post-norm and QK-norm over a learning-rate sweep, over seeds.

Xiong et al. (2020), "On Layer Normalization in the Transformer Architecture", Thm. 1: at
initialisation the gradient of the last layers of a Post-LN transformer is O(d √ln d) and does
not shrink with depth, while a Pre-LN one's is O(d √(ln d / L)); Post-LN therefore needs a small
learning rate and a long warm-up, Pre-LN does not. QK-norm (Henry et al. 2020; Dehghani et al.
2023, §3.1.1) bounds the attention logits, which is what breaks first at high learning rates
(attention entropy collapse, Zhai et al. 2023). The sweep runs without gradient clipping and
with a short warm-up, so that the instabilities show rather than being clipped away; each run
logs its gradient norm per layer, so the figure shows where in depth post-norm's gradients sit.
"""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import Tracker, experiment
from algorithms.weeks.week05.common import (
    GPU, SMOKE, UNITS, ArchStudyConfig, StudyContext, Variant, finite_mean, layer_grad_norms,
    measure_run, rounded)

NORM_VARIANTS = {"pre": ("pre-norm", {}), "post": ("post-norm", {"norm_position": "post"}),
                 "qknorm": ("pre-norm + QK-norm", {"qk_norm": True})}


def lr_key(lr: float) -> str:
    """``lr0.003``: a learning rate as a metric-key word (no '-' or '+')."""
    return "lr" + f"{lr:g}".replace("-", "m").replace("+", "")


class StabilityConfig(ArchStudyConfig):
    """``lrs``: the peak learning rates swept for every variant; ``grad_layers_lr``: the one
    whose per-layer gradient norms are drawn (default: the second largest)."""

    lrs: list[float] = [1e-3, 3e-3, 1e-2, 3e-2]
    grad_layers_lr: float | None = None
    model: dict[str, Any] = {"d_model": 64, "n_layers": 6, "n_heads": 4, "max_seq_len": 64,
                             "multiple_of": 16}
    train: dict[str, Any] = {"steps": 120, "batch_size": 16, "block_size": 64, "lr": 3e-3,
                             "warmup_steps": 5, "beta2": 0.99, "grad_clip": 0.0,
                             "eval_every": 20, "eval_batches": 8, "log_every": 5}
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {**SMOKE, "lrs": [1e-3, 3e-2],
                  "train": {**SMOKE["train"], "grad_clip": 0.0}},
        "gpu": {**GPU, "lrs": [3e-4, 1e-3, 3e-3, 1e-2],
                "train": {**GPU["train"], "warmup_steps": 20, "grad_clip": 0.0}}}


@experiment(week=5, name="norm-stability", covers=(2,), config=StabilityConfig, units=UNITS)
def norm_stability(config: StabilityConfig, tracker: Tracker) -> dict[str, float]:
    """Final loss, divergence and per-layer gradient norms of pre-, post- and QK-norm over
    learning rates and seeds."""
    import numpy as np

    from algorithms.harness import ROW_COLUMNS, mean_ci, run_seed_study
    from algorithms.weeks.week05.figures import grad_norm_by_layer, loss_vs_lr

    context = StudyContext.load(config, tracker)
    variants = [Variant(f"{name}/{lr_key(lr)}", label, changes, f"lr = {lr:g}", {"lr": lr})
                for lr in config.lrs for name, (label, changes) in NORM_VARIANTS.items()]
    methods = [context.method(v, "stability", on_step=layer_grad_norms) for v in variants]
    grid = context.grid()
    n_layers = config.lm_config(context.data.vocab_size).n_layers

    def measure(result, grid):
        measured = measure_run(result, grid, curves=("val_loss", "grad_norm"))
        for i in range(n_layers):  # the median over training of each layer's gradient norm
            norms = [row[f"grad_norm/layer{i}"] for row in result.history
                     if f"grad_norm/layer{i}" in row]
            measured.scalars[f"grad_norm_layer{i}"] = float(np.nanmedian(norms))
        return measured

    study = run_seed_study(tracker, methods, config.seeds, measure, grid, prefix="stability",
                           description="norms × learning rates × seeds", x="train_step")

    rows, summary = [], {}
    finals = {name: [] for name in NORM_VARIANTS}  # per lr: the finite seeds' losses
    diverged = {name: [] for name in NORM_VARIANTS}
    for variant in variants:
        name = variant.key.split("/")[0]
        losses = study.scalars(variant.key, "val_loss")
        n_div = int(study.scalars(variant.key, "diverged").sum())
        finite = losses[np.isfinite(losses)]
        mean, half = mean_ci(finite[:, None]) if finite.size else ([np.nan], [np.nan])
        rows.append([f"{variant.label}, {variant.panel}", rounded(float(mean[0])),
                     rounded(float(half[0])), " ".join(f"{x:.3f}" for x in losses),
                     n_div, rounded(finite_mean(study.scalars(variant.key, "max_grad_norm")), 2),
                     rounded(finite_mean(study.scalars(variant.key, "loss_spike")), 3)])
        finals[name].append(losses)
        diverged[name].append(n_div)
        key = variant.key.replace("/", ".")
        if (value := rounded(finite_mean(losses))) is not None:
            summary[f"{key}.val_loss"] = value
        summary[f"{key}.diverged"] = n_div
    tracker.log_table("stability/final_loss", ["variant, learning rate", *ROW_COLUMNS,
                                               "diverged seeds", "max grad norm",
                                               "largest loss spike"], rows)
    labels = {name: label for name, (label, _) in NORM_VARIANTS.items()}
    tracker.log_figure("stability/loss_vs_lr", loss_vs_lr(
        config.lrs, {labels[n]: np.stack(v, axis=1) for n, v in finals.items()}),
        f"Validation loss after {config.train_config().steps} steps against the peak "
        f"learning rate (no gradient clipping, {config.train_config().warmup_steps} warm-up "
        f"steps), seeds as dots, mean of the seeds that did not diverge with its 95% "
        f"interval; a cross marks a learning rate at which a seed diverged.")
    tracker.log_figure("stability/curves", _bands(study), "Validation loss against optimizer "
                       "steps, one panel per peak learning rate, mean and 95% interval over "
                       f"{len(study.seeds)} seeds.")

    lr = config.grad_layers_lr or sorted(config.lrs)[max(len(config.lrs) - 2, 0)]
    by_layer = {labels[name]: np.stack([study.scalars(f"{name}/{lr_key(lr)}",
                                                      f"grad_norm_layer{i}")
                                        for i in range(n_layers)], axis=1)
                for name in NORM_VARIANTS}
    tracker.log_figure("stability/grad_norm_by_layer", grad_norm_by_layer(by_layer),
                       f"Median over training of each block's gradient norm (block 0 next to "
                       f"the embedding), at peak learning rate {lr:g}, mean and 95% interval "
                       f"over seeds.")
    for label, values in by_layer.items():
        name = next(n for n, lab in labels.items() if lab == label)
        ratio = rounded(finite_mean(values[:, -1]) / finite_mean(values[:, 0]), 3)
        if ratio is not None:
            summary[f"{name}.grad_norm_last_over_first"] = ratio
    for name in NORM_VARIANTS:
        summary[f"{name}.diverged_total"] = int(sum(diverged[name]))
        means = [finite_mean(losses) for losses in finals[name]]
        best = int(np.nanargmin(means)) if np.isfinite(means).any() else 0
        summary[f"{name}.best_lr"] = float(config.lrs[best])
    summary["stability.n_seeds"] = len(study.seeds)
    return summary


def _bands(study):
    from algorithms.plotting import band_figure

    return band_figure(study.bands("val_loss"), "nats / token", xlabel="optimizer steps")
