"""``perplexity-vs-size``: the same data, tokens and schedule for models of increasing size, over
seeds, and the fitted law L(N) = E + A·N^(−α) with its uncertainty.

Kaplan et al. (2020), "Scaling Laws for Neural Language Models", eq. 1.1, write the loss of
a model with N non-embedding parameters trained to convergence as (N_c / N)^α_N; with the
irreducible term E of Hoffmann et al. (2022), eq. 2, restricted to N, L(N) = E + A·N^(−α)
(``algorithms.lm.scaling``). Here every size sees the same number of tokens, so the curve is
the loss at equal data, not at convergence: on the shipped ~1.7 MB TinyStories excerpt the
larger models are data- and step-limited, which flattens the fitted α. The 95% intervals come
from a bootstrap over seeds.
"""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import Tracker, experiment
from algorithms.harness import ROW_COLUMNS, Measurement, Method, run_seed_study
from algorithms.weeks.week08.base import UNITS
from algorithms.weeks.week08.common import (
    SIZE_MODELS,
    LMExperimentConfig,
    load_data,
    save_model,
    train_logged,
)

SIZES_CPU = (
    {"d_model": 32, "n_layers": 2, "n_heads": 2},
    {"d_model": 48, "n_layers": 2, "n_heads": 2},
    {"d_model": 64, "n_layers": 3, "n_heads": 4},
    {"d_model": 96, "n_layers": 3, "n_heads": 4},
    {"d_model": 128, "n_layers": 4, "n_heads": 4},
)


class SizesConfig(LMExperimentConfig):
    """``sizes``: model shapes (fields of LMConfig), smallest first; ``model`` holds what they
    share. Each is trained ``n_seeds`` times with seeds ``seed, seed + 1, …``."""

    sizes: list[dict[str, Any]] = [dict(size) for size in SIZES_CPU]
    n_seeds: int = 3
    n_boot: int = 200
    """Bootstrap resamples of the seeds for the fit's intervals."""
    model: dict[str, Any] = {"max_seq_len": 128}
    train: dict[str, Any] = {"steps": 150, "batch_size": 16, "block_size": 128, "lr": 3e-3,
                             "warmup_steps": 15, "beta2": 0.99, "eval_every": 25,
                             "eval_batches": 10, "log_every": 5}
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"vocab_size": 300, "n_seeds": 2, "n_boot": 8,
                  "sizes": [{"d_model": 16, "n_layers": 1, "n_heads": 2},
                            {"d_model": 24, "n_layers": 1, "n_heads": 2},
                            {"d_model": 32, "n_layers": 1, "n_heads": 2}],
                  "model": {"max_seq_len": 64},
                  "train": {"steps": 3, "batch_size": 4, "block_size": 32, "warmup_steps": 1,
                            "eval_every": 3, "eval_batches": 2, "log_every": 1}},
        "gpu": {"vocab_size": 4096, "n_seeds": 3,
                "sizes": [{"d_model": d, "n_layers": n, "n_heads": h} for d, n, h in
                          ((64, 2, 4), (128, 4, 4), (256, 4, 4), (384, 6, 6), (512, 8, 8),
                           (768, 8, 12))],
                "model": {"max_seq_len": 512},
                "train": {"steps": 5000, "batch_size": 64, "block_size": 512, "lr": 1e-3,
                          "warmup_steps": 200, "eval_every": 250, "log_every": 50}}}

    @property
    def seeds(self) -> range:
        return range(self.seed, self.seed + self.n_seeds)


def size_key(size: dict[str, Any]) -> str:
    return f"d{size['d_model']}_l{size['n_layers']}"


@experiment(week=8, name="perplexity-vs-size", covers=(2,), config=SizesConfig, units=UNITS,
            produces=(SIZE_MODELS,))
