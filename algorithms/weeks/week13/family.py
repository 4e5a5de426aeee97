"""``scaling-family``: week 8's language model at six sizes and three compute budgets, and the
scaling laws fitted to it: Kaplan's power laws, Chinchilla's IsoFLOP minima (approach 2) and its
parametric L(N, D) (approach 3), with bootstrap intervals, beside the published exponents.

The grid is Hoffmann et al.'s (2022) IsoFLOP design: for each compute budget C, every size N
trains on D = C / (6N) tokens (C ≈ 6ND: two FLOPs per parameter per token forward, four
backward), with a cosine schedule as long as the run, so each (N, D) is a finished run rather
than a checkpoint of a longer one (their §3.1 finding about schedule length). N counts every
parameter, embeddings included, as Chinchilla does; Kaplan's laws use the non-embedding count,
as Kaplan does (Pearce & Song 2024 trace the two papers' different exponents partly to that).

The shipped TinyStories excerpt is ~300k training tokens: the smallest models at the largest
budget read it several times over, so the family is data-limited, and the summary reports the
epochs of the most repeated run. Exponents from ~10⁵–10⁶-parameter models trained for minutes
are not Chinchilla's; they are reported beside the published ones, not as a replication.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from algorithms.experiment import Tracker, experiment
from algorithms.weeks.week08.common import LMExperimentConfig, load_data, train_logged

UNITS = {"*loss*": "nats/token", "*params*": "parameters", "*tokens*": "tokens",
         "*flops*": "FLOPs", "*epochs": "epochs"}

SIZES_CPU = ({"d_model": 12, "n_layers": 2, "n_heads": 2},
             {"d_model": 16, "n_layers": 2, "n_heads": 2},
             {"d_model": 24, "n_layers": 2, "n_heads": 2},
             {"d_model": 32, "n_layers": 3, "n_heads": 2},
             {"d_model": 48, "n_layers": 3, "n_heads": 4},
             {"d_model": 64, "n_layers": 4, "n_heads": 4})
"""~10k to ~230k parameters with a 512-token BPE and tied embeddings: small enough that the
compute-optimal size of the cpu budgets (~20 tokens per parameter) falls inside the grid."""


class FamilyConfig(LMExperimentConfig):
    """``sizes`` (LMConfig fields) × ``budgets`` (training FLOPs C = 6ND); every run uses
    ``train`` with its step count set so that D = C / (6N), at least ``min_steps``."""

    sizes: list[dict[str, Any]] = [dict(s) for s in SIZES_CPU]
    budgets: list[float] = [2e11, 4e11, 8e11]
    min_steps: int = 20
    n_boot: int = 200
    threads: int = 1
    """Intra-op threads while training (0: torch's default). These models are too small for a
    second thread to help, and OpenMP threads spin-waiting on a shared core slow them badly;
    one thread per run also lets ``forge run week13 --jobs 2`` use both cores."""
    vocab_size: int = 512
    model: dict[str, Any] = {"max_seq_len": 64, "multiple_of": 8, "tie_embeddings": True}
    train: dict[str, Any] = {"steps": 100, "batch_size": 32, "block_size": 64, "lr": 3e-3,
                             "beta2": 0.99, "eval_batches": 10, "log_every": 10}
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"vocab_size": 300, "n_boot": 8, "min_steps": 2,
                  "sizes": [{"d_model": d, "n_layers": 1, "n_heads": 2}
                            for d in (8, 12, 16, 20, 24, 32)],
                  "budgets": [2e7, 4e7, 8e7], "model": {"max_seq_len": 32, "multiple_of": 8},
                  "train": {"steps": 2, "batch_size": 4, "block_size": 16, "eval_batches": 2,
                            "log_every": 1}},
        "gpu": {"vocab_size": 4096, "n_boot": 500, "threads": 0,
                "sizes": [{"d_model": d, "n_layers": n, "n_heads": h} for d, n, h in
                          ((128, 4, 4), (192, 4, 4), (256, 6, 4), (384, 6, 6), (512, 8, 8),
                           (640, 10, 10), (768, 12, 12))],
                "budgets": [3e15, 1e16, 3e16, 1e17], "model": {"max_seq_len": 512},
                "train": {"steps": 1000, "batch_size": 64, "block_size": 512, "lr": 1e-3,
                          "eval_batches": 20, "log_every": 50}}}


def size_key(size: dict[str, Any]) -> str:
    return f"d{size['d_model']}_l{size['n_layers']}"


def budget_key(budget: float) -> str:
    """``c1.6e11``: a budget as a metric-key word."""
    return "c" + f"{budget:.2g}".replace("+", "")


def steps_for(budget: float, n_params: int, tokens_per_step: int, min_steps: int) -> int:
    """Optimizer steps giving D = C / (6N) training tokens (rounded, at least ``min_steps``)."""
    return max(min_steps, round(budget / (6 * n_params * tokens_per_step)))


@experiment(week=13, name="scaling-family", covers=(1,), config=FamilyConfig, units=UNITS)
def scaling_family(config: FamilyConfig, tracker: Tracker) -> dict[str, float]:
    """Final validation loss of every (size, compute budget) run, and the fitted laws."""
    import torch

    from algorithms.attention.profiling import intra_op_threads
    from algorithms.lm.model import LanguageModel

    data = load_data(config, tracker)
    base = config.train_config()
    tokens_per_step = base.batch_size * base.block_size
    runs: list[dict[str, Any]] = []
    jobs = [(size, budget) for budget in config.budgets for size in config.sizes]
    for size, budget in tracker.track(jobs, total=len(jobs), description="sizes × budgets"):
        torch.manual_seed(config.seed)
        model = LanguageModel(config.lm_config(data.vocab_size, **size))
        n_total, n_core = model.n_params(), model.n_params(embeddings=False)
        steps = steps_for(budget, n_total, tokens_per_step, config.min_steps)
        run = config.train_config(steps=steps, warmup_steps=max(1, steps // 10),
                                  eval_every=max(1, steps // 4))
        prefix = f"family/{budget_key(budget)}/{size_key(size)}"
        with intra_op_threads(config.threads):
            result = train_logged(tracker, model, data, run, prefix)
        tokens = steps * tokens_per_step
        runs.append({"size": size_key(size), "budget": budget, "n_params": n_total,
                     "n_params_non_embedding": n_core, "tokens": tokens,
                     "flops": 6.0 * n_total * tokens, "loss": result.final_val_loss,
                     "epochs": tokens / len(data.train)})
    return summarise(config, tracker, runs)


def summarise(config: FamilyConfig, tracker: Tracker, runs: list[dict[str, Any]]
              ) -> dict[str, float]:
    """Tables, figures and the fits of the family's runs (see ``fits.py``)."""
    from algorithms.weeks.week13.fits import fit_family

    tracker.log_table("family/runs", ["size", "compute budget (FLOPs)", "parameters",
                                      "non-embedding parameters", "tokens", "epochs",
                                      "val loss"],
                      [[r["size"], f"{r['budget']:.2g}", r["n_params"],
                        r["n_params_non_embedding"], r["tokens"], round(r["epochs"], 2),
                        round(r["loss"], 4) if math.isfinite(r["loss"]) else None]
                       for r in runs])
    summary = fit_family(config, tracker, runs)
    summary["family.n_runs"] = len(runs)
    summary["family.max_epochs"] = round(max(r["epochs"] for r in runs), 2)
    return summary
