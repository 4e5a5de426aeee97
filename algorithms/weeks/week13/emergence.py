"""``emergence``: one task family, one set of models of growing size, and two pictures of the same
answers: exact match, which looks like an ability switching on at some size, and per-token
measures, which change smoothly.

Wei et al. (2022), "Emergent Abilities of Large Language Models", plot few-shot exact match
against scale and see flat-then-sudden curves; Schaeffer, Miranda & Koyejo (2023), "Are Emergent
Abilities of Large Language Models a Mirage?", show that a nonlinear metric of a smoothly
improving model does that by itself: if each of an answer's L tokens is right with probability
p, exact match ≈ p^L (their eq. 2). The experiment trains week 8's ``LanguageModel`` at each of
``sizes`` on a stream of addition problems of widths 1 .. ``max_width`` (answers reversed, Lee et
al. 2023; ``algorithms.emergence``), every size for the same steps on the same problems, and
scores every model at every width four ways (``algorithms.emergence.metrics``): exact match of
the greedy answer, teacher-forced per-token accuracy, the log-likelihood of the right answer,
and the token edit distance of the greedy answer. p^L from the per-token accuracy is tabled
beside the exact match it predicts.

What it can show: the models are small (thousands to hundreds of thousands of parameters) and
trained for a fixed number of steps, so "size" here is also "how far a model of that size gets
in that many steps". The question the tables answer is whether, at the widths with the
longest answers, exact match stays near zero while the per-token measures already move. It is Schaeffer et al.'s argument
reproduced on a task whose answer length we set, not a claim about which abilities large
models have. Sharpness, in the thresholds table, is the largest share of a metric's total
change across sizes made between two adjacent sizes (1: all of it in one step).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import model_validator

from algorithms.experiment import ExperimentConfig, Tracker, experiment

UNITS = {"*exact_match": "", "*token_acc": "", "*answer_logprob": "nats",
         "*edit_distance": "tokens", "*params": "parameters", "*sharpness": "",
         "*reached": "", "*n_seeds": "", "*n_test": "problems"}

METRICS = (("exact_match", "exact match (greedy answer)"),
           ("token_acc", "per-token accuracy (teacher-forced)"),
           ("answer_logprob", "log P(right answer) (nats)"),
           ("edit_distance", "token edit distance (greedy answer)"))
"""Each score of a model at a width: its name in summaries and its label in tables."""

THRESHOLD = 0.5
"""Exact match at which a width counts as solved, for the thresholds table."""


class EmergenceConfig(ExperimentConfig):
    """``sizes`` as (d_model, n_layers) pairs (heads of ``head_dim``), each trained ``n_seeds``
    times for ``steps`` steps of ``batch_size`` fresh problems of widths 1 .. ``max_width``;
    scored on ``n_test`` held-out problems of each width."""

    max_width: int = 3
    sizes: list[tuple[int, int]] = [(16, 1), (32, 1), (32, 2), (48, 2), (64, 2), (96, 2)]
    head_dim: int = 16
    steps: int = 2000
    batch_size: int = 64
    lr: float = 1e-3
    warmup_steps: int = 200
    weight_decay: float = 0.1
    log_every: int = 50
    n_test: int = 500
    n_seeds: int = 2
    threads: int = 1
    """Intra-op threads while training (0: torch's default); one for these small models."""
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"max_width": 2, "sizes": [(8, 1), (16, 1), (16, 2)], "head_dim": 8, "steps": 12,
                  "batch_size": 16, "warmup_steps": 2, "log_every": 4, "n_test": 20},
        "gpu": {"max_width": 5, "sizes": [(32, 2), (64, 2), (128, 2), (192, 3), (256, 4),
                                          (384, 4), (512, 6)],
                "head_dim": 32, "steps": 20_000, "batch_size": 256, "warmup_steps": 1000,
                "log_every": 200, "n_test": 2000, "n_seeds": 3, "threads": 0}}

    @model_validator(mode="after")
    def _sizes(self) -> EmergenceConfig:
        if bad := [s for s in self.sizes if s[0] % self.head_dim or s[1] < 1]:
            raise ValueError(f"size {bad[0]}: d_model must be a multiple of head_dim "
                             f"{self.head_dim} and n_layers >= 1")
        if len(set(self.sizes)) != len(self.sizes) or len(self.sizes) < 2:
            raise ValueError("need at least two distinct sizes")
        if self.max_width < 1 or self.steps < 1 or self.n_seeds < 1 or self.n_test < 1:
            raise ValueError(f"need max_width, steps, n_seeds, n_test >= 1, got "
                             f"{self.max_width}, {self.steps}, {self.n_seeds}, {self.n_test}")
        return self


