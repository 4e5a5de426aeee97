"""Week 2: tokenization — BPE, WordPiece and Unigram LM from scratch, against HF and SentencePiece.

Four experiments:

* ``merge-strategies``: byte-level BPE with frequency merges, likelihood (PMI) merges, and
  BPE-dropout at encode time, on English prose, code and science.
* ``compression``: bytes per token and tokens per word of forge's three tokenizers and the
  libraries' five, per domain and per language, at several vocabulary sizes.
* ``vocabulary``: what the vocabulary is spent on: unknown tokens, the share of the vocabulary a
  held-out text uses, Zipf's law, entropy, bits per byte and Rényi efficiency.
* ``fairness``: Petrov et al.'s token premium — what the same UDHR articles cost in each
  language relative to English — for a multilingual and an English-only training mix.

Everything is trained on ``algorithms/data`` (``algorithms/tokenization/corpora.py`` says what is
trained on and what is held out) and measured on held-out text only. Trained tokenizers are
kept for the rest of the process, so the experiments that share a configuration share them.
Matplotlib is imported only by the drawing helpers at the bottom of this module.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from algorithms.tokenization import corpora, metrics
from algorithms.tokenization.bpe import train_bpe_from_counts, truncate
from algorithms.tokenization.pretokenize import count_texts
from algorithms.tokenization.references import (
    COUNTERPARTS,
    LABELS,
    METHODS,
    Trained,
    train,
)
from algorithms.tokenization.tokenizer import Tokenizer
from algorithms.experiment import ExperimentConfig, Tracker, experiment

SMOKE_LANGUAGES = ("eng", "fra", "rus", "arb", "hin", "cmn", "jpn", "kor")
UNK_MARK = 0.01  # figures star the cells where more than 1% of tokens are unknown
EOT = "<|endoftext|>"


# ----------------------------------------------------------------------------- shared set-up

class StudyConfig(ExperimentConfig):
    """The corpora, vocabulary sizes and tokenizers the compression, vocabulary and fairness
    experiments share (equal values: the tokenizers are trained once per process)."""

    languages: tuple[str, ...] = tuple(corpora.LANGUAGES)
    domain_bytes: int | None = 300_000  # training text per English domain
    docs_bytes: int | None = 60_000  # training text of the Python tutorial per language
    eval_bytes: int | None = 100_000  # held-out text per English domain
    vocab_sizes: tuple[int, ...] = (2000, 4000, 8000)
    methods: tuple[str, ...] = METHODS
    character_coverage: float = 0.9995
    max_alphabet_share: float = 0.5
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"languages": SMOKE_LANGUAGES, "domain_bytes": 15_000, "docs_bytes": 4_000,
                  "eval_bytes": 8_000, "vocab_sizes": (400, 600)},
        "gpu": {"domain_bytes": None, "docs_bytes": None, "eval_bytes": 400_000,
                "vocab_sizes": (8000, 16000, 32000)},
    }


_TRAINED: dict[tuple, dict[int, Trained]] = {}


def _trained(config: StudyConfig, method: str, mix: str = "multilingual") -> dict[int, Trained]:
    """``method`` trained on ``mix`` at every vocabulary size (cached for the process)."""
    key = (method, mix, config.languages, config.domain_bytes, config.docs_bytes,
           config.vocab_sizes, config.character_coverage, config.max_alphabet_share)
    if key not in _TRAINED:
        lines = corpora.training_mix(mix, config.languages, config.domain_bytes,
                                     config.docs_bytes)
        _TRAINED[key] = train(method, lines, config.vocab_sizes, config.character_coverage,
                              config.max_alphabet_share)
    return _TRAINED[key]


def _eval_sets(config: StudyConfig) -> dict[str, list[str]]:
    """Held-out text by name: the English domains, ``udhr_<lang>`` and ``docs_<lang>``."""
    sets = {name: corpora.domain(name, "test", config.eval_bytes) for name in corpora.DOMAINS}
    sets |= {f"udhr_{code}": corpora.udhr(code, "test") for code in config.languages}
    sets |= {f"docs_{code}": corpora.docs(code, "test") for code in config.languages
             if code in corpora.DOC_LANGUAGES}
    return sets


def _evaluate(tokenizer: Trained, sets: dict[str, list[str]]) -> dict[str, metrics.TextStats]:
    return {name: metrics.text_stats(lines, tokenizer.encode_lines(lines), tokenizer.unk_id)
            for name, lines in sets.items()}


def _pooled(stats: dict[str, metrics.TextStats]) -> metrics.TextStats:
    total = metrics.TextStats()
    for item in stats.values():
        total = total.merge(item)
    return total


def _study(config: StudyConfig, tracker: Tracker, what: str
           ) -> dict[str, dict[int, tuple[Trained, dict[str, metrics.TextStats]]]]:
    """Train (or reuse) every method and evaluate it on every held-out set."""
    sets = _eval_sets(config)
    results = {}
    for method in tracker.track(list(config.methods), total=len(config.methods),
                                description=f"{what}: train and evaluate"):
        results[method] = {v: (trained, _evaluate(trained, sets))
                           for v, trained in _trained(config, method).items()}
    return results


def _udhr_mean(stats: dict[str, metrics.TextStats], attribute: str) -> float:
    return float(np.mean([getattr(s, attribute) for name, s in stats.items()
                          if name.startswith("udhr_")]))


# ----------------------------------------------------------------------------- merge-strategies

class MergeStrategiesConfig(ExperimentConfig):
    domain_bytes: int | None = 300_000
    eval_bytes: int | None = 100_000
    vocab_sizes: tuple[int, ...] = (1000, 2000, 4000, 8000)
    dropout_ps: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)
    dropout_eval_bytes: int = 30_000  # BPE-dropout cannot cache, so it sees less text
    dropout_vocab_size: int = 8000
    example_words: tuple[str, ...] = (" unbelievable", " tokenization", " Shakespeare",
                                      " isinstance")
    example_draws: int = 5
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"domain_bytes": 15_000, "eval_bytes": 8_000, "vocab_sizes": (300, 400, 500),
                  "dropout_ps": (0.0, 0.1, 0.5), "dropout_eval_bytes": 3_000,
                  "dropout_vocab_size": 500, "example_draws": 3},
        "gpu": {"domain_bytes": None, "eval_bytes": 400_000,
                "vocab_sizes": (1000, 2000, 4000, 8000, 16000, 32000),
                "dropout_eval_bytes": 200_000, "dropout_vocab_size": 32000},
    }


@experiment(week=2, name="merge-strategies", covers=(1,), config=MergeStrategiesConfig,
            units={"*.bytes_per_token": "bytes/token", "*.train_s": "s", "*.jaccard": "",
                   "*.mean_token_bytes": "bytes", "*.distinct_segmentations": "segmentations"})
def merge_strategies(config: MergeStrategiesConfig, tracker: Tracker) -> dict[str, float]:
    """Byte-level BPE with frequency vs likelihood (PMI) merges, and BPE-dropout at encode time."""
    train_lines = [line for name in corpora.DOMAINS
                   for line in corpora.domain(name, "train", config.domain_bytes)]
    tests = {name: corpora.domain(name, "test", config.eval_bytes) for name in corpora.DOMAINS}
    counts = count_texts(train_lines)  # one line = one document: nothing merges across lines
    top = max(config.vocab_sizes)
    summary: dict[str, float] = {}
    trained: dict[str, tuple[dict[int, bytes], list[tuple[bytes, bytes]]]] = {}
    curves: dict[str, dict[str, list[float]]] = {}
    rows = []
    for strategy in tracker.track(["frequency", "likelihood"], total=2,
                                  description="merge strategies"):
        start = time.perf_counter()
        trained[strategy] = train_bpe_from_counts(counts, top, [EOT], strategy)
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
                            step=v)
    tracker.log_table("merges/compression", ["strategy", "vocab_size", "domain",
                                             "bytes_per_token", "tokens_per_word", "tokens"], rows)

    # what the two strategies spend their merges on
    merge_rows = []
    for strategy, (vocab, merges) in trained.items():
        learned = [vocab[i] for i in sorted(vocab)][1 + 256:]
        summary[f"{strategy}.mean_token_bytes"] = float(np.mean([len(t) for t in learned]))
        for rank, (a, b) in enumerate(merges[:12], start=1):
            merge_rows.append([strategy, rank, _show(a), _show(b), _show(a + b)])
    tracker.log_table("merges/first_merges", ["strategy", "rank", "left", "right", "token"],
                      merge_rows)
    for v in config.vocab_sizes:
        sets = [set(truncate(*trained[s], v)[0].values()) for s in ("frequency", "likelihood")]
        summary[f"vocab_overlap.v{v}.jaccard"] = len(sets[0] & sets[1]) / len(sets[0] | sets[1])

    # BPE-dropout: the frequency merges, applied with probability 1 - p each
    base = Tokenizer(*truncate(*trained["frequency"], config.dropout_vocab_size), [EOT])
    small = {name: corpora.domain(name, "test", config.dropout_eval_bytes)
             for name in corpora.DOMAINS}
    dropout_curves: dict[str, list[float]] = {name: [] for name in small}
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
                "·".join(_show(t) for t in tokenizer.token_bytes(d)) for d in draws)])
            if p == max(config.dropout_ps):
                many = {tuple(tokenizer.encode(word)) for _ in range(50)}
                summary[f"dropout.p{_tag(p)}.{word.strip().lower()}.distinct_segmentations"] = \
                    float(len(many))
    tracker.log_table("dropout/compression", ["p", "domain", "bytes_per_token",
                                              "tokens_per_word"], dropout_rows)
    tracker.log_table("dropout/examples", ["p", "word", "segmentations"], example_rows)

    tracker.log_figure(
        "merges/bytes_per_token", _strategy_figure(config.vocab_sizes, curves),
        "Byte-level BPE trained on the same English text (prose, code, science; "
        f"{_kb(corpora.n_bytes(train_lines))} in all) with the two merge scores, evaluated on "
        "held-out text of each domain: UTF-8 bytes per token against vocabulary size (256 bytes "
        "+ 1 special token + merges). Frequency merges pick the most frequent adjacent pair; "
        "likelihood (PMI) merges pick the pair maximising count(ab) / (count(a)·count(b)), "
        "which favours pairs of rare symbols, so its merges are spent on rare long words.")
    tracker.log_figure(
        "dropout/bytes_per_token", _dropout_figure(config.dropout_ps, dropout_curves),
        f"BPE-dropout (Provilkov et al. 2020) on the {config.dropout_vocab_size}-token "
        "frequency BPE: at every merge step each applicable merge is skipped with probability "
        f"p. Bytes per token on held-out text ({_kb(config.dropout_eval_bytes)} per domain) "
        "against p; p = 0 is plain BPE and p = 1 would leave single bytes. Every sampled "
        "segmentation decodes to the original text.")
    return summary


def _tag(p: float) -> str:
    return f"{p:g}".replace(".", "")  # 0.05 -> 005, 0.5 -> 05


def _show(token: bytes) -> str:
    """A token as text, spaces shown as ␣."""
    return token.decode("utf-8", errors="replace").replace(" ", "␣").replace("\n", "⏎")


def _kb(n: int | None) -> str:
    return "all the text" if n is None else f"{n / 1000:.0f} kB"


# ----------------------------------------------------------------------------- compression

@experiment(week=2, name="compression", covers=(2,), config=StudyConfig, seeded=False,
            units={"*.bytes_per_token": "bytes/token", "*.tokens_per_word": "tokens/word",
                   "*.ratio": "×", "*.train_s": "s"})
def compression(config: StudyConfig, tracker: Tracker) -> dict[str, float]:
    """Bytes per token and tokens per word of eight tokenizers, by domain and language."""
    results = _study(config, tracker, "compression")
    summary: dict[str, float] = {}
    domain_rows, language_rows, training_rows = [], [], []
    for method, by_size in results.items():
        for v, (trained, stats) in by_size.items():
            training_rows.append([method, v, trained.vocab_size, round(trained.train_seconds, 3)])
            summary[f"{method}.v{v}.train_s"] = trained.train_seconds
            for name in corpora.DOMAINS:
                s = stats[name]
                domain_rows.append([method, v, name, round(s.bytes_per_token, 4),
                                    round(s.fertility, 4), s.n_tokens, s.n_bytes])
                summary[f"{method}.{name}.v{v}.bytes_per_token"] = s.bytes_per_token
                if v == max(config.vocab_sizes):
                    summary[f"{method}.{name}.v{v}.tokens_per_word"] = s.fertility
            summary[f"{method}.udhr_mean.v{v}.bytes_per_token"] = \
                _udhr_mean(stats, "bytes_per_token")
            tracker.log({f"compression/{method}/udhr_mean_bytes_per_token":
                         _udhr_mean(stats, "bytes_per_token")}, step=v)
            for name, s in stats.items():
                if name.startswith(("udhr_", "docs_")):
                    corpus, code = name.split("_", 1)
                    language_rows.append([method, v, corpus, code,
                                          corpora.LANGUAGES[code].script,
                                          round(s.bytes_per_token, 4), round(s.fertility, 4),
                                          round(s.unk_rate, 5)])
    tracker.log_table("compression/by_domain", ["method", "vocab_size", "domain",
                                                "bytes_per_token", "tokens_per_word", "tokens",
                                                "bytes"], domain_rows)
    tracker.log_table("compression/by_language", ["method", "vocab_size", "corpus", "language",
                                                  "script", "bytes_per_token", "tokens_per_word",
                                                  "unk_rate"], language_rows)
    tracker.log_table("compression/training", ["method", "vocab_size", "actual_vocab_size",
                                               "train_seconds"], training_rows)

    # forge against each library reference, on all the held-out text together
    gap_rows = []
    for library, forge in COUNTERPARTS.items():
        if library not in results or forge not in results:
            continue
        for v in config.vocab_sizes:
            ours = _pooled(results[forge][v][1]).bytes_per_token
            theirs = _pooled(results[library][v][1]).bytes_per_token
            english = [results[m][v][1][d].bytes_per_token for m in (forge, library)
                       for d in corpora.DOMAINS]
            summary[f"{forge}_vs_{library}.v{v}.ratio"] = ours / theirs
            gap_rows.append([forge, library, v, round(ours, 4), round(theirs, 4),
                             round(ours / theirs, 4),
                             round(np.mean(english[:3]) / np.mean(english[3:]), 4)])
    tracker.log_table("compression/forge_vs_libraries",
                      ["forge", "library", "vocab_size", "forge_bytes_per_token",
                       "library_bytes_per_token", "ratio_all_text", "ratio_english_domains"],
                      gap_rows)

    sizes = config.vocab_sizes
    top = max(sizes)
    tracker.log_figure(
        "compression/bytes_per_token_vs_vocab", _vocab_curves_figure(results, sizes),
        "UTF-8 bytes per token on held-out text against vocabulary size, every tokenizer "
        f"trained on the same multilingual mix ({_mix_description(config)}). Panels: English "
        "prose, code and science, and the mean over the UDHR's held-out Articles 20–30 in "
        f"{len(config.languages)} languages. Colour: algorithm; solid: forge; dashed: HF "
        "tokenizers; dotted: SentencePiece. Higher is better compression. WordPiece drops "
        "whitespace, so its bytes include spaces it never encodes.")
    tracker.log_figure(
        "compression/bytes_per_token_by_language", _language_heatmap(
            results, top, config.languages, "bytes_per_token", "bytes per token"),
        f"Bytes per token on the held-out UDHR articles per language, vocabulary {top}, every "
        "tokenizer trained on the same multilingual mix. Languages grouped by script; a "
        "UTF-8 character takes 1 byte in ASCII, 2 in Cyrillic, Greek, Arabic and Hebrew, and 3 "
        "in Indic scripts, Thai, CJK and Hangul, so bytes per token is not characters per "
        "token. * marks cells where more than 1% of tokens are unknown ([UNK]/<unk>): an "
        "unknown run counts as one token there, which flatters the number.")
    tracker.log_figure(
        "compression/fertility_by_language", _language_heatmap(
            results, top, config.languages, "fertility", "tokens per word", log=True),
        f"Fertility (tokens per whitespace-separated word) on the held-out UDHR articles, "
        f"vocabulary {top}. Chinese and Japanese (and largely Thai) write no spaces between "
        "words, so their 'words' are whole phrases and their fertility is not comparable "
        "with the other languages'. * as in the bytes-per-token figure: more than 1% unknown "
        "tokens.")
    return summary


def _mix_description(config: StudyConfig) -> str:
    lines = corpora.training_mix("multilingual", config.languages, config.domain_bytes,
                                 config.docs_bytes)
    docs = [code for code in config.languages if code in corpora.DOC_LANGUAGES]
    return (f"{_kb(corpora.n_bytes(lines))}: English prose, code and science, "
            f"the Python tutorial in {len(docs)} languages and UDHR Articles 1–19 in "
            f"{len(config.languages)}")


# ----------------------------------------------------------------------------- vocabulary

@experiment(week=2, name="vocabulary", covers=(3,), config=StudyConfig, seeded=False,
            units={"*.bits_per_byte": "bits/byte", "*.bits_per_token": "bits/token",
                   "*.unk_rate": "", "*.used_share": "", "*.renyi_efficiency": "",
                   "*.zipf_exponent": ""})
def vocabulary(config: StudyConfig, tracker: Tracker) -> dict[str, float]:
    """Coverage and information: unknown tokens, vocabulary use, Zipf, entropy, Rényi efficiency."""
    results = _study(config, tracker, "vocabulary")
    summary: dict[str, float] = {}
    rows, unk_rows = [], []
    pooled: dict[str, dict[int, metrics.TextStats]] = {}
    for method, by_size in results.items():
        for v, (trained, stats) in by_size.items():
            total = pooled.setdefault(method, {})[v] = _pooled(stats)
            zipf_s, zipf_r2 = metrics.zipf_fit(total.counts)
            values = {
                "unk_rate": total.unk_rate,
                "used_share": metrics.vocab_used_share(total.counts, trained.vocab_size),
                "bits_per_token": total.entropy,
                "bits_per_byte": total.bits_per_byte,
                "renyi_efficiency": metrics.renyi_efficiency(total.counts, trained.vocab_size),
                "shannon_efficiency": total.entropy / np.log2(trained.vocab_size),
                "zipf_exponent": zipf_s,
                "zipf_r2": zipf_r2,
            }
            rows.append([method, v, *(round(x, 5) for x in values.values())])
            tracker.log({f"vocabulary/{method}/{key}": x for key, x in values.items()}, step=v)
            summary[f"{method}.v{v}.unk_rate"] = values["unk_rate"]
            summary[f"{method}.v{v}.used_share"] = values["used_share"]
            summary[f"{method}.v{v}.bits_per_byte"] = values["bits_per_byte"]
            summary[f"{method}.v{v}.renyi_efficiency"] = values["renyi_efficiency"]
            if v == max(config.vocab_sizes):
                summary[f"{method}.v{v}.bits_per_token"] = values["bits_per_token"]
                summary[f"{method}.v{v}.zipf_exponent"] = zipf_s
            for name, s in stats.items():
                if trained.unk_id is not None and name.startswith("udhr_"):
                    unk_rows.append([method, v, name.removeprefix("udhr_"), round(s.unk_rate, 5)])
    tracker.log_table("vocabulary/summary", ["method", "vocab_size", "unk_rate", "used_share",
                                             "bits_per_token", "bits_per_byte",
                                             "renyi_efficiency_2_5", "shannon_efficiency",
                                             "zipf_exponent", "zipf_r2"], rows)
    tracker.log_table("vocabulary/unk_rate_by_language", ["method", "vocab_size", "language",
                                                          "unk_rate"], unk_rows)
    text = (f"all held-out text together (English prose, code and science, UDHR Articles 20–30 "
            f"in {len(config.languages)} languages and the tutorial's last 118 lines)")
    tracker.log_figure(
        "vocabulary/efficiency_vs_coverage", _vocabulary_figure(pooled, results),
        f"Vocabulary efficiency against coverage, on {text}. (a) Share of tokens that are "
        "unknown ([UNK]/<unk>; byte-level BPE has none). (b) Share of the vocabulary the text "
        "uses at least once. (c) Bits per byte = H(p) × tokens / bytes, H the Shannon entropy "
        "of the empirical unigram token distribution p: the code length per byte of a "
        "context-free unigram model over tokens fitted to the text. (d) Rényi efficiency "
        "H_2.5(p) / log₂|V| (Zouhar et al. 2023). Colour: algorithm; solid: forge; dashed: "
        "HF; dotted: SentencePiece.")
    tracker.log_figure(
        "vocabulary/zipf", _zipf_figure(pooled, max(config.vocab_sizes)),
        f"Rank-frequency of tokens on {text}, vocabulary {max(config.vocab_sizes)}, log-log. "
        "The slope s of a least-squares line through the tokens seen at least twice is in the "
        "legend (Zipf's law: f(r) ∝ r^−s, s ≈ 1 for words).")
    return summary


# ----------------------------------------------------------------------------- fairness

class FairnessConfig(StudyConfig):
    english_mix_methods: tuple[str, ...] = ("forge_bpe", "hf_bpe")
    profiles: ClassVar[dict[str, dict[str, Any]]] = StudyConfig.profiles


@experiment(week=2, name="fairness", covers=(2,), config=FairnessConfig, seeded=False,
            units={"*premium": "×", "*.unk_rate": ""})
def fairness(config: FairnessConfig, tracker: Tracker) -> dict[str, float]:
    """Token premium: what the same UDHR text costs in each language relative to English."""
    if "eng" not in config.languages:
        raise ValueError("fairness needs English (eng) among the languages")
    top = max(config.vocab_sizes)
    udhr = {code: corpora.udhr(code, "test") for code in config.languages}
    docs = {code: corpora.docs(code, "test") for code in config.languages
            if code in corpora.DOC_LANGUAGES}
    byte_premium = {code: corpora.n_bytes(lines) / corpora.n_bytes(udhr["eng"])
                    for code, lines in udhr.items()}
    runs = [(method, "multilingual") for method in config.methods] + \
           [(method, "english") for method in config.english_mix_methods]
    premiums: dict[tuple[str, str], dict[str, float]] = {}
    unk_rates: dict[tuple[str, str], dict[str, float]] = {}
    summary: dict[str, float] = {}
    rows, docs_rows = [], []
    for method, mix in tracker.track(runs, total=len(runs), description="fairness"):
        trained = _trained(config, method, mix)[top]
        stats = {code: metrics.text_stats(lines, trained.encode_lines(lines), trained.unk_id)
                 for code, lines in udhr.items()}
        english = stats["eng"].n_tokens
        premiums[method, mix] = {code: s.n_tokens / english for code, s in stats.items()}
        unk_rates[method, mix] = {code: s.unk_rate for code, s in stats.items()}
        for code, s in stats.items():
            rows.append([method, mix, code, corpora.LANGUAGES[code].script, s.n_tokens,
                         round(premiums[method, mix][code], 4), round(byte_premium[code], 4),
                         round(s.unk_rate, 5)])
        values = [p for code, p in premiums[method, mix].items() if code != "eng"]
        summary[f"{method}.{mix}.mean_premium"] = float(np.mean(values))
        summary[f"{method}.{mix}.max_premium"] = float(np.max(values))
        if docs:
            encoded = {code: trained.encode_lines(lines) for code, lines in docs.items()}
            english_docs = sum(map(len, encoded["eng"])) if "eng" in encoded else None
            for code, ids in encoded.items():
                if english_docs:
                    docs_rows.append([method, mix, code,
                                      round(sum(map(len, ids)) / english_docs, 4)])
    for code in config.languages:
        if code != "eng":
            summary[f"{code}.premium"] = premiums["forge_bpe", "multilingual"][code] \
                if ("forge_bpe", "multilingual") in premiums else float("nan")
            if ("forge_bpe", "english") in premiums:
                summary[f"english_mix.{code}.premium"] = \
                    premiums["forge_bpe", "english"][code]
            summary[f"{code}.byte_premium"] = byte_premium[code]
    tracker.log_table("fairness/udhr_premium", ["method", "training_mix", "language", "script",
                                                "tokens", "premium", "byte_premium", "unk_rate"],
                      rows)
    if docs_rows:
        tracker.log_table("fairness/docs_premium", ["method", "training_mix", "language",
                                                    "premium"], docs_rows)
    tracker.log_figure(
        "fairness/premium_by_language", _premium_figure(premiums, byte_premium, config),
        "Token premium (Petrov et al. 2023): tokens needed for UDHR Articles 20–30 in each "
        "language ÷ tokens for the same articles in English (1 = parity, dashed line), "
        f"vocabulary {top}. Bars: forge's byte-level BPE trained on English only (prose, code, "
        "science, the English tutorial and UDHR) and on the multilingual mix (the same English "
        "text plus the other languages' tutorial and UDHR Articles 1–19). Diamonds: the byte "
        "premium, UTF-8 bytes ÷ English bytes — what a tokenizer with no merges for the "
        "language would pay relative to one with none for English. Sorted by the English-only "
        "premium; log scale.")
    tracker.log_figure(
        "fairness/premium_heatmap", _premium_heatmap(premiums, unk_rates, config),
        f"Token premium relative to English on UDHR Articles 20–30, vocabulary {top}, for "
        "every tokenizer trained on the multilingual mix; red: costs more than English, blue: "
        "less (log colour scale). Tokenizers with an alphabet (WordPiece, Unigram) turn text "
        "outside it into one [UNK] per unknown run (WordPiece: per word), which makes a text "
        "look cheap: * marks cells where more than 1% of tokens are unknown, and those cells "
        "do not set the colour range.")
    return summary


# ----------------------------------------------------------------------------- drawing
# (matplotlib is imported only here, when a figure is drawn)

DOMAIN_TITLES = {"prose": "English prose", "code": "Python code", "science": "arXiv abstracts"}
_FAMILY_COLOUR = {"bpe": "#0072B2", "wordpiece": "#D55E00", "unigram": "#009E73"}
_SOURCE_STYLE = {"forge": "-", "hf": "--", "spm": ":"}


def _style(method: str) -> dict[str, Any]:
    source, family = method.split("_", 1)
    return {"color": _FAMILY_COLOUR[family], "linestyle": _SOURCE_STYLE[source],
            "label": LABELS[method], "marker": "o", "markersize": 3.5,
            "linewidth": 2.0 if source == "forge" else 1.4}


def _strategy_figure(sizes: Sequence[int], curves: dict[str, dict[str, list[float]]]) -> Any:
    from algorithms.plotting import figure

    domains = list(next(iter(curves.values())))
    fig, axes = figure(1, len(domains), sharey=True, figsize=(4.0 * len(domains), 3.4))
    for ax, name in zip(np.atleast_1d(axes), domains):
        for strategy, colour in (("frequency", "#0072B2"), ("likelihood", "#D55E00")):
            ax.plot(sizes, curves[strategy][name], marker="o", markersize=4, color=colour,
                    label=f"{strategy} merges")
        ax.set(title=DOMAIN_TITLES[name], xscale="log", xlabel="vocabulary size",
               xticks=list(sizes), xticklabels=[f"{v:,}" for v in sizes])
        ax.minorticks_off()
    np.atleast_1d(axes)[0].set_ylabel("bytes per token (held out)")
    np.atleast_1d(axes)[0].legend(loc="upper left")
    fig.suptitle("Byte-level BPE: frequency vs likelihood (PMI) merges")
    return fig


def _dropout_figure(ps: Sequence[float], curves: dict[str, list[float]]) -> Any:
    from algorithms.plotting import figure

    fig, ax = figure(figsize=(5.2, 3.6))
    for name, values in curves.items():
        ax.plot(ps, values, marker="o", markersize=4, label=DOMAIN_TITLES[name])
    ax.axhline(1.0, color="black", linestyle=":", linewidth=1,
               label="single bytes (p = 1)")
    ax.set(xlabel="dropout probability p", ylabel="bytes per token (held out)",
           title="BPE-dropout: shorter tokens as p grows", ylim=(0, None))
    ax.legend()
    return fig


def _vocab_curves_figure(results: dict, sizes: Sequence[int]) -> Any:
    from algorithms.plotting import figure

    panels = [*corpora.DOMAINS, "udhr_mean"]
    titles = DOMAIN_TITLES | {"udhr_mean": "UDHR, mean over languages"}
    fig, axes = figure(1, len(panels), figsize=(3.6 * len(panels), 3.6))
    for ax, panel in zip(axes, panels):
        for method, by_size in results.items():
            y = [_udhr_mean(by_size[v][1], "bytes_per_token") if panel == "udhr_mean"
                 else by_size[v][1][panel].bytes_per_token for v in sizes]
            ax.plot(sizes, y, **_style(method))
        ax.set(title=titles[panel], xscale="log", xlabel="vocabulary size",
               xticks=list(sizes), xticklabels=[f"{v // 1000}k" if v >= 1000 else str(v)
                                                for v in sizes])
        ax.minorticks_off()
    axes[0].set_ylabel("bytes per token (held out)")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper")
    return fig


def _ordered_languages(languages: Sequence[str]) -> list[str]:
    """Languages grouped by script, English first, in the order of ``corpora.LANGUAGES``."""
    scripts = list(dict.fromkeys(corpora.LANGUAGES[c].script for c in corpora.LANGUAGES))
    return sorted(languages, key=lambda c: (scripts.index(corpora.LANGUAGES[c].script),
                                            list(corpora.LANGUAGES).index(c)))


def _language_heatmap(results: dict, size: int, languages: Sequence[str], attribute: str,
                      label: str, log: bool = False) -> Any:
    from matplotlib.colors import LogNorm

    from algorithms.plotting import figure

    codes = _ordered_languages(languages)
    methods = list(results)
    cells = [[results[m][size][1][f"udhr_{c}"] for c in codes] for m in methods]
    grid = np.array([[getattr(cell, attribute) for cell in row] for row in cells])
    unknown = np.array([[cell.unk_rate > UNK_MARK for cell in row] for row in cells])
    fig, ax = figure(figsize=(0.55 * len(codes) + 2.6, 0.42 * len(methods) + 1.6))
    image = ax.imshow(grid, aspect="auto", cmap="viridis", norm=LogNorm() if log else None)
    ax.grid(False)
    ax.set_xticks(range(len(codes)), [f"{c}\n{corpora.LANGUAGES[c].script}" for c in codes],
                  fontsize=7.5)
    ax.set_yticks(range(len(methods)), [LABELS[m] for m in methods])
    for (i, j), value in np.ndenumerate(grid):
        red, green, blue, _ = image.cmap(image.norm(value))
        ink = "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"
        ax.text(j, i, f"{value:.1f}" + ("*" if unknown[i, j] else ""), ha="center", va="center",
                fontsize=6.5, color=ink)
    bar = fig.colorbar(image, ax=ax, label=label + (" (log scale)" if log else ""), shrink=0.9,
                       pad=0.01)
    if log:
        ticks = [t for t in (1, 2, 5, 10, 20, 50, 100) if grid.min() <= t <= grid.max()]
        bar.set_ticks(ticks, labels=[f"{t:g}" for t in ticks])
        bar.ax.minorticks_off()
    ax.set_title(f"{label[0].upper() + label[1:]} per language (UDHR, vocabulary {size:,})")
    return fig


def _vocabulary_figure(pooled: dict[str, dict[int, metrics.TextStats]], results: dict) -> Any:
    from algorithms.plotting import figure

    fig, axes = figure(2, 2, figsize=(9.6, 6.8))
    panels = [("(a) unknown-token rate", "share of tokens that are unknown",
               lambda s, t: s.unk_rate),
              ("(b) vocabulary used on held-out text", "share of the vocabulary",
               lambda s, t: metrics.vocab_used_share(s.counts, t.vocab_size)),
              ("(c) unigram code length per byte", "bits per byte",
               lambda s, t: s.bits_per_byte),
              ("(d) Rényi efficiency, α = 2.5", r"$H_{2.5}(p)\,/\,\log_2|V|$",
               lambda s, t: metrics.renyi_efficiency(s.counts, t.vocab_size))]
    for ax, (title, ylabel, value) in zip(axes.flat, panels):
        for method, by_size in pooled.items():
            sizes = sorted(by_size)
            ax.plot(sizes, [value(by_size[v], results[method][v][0]) for v in sizes],
                    **_style(method))
        ax.set(title=title, ylabel=ylabel, xscale="log", xlabel="vocabulary size")
        ax.set_xticks(sizes, [f"{v:,}" for v in sizes])
        ax.minorticks_off()
    fig.legend(*axes.flat[0].get_legend_handles_labels(), loc="outside right upper")
    return fig


def _zipf_figure(pooled: dict[str, dict[int, metrics.TextStats]], size: int) -> Any:
    from algorithms.plotting import figure

    fig, ax = figure(figsize=(6.4, 4.4))
    for method, by_size in pooled.items():
        counts = np.sort(np.array(list(by_size[size].counts.values())))[::-1]
        s, _ = metrics.zipf_fit(by_size[size].counts)
        style = _style(method) | {"marker": None, "label": f"{LABELS[method]} (s = {s:.2f})"}
        ax.plot(np.arange(1, len(counts) + 1), counts, **style)
    ax.set(xscale="log", yscale="log", xlabel="rank r", ylabel="count f(r)",
           title=f"Token rank-frequency, vocabulary {size:,}")
    ax.legend(fontsize=8)
    return fig


def _premium_figure(premiums: dict, byte_premium: dict[str, float],
                    config: FairnessConfig) -> Any:
    from algorithms.plotting import figure

    codes = [c for c in config.languages if c != "eng"]
    key = ("forge_bpe", "english") if ("forge_bpe", "english") in premiums else \
        next(iter(premiums))
    codes.sort(key=lambda c: premiums[key][c])
    fig, ax = figure(figsize=(max(6.0, 0.42 * len(codes) + 1.5), 4.2))
    x = np.arange(len(codes))
    bars = [(("forge_bpe", "english"), "#D55E00", "forge BPE, English-only training"),
            (("forge_bpe", "multilingual"), "#0072B2", "forge BPE, multilingual training")]
    bars = [bar for bar in bars if bar[0] in premiums]
    width = 0.8 / max(1, len(bars))
    for k, (run, colour, label) in enumerate(bars):
        ax.bar(x + (k - (len(bars) - 1) / 2) * width, [premiums[run][c] for c in codes],
               width, color=colour, label=label)
    ax.scatter(x, [byte_premium[c] for c in codes], marker="D", s=16, color="black", zorder=3,
               label="byte premium (UTF-8 bytes ÷ English bytes)")
    ax.axhline(1.0, color="black", linestyle="--", linewidth=1)
    ax.set(yscale="log", ylabel="tokens ÷ English tokens",
           title="Token premium relative to English (UDHR Articles 20–30)")
    ax.set_xticks(x, [f"{c}\n{corpora.LANGUAGES[c].script}" for c in codes], fontsize=7.5)
    ax.yaxis.set_major_formatter(_plain_formatter())
    ax.yaxis.set_minor_formatter(_plain_formatter())
    ax.legend(loc="upper left")
    return fig


def _plain_formatter() -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda y, _: f"{y:g}")


def _premium_heatmap(premiums: dict, unk_rates: dict, config: FairnessConfig) -> Any:
    from algorithms.plotting import figure

    codes = _ordered_languages([c for c in config.languages if c != "eng"])
    methods = [m for m in config.methods if (m, "multilingual") in premiums]
    grid = np.array([[premiums[m, "multilingual"][c] for c in codes] for m in methods])
    unknown = np.array([[unk_rates[m, "multilingual"][c] > UNK_MARK for c in codes]
                        for m in methods])
    from matplotlib.colors import TwoSlopeNorm

    fig, ax = figure(figsize=(0.55 * len(codes) + 2.6, 0.42 * len(methods) + 1.6))
    # log colour scale centred on parity: as red for 2× as blue for ½×
    clean = grid[~unknown] if (~unknown).any() else grid  # [UNK]s would set the scale
    spread = max(clean.max(), 1 / clean.min(), 1.01)
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-np.log(spread), vmax=np.log(spread))
    image = ax.imshow(np.log(grid), aspect="auto", cmap="RdBu_r", norm=norm)
    ax.grid(False)
    ax.set_xticks(range(len(codes)), [f"{c}\n{corpora.LANGUAGES[c].script}" for c in codes],
                  fontsize=7.5)
    ax.set_yticks(range(len(methods)), [LABELS[m] for m in methods])
    for (i, j), value in np.ndenumerate(grid):
        ax.text(j, i, f"{value:.1f}" + ("*" if unknown[i, j] else ""), ha="center", va="center",
                fontsize=6.5,
                color="white" if abs(np.log(value)) > 0.6 * np.log(spread) else "black")
    bar = fig.colorbar(image, ax=ax, shrink=0.9, pad=0.01, label="premium (log scale)")
    ticks = [t for t in (0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 10)
             if 0.99 / spread <= t <= 1.01 * spread]
    bar.set_ticks(np.log(ticks), labels=[f"{t:g}" for t in ticks])
    ax.set_title("Token premium relative to English, multilingual training")
    return fig

