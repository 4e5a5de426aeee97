"""``architecture-ablations``: the LLaMA block with one thing changed at a time, over seeds.

Each variant is one changed field of the same config, trained on the same tokens with the same
schedule (``common.py``):

* the norm: RMSNorm (Zhang & Sennrich 2019) against LayerNorm (Ba et al. 2016);
* the feed-forward at matched parameters (Shazeer 2020, "GLU Variants Improve Transformer",
  Table 1: ReLU, GELU, GeGLU, SwiGLU, the gated ones 2/3 as wide);
* the block: sequential against parallel attention + FFN (GPT-J; Chowdhery et al. 2022, PaLM
  §2: "roughly 15% faster training at large scales", with a small quality cost at small ones);
* width against depth at a fixed non-embedding parameter budget (Kaplan et al. 2020, §3.1:
  the loss depends only weakly on the shape at fixed N, over a wide range of aspect ratios).

The baseline (the unchanged LLaMA) is drawn in every panel; its parameter count is the budget
the shapes are chosen to match, and the table lists every variant's count.
"""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import Tracker, experiment
from algorithms.weeks.week05.common import (
    ARCHITECTURES, GPU, SMOKE, UNITS, ArchStudyConfig, StudyContext, Variant, measure_run, rounded)

BASELINE = Variant("llama", "LLaMA (pre-RMSNorm, SwiGLU, sequential)")
ABLATIONS_CPU = (
    ("norm", "layernorm", "LayerNorm", {"norm": "layernorm"}),
    ("feed-forward", "relu", "ReLU FFN", {"ffn": "relu"}),
    ("feed-forward", "gelu", "GELU FFN", {"ffn": "gelu"}),
    ("feed-forward", "geglu", "GeGLU", {"ffn": "geglu"}),
    ("block", "parallel", "parallel attention + FFN", {"block": "parallel"}),
    ("width vs depth", "wide", "d=96, 2 layers", {"d_model": 96, "n_layers": 2}),
    ("width vs depth", "deep", "d=48, 7 layers", {"d_model": 48, "n_layers": 7}),
    ("width vs depth", "deeper", "d=32, 16 layers", {"d_model": 32, "n_layers": 16,
                                                     "n_heads": 2}),
)
"""(panel, key, label, config changes); the cpu baseline is d=64 with 4 layers."""


class AblationConfig(ArchStudyConfig):
    """``ablations``: rows (panel, key, label, LMConfig changes) trained beside the baseline."""

    ablations: list[tuple[str, str, str, dict[str, Any]]] = [
        (p, k, lab, dict(c)) for p, k, lab, c in ABLATIONS_CPU]
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {**SMOKE, "ablations": [
            ("norm", "layernorm", "LayerNorm", {"norm": "layernorm"}),
            ("feed-forward", "geglu", "GeGLU", {"ffn": "geglu"}),
            ("block", "parallel", "parallel", {"block": "parallel"}),
            ("width vs depth", "deep", "d=8, 4 layers", {"d_model": 8, "n_layers": 8})]},
        "gpu": {**GPU, "ablations": [
            ("norm", "layernorm", "LayerNorm", {"norm": "layernorm"}),
            ("feed-forward", "relu", "ReLU FFN", {"ffn": "relu"}),
            ("feed-forward", "gelu", "GELU FFN", {"ffn": "gelu"}),
            ("feed-forward", "geglu", "GeGLU", {"ffn": "geglu"}),
            ("block", "parallel", "parallel attention + FFN", {"block": "parallel"}),
            ("width vs depth", "wide", "d=768, 2 layers", {"d_model": 768, "n_layers": 2}),
            ("width vs depth", "deep", "d=256, 18 layers", {"d_model": 256, "n_layers": 18,
                                                            "n_heads": 4})]}}


@experiment(week=5, name="architecture-ablations", covers=(1, 2), config=AblationConfig,
            units=UNITS)
def architecture_ablations(config: AblationConfig, tracker: Tracker) -> dict[str, float]:
    """Validation loss of the LLaMA baseline and one-change variants (norm, FFN, block, shape)."""
    import numpy as np

    from algorithms.harness import ROW_COLUMNS, mean_ci, run_seed_study
    from algorithms.plotting import band_figure
    from algorithms.weeks.week05.figures import architecture_diagram

    context = StudyContext.load(config, tracker)
    variants = [BASELINE] + [Variant(key, label, changes, panel)
                             for panel, key, label, changes in config.ablations]
    methods = [context.method(v, "ablations") for v in variants]
    grid = context.grid()
    study = run_seed_study(tracker, methods, config.seeds, measure_run, grid,
                           prefix="ablations", description="architectures × seeds",
                           x="train_step")

    base_losses = study.scalars(BASELINE.key, "val_loss")
    rows, summary = [], {}
    for variant in variants:
        losses = study.scalars(variant.key, "val_loss")
        mean, half = mean_ci(losses[:, None])
        delta = losses - base_losses  # paired: the same seed, data order and initial stream
        d_mean, d_half = mean_ci(delta[:, None])
        speed = float(np.mean(study.scalars(variant.key, "tokens_per_s")))
        rows.append([variant.panel or "baseline", variant.label, context.n_params[variant.key],
                     rounded(float(mean[0])), rounded(float(half[0])),
                     " ".join(f"{x:.3f}" for x in losses),
                     rounded(float(d_mean[0])), rounded(float(d_half[0])), round(speed)])
        for name, value in (("val_loss", mean[0]), ("delta_vs_llama", d_mean[0]),
                            ("delta_ci95", d_half[0])):
            if (value := rounded(float(value))) is not None:
                summary[f"{variant.key}.{name}"] = value
        summary[f"{variant.key}.n_params"] = context.n_params[variant.key]
        summary[f"{variant.key}.tokens_per_s"] = round(speed)
    tracker.log_table("ablations/val_loss", [
        "panel", "architecture", "non-embedding params", *ROW_COLUMNS,
        "minus LLaMA (paired)", "ci95 of the difference", "tokens/s"], rows)

    panels = study.bands("val_loss")
    baseline = panels.pop("")  # the baseline has no panel: draw it in every panel
    panels = {panel: {**baseline, **lines} for panel, lines in panels.items()}
    tracker.log_figure("ablations/curves", band_figure(panels, "nats / token",
                                                       xlabel="optimizer steps"),
                       f"Validation loss against optimizer steps; each panel changes one part "
                       f"of the LLaMA baseline, mean and 95% interval over {len(study.seeds)} "
                       f"seeds.")
    tracker.log_figure("ablations/evolution", architecture_diagram({
        label: config.lm_config(context.data.vocab_size, **changes)
        for label, changes in ARCHITECTURES.values()}),
        "From the Transformer to Mamba, each block drawn from the config forge trains: the "
        "order of norm, token mixer and feed-forward on the residual stream.")
    summary["ablations.n_seeds"] = len(study.seeds)
    return summary
