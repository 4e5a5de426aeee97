"""``compression``, ``vocabulary`` and ``fairness``: forge's three tokenizers and the libraries'
five (``algorithms/tokenization/references.py``), trained on the same multilingual mix to the
same vocabulary sizes, measured on held-out text (``corpora.held_out``).

The three experiments share one configuration class; with equal values they share the trained
tokenizers too (trained once per process, see :func:`_trained`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from algorithms.experiment import ExperimentConfig, Tracker, experiment
from algorithms.tokenization import corpora, metrics
from algorithms.tokenization.references import COUNTERPARTS, METHODS, Trained, train

SMOKE_LANGUAGES = ("eng", "fra", "rus", "arb", "hin", "cmn", "jpn", "kor")
UNK_MARK = 0.01  # figures star the cells where more than this share of tokens is unknown


class StudyConfig(ExperimentConfig):
    """The corpora, vocabulary sizes and tokenizers the compression, vocabulary and fairness
    experiments share (equal values: the tokenizers are trained once per process)."""

    languages: tuple[str, ...] = tuple(corpora.LANGUAGES)
    domain_bytes: int | None = 300_000  # training text per English domain (None: all of it)
    docs_bytes: int | None = 60_000  # training text of the Python tutorial per language
    eval_bytes: int | None = 100_000  # held-out text per English domain
    vocab_sizes: tuple[int, ...] = (2000, 4000, 8000)
    methods: tuple[str, ...] = METHODS
    character_coverage: float = 0.9995  # alphabets keep the characters covering this share ...
    max_alphabet_share: float = 0.5  # ... but at most this share of the vocabulary
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


Results = dict[str, dict[int, tuple[Trained, dict[str, metrics.TextStats]]]]


def _study(config: StudyConfig, tracker: Tracker, what: str) -> Results:
    """method → vocabulary size → (the trained tokenizer, its statistics on every held-out text).
    """
    sets = corpora.held_out(config.languages, config.eval_bytes)
    results = {}
    for method in tracker.track(list(config.methods), total=len(config.methods),
                                description=f"{what}: train and evaluate"):
        results[method] = {
            v: (trained, {name: trained.stats(lines) for name, lines in sets.items()})
            for v, trained in _trained(config, method).items()}
    return results


def _udhr_mean(stats: dict[str, metrics.TextStats], attribute: str) -> float:
    """The mean of ``attribute`` over the held-out UDHR articles of every language."""
    return float(np.mean([getattr(s, attribute) for name, s in stats.items()
                          if name.startswith("udhr_")]))


def _kb(n: int | None) -> str:
    return "all the text" if n is None else f"{n / 1000:.0f} kB"


def _language_grid(results: Results, size: int, codes: list[str], attribute: str
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(``attribute`` per method × language on the UDHR, where more than 1% is unknown)."""
    cells = [[results[m][size][1][f"udhr_{c}"] for c in codes] for m in results]
    return (np.array([[getattr(cell, attribute) for cell in row] for row in cells]),
            np.array([[cell.unk_rate > UNK_MARK for cell in row] for row in cells]))


# ----------------------------------------------------------------------------- compression

@experiment(week=2, name="compression", covers=(2,), config=StudyConfig, seeded=False,
            units={"*.bytes_per_token": "bytes/token", "*.tokens_per_word": "tokens/word",
                   "*.ratio": "×", "*.train_s": "s"})
