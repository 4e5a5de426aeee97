"""Generation quality in numbers, on sequences of tokens (ids, words, anything hashable).

* distinct-n (Li et al. 2016, "A Diversity-Promoting Objective Function for Neural
  Conversation Models", §4.1): the number of distinct n-grams in a set of generations divided
  by the total number of n-grams in it. n-grams never cross from one sequence into the next.
  Low when the samples repeat themselves or each other (a collapsed, generic model).
* repetition (Welleck et al. 2020, "Neural Text Generation with Unlikelihood Training", §5,
  seq-rep-n): within one sequence, 1 − |unique n-grams| / |n-grams|. We compute it as the share
  of the sequence's n-grams that already occurred earlier in the same sequence; the two are the
  same number, since every n-gram occurrence but the first of each distinct one is a repeat:
  #repeats = |n-grams| − |unique n-grams|. Degenerate looping text ("the the the …") scores
  near 1.
* perplexity: exp of the mean per-token negative log-likelihood (nats), the effective number
  of equally likely choices per token.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

import numpy as np


def ngrams(sequence: Sequence[Hashable], n: int) -> list[tuple[Hashable, ...]]:
    """The len − n + 1 contiguous n-grams of one sequence, in order (none if it is shorter)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    sequence = list(sequence)
    return list(zip(*(sequence[i:] for i in range(n))))


def distinct_n(sequences: Iterable[Sequence[Hashable]], n: int) -> float:
    """Li et al.'s distinct-n over the set: distinct n-grams / n-grams (0 when there are none)."""
    grams = [gram for sequence in sequences for gram in ngrams(sequence, n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def repetition_rate(sequence: Sequence[Hashable], n: int = 4) -> float:
    """Share of the n-grams of ``sequence`` seen earlier in it = Welleck et al.'s seq-rep-n,
    1 − |unique n-grams| / |n-grams| (0 when it has no n-gram)."""
    grams = ngrams(sequence, n)
    return 1.0 - len(set(grams)) / len(grams) if grams else 0.0


def mean_repetition(sequences: Iterable[Sequence[Hashable]], n: int = 4) -> float:
    """:func:`repetition_rate` averaged over sequences (0 for no sequences)."""
    rates = [repetition_rate(sequence, n) for sequence in sequences]
    return float(np.mean(rates)) if rates else 0.0


def perplexity(nll_per_token: Sequence[float] | np.ndarray) -> float:
    """exp(mean negative log-likelihood per token), the NLLs in nats."""
    nll = np.asarray(nll_per_token, dtype=np.float64)
    if nll.size == 0:
        raise ValueError("perplexity of no tokens is undefined")
    return float(np.exp(nll.mean()))
