"""Lower-quality and smaller versions of a token stream, for data quality vs quantity studies.

A stream is what :class:`algorithms.lm.data.LMData` holds: a 1-D array of token ids in which
the end-of-text id ends each story (``s₁ EOT s₂ EOT … sₙ EOT``). Every function here returns a
new array of the same dtype and keeps the story boundaries: each EOT of the input is in the
output, between the same stories.

* :func:`corrupt_stories` damages a chosen fraction of the stories, by count: ``shuffled_words``
  decodes a story, shuffles its whitespace-separated words and re-encodes it (the story's bag
  of words, hence roughly its unigram distribution, is kept; its syntax is destroyed), and
  ``random_tokens`` replaces every token of the story by a uniformly random ordinary id (the
  story's length is kept; everything else is noise). These are the two ends of the "noisy web
  text" that quality filters remove: locally plausible but ungrammatical text, and garbage.
* :func:`repeated_subset` keeps only the first stories of the stream, so that a fixed budget of
  training tokens reads each of them ``epochs`` times: Muennighoff et al. (2023), "Scaling
  Data-Constrained Language Models", repeat a smaller unique set at fixed compute the same way.

Which stories are corrupted is the first ``k`` entries of one permutation drawn from ``rng``:
two calls with generators seeded alike corrupt nested sets (the stories of fraction 0.25 are
among those of fraction 0.5) and both kinds hit the same stories.
"""

from __future__ import annotations

from typing import Any

import numpy as np

KINDS = ("shuffled_words", "random_tokens")


def _stream(tokens: Any, eot_id: int | None) -> np.ndarray:
    tokens = np.asarray(tokens)
    if tokens.ndim != 1:
        raise ValueError(f"a token stream is 1-D, got shape {tokens.shape}")
    if eot_id is None:
        raise ValueError("the stream has no end-of-text id (a character-level corpus?): "
                         "its stories cannot be told apart")
    return tokens


def story_spans(tokens: Any, eot_id: int) -> np.ndarray:
    """``(n, 2)`` array of [start, end) of every non-empty story: the runs of ids between
    end-of-text ids (the EOTs themselves excluded; a tail without a final EOT is a story)."""
    tokens = _stream(tokens, eot_id)
    eots = np.flatnonzero(tokens == eot_id)
    starts = np.concatenate([[0], eots + 1])
    ends = np.concatenate([eots, [len(tokens)]])
    keep = ends > starts  # two EOTs in a row (or one first) bound no story
    return np.stack([starts[keep], ends[keep]], axis=1).astype(np.int64)


def choose_stories(n_stories: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """The indices (ascending) of ``round(fraction · n_stories)`` stories: the first entries
    of one permutation drawn from ``rng`` (so fractions drawn from like seeds are nested)."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    k = int(round(fraction * n_stories))
    return np.sort(rng.permutation(n_stories)[:k])


def _shuffled_words(story: np.ndarray, tokenizer: Any, rng: np.random.Generator) -> list[int]:
    # decode(encode(s)) == s for byte-level BPE, so the words are the story's own; joining
    # them with single spaces cannot spell a special token that no word already contained
    words = tokenizer.decode(story.tolist()).split()
    rng.shuffle(words)
    return tokenizer.encode(" ".join(words))


def ordinary_ids(tokenizer: Any, eot_id: int) -> np.ndarray:
    """Every id of ``tokenizer``'s vocabulary that is not a special token (nor ``eot_id``)."""
    special = {eot_id, *getattr(tokenizer, "special_ids", {}).values()}
    ids = np.setdiff1d(np.arange(tokenizer.vocab_size), np.fromiter(special, dtype=np.int64))
    if ids.size == 0:
        raise ValueError("the vocabulary has no ordinary ids to draw random tokens from")
    return ids


def corrupt_stories(tokens: Any, eot_id: int, fraction: float, kind: str,
                    rng: np.random.Generator, tokenizer: Any) -> np.ndarray:
    """The stream with ``round(fraction · n)`` of its n stories corrupted by ``kind``
    (:data:`KINDS`), chosen by :func:`choose_stories`; every other token, the EOTs included,
    is copied unchanged.

    ``shuffled_words``: the story decoded, its whitespace-separated words permuted uniformly
    and joined by single spaces, re-encoded with ``tokenizer`` (its length in tokens may
    change a little: BPE merges differ across the new word boundaries; line breaks become
    spaces). ``random_tokens``: each of its ids replaced by one drawn uniformly from the
    tokenizer's ordinary ids (:func:`ordinary_ids`), the same number of tokens.
    """
    tokens = _stream(tokens, eot_id)
    if kind not in KINDS:
        raise ValueError(f"unknown corruption {kind!r}; known: {', '.join(KINDS)}")
    spans = story_spans(tokens, eot_id)
    chosen = spans[choose_stories(len(spans), fraction, rng)]
    ordinary = ordinary_ids(tokenizer, eot_id) if kind == "random_tokens" else None
    pieces, at = [], 0
    for start, end in chosen:
        pieces.append(tokens[at:start])
        if kind == "random_tokens":
            pieces.append(rng.choice(ordinary, size=end - start))
        else:
            pieces.append(np.asarray(_shuffled_words(tokens[start:end], tokenizer, rng)))
        at = end
    pieces.append(tokens[at:])
    return np.concatenate(pieces).astype(tokens.dtype, copy=False)


def repeated_subset(tokens: Any, epochs: float, eot_id: int,
                    budget: int | None = None) -> np.ndarray:
    """The first stories of the stream, about ``budget / epochs`` tokens (``budget``: the
    training tokens to be read; default the stream's length), cut just after the end-of-text
    id nearest that length (at least one story), so that ``budget`` training tokens read the
    subset ``epochs`` times. ``epochs`` ≥ 1; a cut past the end keeps the whole stream."""
    tokens = _stream(tokens, eot_id)
    if not epochs >= 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    budget = len(tokens) if budget is None else budget
    if budget < 1:
        raise ValueError(f"budget must be a positive number of tokens, got {budget}")
    target = budget / epochs
    if target >= len(tokens):
        return tokens[:].copy()
    cuts = np.flatnonzero(tokens == eot_id) + 1  # a cut after an EOT keeps whole stories
    if cuts.size == 0:
        raise ValueError("the stream has no end-of-text id to cut at")
    cut = int(cuts[np.argmin(np.abs(cuts - target))])
    return tokens[:cut].copy()