def sharpness(values: Any) -> float:
    """The largest share of the total change of ``values`` (a metric's means, ordered by size)
    made between two adjacent entries: 1 when one step makes all of it, 1/(n − 1) when every
    step makes the same; 0 when nothing changes."""
    import numpy as np

    steps = np.abs(np.diff(np.asarray(values, dtype=float)))
    total = steps.sum()
    return float(steps.max() / total) if total > 0 else 0.0


@experiment(week=13, name="emergence", covers=(2, 4), config=EmergenceConfig, units=UNITS)
def emergence(config: EmergenceConfig, tracker: Tracker) -> dict[str, float]:
    """Exact match, per-token accuracy, answer log-likelihood and edit distance of every model
    size at every addition width, over seeds."""
    import numpy as np
    import torch

    from algorithms.attention.profiling import intra_op_threads
    from algorithms.emergence.metrics import score
    from algorithms.emergence.tasks import VOCAB_SIZE, held_out_set, sequence_length
    from algorithms.emergence.train import train_addition
    from algorithms.harness import Measurement, Method, curve_of, run_seed_study
    from algorithms.lm.config import LMConfig
    from algorithms.lm.model import LanguageModel
    from algorithms.lm.train import TrainConfig
    from algorithms.weeks.week08.common import device

    where = device()
    widths = range(1, config.max_width + 1)
    tests = {k: held_out_set(k, config.n_test) for k in widths}
    grid = np.array(sorted({0, *range(config.log_every, config.steps, config.log_every),
                            config.steps}))

    def trainer(d_model: int, n_layers: int, key: str):
        def run(seed: int) -> tuple[LanguageModel, list[dict[str, float]]]:
            torch.manual_seed(seed)
            model = LanguageModel(LMConfig(
                vocab_size=VOCAB_SIZE, d_model=d_model, n_layers=n_layers,
                n_heads=d_model // config.head_dim, max_seq_len=sequence_length(config.max_width),
                multiple_of=8))
            run_config = TrainConfig(steps=config.steps, batch_size=config.batch_size,
                                     block_size=sequence_length(config.max_width), lr=config.lr,
                                     warmup_steps=config.warmup_steps,
                                     weight_decay=config.weight_decay,
                                     log_every=config.log_every, seed=seed)

            def on_log(row: dict[str, float]) -> None:
                tracker.log({f"emergence/{key}/seed{seed}/{name}": row[name]
                             for name in ("train_loss", "lr")}, step=int(row["step"]),
                            x="train_step")

            with intra_op_threads(config.threads):
                history = train_addition(model, config.max_width, run_config, where, on_log)
            return model, history
        return run

    def measure(outcome: tuple[Any, list[dict[str, float]]], grid: np.ndarray) -> Measurement:
        model, history = outcome
        steps, losses = (np.array(column, dtype=float) for column in zip(
            *[(row["step"], row["train_loss"]) for row in history]))
        scalars = {"params": float(model.n_params())}
        for k in widths:
            means = score(model, tests[k], k, where).means()
            scalars.update({f"w{k}.{name}": value for name, value in means.items()})
        return Measurement(curves={"train_loss": curve_of(steps, losses, grid, window=3)},
                           scalars=scalars)

    methods = [Method(f"d{d}_l{n}", f"d={d}, {n} layer{'s' * (n > 1)}", trainer(d, n, f"d{d}_l{n}"))
               for d, n in config.sizes]
    study = run_seed_study(tracker, methods, range(config.seed, config.seed + config.n_seeds),
                           measure, grid, prefix="emergence", description="sizes × seeds",
                           x="train_step")
    return summarise(config, tracker, study, methods)


