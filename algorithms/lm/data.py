"""The language model's data: corpora, tokenizers, cached token arrays and random batches.

The pipeline is nanoGPT's (``data/shakespeare_char/prepare.py``, ``data/openwebtext/prepare.py``
and ``train.py``'s ``get_batch``): encode a corpus once into a flat array of token ids, store it
as a raw ``.bin`` file, memory-map it, and draw a batch as B windows of T + 1 tokens starting at
uniformly random offsets; the targets are the inputs shifted by one token, y_t = x_{t+1}.

* TinyStories (Eldan & Li 2023) is tokenized with forge's own week-2 byte-level BPE, trained on
  the training text with ``<|endoftext|>`` as a special token. The shipped excerpt is ~1.7 MB
  of text (0.95 MB of training stories, 0.79 MB of held-out validation paragraphs), a few
  hundred thousand tokens: a model trained on it for long is data-limited and will overfit, so
  point ``override`` at a full ``TinyStoriesV2-GPT4-train.txt`` to scale up.
* Tiny Shakespeare is character-level, split 90/10 by characters (nanoGPT's shakespeare_char).

Both the tokenizer and the token arrays are cached under a ``cache_dir``, keyed by the SHA-256
of everything they are computed from, and written atomically (into a temporary name, then
``os.replace``), so that a killed run never leaves a half-written entry that a later run reads.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from algorithms.tokenization.tokenizer import Tokenizer, train_tokenizer

DATA = Path(__file__).resolve().parents[1] / "data"
EOT = "<|endoftext|>"
FORMAT_VERSION = 1  # part of every cache key: bump it when what is cached changes
TOKENIZER_TRAIN_BYTES = 20 * 2**20  # BPE is trained on at most this prefix of a large file
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Corpus:
    """A shipped corpus: files relative to ``algorithms/data/``; ``val=None`` means the train
    file is split at ``split`` (a fraction of its characters)."""

    train: str
    val: str | None = None
    split: float = 0.9
    tokenizer: str = "bpe"  # "bpe" (week-2 byte-level BPE) or "char"


CORPORA: dict[str, Corpus] = {
    "tinystories": Corpus("tinystories/tinystories_train_head.txt",
                          "tinystories/tinystories_valid_head.txt"),
    "shakespeare": Corpus("shakespeare/tinyshakespeare.txt", tokenizer="char"),
}


def _corpus(name: str) -> Corpus:
    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}; known: {', '.join(sorted(CORPORA))}")
    return CORPORA[name]


def corpus_files(name: str, override: Path | None = None) -> tuple[Path, Path]:
    """``(train_path, val_path)`` of corpus ``name``; the same path twice when one file is split.

    ``override`` replaces the training text (e.g. the full TinyStories file); TinyStories keeps
    the shipped validation excerpt as its held-out text.
    """
    corpus = _corpus(name)
    train = Path(override) if override is not None else DATA / corpus.train
    if not train.is_file():
        raise ValueError(f"corpus file {train} does not exist")
    return train, (DATA / corpus.val if corpus.val else train)


# ---------------------------------------------------------------------------------- hashing


def _sha256(*parts: bytes | str | Path) -> str:
    """SHA-256 of a sequence of parts, each length-prefixed so that no two sequences collide; a
    Path part is its file's bytes, read in chunks so that a file of any size hashes in bounded
    memory."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            digest.update(part.stat().st_size.to_bytes(8, "little"))
            with open(part, "rb") as f:
                while chunk := f.read(_CHUNK):
                    digest.update(chunk)
        else:
            data = part.encode("utf-8") if isinstance(part, str) else part
            digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()


def tokenizer_fingerprint(tokenizer: Tokenizer | CharTokenizer) -> str:
    """SHA-256 of everything that decides a tokenizer's ids (vocabulary, merges, specials)."""
    if isinstance(tokenizer, CharTokenizer):
        return _sha256("char", tokenizer.chars)
    vocab = b"".join(i.to_bytes(4, "little") + len(t).to_bytes(4, "little") + t
                     for i, t in sorted(tokenizer.vocab.items()))
    merges = b"".join(len(a).to_bytes(4, "little") + a + len(b).to_bytes(4, "little") + b
                      for a, b in tokenizer.merges)
    return _sha256("bpe", vocab, merges, json.dumps(tokenizer.special_tokens))


