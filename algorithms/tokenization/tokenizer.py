"""Encoding and decoding with a trained byte-level BPE: GPT-2's ``encoder.py``, with BPE-dropout.

To encode, the text is cut at special tokens, the rest is split into pre-tokens by the GPT-2
regex, and each pre-token's UTF-8 bytes are merged by replaying the learned merges: repeatedly
apply the adjacent pair that was learned earliest (lowest rank) until no learned pair is left.
That is exactly the segmentation training gave the training text, and it only depends on the
pre-token, so results are cached per pre-token.

BPE-dropout (Provilkov, Emelianenko & Voita 2020, "BPE-Dropout: Simple and Effective Subword
Regularization", Algorithm 1) makes the segmentation stochastic at encode time: at each merge
step every applicable merge is dropped with probability p, and the best remaining one is applied;
when all are dropped, the word is done. p = 0 is plain BPE; p = 1 leaves single bytes. The
result always decodes to the same text; only the split changes.

Round trip. Every string of Unicode scalar values is valid UTF-8, and bytes cover it, so
``decode(encode(s)) == s`` for any ``s`` without lone surrogates (which UTF-8 cannot hold).
``decode`` of an arbitrary id sequence may cut a multi-byte character: those bytes become U+FFFD.

Files. ``vocab.json`` maps each token to its id and ``merges.txt`` lists the merges, one
``a b`` per line after a ``#version`` line, both in GPT-2's format, where each byte is written
as a printable character (``bytes_to_unicode``: a space is ``Ġ``). HF ``tokenizers`` and
tiktoken-style loaders read them.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path

import regex

from algorithms.tokenization.pretokenize import GPT2_SPLIT, special_splitter

_WHITESPACE = regex.compile(r"\s")
CACHE_LIMIT = 1 << 18  # cached pre-tokens before the cache is emptied (memory stays bounded)


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's printable stand-in for every byte (openai/gpt-2, src/encoder.py).

    Printable Latin-1 bytes stand for themselves; the other 68 map to U+0100 onwards, so that
    no token is written with whitespace or control characters.
    """
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
            *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in keep}
    for n, b in enumerate(b for b in range(256) if b not in table):
        table[b] = chr(256 + n)
    return dict(sorted(table.items()))


def show_token(token: bytes) -> str:
    """A token as readable text for tables: UTF-8 (broken characters as U+FFFD), a space as
    ␣ and a newline as ⏎."""
    return token.decode("utf-8", errors="replace").replace(" ", "␣").replace("\n", "⏎")


def _printable(token: bytes) -> str:
    table = bytes_to_unicode()
    return "".join(table[b] for b in token)


def _from_printable(text: str) -> bytes:
    inverse = {c: b for b, c in bytes_to_unicode().items()}
    return bytes(inverse[c] for c in text)


