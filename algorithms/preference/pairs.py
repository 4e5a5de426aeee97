"""Preference data on disk: one JSON object per line, each a prompt and two responses as token
ids with their gold rewards and the labels of one or more annotators.

A record::

    {"prompt": [ids], "a": [ids], "b": [ids], "split": "train" | "test",
     "reward_a": float, "reward_b": float,                     # the gold reward of each response
     "labels": {"<annotator>": 1 | 0},                         # 1: a preferred
     "flipped": {"<annotator>": true | false}}                 # the labels noise flipped (optional)

plus, optionally, ``prompt_text``, ``a_text`` and ``b_text`` for reading. The file is read
strictly (:func:`read_pairs`): a record that is not an object, lacks a field, has ids that are
not non-negative integers or a label that is not 0 or 1 raises ``ValueError`` naming its line,
so a bad file is refused before anything trains on it. A folder holding ``pairs.jsonl`` also
holds ``meta.json`` with the tokenizer's vocabulary size, which :func:`check_vocabulary` holds a
model to.

:func:`chosen_rejected` orients a file's pairs by one annotator's labels as full sequences
(prompt + response) and :func:`pad_rows` makes them the right-padded rows and lengths the reward
models and losses take."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PAIRS_FILE = "pairs.jsonl"
META_FILE = "meta.json"
SPLITS = ("train", "test")


@dataclass(frozen=True)
class PreferencePair:
    """One prompt, two responses (token ids), their gold rewards and each annotator's label."""

    prompt: tuple[int, ...]
    a: tuple[int, ...]
    b: tuple[int, ...]
    split: str
    reward_a: float
    reward_b: float
    labels: dict[str, int] = field(default_factory=dict)
    flipped: dict[str, bool] = field(default_factory=dict)
    text: dict[str, str] = field(default_factory=dict)
    """``prompt``, ``a`` and ``b`` decoded, for reading (may be empty)."""

    def to_json(self) -> dict[str, Any]:
        record = {"prompt": list(self.prompt), "a": list(self.a), "b": list(self.b),
                  "split": self.split, "reward_a": self.reward_a, "reward_b": self.reward_b,
                  "labels": dict(self.labels), "flipped": dict(self.flipped)}
        record.update({f"{name}_text": value for name, value in self.text.items()})
        return record


def _ids(value: Any, name: str, where: str, allow_empty: bool) -> tuple[int, ...]:
    if not isinstance(value, list) or (not value and not allow_empty) or not all(
            isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value):
        raise ValueError(f"{where}: '{name}' must be a list of token ids (integers >= 0)"
                         + ("" if allow_empty else ", not empty"))
    return tuple(value)


def _number(value: Any, name: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where}: '{name}' must be a finite number, got {value!r}")
    return float(value)


def parse_pair(record: Any, where: str) -> PreferencePair:
    """A :class:`PreferencePair` from one decoded JSON record; ``ValueError`` naming ``where``
    and the first problem."""
    if not isinstance(record, dict):
        raise ValueError(f"{where}: a record must be a JSON object, got {type(record).__name__}")
    missing = [name for name in ("prompt", "a", "b", "split", "reward_a", "reward_b", "labels")
               if name not in record]
    if missing:
        raise ValueError(f"{where}: the record lacks {', '.join(repr(m) for m in missing)}")
    if record["split"] not in SPLITS:
        raise ValueError(f"{where}: 'split' must be one of {', '.join(SPLITS)}, got "
                         f"{record['split']!r}")
    labels = record["labels"]
    if not isinstance(labels, dict) or not all(
            isinstance(k, str) and v in (0, 1) and not isinstance(v, float)
            for k, v in labels.items()):
        raise ValueError(f"{where}: 'labels' must map annotator names to 0 or 1 (1: a preferred)")
    flipped = record.get("flipped", {})
    if not isinstance(flipped, dict) or not all(isinstance(v, bool) for v in flipped.values()):
        raise ValueError(f"{where}: 'flipped' must map annotator names to true or false")
    text = {name: record[f"{name}_text"] for name in ("prompt", "a", "b")
            if isinstance(record.get(f"{name}_text"), str)}
    return PreferencePair(
        prompt=_ids(record["prompt"], "prompt", where, allow_empty=False),
        a=_ids(record["a"], "a", where, allow_empty=True),
        b=_ids(record["b"], "b", where, allow_empty=True),
        split=record["split"], reward_a=_number(record["reward_a"], "reward_a", where),
        reward_b=_number(record["reward_b"], "reward_b", where),
        labels={k: int(v) for k, v in labels.items()}, flipped=dict(flipped), text=text)


