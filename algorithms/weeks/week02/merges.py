"""``merge-strategies``: what byte-level BPE learns with frequency merges and with likelihood
(PMI) merges, and what BPE-dropout does to the segmentation at encode time.

Both strategies are trained once on the same English text (prose, code, science) to the
largest vocabulary size; smaller sizes keep the first merges (``bpe.truncate``), which is what
training to that size gives. Compression is measured on held-out text of each domain.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np

from algorithms.experiment import ExperimentConfig, Tracker, experiment
from algorithms.tokenization import corpora, metrics
from algorithms.tokenization.bpe import train_bpe_from_counts, truncate
from algorithms.tokenization.pretokenize import count_texts
from algorithms.tokenization.references import EOT
from algorithms.tokenization.tokenizer import Tokenizer, show_token

STRATEGIES = ("frequency", "likelihood")


class MergeStrategiesConfig(ExperimentConfig):
    domain_bytes: int | None = 300_000  # training text per English domain (None: all of it)
    eval_bytes: int | None = 100_000  # held-out text per domain
    vocab_sizes: tuple[int, ...] = (1000, 2000, 4000, 8000)
    dropout_ps: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)
    dropout_eval_bytes: int = 30_000  # BPE-dropout cannot cache, so it sees less text
    dropout_vocab_size: int = 8000
    example_words: tuple[str, ...] = (" unbelievable", " tokenization", " Shakespeare",
                                      " isinstance")
    example_draws: int = 5  # segmentations shown per word and p
    distinct_draws: int = 50  # segmentations drawn to count the distinct ones at the largest p
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"domain_bytes": 15_000, "eval_bytes": 8_000, "vocab_sizes": (300, 400, 500),
                  "dropout_ps": (0.0, 0.1, 0.5), "dropout_eval_bytes": 3_000,
                  "dropout_vocab_size": 500, "example_draws": 3},
        "gpu": {"domain_bytes": None, "eval_bytes": 400_000,
                "vocab_sizes": (1000, 2000, 4000, 8000, 16000, 32000),
                "dropout_eval_bytes": 200_000, "dropout_vocab_size": 32000},
    }


def _tag(p: float) -> str:
    return f"{p:g}".replace(".", "")  # 0.05 -> 005, 0.5 -> 05


def _kb(n: int | None) -> str:
    return "all the text" if n is None else f"{n / 1000:.0f} kB"


@experiment(week=2, name="merge-strategies", covers=(1,), config=MergeStrategiesConfig,
            units={"*.bytes_per_token": "bytes/token", "*.train_s": "s", "*.jaccard": "",
                   "*.mean_token_bytes": "bytes", "*.distinct_segmentations": "segmentations"})
def merge_strategies(config: MergeStrategiesConfig, tracker: Tracker) -> dict[str, float]:
    """Byte-level BPE with frequency vs likelihood (PMI) merges, and BPE-dropout at encode time."""
    from algorithms.weeks.week02 import figures

    train_lines = [line for name in corpora.DOMAINS
                   for line in corpora.domain(name, "train", config.domain_bytes)]
    tests = {name: corpora.domain(name, "test", config.eval_bytes) for name in corpora.DOMAINS}
    counts = count_texts(train_lines)  # one line = one document: nothing merges across lines
    summary: dict[str, float] = {}
    trained: dict[str, tuple[dict[int, bytes], list[tuple[bytes, bytes]]]] = {}
    curves: dict[str, dict[str, list[float]]] = {}  # strategy -> domain -> per vocabulary size
    rows = []
    for strategy in tracker.track(list(STRATEGIES), total=len(STRATEGIES),
                                  description="merge strategies"):
        start = time.perf_counter()
        trained[strategy] = train_bpe_from_counts(counts, max(config.vocab_sizes), [EOT],
                                                  strategy)
        summary[f"{strategy}.train_s"] = time.perf_counter() - start
        for v in config.vocab_sizes:
            tokenizer = Tokenizer(*truncate(*trained[strategy], v), [EOT])
            for name, lines in tests.items():
                stats = metrics.text_stats(lines, map(tokenizer.encode, lines))
                curves.setdefault(strategy, {}).setdefault(name, []).append(
                    stats.bytes_per_token)
                summary[f"{strategy}.{name}.v{v}.bytes_per_token"] = stats.bytes_per_token
                rows.append([strategy, v, name, round(stats.bytes_per_token, 4),
                             round(stats.fertility, 4), stats.n_tokens])
                tracker.log({f"merges/{strategy}/{name}/bytes_per_token": stats.bytes_per_token},
                            step=v, x="vocab_size")
    tracker.log_table("merges/compression", ["strategy", "vocab_size", "domain",
                                             "bytes_per_token", "tokens_per_word", "tokens"], rows)

    # what the two strategies spend their merges on
    merge_rows = []
    for strategy, (vocab, merges) in trained.items():
        learned = [vocab[i] for i in sorted(vocab)][1 + 256:]  # after <|endoftext|> and bytes
        summary[f"{strategy}.mean_token_bytes"] = float(np.mean([len(t) for t in learned]))
        for rank, (a, b) in enumerate(merges[:12], start=1):
            merge_rows.append([strategy, rank, show_token(a), show_token(b), show_token(a + b)])
    tracker.log_table("merges/first_merges", ["strategy", "rank", "left", "right", "token"],
                      merge_rows)
    for v in config.vocab_sizes:
        sets = [set(truncate(*trained[s], v)[0].values()) for s in STRATEGIES]
        summary[f"vocab_overlap.v{v}.jaccard"] = len(sets[0] & sets[1]) / len(sets[0] | sets[1])

    tracker.log_figure(
        "merges/bytes_per_token", figures.strategy_curves(config.vocab_sizes, curves),
        "Byte-level BPE trained on the same English text (prose, code, science; "
        f"{_kb(corpora.n_bytes(train_lines))} in all) with the two merge scores, evaluated on "
        "held-out text of each domain: UTF-8 bytes per token against vocabulary size (256 bytes "
        "+ 1 special token + merges). Frequency merges pick the most frequent adjacent pair; "
        "likelihood (PMI) merges pick the pair maximising count(ab) / (count(a)·count(b)), "
        "which favours pairs of rare symbols, so its merges are spent on rare long words.")
    return summary | _dropout(config, tracker, trained["frequency"])


def _dropout(config: MergeStrategiesConfig, tracker: Tracker,
             frequency: tuple[dict[int, bytes], list[tuple[bytes, bytes]]]) -> dict[str, float]:
    """BPE-dropout (Provilkov et al. 2020) on the frequency merges: at every merge step each
    applicable merge is skipped with probability p."""
    from algorithms.weeks.week02 import figures

    base = Tokenizer(*truncate(*frequency, config.dropout_vocab_size), [EOT])
    small = {name: corpora.domain(name, "test", config.dropout_eval_bytes)
             for name in corpora.DOMAINS}
    dropout_curves: dict[str, list[float]] = {name: [] for name in small}
    summary: dict[str, float] = {}
    dropout_rows, example_rows = [], []
    for p in tracker.track(list(config.dropout_ps), total=len(config.dropout_ps),
                           description="BPE-dropout"):
        tokenizer = base.with_dropout(p, seed=config.seed)
        for name, lines in small.items():
            stats = metrics.text_stats(lines, map(tokenizer.encode, lines))
            dropout_curves[name].append(stats.bytes_per_token)
            summary[f"dropout.p{_tag(p)}.{name}.bytes_per_token"] = stats.bytes_per_token
            dropout_rows.append([p, name, round(stats.bytes_per_token, 4),
                                 round(stats.fertility, 4)])
        for word in config.example_words:
            draws = [tokenizer.encode(word) for _ in range(config.example_draws)]
            assert all(tokenizer.decode(d) == word for d in draws)  # dropout never loses text
            example_rows.append([p, word, " | ".join(
                "·".join(show_token(t) for t in tokenizer.token_bytes(d)) for d in draws)])
            if p == max(config.dropout_ps):
                many = {tuple(tokenizer.encode(word)) for _ in range(config.distinct_draws)}
                summary[f"dropout.p{_tag(p)}.{word.strip().lower()}.distinct_segmentations"] = \
                    float(len(many))
    tracker.log_table("dropout/compression", ["p", "domain", "bytes_per_token",
                                              "tokens_per_word"], dropout_rows)
    tracker.log_table("dropout/examples", ["p", "word", "segmentations"], example_rows)

    tracker.log_figure(
        "dropout/bytes_per_token", figures.dropout_curves(config.dropout_ps, dropout_curves),
        f"BPE-dropout (Provilkov et al. 2020) on the {config.dropout_vocab_size}-token "
        "frequency BPE: at every merge step each applicable merge is skipped with probability "
        f"p. Bytes per token on held-out text ({_kb(config.dropout_eval_bytes)} per domain) "
        "against p; p = 0 is plain BPE and p = 1 would leave single bytes. Every sampled "
        "segmentation decodes to the original text.")
    return summary
