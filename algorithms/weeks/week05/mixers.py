"""``token-mixers``: attention against Mamba, Mamba-2 and RetNet at equal parameters: loss over
seeds, then training tokens/s, FLOPs and memory against sequence length.

* Attention (the LLaMA baseline) costs O(T²·d) per sequence in time; its activations are
  O(T·d) with a fused kernel (week 3), O(T²) per head without.
* Mamba (Gu & Dao 2023, Algorithm 2): a selective state space, h_t = Ā_t h_{t−1} + B̄_t x_t,
  O(T·E·d·N): linear in T, computed by a scan (``algorithms.lm.mamba``).
* Mamba-2 (Dao & Gu 2024): the SSD layer, a scalar decay per head, computed in chunks of
  matrix products (``algorithms.lm.ssd``).
* RetNet (Sun et al. 2023): retention, attention with an exponential decay γ_h^{n−m} and no
  softmax, so it has a recurrent form with O(1) state per step (``algorithms.lm.retention``).

The models are matched in non-embedding parameters (the table lists each count): Mamba and
Mamba-2 are homogeneous stacks without feed-forwards, so they get more layers; RetNet's
retention has twice attention's value width, so its feed-forward is narrower. Training runs
use the parallel (training) forms; the length sweep times one forward + backward of a freshly
initialised model at each length, with the same number of tokens per batch.
"""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import Tracker, experiment
from algorithms.weeks.week05.common import (
    GPU, SMOKE, UNITS, ArchStudyConfig, StudyContext, Variant, measure_run, rounded)

MIXERS_CPU = (
    ("llama", "attention (LLaMA)", {}),
    ("retnet", "RetNet", {"mixer": "retnet", "d_ff": 88}),
    ("mamba", "Mamba", {"mixer": "mamba", "ffn": "none", "n_layers": 6}),
    ("mamba2", "Mamba-2", {"mixer": "mamba2", "ffn": "none", "n_layers": 7}),
)
"""(key, label, changes to the d=64, 4-layer baseline): each within 3% of its parameters."""


class MixerConfig(ArchStudyConfig):
    """``mixers``: (key, label, LMConfig changes); ``lengths``: sequence lengths of the sweep,
    each timed at ``sweep_tokens`` tokens per batch (batch = sweep_tokens / length)."""

    mixers: list[tuple[str, str, dict[str, Any]]] = [(k, lab, dict(c))
                                                     for k, lab, c in MIXERS_CPU]
    lengths: list[int] = [64, 128, 256, 512, 1024]
    sweep_tokens: int = 2048
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {**SMOKE, "lengths": [8, 16], "sweep_tokens": 32,
                  "mixers": [("llama", "attention", {}),
                             ("retnet", "RetNet", {"mixer": "retnet"}),
                             ("mamba", "Mamba", {"mixer": "mamba", "ffn": "none"}),
                             ("mamba2", "Mamba-2", {"mixer": "mamba2", "ffn": "none"})]},
        "gpu": {**GPU, "lengths": [256, 512, 1024, 2048, 4096, 8192], "sweep_tokens": 16384,
                "mixers": [("llama", "attention (LLaMA)", {}),
                           ("retnet", "RetNet", {"mixer": "retnet", "d_ff": 512}),
                           ("mamba", "Mamba", {"mixer": "mamba", "ffn": "none",
                                               "n_layers": 12}),
                           ("mamba2", "Mamba-2", {"mixer": "mamba2", "ffn": "none",
                                                  "n_layers": 14, "ssm_state": 64})]}}