def write_pairs(folder: Path, pairs: Iterable[PreferencePair], vocab_size: int,
                meta: dict[str, Any] | None = None) -> Path:
    """``folder/pairs.jsonl`` and ``folder/meta.json`` (``vocab_size`` and ``meta``), each
    written to a temporary name and renamed, so a reader never sees half a file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / PAIRS_FILE
    for target, text in (
            (path, "".join(json.dumps(p.to_json(), ensure_ascii=False) + "\n" for p in pairs)),
            (folder / META_FILE, json.dumps({"vocab_size": vocab_size, **(meta or {})},
                                            indent=2))):
        partial = target.with_name(target.name + ".partial")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, target)
    return path


def read_pairs(path: Path) -> list[PreferencePair]:
    """Every record of a pairs file (``path`` or its folder), checked line by line."""
    path = Path(path)
    if path.is_dir():
        path = path / PAIRS_FILE
    if not path.is_file():
        raise ValueError(f"{path}: no such preference file")
    pairs = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{where}: not JSON ({error.msg})") from None
            pairs.append(parse_pair(record, where))
    if not pairs:
        raise ValueError(f"{path}: the preference file holds no records")
    return pairs


def read_meta(folder: Path) -> dict[str, Any]:
    path = Path(folder) / META_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: unreadable preference metadata ({error})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("vocab_size"), int):
        raise ValueError(f"{path}: preference metadata must give 'vocab_size' as an integer")
    return meta


def check_vocabulary(pairs: Sequence[PreferencePair], vocab_size: int, data_vocab: int,
                     what: str = "the model") -> None:
    """``ValueError`` when the pairs were tokenized for another vocabulary than ``what``'s, or
    hold an id outside it."""
    if data_vocab != vocab_size:
        raise ValueError(f"the preference data was tokenized with a {data_vocab}-token vocabulary "
                         f"but {what} has {vocab_size}: their tokenizers do not match")
    top = max((max(ids, default=-1) for p in pairs for ids in (p.prompt, p.a, p.b)), default=-1)
    if top >= vocab_size:
        raise ValueError(f"the preference data holds token id {top}, outside {what}'s "
                         f"vocabulary of {vocab_size}")


def chosen_rejected(pairs: Sequence[PreferencePair], annotator: str
                    ) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """(chosen, rejected) full sequences (prompt + response) by ``annotator``'s labels."""
    chosen, rejected = [], []
    for p in pairs:
        if annotator not in p.labels:
            raise ValueError(f"a pair has no label by annotator {annotator!r}; it has "
                             f"{', '.join(sorted(p.labels)) or 'none'}")
        first, second = (p.a, p.b) if p.labels[annotator] == 1 else (p.b, p.a)
        chosen.append(p.prompt + first)
        rejected.append(p.prompt + second)
    return chosen, rejected


def pad_rows(rows: Sequence[Sequence[int]], pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(ids ``(B, T)`` right-padded with ``pad_id``, lengths ``(B,)``)."""
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = row
    return ids, np.array([len(r) for r in rows], dtype=np.int64)


def gold_labels(pairs: Sequence[PreferencePair]) -> np.ndarray:
    """1 where a's gold reward is higher (ties: 0)."""
    return np.array([int(p.reward_a > p.reward_b) for p in pairs], dtype=np.int8)
