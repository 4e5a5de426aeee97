"""``weak-to-strong``: weak-to-strong generalisation (:mod:`algorithms.safety.weak_to_strong`,
Burns et al. 2023) with week 8's pretrained language models as classifiers.

The weak supervisor is the smallest model of week 8's perplexity-vs-size family; the strong
student is the base model (larger and trained longer). Each becomes a binary classifier (a
logit head on its last hidden state, the whole network fine-tuned). Two tasks, each split into
a weak-training half, a student-training half and a test set:

* ``sentiment``: sentences of held-out TinyStories, labelled by the sign of their VADER
  compound score (|compound| ≥ ``sentiment_margin``; classes balanced);
* ``language_family``: chunks of the Universal Declaration of Human Rights in seven Romance
  and eight Germanic languages, labelled by family (balanced).

Per task and seed: the weak model trained on gold labels of the first half; its soft labels of
the second half; the strong student trained on them naively and with the auxiliary confidence
loss; the strong ceiling trained on the gold labels of the second half. Reported: test accuracy
of each, and PGR = (student − weak) / (ceiling − weak) for both students, over seeds.
"""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import ExperimentConfig, InputError, Tracker, experiment
from algorithms.weeks.week08.common import BASE_MODEL, SIZE_MODELS

ROMANCE = ("spa", "por_PT", "fra", "ita", "cat", "ron_2006", "glg")
GERMANIC = ("deu_1996", "nld", "swe", "dan", "nob", "afr", "isl", "eng")
TASKS = ("sentiment", "language_family")
ARMS = {"weak": "weak supervisor (gold)", "naive": "strong on weak labels",
        "aux": "strong on weak labels + confidence loss", "ceiling": "strong ceiling (gold)"}


class WeakToStrongConfig(ExperimentConfig):
    tasks: tuple[str, ...] = TASKS
    n_per_half: int = 800  # training examples of each half (weak / student)
    n_test: int = 400
    max_tokens: int = 40  # each example cut to this many tokens
    sentiment_margin: float = 0.05  # VADER's neutral band
    chunk_words: int = 12  # UDHR lines cut into chunks of this many words
    steps: int = 150
    batch_size: int = 32
    lr: float = 1e-4
    alpha_max: float = 0.75  # α of the confidence loss (Burns et al.'s value for large students)
    n_seeds: int = 3
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"n_per_half": 16, "n_test": 16, "max_tokens": 12, "steps": 2,
                  "batch_size": 8, "n_seeds": 1},
        "gpu": {"n_per_half": 4_000, "n_test": 1_000, "steps": 1_000, "n_seeds": 5}}


def sentiment_examples(margin: float) -> tuple[list[str], list[int]]:
    """Held-out TinyStories sentences of ≥ 5 words with |VADER compound| ≥ ``margin``."""
    import re

    from algorithms.lm.data import corpus_files
    from algorithms.preference import gold_reward

    text = corpus_files("tinystories")[1].read_text(encoding="utf-8")
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) >= 5]
    scores = gold_reward(sentences)
    keep = [(s, int(r > 0)) for s, r in zip(sentences, scores) if abs(r) >= margin]
    return [s for s, _ in keep], [y for _, y in keep]


def language_examples(chunk_words: int) -> tuple[list[str], list[int]]:
    """UDHR lines in Romance (1) and Germanic (0) languages, cut into word chunks."""
    from pathlib import Path

    udhr = Path(__file__).resolve().parents[2] / "data" / "udhr"
    texts, labels = [], []
    for label, languages in ((1, ROMANCE), (0, GERMANIC)):
        for language in languages:
            for line in (udhr / f"{language}.txt").read_text(encoding="utf-8").splitlines():
                words = line.split()
                for i in range(0, len(words) - 3, chunk_words):
                    texts.append(" ".join(words[i:i + chunk_words]))
                    labels.append(label)
    return texts, labels


