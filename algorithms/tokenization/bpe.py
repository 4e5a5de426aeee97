"""Byte-level BPE training, GPT-2 style: Sennrich et al. (2016) on bytes, as Radford et al. (2019).

Byte pair encoding (Sennrich, Haddow & Birch 2016, "Neural Machine Translation of Rare Words with
Subword Units", Algorithm 1) starts from single symbols and repeatedly merges the adjacent pair
that scores best, adding the merged symbol to the vocabulary, until the vocabulary is full.
GPT-2 runs it on UTF-8 bytes (so nothing is ever out of vocabulary) inside the pre-tokens of a
regex split (``pretokenize.py``), and the merges are replayed in order to encode new text.

Two scores select the pair to merge, chosen by name (``strategy=``):

* ``"frequency"``: count(a, b), the pair's number of occurrences (classic BPE);
* ``"likelihood"`` (alias ``"pmi"``): count(a, b) / (count(a) · count(b)), the WordPiece score
  (Schuster & Nakajima 2012; the form used by BERT's WordPiece as described by Google and HF),
  which is the ratio by which merging a and b raises a unigram model's likelihood, up to
  normalisation — a pointwise-mutual-information score that prefers pairs whose parts rarely
  occur apart.

Ties are broken deterministically: among equal scores the pair whose byte strings are
lexicographically greatest, comparing (bytes(a), bytes(b)), wins (the convention of Stanford
CS336's assignment 1).

Speed. Training sees each distinct pre-token once, with its count. A textbook implementation
recounts every pair of every word after each merge; here a merge only revisits the words that
contain the merged pair (an index pair → words), adjusts the counts of the pairs those words
gain and lose, and finds the next best pair with a max-heap whose stale entries are fixed when
they surface (lazy deletion). For the likelihood score a merge also changes count(a) and
count(b), which raises the score of every other pair that contains a or b, so those pairs are
pushed again (an index token → pairs finds them).
"""

from __future__ import annotations

import heapq
import operator
from collections import defaultdict
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from algorithms.tokenization.pretokenize import count_file

STRATEGIES = ("frequency", "likelihood")
_ALIASES = {"pmi": "likelihood", "wordpiece": "likelihood", "count": "frequency"}

T = TypeVar("T", bound=Hashable)


def strategy_name(strategy: str) -> str:
    """The canonical name of a merge strategy (``"pmi"`` → ``"likelihood"``)."""
    name = _ALIASES.get(strategy, strategy)
    if name not in STRATEGIES:
        raise ValueError(f"unknown merge strategy {strategy!r}: expected one of "
                         f"{', '.join(STRATEGIES + tuple(_ALIASES))}")
    return name


def train_bpe(input_path: str | Path, vocab_size: int, special_tokens: Sequence[str] = (),
              strategy: str = "frequency", processes: int | None = None,
              ) -> tuple[dict[int, bytes], list[tuple[bytes, bytes]]]:
    """Train a byte-level BPE tokenizer on a UTF-8 text file.

    Returns ``(vocab, merges)``: ``vocab`` maps ids to byte strings, the special tokens first,
    then the 256 single bytes, then one token per merge in merge order; ``merges`` lists the
    merged pairs ``(bytes(a), bytes(b))`` in the order they were learned. Pre-tokens are counted
    in ``processes`` worker processes (default: every core). Training stops early if no pair is
    left to merge.
    """
    counts = count_file(input_path, special_tokens, processes)
    return train_bpe_from_counts(counts, vocab_size, special_tokens, strategy)


def train_bpe_from_counts(counts: Mapping[bytes, int], vocab_size: int,
                          special_tokens: Sequence[str] = (), strategy: str = "frequency",
                          ) -> tuple[dict[int, bytes], list[tuple[bytes, bytes]]]:
    """:func:`train_bpe` on pre-token counts already made (``pretokenize.count_*``)."""
    specials = [token.encode("utf-8") for token in dict.fromkeys(special_tokens)]
    tokens: list[bytes] = [bytes([i]) for i in range(256)]
    offset = len(specials)
    if vocab_size < offset + 256:
        raise ValueError(f"vocab_size {vocab_size} < {offset} special tokens + 256 bytes")
    words = [list(word) for word in counts]  # byte values are the ids of the single-byte tokens
    merges = learn_merges(words, list(counts.values()), tokens, vocab_size - offset,
                          strategy_name(strategy))
    vocab = dict(enumerate(specials)) | {offset + i: token for i, token in enumerate(tokens)}
    return vocab, [(tokens[a], tokens[b]) for a, b, _ in merges]


def truncate(vocab: Mapping[int, bytes], merges: Sequence[tuple[bytes, bytes]], vocab_size: int,
             ) -> tuple[dict[int, bytes], list[tuple[bytes, bytes]]]:
    """The tokenizer that training to ``vocab_size`` gives, cut from one trained further.

    BPE is greedy and its ties are broken by a fixed rule, so training to k tokens makes exactly
    the first merges of a longer run: one run serves every smaller vocabulary size.
    """
    small = {i: token for i, token in vocab.items() if i < vocab_size}
    size = len(vocab) - len({a + b for a, b in merges})  # specials and bytes: before any merge
    made: set[bytes] = set()
    kept = []
    for a, b in merges:
        if size >= vocab_size:
            break
        kept.append((a, b))
        if a + b not in made:  # a new token (a merge may remake one made before)
            made.add(a + b)
            size += 1
    return small, kept


