"""``efficiency-profile``: where a training step's FLOPs, memory and time go in each
architecture; what gradient checkpointing trades; what lower precision costs in loss.

* The profile (``algorithms.lm.profiling.profile_step``): FLOPs counted by torch's
  ``FlopCounterMode`` (matrix products, convolutions, attention kernels: no elementwise op),
  peak live tensor memory, step time and its split by component from ``torch.profiler``, one
  forward + backward of the same batch for every architecture of the lineage.
* Gradient checkpointing (Chen et al. 2016, "Training Deep Nets with Sublinear Memory Cost"):
  each block keeps only its input and recomputes its inside during backward, so activation
  memory falls from O(L · per-block) to O(L + per-block) for one more forward (~ +33% FLOPs).
* Precision: bfloat16 autocast (float32's exponent range, 8 bits of mantissa: no loss scaling
  needed; on a CPU it runs through oneDNN where the cores support it), and FP8 E4M3 matrix
  products with per-tensor scales (Micikevicius et al. 2022, "FP8 Formats for Deep Learning")
  over seeds. On a CPU FP8 is *emulated* (operands rounded to FP8, multiplied in float32): it
  measures FP8's rounding on the loss, not its speed. fp16 autocast with a loss scaler is a
  CUDA-only arm and is skipped without a GPU.
"""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import Tracker, experiment
from algorithms.weeks.week05.common import (
    ARCHITECTURES, GPU, SMOKE, UNITS, ArchStudyConfig, StudyContext, Variant, measure_run,
    rounded)

COMPONENTS = ("attention", "mixer", "ffn", "norm", "embedding/head", "other")
"""``profile_step``'s categories (a mixture of experts counts as ffn)."""


class EfficiencyConfig(ArchStudyConfig):
    """``profile_batch`` × ``profile_length`` tokens per profiled step; the checkpointing trade
    on a ``checkpoint_layers``-deep model at ``checkpoint_lengths``; the precision arms."""

    profile_batch: int = 8
    profile_length: int = 64
    checkpoint_layers: int = 8
    checkpoint_lengths: list[int] = [64, 128, 256]
    precisions: list[str] = ["fp32", "bf16", "fp8"]
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {**SMOKE, "profile_batch": 2, "profile_length": 8, "checkpoint_layers": 2,
                  "checkpoint_lengths": [8, 16]},
        "gpu": {**GPU, "profile_batch": 16, "profile_length": 512, "checkpoint_layers": 16,
                "checkpoint_lengths": [512, 1024, 2048],
                "precisions": ["fp32", "bf16", "fp16", "fp8"]}}


@experiment(week=5, name="efficiency-profile", covers=(4,), config=EfficiencyConfig,
            units=UNITS)