def split_task(texts: list[str], labels: list[int], n_half: int, n_test: int,
               rng: Any) -> dict[str, tuple[list[str], Any]]:
    """Balanced weak / student / test splits (each half of its examples positive)."""
    import numpy as np

    labels_arr = np.asarray(labels)
    need = 2 * n_half + n_test
    by_class = [rng.permutation(np.flatnonzero(labels_arr == c)) for c in (0, 1)]
    if min(len(ix) for ix in by_class) < need // 2 + 1:
        raise InputError(f"the task has {min(len(ix) for ix in by_class)} examples of its "
                         f"rarer class, fewer than the {need // 2 + 1} its splits need")
    out, start = {}, 0
    for name, n in (("weak", n_half), ("student", n_half), ("test", n_test)):
        ix = np.concatenate([by_class[0][start // 2:(start + n) // 2],
                             by_class[1][start // 2:(start + n) // 2]])
        ix = rng.permutation(ix)
        out[name] = ([texts[i] for i in ix], labels_arr[ix])
        start += n
    return out


@experiment(week=11, name="weak-to-strong", covers=(2,), config=WeakToStrongConfig,
            units={"*accuracy": "accuracy", "*pgr": "PGR"}, needs=(BASE_MODEL, SIZE_MODELS))
def weak_to_strong(config: WeakToStrongConfig, tracker: Tracker) -> dict[str, float]:
    """Weak supervisor, strong students (naive and confidence loss) and strong ceiling on two
    binary tasks: test accuracy and performance gap recovered, over seeds."""
    import copy

    import numpy as np
    import torch

    from algorithms.harness import mean_ci
    from algorithms.lm.data import tokenizer_fingerprint
    from algorithms.preference.reward_model import RewardModel
    from algorithms.safety.weak_to_strong import performance_gap_recovered, predict, \
        train_classifier
    from algorithms.weeks.week08.common import load_model_artifact, load_model_folder

    unknown = sorted(set(config.tasks) - set(TASKS))
    if unknown:
        raise ValueError(f"unknown task {', '.join(unknown)} (known: {', '.join(TASKS)})")
    strong_lm, _, tokenizer = load_model_artifact(tracker, BASE_MODEL)
    sizes = tracker.use_artifact(SIZE_MODELS)
    family = [load_model_folder(p / "checkpoint") for p in sorted(sizes.iterdir())
              if (p / "checkpoint").is_dir()]
    if not family:
        raise InputError(f"{SIZE_MODELS} holds no models")
    # the weak supervisor: the family's smallest model
    weak_lm, _, weak_tokenizer = min(family, key=lambda m: sum(t.numel()
                                                               for t in m[0].parameters()))
    if tokenizer_fingerprint(weak_tokenizer) != tokenizer_fingerprint(tokenizer):
        raise InputError("the weak and the strong model's tokenizers differ")
    weak_lm, strong_lm = weak_lm.cpu().float(), strong_lm.cpu().float()
    summary: dict[str, float] = {
        "models.weak_params": float(sum(p.numel() for p in weak_lm.model.parameters())),
        "models.strong_params": float(sum(p.numel() for p in strong_lm.model.parameters()))}
    rows_out: list[list[Any]] = []
    accuracies: dict[str, dict[str, list[float]]] = {}
    for task in config.tasks:
        texts, labels = (sentiment_examples(config.sentiment_margin) if task == "sentiment"
                         else language_examples(config.chunk_words))
        scores: dict[str, list[float]] = {arm: [] for arm in ARMS} | {"naive_pgr": [],
                                                                      "aux_pgr": []}
        for seed in range(config.seed, config.seed + config.n_seeds):
            rng = np.random.default_rng([seed, TASKS.index(task)])
            splits = split_task(texts, labels, config.n_per_half, config.n_test, rng)
            rows = {name: [tokenizer.encode(t)[:config.max_tokens] or [0] for t in split[0]]
                    for name, split in splits.items()}
            gold = {name: split[1].astype(float) for name, split in splits.items()}

            def trained(arm: str, lm: Any, split: str, targets: Any, alpha: float = 0.0) -> Any:
                torch.manual_seed(seed)
                model = RewardModel(copy.deepcopy(lm))
                losses = train_classifier(model, rows[split], targets, config.steps,
                                          config.batch_size, config.lr, seed, alpha)
                for step in range(0, len(losses), 10):
                    tracker.log({f"w2s/{task}/{arm}/seed{seed}/loss": float(np.mean(
                        losses[step:step + 10]))}, step=step + 10, x="classifier_step")
                return model

            def accuracy(model: Any) -> float:
                return float(np.mean((predict(model, rows["test"]) > 0.5) == gold["test"]))

            weak = trained("weak", weak_lm, "weak", gold["weak"])
            weak_labels = predict(weak, rows["student"])  # soft labels, as Burns et al.
            result = {"weak": accuracy(weak),
                      "naive": accuracy(trained("naive", strong_lm, "student", weak_labels)),
                      "aux": accuracy(trained("aux", strong_lm, "student", weak_labels,
                                              config.alpha_max)),
                      "ceiling": accuracy(trained("ceiling", strong_lm, "student",
                                                  gold["student"]))}
            for arm, value in result.items():
                scores[arm].append(value)
            for arm in ("naive", "aux"):
                scores[f"{arm}_pgr"].append(performance_gap_recovered(
                    result["weak"], result[arm], result["ceiling"]))
        for name, values in scores.items():
            (mean,), (half,) = mean_ci(np.array([[v] for v in values]))
            key = f"{task}.{name}" if name.endswith("pgr") else f"{task}.{name}.accuracy"
            summary[key] = float(np.nan_to_num(mean))
            summary[f"{key}_ci95"] = float(np.nan_to_num(half))
        accuracies[task] = {arm: scores[arm] for arm in ARMS}
        rows_out += [[task, ARMS.get(name, name), round(summary[f"{task}.{name}" + (
            "" if name.endswith("pgr") else ".accuracy")], 4), " ".join(f"{v:.3f}" for v in values)]
            for name, values in scores.items()]
    tracker.log_table("w2s/results", ["task", "model", "mean", "per_seed"], rows_out)
    from algorithms.weeks.week11 import figures

    tracker.log_figure(
        "w2s/accuracy", figures.weak_to_strong_bars(accuracies, list(ARMS.values())),
        f"Test accuracy of the weak supervisor (trained on gold labels), the strong student "
        f"trained on the weak supervisor's soft labels (naively, and with the confidence loss "
        f"α = {config.alpha_max}) and the strong ceiling (trained on gold labels), per task: "
        f"mean ± 95% interval over {config.n_seeds} seeds, each seed a dot; {config.n_test} "
        "test examples each.")
    return summary