@experiment(week=5, name="token-mixers", covers=(1, 4), config=MixerConfig, units=UNITS)
def token_mixers(config: MixerConfig, tracker: Tracker) -> dict[str, float]:
    """Validation loss over seeds, and time, FLOPs and memory per token against length, of
    attention, RetNet, Mamba and Mamba-2 at equal parameters."""
    import numpy as np
    import torch

    from algorithms.harness import ROW_COLUMNS, mean_ci, run_seed_study
    from algorithms.lm.model import LanguageModel
    from algorithms.lm.profiling import profile_step
    from algorithms.plotting import band_figure
    from algorithms.weeks.week05.figures import cost_vs_length

    context = StudyContext.load(config, tracker)
    variants = [Variant(key, label, changes) for key, label, changes in config.mixers]
    methods = [context.method(v, "mixers") for v in variants]
    study = run_seed_study(tracker, methods, config.seeds, measure_run, context.grid(),
                           prefix="mixers", description="mixers × seeds", x="train_step")

    rows, summary = [], {}
    for variant in variants:
        losses = study.scalars(variant.key, "val_loss")
        mean, half = mean_ci(losses[:, None])
        speed = float(np.mean(study.scalars(variant.key, "tokens_per_s")))
        rows.append([variant.label, context.n_params[variant.key], rounded(float(mean[0])),
                     rounded(float(half[0])), " ".join(f"{x:.3f}" for x in losses),
                     round(speed)])
        if (value := rounded(float(mean[0]))) is not None:
            summary[f"{variant.key}.val_loss"] = value
        summary[f"{variant.key}.n_params"] = context.n_params[variant.key]
        summary[f"{variant.key}.tokens_per_s"] = round(speed)
    tracker.log_table("mixers/val_loss", ["mixer", "non-embedding params", *ROW_COLUMNS,
                                          "training tokens/s"], rows)
    tracker.log_figure("mixers/curves", band_figure({"": study.bands("val_loss")[""]},
                                                    "nats / token", xlabel="optimizer steps"),
                       f"Validation loss against optimizer steps at equal non-embedding "
                       f"parameters, mean and 95% interval over {len(study.seeds)} seeds.")

    # the length sweep: fresh weights, the same tokens per batch at every length
    device = "cuda" if torch.cuda.is_available() else "cpu"
    vocab = context.data.vocab_size
    sweep: dict[str, dict[int, Any]] = {v.label: {} for v in variants}
    sweep_rows = []
    for variant in tracker.track(variants, total=len(variants), description="length sweep"):
        for length in config.lengths:
            torch.manual_seed(config.seed)
            model = LanguageModel(config.lm_config(vocab, **{**variant.changes,
                                                             "max_seq_len": length}))
            model = model.to(device)
            batch = max(config.sweep_tokens // length, 1)
            idx = torch.randint(0, vocab, (batch, length + 1), device=device)
            profile = profile_step(model, idx[:, :-1], idx[:, 1:], device=device)
            sweep[variant.label][length] = profile
            tokens_per_s = batch * length / (profile.step_ms / 1000)
            sweep_rows.append([variant.label, length, batch, round(tokens_per_s),
                               round(profile.peak_mib, 2), round(profile.flops_per_token)])
            tracker.log({f"mixers/sweep/{variant.key}/tokens_per_s": tokens_per_s,
                         f"mixers/sweep/{variant.key}/peak_mib": profile.peak_mib,
                         f"mixers/sweep/{variant.key}/flops_per_token":
                         profile.flops_per_token}, step=length, x="seq_len")
        last = sweep[variant.label][config.lengths[-1]]
        first = sweep[variant.label][config.lengths[0]]
        summary[f"{variant.key}.peak_mib_longest"] = round(last.peak_mib, 2)
        summary[f"{variant.key}.tokens_per_s_longest"] = round(
            config.sweep_tokens / (last.step_ms / 1000))
        summary[f"{variant.key}.flops_growth"] = round(last.flops_per_token /
                                                       first.flops_per_token, 3)
    tracker.log_table("mixers/length_sweep", ["mixer", "sequence length", "batch",
                                              "train tokens/s", "peak MiB",
                                              "FLOPs per token"], sweep_rows)
    tracker.log_figure("mixers/cost_vs_length", cost_vs_length(sweep, config.sweep_tokens),
                       f"One forward + backward of {config.sweep_tokens} tokens per batch "
                       f"against sequence length ({device}): training tokens/s, peak tensor "
                       f"memory and counted FLOPs per token (matrix products only).")
    summary["mixers.n_seeds"] = len(study.seeds)
    return summary
