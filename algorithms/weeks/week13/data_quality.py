"""``data-quality``: one language model, one token budget, different training data: clean
TinyStories, a fraction of its stories corrupted (words shuffled, or random tokens), or a
smaller unique set repeated for 2, 4 or 8 epochs; every run scored on clean validation text.

Fixed compute: every arm trains the same model (same initialisation at a seed) for the same
optimizer steps on the same batch shape, so it reads the same D training tokens with the same
learning-rate schedule; only the stream the batches are drawn from differs
(``algorithms.lm.corruption``). D is ``passes`` passes over the training stream (at most
``max_tokens``), and the clean arm reads the first D tokens of it, each about once.

* Quality. ``shuffled_words`` keeps each corrupted story's words and destroys its syntax;
  ``random_tokens`` replaces the story by uniform noise of the same length. A corrupted
  fraction f spends ~f of the budget on text unlike the validation text, and what the model
  learns from it may also pull it away from clean text.
* Quantity. Muennighoff et al. (2023), "Scaling Data-Constrained Language Models" (NeurIPS),
  train at fixed compute on U unique tokens repeated D/U times and find that up to ~4 epochs
  cost almost nothing against unique data. Their eq. 5 values repeated data as effective
  tokens D′ = U + U·R*·(1 − e^(−R/R*)), R = D/U − 1 repetitions beyond the first epoch, with
  R* ≈ 15.4 fitted to their runs (up to 9B parameters): their constant, not ours. The
  ``data/quantity`` table lists D′/D beside the measured loss of each repetition arm.

Batches are random windows (nanoGPT's ``get_batch``), so "epochs" is the expected number of
reads of each token, D/U, not an ordered pass. Which stories are corrupted is drawn per seed
(the seed spread then includes the luck of which stories were hit); at one seed the 25% arm's
stories are among the 50% arm's and both corruptions hit the same ones, so the arms compare
like with like. Δ vs clean is paired by seed (same initialisation and schedule).

What it can show: the shipped excerpt is ~400k training tokens, so the cpu profile is a tiny
model (~54k parameters) trained for one pass, ~800 steps of 8 × 64 tokens, not converged:
differences between arms are those of early training, where much of the loss is still the
unigram and bigram statistics that shuffled words partly keep, and a model this small has
little capacity to memorise even a 50k-token set read 8 times (Muennighoff et al. find that
excess parameters, too, lose value on repeated data).
Muennighoff et al.'s regime (models near compute-optimal, billions of tokens) is not
reproduced here, and with two seeds a 95% interval uses t = 12.7 (one degree of freedom), so
only large Δs are resolved. The gpu profile (a ~6M-parameter model, 100M tokens of the full
TinyStories file when ``[data] tinystories`` names it, three seeds) is the one to read
quantitatively; without that file its budget is one pass over the excerpt, a few dozen steps
of its 64 × 256-token batches, which shows nothing.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, ClassVar

from pydantic import model_validator

from algorithms.experiment import Tracker, experiment
from algorithms.weeks.week08.common import LMExperimentConfig, load_data, train_logged

UNITS = {"*delta*": "nats/token", "*loss*": "nats/token", "*tokens*": "tokens",
         "*epochs": "epochs", "*fraction": "", "*n_seeds": ""}

R_STAR = 15.4
"""Muennighoff et al. (2023)'s fitted R*_D (eq. 5): the repetitions at which repeated tokens'
value has decayed by 1/e. Their fit, quoted, not measured here."""

CORRUPTION_SEED = 1303
"""Mixed with the run's seed: which stories are corrupted, and how, is drawn per seed."""


