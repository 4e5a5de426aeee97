"""``preference-optimization``: DPO, IPO, SimPO and KTO trained on the same preference pairs from
the same base model, each at one or more β, judged on held-out prompts by the gold reward and
the KL from the reference.

The pairs are week 9's ``preference-data`` (``prefs:sentiment-pairs``): continuations of story
openings by week 8's base model, the gold reward VADER's compound sentiment, the labels by the
``annotator`` of choice (noise-free ``gold`` by default). Each method starts from a copy of the
base model, which stays frozen as the reference π_ref, and trains on the train prompts' pairs
with its loss (``algorithms.preference.losses``; the trainer in
``algorithms.preference.offline``):

* DPO (Rafailov et al. 2023, eq. 7): −log σ(β Δ), Δ = log π/π_ref(y_w) − log π/π_ref(y_l);
* IPO (Azar et al. 2023, eq. 17): (Δ − 1/(2β))², which stops at a margin of 1/(2β);
* SimPO (Meng et al. 2024, eq. 6): −log σ(β/|y_w| log π(y_w) − β/|y_l| log π(y_l) − γ), no
  reference;
* KTO (Ethayarajh et al. 2024, eq. 8): each pair's y_w desirable and y_l undesirable, unpaired,
  against the reference point z₀ of mismatched pairs.

Judged three ways on the test prompts, over ``n_seeds`` seeds: the **preference accuracy** (the
share of held-out pairs whose implicit reward orders them as the gold reward does), the **gold
reward** of ``n_eval_samples`` sampled completions per prompt, and their **KL** estimate
E[log π(y|x) − log π_ref(y|x)]; the base model's own samples give the starting point (KL 0).
The change of the held-out chosen and rejected log-likelihoods, log π(y) − log π_ref(y) on the
test pairs ordered by the gold reward, is tabled beside them (the training curves log the same
on each minibatch): DPO-type losses often push both down together (the margin grows while both fall; Pal et al. 2024, "Smaug",
§3; Rafailov et al. 2024).

What it can show: a small model, a few hundred pairs of short continuations and a lexicon for a
judge; the methods can be compared with each other on one task at matched data and steps, and
the β dependence read off, but a ranking of the methods here is a ranking on this task.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import model_validator

from algorithms.experiment import ExperimentConfig, InputError, Tracker, experiment
from algorithms.weeks.week08.common import BASE_MODEL
from algorithms.weeks.week09.common import PAIRS_ARTIFACT


UNITS = {"*preference_accuracy": "", "*gold_reward": "VADER compound", "*kl": "nats",
         "*length": "tokens", "*_delta": "nats"}

LABELS = {"dpo": "DPO", "ipo": "IPO", "simpo": "SimPO", "kto": "KTO"}


def method_key(method: str, beta: float) -> str:
    """``dpo_beta0.1``: a run's name in metrics and summaries."""
    return f"{method}_beta{beta:g}"


class PreferenceOptimizationConfig(ExperimentConfig):
    """``runs`` as (method, β) pairs, each trained ``steps`` steps of ``batch_size`` pairs at
    ``lr`` (SimPO's margin ``gamma``) on ``annotator``'s labels, ``n_seeds`` times; judged by
    ``n_eval_samples`` completions of up to ``max_new_tokens`` per test prompt."""

    runs: list[tuple[str, float]] = [("dpo", 0.1), ("dpo", 0.5), ("ipo", 0.05), ("ipo", 0.1),
                                     ("simpo", 2.0), ("kto", 0.1)]
    annotator: str = "gold"
    steps: int = 150
    batch_size: int = 16
    lr: float = 1e-4
    gamma: float = 0.5
    log_every: int = 10
    n_eval_samples: int = 4
    max_new_tokens: int = 32
    n_seeds: int = 3
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"runs": [("dpo", 0.1), ("ipo", 0.1), ("simpo", 2.0), ("kto", 0.1)],
                  "steps": 3, "batch_size": 4, "log_every": 1, "n_eval_samples": 2,
                  "max_new_tokens": 4, "n_seeds": 1},
        "gpu": {"runs": [("dpo", 0.05), ("dpo", 0.1), ("dpo", 0.5), ("ipo", 0.05), ("ipo", 0.1),
                         ("ipo", 0.5), ("simpo", 2.0), ("simpo", 2.5), ("kto", 0.1),
                         ("kto", 0.5)],
                "steps": 2000, "batch_size": 64, "lr": 1e-5, "log_every": 50,
                "n_eval_samples": 8, "max_new_tokens": 64, "n_seeds": 5}}

    @model_validator(mode="after")
    def _valid(self) -> PreferenceOptimizationConfig:
        from algorithms.preference.offline import OfflineConfig

        if not self.runs:
            raise ValueError("runs must name at least one (method, beta)")
        for method, beta in self.runs:  # ValueError, one line: unknown method, beta <= 0
            OfflineConfig(method=method, beta=beta, steps=self.steps,
                          batch_size=self.batch_size, lr=self.lr)
        if len({method_key(m, b) for m, b in self.runs}) != len(self.runs):
            raise ValueError("runs must not repeat a (method, beta)")
        if self.n_seeds < 1 or self.n_eval_samples < 1 or self.max_new_tokens < 1:
            raise ValueError("n_seeds, n_eval_samples and max_new_tokens must be >= 1")
        return self


@experiment(week=4, name="preference-optimization", covers=(4,),
            config=PreferenceOptimizationConfig, units=UNITS,
            needs=(BASE_MODEL, PAIRS_ARTIFACT))