class Tokenizer:
    """A byte-level BPE tokenizer from a vocabulary and its merges (what :func:`train_bpe` returns).

    ``special_tokens`` are matched before anything else, the longest first where several start
    at the same place, and each becomes its single id; those missing from ``vocab`` are added
    at the next free ids. ``dropout`` > 0 turns on BPE-dropout (``seed`` seeds it).
    """

    def __init__(self, vocab: dict[int, bytes], merges: Sequence[tuple[bytes, bytes]],
                 special_tokens: Sequence[str] | None = None, dropout: float = 0.0,
                 seed: int | None = None):
        self.vocab = dict(vocab)
        self.merges = list(merges)
        self.special_tokens = list(dict.fromkeys(special_tokens or ()))
        by_bytes: dict[bytes, int] = {}
        for i in sorted(self.vocab):
            by_bytes.setdefault(self.vocab[i], i)
        self.special_ids: dict[str, int] = {}
        for token in self.special_tokens:
            if token.encode("utf-8") not in by_bytes:
                by_bytes[token.encode("utf-8")] = max(self.vocab, default=-1) + 1
                self.vocab[by_bytes[token.encode("utf-8")]] = token.encode("utf-8")
            self.special_ids[token] = by_bytes[token.encode("utf-8")]
        self._special_split = special_splitter(self.special_tokens)
        self._special_prefixes = {token[:k] for token in self.special_tokens
                                  for k in range(1, len(token) + 1)}
        self._byte_ids = [by_bytes[bytes([b])] for b in range(256)]
        # (id a, id b) -> (rank, id of a+b): the merge table that encoding replays
        self._ranks: dict[tuple[int, int], tuple[int, int]] = {}
        for rank, (a, b) in enumerate(self.merges):
            self._ranks.setdefault((by_bytes[a], by_bytes[b]), (rank, by_bytes[a + b]))
        self.dropout = dropout
        self._rng = random.Random(seed)
        self._cache: dict[str, tuple[int, ...]] = {}

    # ------------------------------------------------------------------ construction and files

    @classmethod
    def from_files(cls, vocab_path: str | Path, merges_path: str | Path,
                   special_tokens: Sequence[str] | None = None, **kwargs) -> Tokenizer:
        """Load GPT-2-format ``vocab.json`` and ``merges.txt`` (as written by :meth:`save`)."""
        vocab = {int(i): _from_printable(token)
                 for token, i in json.loads(Path(vocab_path).read_text("utf-8")).items()}
        merges = []
        for line in Path(merges_path).read_text("utf-8").splitlines():
            if line and not line.startswith("#version"):
                a, b = line.split(" ")
                merges.append((_from_printable(a), _from_printable(b)))
        return cls(vocab, merges, special_tokens, **kwargs)

    def save(self, vocab_path: str | Path, merges_path: str | Path) -> None:
        """Write ``vocab.json`` and ``merges.txt`` in GPT-2's format."""
        vocab = {_printable(token): i for i, token in sorted(self.vocab.items())}
        if len(vocab) != len(self.vocab):
            raise ValueError("two ids share one byte string: vocab.json cannot hold both")
        Path(vocab_path).write_text(json.dumps(vocab, ensure_ascii=False, indent=0), "utf-8")
        lines = ["#version: 0.2"] + [f"{_printable(a)} {_printable(b)}" for a, b in self.merges]
        Path(merges_path).write_text("\n".join(lines) + "\n", "utf-8")

    def with_dropout(self, dropout: float, seed: int | None = None) -> Tokenizer:
        """The same tokenizer encoding with BPE-dropout ``dropout`` (shares no cache)."""
        return Tokenizer(self.vocab, self.merges, self.special_tokens, dropout, seed)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    # ------------------------------------------------------------------ encoding

    def encode(self, text: str) -> list[int]:
        """The token ids of ``text``."""
        ids: list[int] = []
        if not self._special_split:
            self._encode_ordinary(text, ids)
            return ids
        start = 0
        for match in self._special_split.finditer(text):
            self._encode_ordinary(text[start:match.start()], ids)
            ids.append(self.special_ids[match.group()])
            start = match.end()
        self._encode_ordinary(text[start:], ids)
        return ids

    def encode_iterable(self, iterable: Iterable[str]) -> Iterator[int]:
        """Token ids of the concatenation of ``iterable``'s strings, lazily (e.g. a file's lines).

        Gives exactly ``encode("".join(iterable))`` while holding only an unfinished tail in
        memory: text is released up to the last place where the pre-token split cannot change
        (see :meth:`_release_point`), so a file of any size streams in bounded memory as long
        as it has whitespace now and then.
        """
        buffer = ""
        for chunk in iterable:
            buffer += chunk
            cut = self._release_point(buffer)
            if cut > 0:
                yield from self.encode(buffer[:cut])
                buffer = buffer[cut:]
        if buffer:
            yield from self.encode(buffer)

    def _release_point(self, text: str) -> int:
        """The largest p with encode(text[:p]) + encode(rest) == encode(text + rest) for all rest.

        A point where whitespace follows a non-whitespace character is a pre-token boundary
        whatever follows (no pre-token holds a non-space then a space, the pattern looks ahead
        at most one character and never behind), unless a special token spans it, or the text
        from there on could still grow into a special token.
        """
        end = len(text)
        for k in range(min(len(text), max(map(len, self.special_tokens), default=0)), 0, -1):
            if text[-k:] in self._special_prefixes:
                end = len(text) - k  # a special token may be starting here
                break
        p = end
        while True:
            p = max(text.rfind(" ", 0, p), text.rfind("\n", 0, p))
            if p <= 0:
                return 0
            if not (text[p - 1].isspace() or _WHITESPACE.match(text[p - 1])):
                break
        if self._special_split:  # scanned from the start, as encode() will scan it
            for match in self._special_split.finditer(text):
                if match.start() >= p:
                    break
                if match.end() > p:
                    return match.start()
        return p

    def _encode_ordinary(self, text: str, ids: list[int]) -> None:
        """Append the ids of special-token-free ``text`` to ``ids``."""
        if self.dropout > 0:
            for piece in GPT2_SPLIT.findall(text):
                ids.extend(self._merge(piece))
            return
        cache = self._cache
        for piece in GPT2_SPLIT.findall(text):
            cached = cache.get(piece)
            if cached is None:
                if len(cache) >= CACHE_LIMIT:
                    cache.clear()
                cached = cache[piece] = tuple(self._merge(piece))
            ids.extend(cached)

    def _merge(self, piece: str) -> list[int]:
        """Replay the merges on one pre-token: lowest rank first (with dropout: Algorithm 1)."""
        ids = [self._byte_ids[b] for b in piece.encode("utf-8")]
        ranks = self._ranks
        p, rng = self.dropout, self._rng
        while len(ids) > 1:
            best_rank, best_at = None, -1
            for i, pair in enumerate(zip(ids, ids[1:])):
                entry = ranks.get(pair)
                if entry is None or (p > 0 and rng.random() < p):
                    continue
                if best_rank is None or entry[0] < best_rank:
                    best_rank, best_at = entry[0], i
            if best_rank is None:
                break
            a, b = ids[best_at], ids[best_at + 1]
            new = ranks[a, b][1]
            if p > 0:  # one merge at a time: the next step draws its own dropout
                ids[best_at:best_at + 2] = [new]
                continue
            merged, i = [], 0
            while i < len(ids):  # every occurrence, left to right, as training did
                if i + 1 < len(ids) and ids[i] == a and ids[i + 1] == b:
                    merged.append(new)
                    i += 2
                else:
                    merged.append(ids[i])
                    i += 1
            ids = merged
        return ids

    # ------------------------------------------------------------------ decoding

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids``; byte sequences that are not valid UTF-8 become U+FFFD."""
        return b"".join(self.vocab[i] for i in ids).decode("utf-8", errors="replace")

    def token_bytes(self, ids: Iterable[int]) -> list[bytes]:
        """Each id's byte string (to show a segmentation)."""
        return [self.vocab[i] for i in ids]


MERGE_STRATEGIES = ("frequency", "likelihood", "dropout")


def train_tokenizer(input_path: str | Path, vocab_size: int, special_tokens: Sequence[str] = (),
                    strategy: str = "frequency", dropout: float = 0.1, seed: int | None = None,
                    processes: int | None = None) -> Tokenizer:
    """A byte-level BPE tokenizer trained with the merge strategy named ``strategy``.

    ``"frequency"``: classic BPE; ``"likelihood"`` (or ``"pmi"``): WordPiece's score
    count(ab) / (count(a) · count(b)); ``"dropout"``: frequency merges, applied at encode time
    with BPE-dropout probability ``dropout`` (seeded by ``seed``).
    """
    from algorithms.tokenization.bpe import train_bpe

    merge_score = "frequency" if strategy == "dropout" else strategy
    vocab, merges = train_bpe(input_path, vocab_size, special_tokens, merge_score, processes)
    return Tokenizer(vocab, merges, special_tokens, dropout if strategy == "dropout" else 0.0,
                     seed)
