"""The week's corpora (``algorithms/data``, see its README and MANIFEST) by language and domain.

Every corpus is served as a list of non-empty lines, split into a training part and a held-out
part that no tokenizer sees in training:

* languages — the Universal Declaration of Human Rights, parallel in every language: training
  on the title, preamble and Articles 1–19, held out Articles 20–30. Parallel text is what makes
  token counts comparable across languages (Petrov et al. 2023).
* docs — the Python tutorial in 9 languages, line-aligned: training on lines 1–500, held out
  the remaining 118.
* domains (English) — prose (TinyStories, Tiny Shakespeare), code (CPython's standard
  library), science (arXiv titles and abstracts): training from the front of each file, held
  out from the back (prose: the TinyStories *validation* excerpt and the last fifth of
  Shakespeare).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

DATA = Path(__file__).resolve().parents[1] / "data"


class Language(NamedTuple):
    code: str  # ISO 639-3
    name: str
    script: str  # ISO 15924
    udhr: str  # file under udhr/
    docs: str | None = None  # file under pydocs_tutorial/, if the tutorial has this language


LANGUAGES: dict[str, Language] = {lang.code: lang for lang in [
    Language("eng", "English", "Latn", "eng", "en"),
    Language("deu", "German", "Latn", "deu_1996"),
    Language("fra", "French", "Latn", "fra", "fr"),
    Language("spa", "Spanish", "Latn", "spa", "es"),
    Language("por", "Portuguese", "Latn", "por_BR", "pt-br"),
    Language("pol", "Polish", "Latn", "pol", "pl"),
    Language("tur", "Turkish", "Latn", "tur", "tr"),
    Language("vie", "Vietnamese", "Latn", "vie"),
    Language("yor", "Yoruba", "Latn", "yor"),
    Language("rus", "Russian", "Cyrl", "rus"),
    Language("ukr", "Ukrainian", "Cyrl", "ukr"),
    Language("ell", "Greek", "Grek", "ell_monotonic"),
    Language("arb", "Arabic", "Arab", "arb"),
    Language("pes", "Persian", "Arab", "pes_1"),
    Language("heb", "Hebrew", "Hebr", "heb"),
    Language("hin", "Hindi", "Deva", "hin"),
    Language("ben", "Bengali", "Beng", "ben"),
    Language("tam", "Tamil", "Taml", "tam"),
    Language("tha", "Thai", "Thai", "tha"),
    Language("kat", "Georgian", "Geor", "kat"),
    Language("tir", "Tigrinya", "Ethi", "tir"),
    Language("cmn", "Chinese (Mandarin, simplified)", "Hans", "cmn_hans", "zh-cn"),
    Language("jpn", "Japanese", "Jpan", "jpn", "ja"),
    Language("kor", "Korean", "Hang", "kor", "ko"),
]}
DOC_LANGUAGES = tuple(code for code, lang in LANGUAGES.items() if lang.docs)
DOMAINS = ("prose", "code", "science")
UDHR_TRAIN_BLOCKS = 21  # title, preamble, Articles 1–19
DOCS_LINES = 618  # the line-aligned part of every translation of the tutorial
DOCS_TRAIN_LINES = 500


@lru_cache(maxsize=None)
def _read(relative: str) -> str:
    return (DATA / relative).read_text(encoding="utf-8")


def _lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip()]


def _budget(lines: list[str], max_bytes: int | None) -> list[str]:
    """The first lines of ``lines`` that fit in ``max_bytes`` UTF-8 bytes (at least one)."""
    if max_bytes is None:
        return lines
    kept, used = [], 0
    for line in lines:
        used += len(line.encode("utf-8")) + 1
        if kept and used > max_bytes:
            break
        kept.append(line)
    return kept


def udhr(code: str, split: str) -> list[str]:
    """The UDHR in language ``code``: ``split`` "train" (to Article 19) or "test" (20–30)."""
    blocks = _read(f"udhr/{LANGUAGES[code].udhr}.txt").strip("\n").split("\n\n")
    part = blocks[:UDHR_TRAIN_BLOCKS] if split == "train" else blocks[UDHR_TRAIN_BLOCKS:]
    return _lines("\n".join(part))


def docs(code: str, split: str) -> list[str]:
    """The Python tutorial in language ``code`` (one of ``DOC_LANGUAGES``), line-aligned."""
    lines = _read(f"pydocs_tutorial/{LANGUAGES[code].docs}.txt").split("\n")[:DOCS_LINES]
    part = lines[:DOCS_TRAIN_LINES] if split == "train" else lines[DOCS_TRAIN_LINES:]
    return [line for line in part if line.strip()]


def domain(name: str, split: str, max_bytes: int | None = None) -> list[str]:
    """English text of one domain (``DOMAINS``), at most ``max_bytes`` of it."""
    train = split == "train"
    if name == "prose":
        stories = _lines(_read("tinystories/tinystories_train_head.txt" if train
                               else "tinystories/tinystories_valid_head.txt"))
        stories = [line for line in stories if line != "<|endoftext|>"]
        plays = _lines(_read("shakespeare/tinyshakespeare.txt"))
        cut = len(plays) * 4 // 5
        plays = plays[:cut] if train else plays[cut:]
        half = None if max_bytes is None else max_bytes // 2
        return _budget(stories, half) + _budget(plays, half)
    if name == "code":
        lines = _lines(_read("code/python_stdlib_3.11.7.txt"))
    elif name == "science":
        lines = _lines(_read("science/arxiv_abstracts_sample.txt"))
    else:
        raise ValueError(f"unknown domain {name!r}: expected one of {DOMAINS}")
    cut = len(lines) * 4 // 5
    return _budget(lines[:cut] if train else lines[cut:], max_bytes)


def training_mix(mix: str, languages: tuple[str, ...], domain_bytes: int | None,
                 docs_bytes: int | None) -> list[str]:
    """The lines a tokenizer is trained on.

    ``"multilingual"``: the English domains, the tutorial in its 9 languages and the UDHR
    training articles in every language of ``languages``. ``"english"``: the same with English
    only (an English-centric tokenizer, like GPT-2's).
    """
    if mix not in ("multilingual", "english"):
        raise ValueError(f"unknown training mix {mix!r}")
    keep = languages if mix == "multilingual" else ("eng",)
    lines = [line for name in DOMAINS for line in domain(name, "train", domain_bytes)]
    for code in keep:
        if code in DOC_LANGUAGES:
            lines += _budget(docs(code, "train"), docs_bytes)
        lines += udhr(code, "train")
    return lines


def n_bytes(lines: list[str]) -> int:
    return sum(len(line.encode("utf-8")) for line in lines)


def held_out(languages: tuple[str, ...], eval_bytes: int | None) -> dict[str, list[str]]:
    """Every held-out text by name: the English domains (at most ``eval_bytes`` each),
    ``udhr_<code>`` for every language and ``docs_<code>`` for those the tutorial has."""
    sets = {name: domain(name, "test", eval_bytes) for name in DOMAINS}
    sets |= {f"udhr_{code}": udhr(code, "test") for code in languages}
    sets |= {f"docs_{code}": docs(code, "test") for code in languages if code in DOC_LANGUAGES}
    return sets


def by_script(languages: Sequence[str]) -> list[str]:
    """``languages`` grouped by script, in the order scripts and languages have in
    ``LANGUAGES`` (English first)."""
    scripts = list(dict.fromkeys(lang.script for lang in LANGUAGES.values()))
    order = list(LANGUAGES)
    return sorted(languages, key=lambda code: (scripts.index(LANGUAGES[code].script),
                                               order.index(code)))
