"""Generation-quality metrics (algorithms.lm.text_metrics) on hand-counted examples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from algorithms.lm.text_metrics import (
    distinct_n,
    mean_repetition,
    ngrams,
    perplexity,
    repetition_rate,
)


def test_ngrams():
    assert ngrams("abcd", 2) == [("a", "b"), ("b", "c"), ("c", "d")]
    assert ngrams([1, 2], 3) == []
    with pytest.raises(ValueError):
        ngrams([1, 2], 0)


def test_distinct_n_on_hand_examples():
    assert distinct_n(["a a a a".split()], 1) == 0.25
    assert distinct_n(["a a a a".split()], 2) == pytest.approx(1 / 3)
    assert distinct_n(["a b c d".split()], 2) == 1.0
    # pooled over the set: "a b" occurs in both sequences, n-grams never span the boundary
    assert distinct_n([["a", "b"], ["a", "b", "c"]], 2) == pytest.approx(2 / 3)
    assert distinct_n([[1, 2, 3], [1, 2, 3]], 1) == 0.5  # token ids work the same
    assert distinct_n([["a"], []], 2) == 0.0  # no bigrams at all
    assert distinct_n([], 1) == 0.0


def test_repetition_rate_on_hand_examples():
    assert repetition_rate("a a a a a".split(), n=1) == 0.8  # 4 of 5 tokens seen before
    assert repetition_rate("a a a a a".split(), n=4) == 0.5  # (a a a a) twice: one repeat
    assert repetition_rate("a b c d e".split(), n=2) == 0.0
    assert repetition_rate("a b a b a b".split(), n=2) == pytest.approx(3 / 5)
    assert repetition_rate([1, 2, 3], n=4) == 0.0  # shorter than n


def test_repetition_is_the_share_of_ngrams_seen_earlier():
    rng = np.random.default_rng(0)
    for _ in range(20):
        seq = rng.integers(0, 3, size=30).tolist()
        grams = ngrams(seq, 2)
        repeats = sum(gram in grams[:i] for i, gram in enumerate(grams))
        assert repetition_rate(seq, 2) == pytest.approx(repeats / len(grams))


def test_mean_repetition():
    seqs = ["a a a a a".split(), "a b c d e".split()]
    assert mean_repetition(seqs, n=1) == pytest.approx(0.4)
    assert mean_repetition([], n=2) == 0.0


def test_perplexity():
    assert perplexity([math.log(4)] * 3) == pytest.approx(4.0)
    assert perplexity(np.array([0.0, 2 * math.log(3)])) == pytest.approx(3.0)
    with pytest.raises(ValueError):
        perplexity([])