def perplexity_vs_size(config: SizesConfig, tracker: Tracker) -> dict[str, float]:
    """Validation loss of 5 model sizes at equal tokens over seeds, and the fitted L(N)."""
    import numpy as np
    import torch

    from algorithms.harness import mean_ci
    from algorithms.lm.model import LanguageModel
    from algorithms.lm.scaling import fit_with_uncertainty
    from algorithms.weeks.week08.figures import loss_vs_size

    data = load_data(config, tracker)
    store = tracker.artifact_dir(SIZE_MODELS)
    n_params: dict[str, int] = {}

    def trainer(size: dict[str, Any]):
        key = size_key(size)

        def run(seed: int):
            torch.manual_seed(seed)
            model = LanguageModel(config.lm_config(data.vocab_size, **size))
            n_params[key] = model.n_params(embeddings=False)
            run_config = config.train_config(seed=seed)
            result = train_logged(tracker, model, data, run_config, f"size/{key}/seed{seed}")
            if seed == config.seed:  # one model per size, for the generation study
                save_model(store / key, result, run_config, data)
            return result

        return run

    def measure(result, grid) -> Measurement:
        evals = {row["step"]: row["val_loss"] for row in result.history if "val_loss" in row}
        return Measurement(curves={"val_loss": np.array([evals.get(int(s), np.nan)
                                                         for s in grid])},
                           scalars={"val_loss": result.final_val_loss,
                                    "tokens_per_s": result.tokens_per_s})

    run_config = config.train_config()
    grid = np.array(sorted({0, *range(run_config.eval_every, run_config.steps,
                                      run_config.eval_every), run_config.steps}))
    methods = [Method(size_key(size), f"d={size['d_model']}, {size['n_layers']} layers",
                      trainer(size)) for size in config.sizes]
    study = run_seed_study(tracker, methods, config.seeds, measure, grid, prefix="sizes",
                           description="sizes × seeds", x="train_step")

    keys = [method.key for method in methods]
    counts = np.array([n_params[key] for key in keys], dtype=float)
    losses = np.stack([study.scalars(key, "val_loss") for key in keys], axis=1)  # (seeds, sizes)
    fit = fit_with_uncertainty(counts, losses, n_boot=config.n_boot, seed=config.seed)
    means, halves = mean_ci(losses)
    rows = [[method.label, int(n), round(float(m), 4), round(float(h), 4),
             " ".join(f"{x:.3f}" for x in losses[:, i]), round(float(fit.predict(n)), 4)]
            for i, (method, n, m, h) in enumerate(zip(methods, counts, means, halves))]
    tracker.log_table("sizes/val_loss", ["model", "non-embedding params",
                                         *ROW_COLUMNS, "fitted L(N)"], rows)
    tracker.log_table("sizes/fit", ["parameter", "estimate", "ci95_low", "ci95_high"], [
        ["E (irreducible loss)", round(fit.E, 4), round(fit.E_ci[0], 4), round(fit.E_ci[1], 4)],
        ["A", round(fit.A, 3), round(fit.A_ci[0], 3), round(fit.A_ci[1], 3)],
        ["alpha", round(fit.alpha, 4), round(fit.alpha_ci[0], 4), round(fit.alpha_ci[1], 4)]])
    tracker.log_figure("sizes/loss_vs_size", loss_vs_size(counts, losses, fit, [
        m.label for m in methods]), f"Validation loss after {run_config.steps} steps "
        f"({run_config.steps * run_config.batch_size * run_config.block_size:,} tokens) "
        f"against non-embedding parameters, mean and 95% interval over {len(study.seeds)} "
        f"seeds, with the fitted {fit.label()} ({fit.method}).")
    tracker.log_figure("sizes/curves", study_bands(study), "Validation loss against optimizer "
                       "steps for each model size, mean and 95% interval over seeds.")

    summary = {f"{key}.val_loss": round(float(m), 4) for key, m in zip(keys, means)}
    summary.update({f"{key}.n_params": int(n) for key, n in zip(keys, counts)})
    summary.update({f"fit.{name}": round(float(value), 4)
                    for name, value in fit.summary().items()})
    summary["sizes.n_seeds"] = len(study.seeds)
    summary["sizes.tokens_per_model"] = run_config.steps * run_config.batch_size * \
        run_config.block_size
    return summary


def study_bands(study):
    from algorithms.plotting import band_figure

    return band_figure(study.bands("val_loss", title="validation loss"), "nats / token",
                       xlabel="optimizer steps")