class DataQualityConfig(LMExperimentConfig):
    """One model (``model``) and one token budget for every arm: clean, each kind in ``kinds``
    at each of ``fractions`` of the stories, and each of ``epochs`` repetitions; ``n_seeds``
    seeds each. The budget is ``passes`` × the training stream's length, at most
    ``max_tokens``, rounded to whole steps of ``train``'s batch."""

    kinds: list[str] = ["shuffled_words", "random_tokens"]
    fractions: list[float] = [0.25, 0.5]
    epochs: list[int] = [2, 4, 8]
    passes: float = 1.0
    max_tokens: int | None = None
    n_seeds: int = 2
    threads: int = 1
    """Intra-op threads while training (0: torch's default); one for these small models."""
    vocab_size: int = 512
    model: dict[str, Any] = {"d_model": 32, "n_layers": 3, "n_heads": 2, "max_seq_len": 64,
                             "multiple_of": 8, "tie_embeddings": True}
    train: dict[str, Any] = {"steps": 1, "batch_size": 8, "block_size": 64, "lr": 3e-3,
                             "beta2": 0.99, "eval_batches": 40, "log_every": 10}
    """``steps`` is replaced by the budget's; the rest is every arm's run. Batches of 8 × 64
    tokens: at one pass over the excerpt that is ~800 steps, where batches of 32 give ~200,
    after which this model's loss is still falling steeply and differs across seeds by more
    than the arms do."""
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"vocab_size": 300, "max_tokens": 2048,
                  "model": {"d_model": 16, "n_layers": 1, "n_heads": 2, "max_seq_len": 32},
                  "train": {"batch_size": 4, "block_size": 16, "eval_batches": 2,
                            "log_every": 1}},
        "gpu": {"vocab_size": 4096, "max_tokens": 100_000_000, "n_seeds": 3, "threads": 0,
                "model": {"d_model": 256, "n_layers": 6, "n_heads": 8, "max_seq_len": 256,
                          "multiple_of": 32},
                "train": {"batch_size": 64, "block_size": 256, "lr": 1e-3, "beta2": 0.95,
                          "eval_batches": 40, "log_every": 20}}}

    @model_validator(mode="after")
    def _arms(self) -> DataQualityConfig:
        from algorithms.lm.corruption import KINDS

        if unknown := [kind for kind in self.kinds if kind not in KINDS]:
            raise ValueError(f"unknown corruption {unknown[0]!r}; known: {', '.join(KINDS)}")
        if bad := [f for f in self.fractions if not 0 < f <= 1]:
            raise ValueError(f"fractions of stories must be in (0, 1], got {bad[0]}")
        if bad := [e for e in self.epochs if e < 2]:
            raise ValueError(f"repetition arms need at least 2 epochs, got {bad[0]}")
        if self.passes <= 0 or self.n_seeds < 1 or (self.max_tokens or 1) < 1:
            raise ValueError(f"need passes > 0, n_seeds >= 1, max_tokens >= 1, got "
                             f"{self.passes}, {self.n_seeds}, {self.max_tokens}")
        return self


def fraction_key(fraction: float) -> str:
    """``f25``: a fraction of stories as a metric-key word (percent)."""
    return f"f{round(100 * fraction)}"


def effective_tokens(unique: float, seen: float, r_star: float = R_STAR) -> float:
    """Muennighoff et al. (2023), eq. 5: D′ = U + U·R*·(1 − exp(−R/R*)) with R = D/U − 1
    repetitions (0 for a single epoch); D′ = D when no token is repeated (U ≥ D: the tokens
    never read count for nothing)."""
    unique = min(unique, seen)
    repetitions = seen / unique - 1.0
    return unique + unique * r_star * (1.0 - math.exp(-repetitions / r_star))