def learn_merges(words: list[list[int]], freqs: Sequence[int], tokens: list[T], max_tokens: int,
                 strategy: str = "frequency", join: Callable[[T, T], T] = operator.add,
                 sort_key: Callable[[T], bytes] = lambda token: token,
                 ) -> list[tuple[int, int, int]]:
    """Merge pairs in ``words`` until ``tokens`` holds ``max_tokens`` symbols; the merges made.

    ``words[i]`` is a distinct pre-token as symbol ids (indices into ``tokens``) seen
    ``freqs[i]`` times. ``tokens`` gains the merged symbols ``join(a, b)``; a merge that
    produces a symbol already in ``tokens`` reuses its id, as HF ``tokenizers`` does, so every
    symbol is in the vocabulary once. ``sort_key(symbol)`` gives the bytes that break ties.
    ``words`` is rewritten in place. Returns ``(a, b, merged)`` id triples in merge order.
    """
    strategy = strategy_name(strategy)
    likelihood = strategy == "likelihood"
    tie = [_descending(sort_key(token)) for token in tokens]
    token_id = {token: i for i, token in enumerate(tokens)}

    counts: dict[tuple[int, int], int] = defaultdict(int)  # pair -> occurrences in the corpus
    where: dict[tuple[int, int], set[int]] = defaultdict(set)  # pair -> words that (may) hold it
    for i, (word, freq) in enumerate(zip(words, freqs)):
        for pair in zip(word, word[1:]):
            counts[pair] += freq
            where[pair].add(i)

    occurrences: list[int] = []  # token -> occurrences in the corpus (likelihood only)
    partners: dict[int, set[tuple[int, int]]] = defaultdict(set)  # token -> pairs holding it
    if likelihood:
        occurrences = [0] * len(tokens)
        for word, freq in zip(words, freqs):
            for token in word:
                occurrences[token] += freq
        for pair in counts:
            partners[pair[0]].add(pair)
            partners[pair[1]].add(pair)

    def score(pair: tuple[int, int]) -> float:
        if likelihood:  # exact int products, so equal ratios give equal floats
            return counts[pair] / (occurrences[pair[0]] * occurrences[pair[1]])
        return counts[pair]

    # heapq is a min-heap: negate the score; tie[...] sorts greater byte strings first
    heap = [(-score(pair), tie[pair[0]], tie[pair[1]], pair) for pair in counts]
    heapq.heapify(heap)
    merges: list[tuple[int, int, int]] = []
    while len(tokens) < max_tokens:
        best = _pop_best(heap, counts, score, tie)
        if best is None:
            break
        a, b = best
        merged = join(tokens[a], tokens[b])
        new = token_id.get(merged)
        if new is None:
            new = token_id[merged] = len(tokens)
            tokens.append(merged)
            tie.append(_descending(sort_key(merged)))
            if likelihood:
                occurrences.append(0)
        merges.append((a, b, new))

        touched: set[tuple[int, int]] = set()  # pairs whose count rose: they need a heap entry
        for i in where.pop(best):
            word = words[i]
            rewritten = _merge_word(word, a, b, new)
            if len(rewritten) == len(word):
                continue  # a stale entry of ``where``: an earlier merge took the pair away
            freq = freqs[i]
            for pair in zip(word, word[1:]):
                counts[pair] -= freq
            for pair in zip(rewritten, rewritten[1:]):
                counts[pair] += freq
                if new in pair:  # only pairs with the new symbol are new to this word
                    where[pair].add(i)
                    touched.add(pair)
            if likelihood:
                times = (len(word) - len(rewritten)) * freq
                occurrences[a] -= times
                occurrences[b] -= times
                occurrences[new] += times
            words[i] = rewritten
        counts.pop(best, None)
        if likelihood:
            for pair in touched:
                partners[pair[0]].add(pair)
                partners[pair[1]].add(pair)
            for token in {a, b}:  # count(a), count(b) fell: their pairs' scores rose
                partners[token] = {pair for pair in partners[token] if counts.get(pair, 0) > 0}
                touched |= partners[token]
        for pair in touched:
            if counts.get(pair, 0) > 0:
                heapq.heappush(heap, (-score(pair), tie[pair[0]], tie[pair[1]], pair))
    return merges


def _pop_best(heap: list, counts: dict[tuple[int, int], int],
              score: Callable[[tuple[int, int]], float], tie: list) -> tuple[int, int] | None:
    """Pop the best live pair, repairing stale entries on the way; None when none is left.

    An entry is stale when the pair's score changed after it was pushed. Scores that rose were
    pushed again, so an entry above the current score is a leftover: discard it. One below the
    current score was never re-pushed (counts that fall are not pushed, to save work): push it
    again with the current score, and it surfaces in its right place.
    """
    while heap:
        negative, _, _, pair = heap[0]
        if counts.get(pair, 0) <= 0:
            heapq.heappop(heap)
            continue
        current = score(pair)
        heapq.heappop(heap)
        if current == -negative:
            return pair
        if current < -negative:
            heapq.heappush(heap, (-current, tie[pair[0]], tie[pair[1]], pair))
    return None


def _merge_word(word: list[int], a: int, b: int, new: int) -> list[int]:
    """``word`` with every non-overlapping (a, b), left to right, replaced by ``new``."""
    out: list[int] = []
    start, n = 0, len(word)
    try:
        while True:
            j = word.index(a, start)
            if j + 1 < n and word[j + 1] == b:
                out.extend(word[start:j])
                out.append(new)
                start = j + 2
            else:
                out.extend(word[start:j + 1])
                start = j + 1
    except ValueError:
        out.extend(word[start:])
    return out


def _descending(key: bytes) -> tuple[int, ...]:
    """A sort key that orders byte strings from greatest to least (tuples of ints).

    Each byte x becomes 255 − x and a final 256 ends the string, so that a string sorts after
    every longer string it is a prefix of (b"ab" > b"a" must come first).
    """
    return tuple(255 - x for x in key) + (256,)