def compression(config: StudyConfig, tracker: Tracker) -> dict[str, float]:
    """Bytes per token and tokens per word of eight tokenizers, by domain and language."""
    from algorithms.weeks.week02 import figures

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
            udhr_mean = _udhr_mean(stats, "bytes_per_token")
            summary[f"{method}.udhr_mean.v{v}.bytes_per_token"] = udhr_mean
            tracker.log({f"compression/{method}/udhr_mean_bytes_per_token": udhr_mean},
                        step=v, x="vocab_size")
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
            ours = metrics.pooled(results[forge][v][1].values()).bytes_per_token
            theirs = metrics.pooled(results[library][v][1].values()).bytes_per_token
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

    sizes = sorted(config.vocab_sizes)
    top = max(sizes)
    curves = {panel: {method: [by_size[v][1][panel].bytes_per_token for v in sizes]
                      for method, by_size in results.items()} for panel in corpora.DOMAINS}
    curves["udhr_mean"] = {method: [_udhr_mean(by_size[v][1], "bytes_per_token") for v in sizes]
                           for method, by_size in results.items()}
    tracker.log_figure(
        "compression/bytes_per_token_vs_vocab", figures.vocab_curves(sizes, curves),
        "UTF-8 bytes per token on held-out text against vocabulary size, every tokenizer "
        f"trained on the same multilingual mix ({_mix_description(config)}). Panels: English "
        "prose, code and science, and the mean over the UDHR's held-out Articles 20–30 in "
        f"{len(config.languages)} languages. Colour: algorithm; solid: forge; dashed: HF "
        "tokenizers; dotted: SentencePiece. Higher is better compression. WordPiece drops "
        "whitespace, so its bytes include spaces it never encodes.")
    codes = corpora.by_script(config.languages)
    for attribute, what, log, caption in (
            ("bytes_per_token", "bytes per token", False,
             f"Bytes per token on the held-out UDHR articles per language, vocabulary {top}, "
             "every tokenizer trained on the same multilingual mix. Languages grouped by "
             "script; a UTF-8 character takes 1 byte in ASCII, 2 in Cyrillic, Greek, Arabic and "
             "Hebrew, and 3 in Indic scripts, Thai, CJK and Hangul, so bytes per token is not "
             f"characters per token. * marks cells where more than {UNK_MARK:.0%} of tokens are "
             "unknown ([UNK]/<unk>): an unknown run counts as one token there, which flatters "
             "the number."),
            ("fertility", "tokens per word", True,
             "Fertility (tokens per whitespace-separated word) on the held-out UDHR articles, "
             f"vocabulary {top}. Chinese and Japanese (and largely Thai) write no spaces "
             "between words, so their 'words' are whole phrases and their fertility is not "
             "comparable with the other languages'. * as in the bytes-per-token figure: more "
             f"than {UNK_MARK:.0%} unknown tokens.")):
        grid, unknown = _language_grid(results, top, codes, attribute)
        fig = figures.language_heatmap(grid, unknown, list(results), codes, top, what, log)
        tracker.log_figure(f"compression/{attribute}_by_language", fig, caption)
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
    from algorithms.weeks.week02 import figures

    results = _study(config, tracker, "vocabulary")
    sizes = sorted(config.vocab_sizes)
    top = max(sizes)
    summary: dict[str, float] = {}
    rows, unk_rows = [], []
    series: dict[str, dict[str, list[float]]] = {}  # metric -> method -> per vocabulary size
    ranked: dict[str, np.ndarray] = {}  # method -> token counts at the largest size, descending
    exponents: dict[str, float] = {}
    for method, by_size in results.items():
        for v, (trained, stats) in by_size.items():
            total = metrics.pooled(stats.values())
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
            tracker.log({f"vocabulary/{method}/{key}": x for key, x in values.items()},
                        step=v, x="vocab_size")
            for key, x in values.items():
                series.setdefault(key, {}).setdefault(method, []).append(x)
            for key in ("unk_rate", "used_share", "bits_per_byte", "renyi_efficiency"):
                summary[f"{method}.v{v}.{key}"] = values[key]
            if v == top:
                summary[f"{method}.v{v}.bits_per_token"] = values["bits_per_token"]
                summary[f"{method}.v{v}.zipf_exponent"] = zipf_s
                ranked[method] = np.sort(np.array(list(total.counts.values())))[::-1]
                exponents[method] = zipf_s
            for name, s in stats.items():
                if trained.unk_id is not None and name.startswith("udhr_"):
                    unk_rows.append([method, v, name.removeprefix("udhr_"), round(s.unk_rate, 5)])
    tracker.log_table("vocabulary/summary", ["method", "vocab_size", "unk_rate", "used_share",
                                             "bits_per_token", "bits_per_byte",
                                             "renyi_efficiency_2_5", "shannon_efficiency",
                                             "zipf_exponent", "zipf_r2"], rows)
    tracker.log_table("vocabulary/unk_rate_by_language", ["method", "vocab_size", "language",
                                                          "unk_rate"], unk_rows)
    held_out_docs = corpora.DOCS_LINES - corpora.DOCS_TRAIN_LINES
    text = (f"all held-out text together (English prose, code and science, UDHR Articles 20–30 "
            f"in {len(config.languages)} languages and the tutorial's last {held_out_docs} lines)")
    tracker.log_figure(
        "vocabulary/efficiency_vs_coverage", figures.vocabulary_panels(sizes, series),
        f"Vocabulary efficiency against coverage, on {text}. (a) Share of tokens that are "
        "unknown ([UNK]/<unk>; byte-level BPE has none). (b) Share of the vocabulary the text "
        "uses at least once. (c) Bits per byte = H(p) × tokens / bytes, H the Shannon entropy "
        "of the empirical unigram token distribution p: the code length per byte of a "
        "context-free unigram model over tokens fitted to the text. (d) Rényi efficiency "
        f"H_{metrics.RENYI_ALPHA:g}(p) / log₂|V| (Zouhar et al. 2023). Colour: algorithm; "
        "solid: forge; dashed: HF; dotted: SentencePiece.")
    tracker.log_figure(
        "vocabulary/zipf", figures.zipf(ranked, exponents, top),
        f"Rank-frequency of tokens on {text}, vocabulary {top}, log-log. "
        "The slope s of a least-squares line through the tokens seen at least twice is in the "
        "legend (Zipf's law: f(r) ∝ r^−s, s ≈ 1 for words).")
    return summary