# ---------------------------------------------------------------------------------- tokenizers


class CharTokenizer:
    """Character-level tokenizer (nanoGPT's shakespeare_char): the sorted set of characters of a
    text, one id each."""

    FILE = "chars.json"

    def __init__(self, chars: str):
        self.chars = "".join(sorted(set(chars)))
        self._ids = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        return cls(text)

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        try:
            return [self._ids[c] for c in text]
        except KeyError as missing:
            raise ValueError(f"character {missing.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)

    def save(self, directory: Path) -> None:
        Path(directory).mkdir(parents=True, exist_ok=True)
        meta = {"format": "forge-char-tokenizer", "version": 1, "chars": self.chars}
        (Path(directory) / self.FILE).write_text(json.dumps(meta, ensure_ascii=False), "utf-8")

    @classmethod
    def load(cls, directory: Path) -> CharTokenizer:
        meta = json.loads((Path(directory) / cls.FILE).read_text("utf-8"))
        return cls(meta["chars"])


def _publish_dir(tmp: Path, final: Path) -> None:
    """Move a finished temporary folder into place; if another process (another torchrun rank)
    got there first, its copy is the same content, so ours is dropped."""
    try:
        os.replace(tmp, final)
    except OSError:
        if not final.is_dir():
            raise
        shutil.rmtree(tmp, ignore_errors=True)


def _training_prefix(path: Path) -> bytes:
    """The first ``TOKENIZER_TRAIN_BYTES`` of a file, cut after its last complete story (or line)
    so that no story or UTF-8 character is cut in half."""
    with open(path, "rb") as f:
        data = f.read(TOKENIZER_TRAIN_BYTES + 1)
    if len(data) <= TOKENIZER_TRAIN_BYTES:
        return data
    data = data[:TOKENIZER_TRAIN_BYTES]
    cut = data.rfind(f"\n{EOT}\n".encode())
    cut = cut + len(EOT) + 2 if cut >= 0 else data.rfind(b"\n") + 1
    return data[:cut] if cut > 0 else data.decode("utf-8", "ignore").encode("utf-8")


def bpe_tokenizer(train_path: Path, vocab_size: int, cache_dir: Path) -> Tokenizer:
    """Forge's week-2 byte-level BPE with ``vocab_size`` ids (EOT included), trained on
    ``train_path`` once and then loaded from ``cache_dir/tokenizers/<key>/``.

    The key is the SHA-256 of (training bytes, vocab_size, special tokens, format version). A
    file over ``TOKENIZER_TRAIN_BYTES`` (20 MB) trains on that prefix only: merges learned from
    20 MB of stories barely differ from those learned from 2 GB, and training stays seconds.
    """
    return load_tokenizer(bpe_tokenizer_dir(train_path, vocab_size, cache_dir))


def bpe_tokenizer_dir(train_path: Path, vocab_size: int, cache_dir: Path) -> Path:
    """The cache folder of :func:`bpe_tokenizer`'s tokenizer, trained into it if missing."""
    train_path = Path(train_path)
    prefix = _training_prefix(train_path)
    key = _sha256(prefix, str(vocab_size), json.dumps([EOT]), f"bpe-v{FORMAT_VERSION}")
    final = Path(cache_dir) / "tokenizers" / key
    if (final / "tokenizer_config.json").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key[:16]}-", dir=final.parent))
    try:
        if len(prefix) < train_path.stat().st_size:
            source = tmp.with_suffix(".prefix.txt")
            source.write_bytes(prefix)
        else:
            source = train_path
        try:
            tokenizer = train_tokenizer(source, vocab_size, special_tokens=[EOT])
        finally:
            if source != train_path:
                source.unlink(missing_ok=True)
        tokenizer.save(tmp / "vocab.json", tmp / "merges.txt")
        meta = {"format": "forge-bpe-tokenizer", "version": FORMAT_VERSION,
                "special_tokens": [EOT], "vocab_size": tokenizer.vocab_size,
                "trained_on_bytes": len(prefix)}
        # written last: its presence marks a complete entry
        (tmp / "tokenizer_config.json").write_text(json.dumps(meta, indent=1), "utf-8")
        _publish_dir(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def load_tokenizer(directory: Path) -> Tokenizer | CharTokenizer:
    """The tokenizer stored in ``directory`` (a cache entry or a checkpoint's ``tokenizer/``)."""
    directory = Path(directory)
    if (directory / CharTokenizer.FILE).is_file():
        return CharTokenizer.load(directory)
    meta = json.loads((directory / "tokenizer_config.json").read_text("utf-8"))
    return Tokenizer.from_files(directory / "vocab.json", directory / "merges.txt",
                                special_tokens=meta["special_tokens"])


def char_tokenizer(text_path: Path, cache_dir: Path) -> tuple[CharTokenizer, Path]:
    """The character tokenizer of a file and the cache folder holding it."""
    tokenizer = CharTokenizer.from_text(Path(text_path).read_text("utf-8"))
    final = Path(cache_dir) / "tokenizers" / f"char-{tokenizer_fingerprint(tokenizer)[:32]}"
    if not (final / CharTokenizer.FILE).is_file():
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-char-", dir=final.parent))
        try:
            tokenizer.save(tmp)
            _publish_dir(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return tokenizer, final


# ---------------------------------------------------------------------------------- token arrays


def _encoded(path: Path, tokenizer: Tokenizer | CharTokenizer) -> Iterator[list[int]]:
    """A file's ids in pieces. With a BPE tokenizer a line that is exactly ``<|endoftext|>``
    ends a story and becomes the EOT id alone (the newlines around it are dropped); text
    without such lines is encoded as it is (the valid head's paragraphs stay joined)."""
    if isinstance(tokenizer, CharTokenizer):
        yield tokenizer.encode(Path(path).read_text("utf-8"))
        return
    eot = tokenizer.special_ids.get(EOT)
    story: list[str] = []
    with open(path, encoding="utf-8", newline="") as f:
        for line in f:
            if eot is not None and line.strip() == EOT:
                yield tokenizer.encode("".join(story).strip("\n")) + [eot]
                story = []
            else:
                story.append(line)
    if story:
        yield tokenizer.encode("".join(story) if eot is None else "".join(story).strip("\n"))


def token_array(text_path: Path, tokenizer: Tokenizer | CharTokenizer,
                cache_dir: Path) -> np.ndarray:
    """The whole file's token ids as a read-only ``np.memmap``, encoded once and cached as
    ``cache_dir/tokens/<key>.bin`` (uint16 when the vocabulary fits, else uint32) with a json
    sidecar; the key hashes the file's bytes and the tokenizer's fingerprint.

    The ``.bin`` is written under a temporary name and renamed when complete, and the sidecar,
    written after it, marks the entry complete: a kill at any point leaves no entry that reads
    as valid, and the next call encodes again.
    """
    text_path = Path(text_path)
    dtype = np.dtype(np.uint16 if tokenizer.vocab_size < 2**16 else np.uint32)
    key = _sha256(text_path, tokenizer_fingerprint(tokenizer), f"tokens-v{FORMAT_VERSION}")
    folder = Path(cache_dir) / "tokens"
    binary, sidecar = folder / f"{key}.bin", folder / f"{key}.json"
    if not _complete(binary, sidecar, dtype):
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{key[:16]}-", suffix=".tmp", dir=folder)
        tmp = Path(tmp_name)
        try:
            n = 0
            with os.fdopen(fd, "wb") as f:
                for ids in _encoded(text_path, tokenizer):
                    np.asarray(ids, dtype=dtype).tofile(f)
                    n += len(ids)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, binary)
            meta = {"format": "forge-token-array", "version": FORMAT_VERSION,
                    "source": str(text_path), "dtype": dtype.name, "n_tokens": n,
                    "vocab_size": tokenizer.vocab_size,
                    "tokenizer": tokenizer_fingerprint(tokenizer)}
            tmp.write_text(json.dumps(meta, indent=1), "utf-8")
            os.replace(tmp, sidecar)
        finally:
            tmp.unlink(missing_ok=True)
    n = json.loads(sidecar.read_text("utf-8"))["n_tokens"]
    if n == 0:  # mmap cannot map an empty file
        empty = np.zeros(0, dtype=dtype)
        empty.flags.writeable = False
        return empty
    return np.memmap(binary, dtype=dtype, mode="r", shape=(n,))


def _complete(binary: Path, sidecar: Path, dtype: np.dtype) -> bool:
    try:
        meta = json.loads(sidecar.read_text("utf-8"))
        return (meta["dtype"] == dtype.name
                and binary.stat().st_size == meta["n_tokens"] * dtype.itemsize)
    except (OSError, ValueError, KeyError):
        return False


# ---------------------------------------------------------------------------------- batches


def random_offsets(n_tokens: int, batch_size: int, block_size: int,
                   generator: torch.Generator) -> Tensor:
    """``batch_size`` window starts, uniform over every window of ``block_size + 1`` tokens."""
    return torch.randint(n_tokens - block_size, (batch_size,), generator=generator)


def gather_batch(tokens: np.ndarray, offsets: Tensor, block_size: int) -> tuple[Tensor, Tensor]:
    """Inputs x[b, t] = tokens[o_b + t] and targets y[b, t] = tokens[o_b + t + 1] (long)."""
    # one fancy-indexing read of the memmap, one conversion: no per-row Python loop
    rows = tokens[offsets.numpy()[:, None] + np.arange(block_size + 1)]
    window = torch.from_numpy(rows.astype(np.int64))
    return window[:, :-1].contiguous(), window[:, 1:].contiguous()


def get_batch(tokens: np.ndarray, batch_size: int, block_size: int,
              generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """A random batch (x, y) of shape (B, T), y shifted one token ahead (nanoGPT's get_batch)."""
    return gather_batch(tokens, random_offsets(len(tokens), batch_size, block_size, generator),
                        block_size)


# ---------------------------------------------------------------------------------- LMData


@dataclass
class LMData:
    """A corpus ready for training: train and val token arrays and their tokenizer.

    ``eot_id`` is the id that ends a story (None for character-level text); ``tokenizer_dir``
    holds the tokenizer's files, to store with a model's checkpoint.
    """

    name: str
    train: np.ndarray
    val: np.ndarray
    tokenizer: Tokenizer | CharTokenizer
    eot_id: int | None
    tokenizer_dir: Path

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text)

    def decode(self, ids) -> str:
        return self.tokenizer.decode(ids)


def load_lm_data(name: str, cache_dir: Path, vocab_size: int | None = None,
                 override: Path | None = None) -> LMData:
    """Corpus ``name`` tokenized and cached under ``cache_dir``.

    ``"tinystories"``: week-2 BPE with ``vocab_size`` ids (required), trained on the training
    text; the shipped excerpt is ~1.7 MB of text, so training on it is data-limited (pass the
    full TinyStories file as ``override``). ``"shakespeare"``: characters, the first 90% of the
    text for training and the rest held out (nanoGPT's shakespeare_char).
    """
    corpus = _corpus(name)
    train_path, val_path = corpus_files(name, override)
    if corpus.tokenizer == "char":
        tokenizer, tokenizer_dir = char_tokenizer(train_path, cache_dir)
        eot_id = None
    else:
        if vocab_size is None:
            raise ValueError(f"corpus {name!r} needs a vocab_size for its BPE tokenizer")
        tokenizer_dir = bpe_tokenizer_dir(train_path, vocab_size, cache_dir)
        tokenizer = load_tokenizer(tokenizer_dir)
        eot_id = tokenizer.special_ids[EOT]
    train = token_array(train_path, tokenizer, cache_dir)
    if val_path == train_path:  # one file: the split is by characters = by char-level tokens
        cut = int(len(train) * corpus.split)
        train, val = train[:cut], train[cut:]
    else:
        val = token_array(val_path, tokenizer, cache_dir)
    return LMData(name, train, val, tokenizer, eot_id, tokenizer_dir)

