"""``weak-to-strong``: weak-to-strong generalisation (:mod:`algorithms.safety.weak_to_strong`,
Burns et al. 2023) with week 8's pretrained language models as classifiers.

The weak supervisor is the smallest model of week 8's perplexity-vs-size family; the strong
student is the base model (larger and trained longer). Each becomes a binary classifier (a
logit head on its last hidden state, the whole network fine-tuned). Three tasks (``tasks``
picks), each split into a weak-training half, a student-training half and a test set:

* ``sentiment``: sentences of held-out TinyStories, labelled by the sign of their VADER
  compound score (|compound| ≥ ``sentiment_margin``; classes balanced);
* ``language_family``: chunks of the Universal Declaration of Human Rights in seven Romance
  and eight Germanic languages, labelled by family (balanced);
* ``continuation``: two sentences of held-out TinyStories, "s_i s_j": 1 when s_j is the
  sentence after s_i in its paragraph, 0 when s_j is that sentence with its words shuffled
  (``continuation_negatives = "shuffled"``, the default), a sentence of another story
  (``"other_story"``) or a later, non-adjacent sentence of the same paragraph
  (``"same_story"``). Like Burns et al.'s NLP tasks (COPA, HellaSwag) it asks what a language
  model knows, where the first two are lexical: a small model can nearly solve them, which
  leaves the strong model little gap to recover.

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
TASKS = ("sentiment", "language_family", "continuation")  # append only: the index seeds splits
NEGATIVES = ("other_story", "same_story", "shuffled")
ARMS = {"weak": "weak supervisor (gold)", "naive": "strong on weak labels",
        "aux": "strong on weak labels + confidence loss", "ceiling": "strong ceiling (gold)"}


class WeakToStrongConfig(ExperimentConfig):
    tasks: tuple[str, ...] = TASKS
    n_per_half: int = 800  # training examples of each half (weak / student)
    n_test: int = 400
    max_tokens: int = 40  # sentiment and language_family examples cut to this many tokens
    sentiment_margin: float = 0.05  # VADER's neutral band
    chunk_words: int = 12  # UDHR lines cut into chunks of this many words
    continuation_max_tokens: int = 64  # a continuation pair's cut: both sentences fit in it
    continuation_words: tuple[int, int] = (4, 18)  # sentences of a pair: min, max words
    continuation_negatives: str = "shuffled"  # or "other_story", "same_story" (module docstring)
    steps: int = 150
    batch_size: int = 32
    lr: float = 1e-4
    alpha_max: float = 0.75  # α of the confidence loss (Burns et al.'s value for large students)
    n_seeds: int = 3
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"n_per_half": 16, "n_test": 16, "max_tokens": 12, "steps": 2,
                  "continuation_max_tokens": 24,
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


def story_paragraphs(text: str) -> list[tuple[int, list[str]]]:
    """The text's paragraphs (blank-line separated) as (story, sentences). The held-out file
    has no end-of-story marker: a paragraph opening with "Once upon a time" starts a new story
    number, so two paragraphs with different numbers are surely of different stories (a number
    may cover several stories whose openings differ)."""
    import re

    out, story = [], 0
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = " ".join(paragraph.split())
        if not paragraph:
            continue
        if paragraph.startswith("Once upon a time") and out:
            story += 1
        out.append((story, re.split(r"(?<=[.!?])\s+", paragraph)))
    return out


def continuation_examples(text: str, negatives: str = "shuffled",
                          words: tuple[int, int] = (4, 18),
                          seed: int = 0) -> tuple[list[str], list[int]]:
    """Pairs "s_i s_j" of sentences of ``words[0]``..``words[1]`` words: label 1 when s_j is
    s_{i+1} of the same paragraph, else 0 with s_j that sentence shuffled (``negatives =
    "shuffled"``), a sentence of another story (``"other_story"``) or s_{i+k}, k ≥ 2, of the
    same paragraph (``"same_story"``). Each anchor s_i gives one pair, its label drawn at
    random (so the anchors of the two classes are alike); the classes are balanced by dropping
    the surplus of the larger."""
    import numpy as np

    if negatives not in NEGATIVES:
        raise ValueError(f"continuation_negatives must be one of {NEGATIVES}, not {negatives!r}")

    def fits(sentence: str) -> bool:
        return words[0] <= len(sentence.split()) <= words[1]

    paragraphs = story_paragraphs(text)
    pool = [(story, s) for story, sentences in paragraphs for s in sentences if fits(s)]
    if negatives == "other_story" and len({story for story, _ in pool}) < 2:
        raise InputError("other-story negatives need sentences of at least two stories")
    rng = np.random.default_rng(seed)
    pairs: list[tuple[str, int]] = []
    for story, sentences in paragraphs:
        for i in range(len(sentences) - 1):
            later = [s for s in sentences[i + 2:] if fits(s)]
            if not (fits(sentences[i]) and fits(sentences[i + 1])) or (
                    negatives == "same_story" and not later):
                continue
            if rng.random() < 0.5:
                pairs.append((f"{sentences[i]} {sentences[i + 1]}", 1))
            elif negatives == "shuffled":
                pairs.append((f"{sentences[i]} {shuffled(sentences[i + 1], rng)}", 0))
            elif negatives == "same_story":
                pairs.append((f"{sentences[i]} {later[rng.integers(len(later))]}", 0))
            else:
                while (other := pool[rng.integers(len(pool))])[0] == story:
                    pass
                pairs.append((f"{sentences[i]} {other[1]}", 0))
    n = min(sum(y for _, y in pairs), sum(1 - y for _, y in pairs))
    kept, count = [], [0, 0]
    for text_, y in pairs:
        if count[y] < n:
            kept.append((text_, y))
            count[y] += 1
    return [t for t, _ in kept], [y for _, y in kept]


def shuffled(sentence: str, rng: Any) -> str:
    """``sentence`` with its words but the last in random order (never the original order),
    the capital moved to the new first word, so that only the order tells it apart."""
    words = sentence.split()
    head, last = [words[0][:1].lower() + words[0][1:]] + words[1:-1], words[-1]
    order = list(range(len(head)))
    while len(head) > 1 and order == sorted(order):
        order = list(rng.permutation(len(head)))
    head = [head[i] for i in order]
    head[0] = head[0][:1].upper() + head[0][1:]
    return " ".join(head + [last])


def task_examples(task: str, config: WeakToStrongConfig) -> tuple[list[str], list[int]]:
    """The texts and labels of ``task``."""
    if task == "sentiment":
        return sentiment_examples(config.sentiment_margin)
    if task == "language_family":
        return language_examples(config.chunk_words)
    from algorithms.lm.data import corpus_files

    return continuation_examples(corpus_files("tinystories")[1].read_text(encoding="utf-8"),
                                 config.continuation_negatives, config.continuation_words)


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
    """Weak supervisor, strong students (naive and confidence loss) and strong ceiling on
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
        texts, labels = task_examples(task, config)
        max_tokens = config.continuation_max_tokens if task == "continuation" \
            else config.max_tokens
        scores: dict[str, list[float]] = {arm: [] for arm in ARMS} | {"naive_pgr": [],
                                                                      "aux_pgr": []}
        for seed in range(config.seed, config.seed + config.n_seeds):
            rng = np.random.default_rng([seed, TASKS.index(task)])
            splits = split_task(texts, labels, config.n_per_half, config.n_test, rng)
            rows = {name: [tokenizer.encode(t)[:max_tokens] or [0] for t in split[0]]
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