@experiment(week=13, name="data-quality", covers=(3,), config=DataQualityConfig, units=UNITS)
def data_quality(config: DataQualityConfig, tracker: Tracker) -> dict[str, float]:
    """Clean validation loss after clean, corrupted and repeated training data, fixed compute.

    One model size and one token budget for every arm, over seeds."""
    import numpy as np
    import torch

    from algorithms.attention.profiling import intra_op_threads
    from algorithms.harness import Measurement, Method, curve_of, run_seed_study
    from algorithms.lm.corruption import corrupt_stories, repeated_subset
    from algorithms.lm.model import LanguageModel

    data = load_data(config, tracker)
    base = config.train_config()
    tokens_per_step = base.batch_size * base.block_size
    budget = config.passes * len(data.train)
    if config.max_tokens is not None:
        budget = min(budget, config.max_tokens)
    steps = max(1, round(budget / tokens_per_step))
    seen = steps * tokens_per_step
    eval_every = max(1, steps // 8)
    grid = np.array(sorted({0, *range(eval_every, steps, eval_every), steps}))
    # the unique-data arm: the first D tokens (whole stories), each read about once
    pool = repeated_subset(data.train, 1, data.eot_id, budget=seen)

    def stream_of(arm: dict[str, Any], seed: int) -> np.ndarray:
        if arm["kind"] == "clean":
            return pool
        if arm["kind"] == "repeat":
            return repeated_subset(data.train, arm["epochs"], data.eot_id, budget=seen)
        rng = np.random.default_rng([seed, CORRUPTION_SEED])
        return corrupt_stories(pool, data.eot_id, arm["fraction"], arm["kind"], rng,
                               data.tokenizer)

    def trainer(arm: dict[str, Any], key: str):
        def run(seed: int) -> tuple[Any, int]:
            stream = stream_of(arm, seed)
            torch.manual_seed(seed)  # every arm starts from the same weights at a seed
            model = LanguageModel(config.lm_config(data.vocab_size))
            run_config = config.train_config(seed=seed, steps=steps,
                                             warmup_steps=max(1, steps // 10),
                                             eval_every=eval_every)
            with intra_op_threads(config.threads):
                # scored on data.val, the clean held-out text, whatever it trained on
                result = train_logged(tracker, model, replace(data, train=stream), run_config,
                                      f"data/{key}/seed{seed}")
            return result, len(stream)
        return run

    def measure(outcome: tuple[Any, int], grid: np.ndarray) -> Measurement:
        result, unique = outcome
        val = {int(row["step"]): row["val_loss"] for row in result.history if "val_loss" in row}
        train = [(row["step"], row["train_loss"]) for row in result.history
                 if "train_loss" in row]
        train_steps, train_losses = (np.array(column, dtype=float) for column in zip(*train))
        train_curve = curve_of(train_steps, train_losses, grid, window=5)
        return Measurement(
            curves={"val_loss": np.array([val.get(int(s), np.nan) for s in grid]),
                    "train_loss": train_curve},
            scalars={"val_loss": float(result.final_val_loss),
                     "train_loss": float(train_curve[-1]), "unique_tokens": float(unique),
                     "epochs": seen / unique})

    arms: list[tuple[str, str, dict[str, Any]]] = [("clean", "clean", {"kind": "clean"})]
    for kind in config.kinds:
        word = "shuffled" if kind == "shuffled_words" else "random"
        name = "shuffled words" if kind == "shuffled_words" else "random tokens"
        arms += [(f"{word}/{fraction_key(f)}", f"{name} {f:.0%}",
                  {"kind": kind, "fraction": f}) for f in config.fractions]
    arms += [(f"repeat/e{e}", f"repeated ×{e}", {"kind": "repeat", "epochs": e})
             for e in config.epochs]
    methods = [Method(key, label, trainer(arm, key)) for key, label, arm in arms]
    study = run_seed_study(tracker, methods, range(config.seed, config.seed + config.n_seeds),
                           measure, grid, prefix="data", description="data arms × seeds",
                           x="train_step")
    return summarise(config, tracker, study, arms, seen, len(data.train))


def summarise(config: DataQualityConfig, tracker: Tracker, study: Any,
              arms: list[tuple[str, str, dict[str, Any]]], seen: int, n_train: int
              ) -> dict[str, float]:
    """The quality and quantity tables, the figures, and the summary: every arm's final clean
    validation loss and its Δ vs clean, paired by seed."""
    import numpy as np

    from algorithms.harness import mean_ci
    from algorithms.plotting import band_figure
    from algorithms.weeks.week13.data_figures import final_loss

    loss = {key: study.scalars(key, "val_loss") for key, _, _ in arms}
    clean = loss["clean"]

    def stat(values: np.ndarray) -> tuple[float, float]:
        mean, half = mean_ci(np.asarray(values, dtype=float)[:, None])
        return float(mean[0]), float(half[0])

    summary: dict[str, float] = {}
    rows: dict[str, list[Any]] = {}
    for key, label, arm in arms:
        mean, half = stat(loss[key])
        delta, delta_half = stat(loss[key] - clean)
        prefix = key.replace("/", ".")
        summary[f"{prefix}.val_loss"] = round(mean, 4)
        if key != "clean":
            summary[f"{prefix}.delta"] = round(delta, 4)
            summary[f"{prefix}.delta_ci95"] = round(delta_half, 4)
        rows[key] = [round(mean, 4), round(half, 4), round(delta, 4), round(delta_half, 4),
                     " ".join(f"{v:.3f}" for v in loss[key])]

    quality = [(key, label, arm) for key, label, arm in arms if arm["kind"] != "repeat"]
    tracker.log_table(
        "data/quality",
        ["arm", "corruption", "stories corrupted", "tokens seen", "clean val loss", "± 95% CI",
         "Δ vs clean", "Δ ± 95% CI", "per seed"],
        [[label, arm["kind"].replace("_", " "), f"{arm.get('fraction', 0.0):.0%}", seen,
          *rows[key]] for key, label, arm in quality])
    quantity = [(key, label, arm) for key, label, arm in arms if arm["kind"] in ("clean",
                                                                               "repeat")]
    quantity_rows = []
    for key, label, _ in quantity:
        unique = float(np.mean(study.scalars(key, "unique_tokens")))
        effective = effective_tokens(unique, seen)
        if key != "clean":
            summary[f"{key.replace('/', '.')}.epochs"] = round(seen / unique, 3)
            summary[f"{key.replace('/', '.')}.effective_fraction"] = round(effective / seen, 4)
        quantity_rows.append([label, int(unique), seen, round(seen / unique, 2),
                              int(effective), round(effective / seen, 3), *rows[key][:4],
                              round(float(np.mean(study.scalars(key, "train_loss"))), 4)])
    tracker.log_table(
        "data/quantity",
        ["arm", "unique tokens U", "tokens seen D", "epochs D/U",
         "Muennighoff D′ (eq. 5, their R* = 15.4)", "D′/D", "clean val loss", "± 95% CI",
         "Δ vs clean", "Δ ± 95% CI", "final train loss (own stream)"], quantity_rows)

    n = len(study.seeds)
    lines: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for kind in config.kinds:
        keys = [key for key, _, arm in quality if arm["kind"] == kind]
        x = np.array([0.0] + [a["fraction"] for k, _, a in quality if k in keys])
        lines[kind.replace("_", " ")] = (x, np.stack([clean] + [loss[k] for k in keys], axis=1))
    repeat = [key for key, _, arm in quantity if arm["kind"] == "repeat"]
    epochs = np.array([seen / np.mean(study.scalars(k, "unique_tokens"))
                       for k in ["clean", *repeat]])
    tracker.log_figure(
        "data/final_loss",
        final_loss(lines, {"repeated data": (epochs, np.stack([loss[k] for k in
                                                                ["clean", *repeat]], axis=1))}),
        f"Final validation loss on clean TinyStories text after {seen:,} training tokens (the "
        f"same model, steps and schedule in every arm), mean and 95% interval over {n} seeds "
        f"(dots: seeds). Left: a fraction of the training stories corrupted, 0 being clean. "
        f"Right: the same tokens drawn from 1/k of the unique stories, read k times.")
    panels = {
        "corrupted stories": {label: (study.grid, study.curves(key, "val_loss"))
                              for key, label, _ in quality},
        "repeated data": {label: (study.grid, study.curves(key, "val_loss"))
                          for key, label, _ in quantity}}
    tracker.log_figure(
        "data/curves",
        band_figure(panels, "clean validation loss (nats/token)", xlabel="optimizer steps"),
        f"Validation loss on clean text during training, every arm at the same {seen:,}-token "
        f"budget: corrupted-story arms (left) and repeated-data arms (right), each beside the "
        f"clean run; mean and 95% interval over {n} seeds.")
    summary["data.tokens_seen"] = seen
    summary["data.unique_tokens"] = float(np.mean(study.scalars("clean", "unique_tokens")))
    summary["data.train_tokens"] = n_train
    summary["data.n_seeds"] = n
    return summary