def preference_optimization(config: PreferenceOptimizationConfig, tracker: Tracker
                            ) -> dict[str, float]:
    """Every (method, β) over seeds: preference accuracy, gold reward and KL on test prompts."""
    import copy

    import numpy as np
    import torch

    from algorithms.harness import Measurement, Method, curve_of, mean_ci, run_seed_study
    from algorithms.preference.offline import (OfflineConfig, implicit_accuracy, pair_logps,
                                               train_offline)
    from algorithms.preference.pairs import gold_labels
    from algorithms.weeks.week09.common import SentimentTask

    task = SentimentTask(tracker)
    base, pairs = task.base, task.pairs
    train = [p for p in pairs if p.split == "train" and config.annotator in p.labels]
    test = [p for p in pairs if p.split == "test" and p.a and p.b]
    if len(train) < 2 or not test:
        raise InputError(f"need train pairs labelled by {config.annotator!r} and test pairs; "
                         f"got {len(train)} and {len(test)}")
    train_pairs = [(p.prompt, *((p.a, p.b) if p.labels[config.annotator] else (p.b, p.a)))
                   for p in train]
    test_pairs = [(p.prompt, p.a, p.b) for p in test]
    gold_test = gold_labels(test).astype(bool)
    # held-out pairs oriented by the gold reward: where the chosen and rejected log-likelihoods
    # are measured before and after training, on the same completions
    oriented = [(x, a, b) if better else (x, b, a) for (x, a, b), better in zip(test_pairs,
                                                                              gold_test)]
    ref_chosen, ref_rejected = pair_logps(base, oriented)

    def judge(policy: Any, seed: int) -> dict[str, float]:
        return task.judge(policy, config.n_eval_samples, config.max_new_tokens, seed).means()

    summary: dict[str, float] = {"data.train_pairs": float(len(train)),
                                 "data.test_pairs": float(len(test))}
    base_scores = [judge(base, seed) for seed in range(config.seed, config.seed + config.n_seeds)]
    for name in ("gold_reward", "kl", "length"):
        summary[f"base.{name}"] = float(np.mean([s[name] for s in base_scores]))

    grid = np.array(sorted({0, *range(config.log_every, config.steps, config.log_every),
                            config.steps - 1}))

    def trainer(method: str, beta: float):
        def run(seed: int) -> tuple[list[dict[str, float]], dict[str, float]]:
            torch.manual_seed(seed)
            policy = copy.deepcopy(base)
            history = train_offline(policy, base, train_pairs, OfflineConfig(
                method=method, beta=beta, gamma=config.gamma, steps=config.steps,
                batch_size=config.batch_size, lr=config.lr, seed=seed,
                log_every=config.log_every))
            scores = judge(policy, seed)
            chosen, rejected = pair_logps(policy, oriented)
            scores["logps_chosen_delta"] = float(np.mean(chosen - ref_chosen))
            scores["logps_rejected_delta"] = float(np.mean(rejected - ref_rejected))
            scores["preference_accuracy"] = implicit_accuracy(policy, base, test_pairs, method,
                                                              gold_test)
            return history, scores
        return run

    def measure(outcome: tuple[list[dict[str, float]], dict[str, float]], grid: np.ndarray
                ) -> Measurement:
        history, scores = outcome
        steps = np.array([row["step"] for row in history])
        curves = {name: curve_of(steps, np.array([row.get(name, np.nan) for row in history]),
                                 grid, window=1)
                  for name in ("loss", "logps/chosen", "logps/rejected", "rewards/chosen",
                               "rewards/rejected")}
        return Measurement(curves=curves, scalars=scores)

    methods = [Method(method_key(m, b), f"{LABELS[m]} β={b:g}", trainer(m, b))
               for m, b in config.runs]
    study = run_seed_study(tracker, methods, range(config.seed, config.seed + config.n_seeds),
                           measure, grid, prefix="preference", description="methods × seeds",
                           x="train_step")
    rows = []
    for method in methods:
        row = [method.label]
        for name in ("preference_accuracy", "gold_reward", "kl", "logps_chosen_delta",
                     "logps_rejected_delta", "length"):
            values = study.scalars(method.key, name)
            mean, half = mean_ci(values[:, None])
            summary[method.summary_key(name)] = float(mean[0])
            if name in ("preference_accuracy", "gold_reward", "kl"):
                summary[method.summary_key(f"{name}_ci95")] = float(np.nan_to_num(half[0]))
            row += [round(float(mean[0]), 3)] + (
                [round(float(np.nan_to_num(half[0])), 3)]
                if name in ("preference_accuracy", "gold_reward", "kl") else [])
        rows.append(row)
    rows.insert(0, ["base model (reference)", "—", "—",
                    round(summary["base.gold_reward"], 3), "—", round(summary["base.kl"], 3),
                    "—", "—", "—", round(summary["base.length"], 2)])
    tracker.log_table("preference/methods", [
        "method", "held-out preference accuracy", "± 95% CI", "gold reward", "± 95% CI",
        "KL(π ‖ π_ref) (nats)", "± 95% CI", "held-out Δ log π(chosen)",
        "held-out Δ log π(rejected)",
        "completion length"], rows)
    summary["preference.n_seeds"] = float(config.n_seeds)
    from algorithms.weeks.week04.preference_figures import frontier, logps_curves

    tracker.log_figure("preference/frontier", frontier(study, methods, summary),
                       "gold reward against KL(π ‖ π_ref) on held-out prompts, each method "
                       f"at its β, mean ± 95% interval over {config.n_seeds} seeds; the base "
                       "model at KL 0")
    tracker.log_figure("preference/logps", logps_curves(study, methods),
                       "the policy's log-likelihood of the chosen and the rejected completions "
                       "over training (mean over seeds)")
    return summary
