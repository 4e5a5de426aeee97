"""Pre-tokenization: the regex split that comes before BPE, and counting its pieces in parallel.

Byte-level BPE (Radford et al. 2019, "Language Models are Unsupervised Multitask Learners", §2.2)
never merges across the boundaries of a regex split: words, runs of digits, runs of punctuation
and runs of whitespace are separate *pre-tokens*, each optionally led by one space. Merges are
learned and applied inside pre-tokens only, so "dog." never becomes a token and " the" does.

Special tokens (``<|endoftext|>``) are cut out of the text before the regex runs, so that
nothing is ever merged across them and they are never split.

Counting is the part of training that reads the whole corpus, so it runs in worker processes,
one chunk of the file each. Chunk boundaries are placed where the split of the whole text and
the split of the chunks agree: at the start of a special token (nothing spans one), or, in a
long stretch without one, at a space between two ASCII letters (no pre-token contains a letter
and the space after it, and the pattern has no look-behind).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import regex

# GPT-2's pattern, verbatim from openai/gpt-2 src/encoder.py (tiktoken's "gpt2" is the same).
GPT2_PATTERN = (r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
GPT2_SPLIT = regex.compile(GPT2_PATTERN)

# A space between two ASCII letters: a safe place to cut the byte stream (module docstring).
_SAFE_CUT = regex.compile(rb"[A-Za-z]( )[A-Za-z]")

# Below this many bytes a corpus is counted in this process: starting workers costs more.
PARALLEL_MIN_BYTES = 1 << 20


def special_splitter(special_tokens: Sequence[str]) -> regex.Pattern | None:
    """A pattern that matches any special token, the longest one where several start at once.

    Sorting longest first makes the alternation try ``<|a|><|b|>`` before ``<|a|>``: regex
    alternation takes the first alternative that matches, not the longest.
    """
    if not special_tokens:
        return None
    ordered = sorted(set(special_tokens), key=lambda s: (-len(s), s))
    return regex.compile("|".join(regex.escape(token) for token in ordered))


def pretokens(text: str) -> list[str]:
    """The pre-tokens of ``text`` (special tokens not handled): ``"a cat."`` → ``["a", " cat", "."]``."""
    return GPT2_SPLIT.findall(text)


def count_pretokens(text: str, special_tokens: Sequence[str] = ()) -> Counter[str]:
    """How often each pre-token occurs in ``text``, special tokens cut out first."""
    counts: Counter[str] = Counter()
    splitter = special_splitter(special_tokens)
    for piece in splitter.split(text) if splitter else (text,):
        counts.update(GPT2_SPLIT.findall(piece))
    return counts


def chunk_boundaries(path: str | Path, n_chunks: int, special_tokens: Sequence[str] = (),
                     window: int = 1 << 16) -> list[int]:
    """Byte offsets ``[0, ..., size]`` that cut the file into about ``n_chunks`` safe pieces.

    Each cut starts at an even split of the file and moves forward to the next special token,
    or, if none starts within ``window`` bytes, to the next safe space (module docstring). Cuts
    that land on each other collapse, so fewer chunks may come back.
    """
    size = os.path.getsize(path)
    specials = [token.encode("utf-8") for token in special_tokens]
    longest = max(map(len, specials), default=0)
    cuts = [0]
    with open(path, "rb") as f:
        for k in range(1, n_chunks):
            position = max(size * k // n_chunks, cuts[-1])
            f.seek(position)
            block = f.read(window + longest)
            found = [i for i in (block.find(s) for s in specials) if i >= 0]
            if found:
                cuts.append(position + min(found))
                continue
            for match in _SAFE_CUT.finditer(block):
                cut = match.start(1)
                # a special token that contains ". a" style text must not be cut through
                if not any(s in block[max(0, cut - longest):cut + longest] for s in specials):
                    cuts.append(position + cut)
                    break
            # no safe cut in this window: merge this chunk into the next one
    cuts.append(size)
    return sorted(set(cuts))


def _count_chunk(args: tuple[str, int, int, tuple[str, ...]]) -> dict[bytes, int]:
    """Worker: pre-token counts of bytes [start, end) of a file, keyed by UTF-8 bytes."""
    path, start, end, special_tokens = args
    with open(path, "rb") as f:
        f.seek(start)
        text = f.read(end - start).decode("utf-8", errors="replace")
    return {token.encode("utf-8"): n for token, n in count_pretokens(text, special_tokens).items()}


def count_file(path: str | Path, special_tokens: Sequence[str] = (),
               processes: int | None = None) -> Counter[bytes]:
    """Pre-token counts of a UTF-8 file, counted in ``processes`` workers (default: all cores).

    The file is cut into 4 chunks per worker so that a slow chunk does not hold up the rest.
    """
    path = str(path)
    processes = processes or os.cpu_count() or 1
    size = os.path.getsize(path)
    if processes == 1 or size < PARALLEL_MIN_BYTES:
        return Counter(_count_chunk((path, 0, size, tuple(special_tokens))))
    cuts = chunk_boundaries(path, 4 * processes, special_tokens)
    jobs = [(path, a, b, tuple(special_tokens)) for a, b in zip(cuts, cuts[1:])]
    counts: Counter[bytes] = Counter()
    with _pool(min(processes, len(jobs))) as pool:
        for part in pool.imap_unordered(_count_chunk, jobs):
            counts.update(part)
    return counts


def count_texts(texts: Iterable[str], special_tokens: Sequence[str] = ()) -> Counter[bytes]:
    """Pre-token counts of in-memory texts (serial: for small corpora and tests)."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(count_pretokens(text, special_tokens))
    return Counter({token.encode("utf-8"): n for token, n in counts.items()})


def _pool(processes: int):
    # fork: workers start in milliseconds and inherit the imported modules; they only run
    # regex and Counter, so nothing they need can be held by another thread of the parent.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method).Pool(processes)