def summarise(config: EmergenceConfig, tracker: Tracker, study: Any, methods: list[Any]
              ) -> dict[str, float]:
    """The scores table (every size × width, with p^L beside exact match), the thresholds
    table, the two-pictures and training figures, and the summary."""
    import numpy as np

    from algorithms.emergence.tasks import answer_length
    from algorithms.harness import mean_ci
    from algorithms.plotting import band_figure
    from algorithms.weeks.week13.emergence_figures import two_pictures

    methods = sorted(methods, key=lambda m: float(np.mean(study.scalars(m.key, "params"))))
    params = np.array([float(np.mean(study.scalars(m.key, "params"))) for m in methods])
    widths = list(range(1, config.max_width + 1))
    n = len(study.seeds)

    def values(name: str, k: int) -> np.ndarray:
        """(seeds, sizes): score ``name`` at width ``k``."""
        return np.stack([study.scalars(m.key, f"w{k}.{name}") for m in methods], axis=1)

    def stat(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return mean_ci(np.asarray(x, dtype=float))

    summary: dict[str, float] = {}
    rows = []
    for k in widths:
        em, em_half = stat(values("exact_match", k))
        acc, acc_half = stat(values("token_acc", k))
        p_l = np.mean(values("independent_exact_match", k), axis=0)
        logprob, _ = stat(values("answer_logprob", k))
        edit, _ = stat(values("edit_distance", k))
        forced = np.mean(values("exact_match_forced", k), axis=0)
        for i, m in enumerate(methods):
            rows.append([m.label, int(params[i]), k, answer_length(k), round(float(em[i]), 3),
                         round(float(em_half[i]), 3), round(float(p_l[i]), 3),
                         round(float(acc[i]), 3), round(float(acc_half[i]), 3),
                         round(float(logprob[i]), 3), round(float(edit[i]), 3),
                         round(float(forced[i]), 3)])
            prefix = m.summary_key(f"w{k}")
            summary[f"{prefix}.exact_match"] = round(float(em[i]), 4)
            summary[f"{prefix}.independent_exact_match"] = round(float(p_l[i]), 4)
            summary[f"{prefix}.token_acc"] = round(float(acc[i]), 4)
            summary[f"{prefix}.answer_logprob"] = round(float(logprob[i]), 4)
            summary[f"{prefix}.edit_distance"] = round(float(edit[i]), 4)
    tracker.log_table(
        "emergence/scores",
        ["model", "parameters", "width (digits per operand)", "answer tokens L", "exact match",
         "± 95% CI", "p^L (from per-token accuracy)", "per-token accuracy", "± 95% CI",
         "log P(right answer) (nats)", "token edit distance", "exact match, teacher-forced"],
        rows)

    threshold_rows = []
    for k in widths:
        em = np.mean(values("exact_match", k), axis=0)
        solved = np.flatnonzero(em >= THRESHOLD)
        first = methods[solved[0]].label if solved.size else "none"
        sharp = {name: sharpness(np.mean(values(name, k), axis=0)) for name, _ in METRICS}
        threshold_rows.append([k, answer_length(k), first,
                               int(params[solved[0]]) if solved.size else "—",
                               *[round(sharp[name], 3) for name, _ in METRICS]])
        summary[f"emergence.w{k}.solved_reached"] = int(solved.size > 0)
        if solved.size:
            summary[f"emergence.w{k}.solved_params"] = int(params[solved[0]])
        for name, _ in METRICS:
            summary[f"emergence.w{k}.{name}.sharpness"] = round(sharp[name], 4)
    tracker.log_table(
        "emergence/thresholds",
        ["width", "answer tokens L", f"smallest model with exact match ≥ {THRESHOLD:g}",
         "its parameters", *[f"sharpness: {label}" for _, label in METRICS]], threshold_rows)

    tracker.log_figure(
        "emergence/two-pictures",
        two_pictures(params, {k: {name: values(name, k) for name, _ in METRICS}
                              for k in widths},
                     {k: values("independent_exact_match", k) for k in widths},
                     dict(METRICS)),
        f"The same models, scored two ways: {len(methods)} sizes trained for the same "
        f"{config.steps:,} steps on addition of 1- to {config.max_width}-digit numbers, each "
        f"scored on {config.n_test} held-out problems per width; mean and 95% interval over "
        f"{n} seeds (dots: seeds). Exact match (top left, dotted: p^L from the per-token "
        f"accuracy) against per-token accuracy, the log-likelihood of the right answer and the "
        f"token edit distance of the greedy answer.")
    tracker.log_figure(
        "emergence/training",
        band_figure({"training": {m.label: (study.grid, study.curves(m.key, "train_loss"))
                                  for m in methods}},
                    "answer cross-entropy (nats/token)", xlabel="optimizer steps", logy=True),
        f"Training loss on the answer digits of fresh problems (widths 1 to "
        f"{config.max_width} mixed), every size on the same problem stream; mean and 95% "
        f"interval over {n} seeds.")
    for m, p in zip(methods, params):
        summary[m.summary_key("params")] = int(p)
    summary["emergence.n_seeds"] = n
    summary["emergence.n_test"] = config.n_test
    return summary