def efficiency_profile(config: EfficiencyConfig, tracker: Tracker) -> dict[str, float]:
    """A profile table per architecture, checkpointing's memory-vs-time trade, and training
    loss and speed at fp32, bf16 and FP8 over seeds."""
    import numpy as np
    import torch

    from algorithms.harness import ROW_COLUMNS, mean_ci, run_seed_study
    from algorithms.lm.model import LanguageModel
    from algorithms.lm.profiling import profile_step
    from algorithms.plotting import band_figure
    from algorithms.weeks.week05.figures import checkpointing_trade, component_shares

    context = StudyContext.load(config, tracker)
    vocab, device = context.data.vocab_size, "cuda" if torch.cuda.is_available() else "cpu"
    summary: dict[str, float] = {}

    def batch(length: int, rows: int) -> tuple[torch.Tensor, torch.Tensor]:
        generator = torch.Generator().manual_seed(config.seed)
        idx = torch.randint(0, vocab, (rows, length + 1), generator=generator)
        return idx[:, :-1], idx[:, 1:]

    # 1. one profiled step per architecture
    rows, shares = [], {}
    idx, targets = batch(config.profile_length, config.profile_batch)
    for key, (label, changes) in tracker.track(list(ARCHITECTURES.items()),
                                               total=len(ARCHITECTURES),
                                               description="profiles"):
        torch.manual_seed(config.seed)
        model = LanguageModel(config.lm_config(vocab, **changes))
        profile = profile_step(model, idx, targets, device=device)
        total = sum(profile.component_ms.values()) or 1.0
        shares[label] = {name: profile.component_ms.get(name, 0.0) / total
                         for name in COMPONENTS}
        rows.append([label, model.n_params(embeddings=False), round(profile.flops_per_token),
                     round(profile.forward_flops_per_token), round(profile.peak_mib, 2),
                     round(profile.step_ms, 2),
                     *[round(100 * shares[label][name], 1) for name in COMPONENTS]])
        summary[f"{key}.flops_per_token"] = round(profile.flops_per_token)
        summary[f"{key}.peak_mib"] = round(profile.peak_mib, 2)
        summary[f"{key}.step_ms"] = round(profile.step_ms, 2)
    tracker.log_table("profile/architectures", [
        "architecture", "non-embedding params", "FLOPs per token (fwd+bwd)",
        "forward FLOPs per token", "peak MiB", "step ms",
        *[f"% time {name}" for name in COMPONENTS]], rows)
    tracker.log_figure("profile/time_by_component", component_shares(shares, COMPONENTS),
                       f"Share of one forward + backward's traced operator time by component "
                       f"({config.profile_batch} × {config.profile_length} tokens, {device}).")

    # 2. gradient checkpointing: the same weights with and without, at growing lengths
    trade: dict[str, dict[int, Any]] = {"plain": {}, "checkpointed": {}}
    trade_rows = []
    for length in config.checkpoint_lengths:
        idx, targets = batch(length, config.profile_batch)
        for name, on in (("plain", False), ("checkpointed", True)):
            torch.manual_seed(config.seed)
            model = LanguageModel(config.lm_config(
                vocab, n_layers=config.checkpoint_layers, max_seq_len=length,
                gradient_checkpointing=on))
            trade[name][length] = profile_step(model, idx, targets, device=device)
        plain, ckpt = trade["plain"][length], trade["checkpointed"][length]
        trade_rows.append([length, round(plain.peak_mib, 2), round(ckpt.peak_mib, 2),
                           round(ckpt.peak_mib / plain.peak_mib, 3), round(plain.step_ms, 2),
                           round(ckpt.step_ms, 2), round(ckpt.step_ms / plain.step_ms, 3),
                           round(ckpt.flops_per_token / plain.flops_per_token, 3)])
    longest = config.checkpoint_lengths[-1]
    summary["checkpointing.memory_ratio"] = trade_rows[-1][3]
    summary["checkpointing.time_ratio"] = trade_rows[-1][6]
    summary["checkpointing.flops_ratio"] = trade_rows[-1][7]
    tracker.log_table("checkpointing/trade", [
        "sequence length", "peak MiB", "peak MiB checkpointed", "memory ratio", "step ms",
        "step ms checkpointed", "time ratio", "FLOPs ratio"], trade_rows)
    tracker.log_figure("checkpointing/trade", checkpointing_trade(trade),
                       f"A {config.checkpoint_layers}-block LLaMA with and without gradient "
                       f"checkpointing, {config.profile_batch} sequences per step: peak tensor "
                       f"memory and step time against sequence length (longest {longest}).")

    # 3. precision arms over seeds
    arms = [p for p in config.precisions if p != "fp16" or device == "cuda"]
    skipped = [p for p in config.precisions if p not in arms]
    variants = [Variant(p, _PRECISION_LABELS[p], train={"autocast": _AUTOCAST[p]}) for p in arms]

    def method(variant: Variant):
        from algorithms.lm.precision import convert_to_fp8

        # the FP8 arm: every Linear but the output head an Fp8Linear over the same weights
        return context.method(variant, "precision",
                              prepare=convert_to_fp8 if variant.key == "fp8" else None)

    study = run_seed_study(tracker, [method(v) for v in variants], config.seeds, measure_run,
                           context.grid(), prefix="precision",
                           description="precisions × seeds", x="train_step")
    base = study.scalars("fp32", "val_loss")
    prec_rows = []
    for variant in variants:
        losses = study.scalars(variant.key, "val_loss")
        mean, half = mean_ci(losses[:, None])
        delta, d_half = mean_ci((losses - base)[:, None])
        speed = float(np.mean(study.scalars(variant.key, "tokens_per_s")))
        prec_rows.append([variant.label, rounded(float(mean[0])), rounded(float(half[0])),
                          " ".join(f"{x:.3f}" for x in losses), rounded(float(delta[0])),
                          rounded(float(d_half[0])), round(speed)])
        if (value := rounded(float(mean[0]))) is not None:
            summary[f"{variant.key}.val_loss"] = value
        if (value := rounded(float(delta[0]))) is not None:
            summary[f"{variant.key}.delta_vs_fp32"] = value
        summary[f"{variant.key}.tokens_per_s"] = round(speed)
    prec_rows += [[_PRECISION_LABELS[p] + " (skipped: needs a CUDA device)", *[""] * 6]
                  for p in skipped]
    tracker.log_table("precision/val_loss", ["precision", *ROW_COLUMNS, "minus fp32 (paired)",
                                             "ci95 of the difference", "tokens/s"], prec_rows)
    tracker.log_figure("precision/curves", band_figure({"": study.bands("val_loss")[""]},
                                                       "nats / token",
                                                       xlabel="optimizer steps"),
                       f"Validation loss at each precision ({device}), mean and 95% interval "
                       f"over {len(study.seeds)} seeds.")
    summary["precision.n_seeds"] = len(study.seeds)
    return summary


_AUTOCAST = {"fp32": "off", "bf16": "bf16", "fp16": "fp16", "fp8": "off"}
_PRECISION_LABELS = {"fp32": "float32", "bf16": "bfloat16 autocast",
                     "fp16": "float16 autocast + loss scaling",
                     "fp8": "FP8 E4M3 matmuls (emulated on CPU)"}