# ----------------------------------------------------------------------------- fairness

class FairnessConfig(StudyConfig):
    english_mix_methods: tuple[str, ...] = ("forge_bpe", "hf_bpe")  # also trained on English only
    profiles: ClassVar[dict[str, dict[str, Any]]] = StudyConfig.profiles


@experiment(week=2, name="fairness", covers=(2,), config=FairnessConfig, seeded=False,
            units={"*premium": "×", "*.unk_rate": ""})
def fairness(config: FairnessConfig, tracker: Tracker) -> dict[str, float]:
    """Token premium: what the same UDHR text costs in each language relative to English."""
    from algorithms.weeks.week02 import figures

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
        stats = {code: trained.stats(lines) for code, lines in udhr.items()}
        english = stats["eng"].n_tokens
        premiums[method, mix] = {code: metrics.premium(s.n_tokens, english)
                                 for code, s in stats.items()}
        unk_rates[method, mix] = {code: s.unk_rate for code, s in stats.items()}
        for code, s in stats.items():
            rows.append([method, mix, code, corpora.LANGUAGES[code].script, s.n_tokens,
                         round(premiums[method, mix][code], 4), round(byte_premium[code], 4),
                         round(s.unk_rate, 5)])
        values = [p for code, p in premiums[method, mix].items() if code != "eng"]
        summary[f"{method}.{mix}.mean_premium"] = float(np.mean(values))
        summary[f"{method}.{mix}.max_premium"] = float(np.max(values))
        if "eng" in docs:
            encoded = {code: trained.encode_lines(lines) for code, lines in docs.items()}
            english_docs = sum(map(len, encoded["eng"]))
            docs_rows += [[method, mix, code,
                           round(metrics.premium(sum(map(len, ids)), english_docs), 4)]
                          for code, ids in encoded.items()]
    forge_multilingual = premiums.get(("forge_bpe", "multilingual"))
    forge_english = premiums.get(("forge_bpe", "english"))
    for code in config.languages:
        if code != "eng":
            summary[f"{code}.premium"] = forge_multilingual[code] if forge_multilingual \
                else float("nan")
            if forge_english:
                summary[f"english_mix.{code}.premium"] = forge_english[code]
            summary[f"{code}.byte_premium"] = byte_premium[code]
    tracker.log_table("fairness/udhr_premium", ["method", "training_mix", "language", "script",
                                                "tokens", "premium", "byte_premium", "unk_rate"],
                      rows)
    if docs_rows:
        tracker.log_table("fairness/docs_premium", ["method", "training_mix", "language",
                                                    "premium"], docs_rows)

    others = [code for code in config.languages if code != "eng"]
    by_cost = sorted(others, key=lambda c: (forge_english or next(iter(premiums.values())))[c])
    tracker.log_figure(
        "fairness/premium_by_language",
        figures.premium_bars(by_cost, byte_premium, forge_english, forge_multilingual),
        "Token premium (Petrov et al. 2023): tokens needed for UDHR Articles 20–30 in each "
        "language ÷ tokens for the same articles in English (1 = parity, dashed line), "
        f"vocabulary {top}. Bars: forge's byte-level BPE trained on English only (prose, code, "
        "science, the English tutorial and UDHR) and on the multilingual mix (the same English "
        "text plus the other languages' tutorial and UDHR Articles 1–19). Diamonds: the byte "
        "premium, UTF-8 bytes ÷ English bytes — what a tokenizer with no merges for the "
        "language would pay relative to one with none for English. Sorted by the English-only "
        "premium; log scale.")
    codes = corpora.by_script(others)
    methods = [m for m in config.methods if (m, "multilingual") in premiums]
    grid = np.array([[premiums[m, "multilingual"][c] for c in codes] for m in methods])
    unknown = np.array([[unk_rates[m, "multilingual"][c] > UNK_MARK for c in codes]
                        for m in methods])
    tracker.log_figure(
        "fairness/premium_heatmap", figures.premium_heatmap(grid, unknown, methods, codes),
        f"Token premium relative to English on UDHR Articles 20–30, vocabulary {top}, for "
        "every tokenizer trained on the multilingual mix; red: costs more than English, blue: "
        "less (log colour scale). Tokenizers with an alphabet (WordPiece, Unigram) turn text "
        "outside it into one [UNK] per unknown run (WordPiece: per word), which makes a text "
        f"look cheap: * marks cells where more than {UNK_MARK:.0%} of tokens are unknown, and "
        "those cells do not set the colour range.")
    return summary
