"""The corruptions of ``algorithms.lm.corruption`` on a small stream of real stories, and the
``data-quality`` experiment at the smoke profile."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from recording_tracker import RecordingTracker

from algorithms.lm.corruption import (
    choose_stories, corrupt_stories, ordinary_ids, repeated_subset, story_spans)

EOT_ID = 0


@pytest.fixture(scope="module")
def data():
    from algorithms.lm.data import load_lm_data

    return load_lm_data("tinystories", RecordingTracker().cache_dir(), 300)


@pytest.fixture(scope="module")
def stream(data):
    """The first 40 stories of the excerpt."""
    tokens = np.asarray(data.train)
    end = np.flatnonzero(tokens == data.eot_id)[39] + 1
    return tokens[:end].copy()


def stories(tokens, eot_id):
    return [tokens[s:e] for s, e in story_spans(tokens, eot_id)]


def test_story_spans_are_the_runs_between_eots():
    tokens = np.array([5, 6, EOT_ID, EOT_ID, 7, EOT_ID, 8, 9])  # an empty story, a tail
    assert story_spans(tokens, EOT_ID).tolist() == [[0, 2], [4, 5], [6, 8]]
    assert story_spans(np.array([EOT_ID, 3, EOT_ID]), EOT_ID).tolist() == [[1, 2]]


@pytest.mark.parametrize("kind", ["shuffled_words", "random_tokens"])
@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.5, 1.0])
def test_eots_stay_and_the_asked_fraction_of_stories_changes(data, stream, kind, fraction):
    out = corrupt_stories(stream, data.eot_id, fraction, kind, np.random.default_rng(0),
                          data.tokenizer)
    assert out.dtype == stream.dtype and out.ndim == 1
    before, after = stories(stream, data.eot_id), stories(out, data.eot_id)
    assert len(after) == len(before) == 40  # every boundary kept, no story merged or lost
    assert np.sum(out == data.eot_id) == np.sum(stream == data.eot_id)
    changed = sum(not np.array_equal(a, b) for a, b in zip(before, after))
    assert changed == round(fraction * 40)


def test_random_tokens_keep_lengths_and_never_emit_special_ids(data, stream):
    out = corrupt_stories(stream, data.eot_id, 0.5, "random_tokens", np.random.default_rng(1),
                          data.tokenizer)
    assert len(out) == len(stream)
    assert np.array_equal(out == data.eot_id, stream == data.eot_id)
    changed = out != stream
    special = set(data.tokenizer.special_ids.values())
    assert not special & set(out[changed].tolist())
    assert out.max() < data.vocab_size
    assert data.eot_id not in ordinary_ids(data.tokenizer, data.eot_id)


def test_shuffled_words_keep_each_storys_words(data, stream):
    out = corrupt_stories(stream, data.eot_id, 1.0, "shuffled_words", np.random.default_rng(2),
                          data.tokenizer)
    reordered = 0
    for a, b in zip(stories(stream, data.eot_id), stories(out, data.eot_id)):
        words_a, words_b = data.decode(a.tolist()).split(), data.decode(b.tolist()).split()
        assert Counter(words_a) == Counter(words_b)
        reordered += words_a != words_b
    assert reordered >= 38  # a long story shuffled back into its own order is (nearly) never


def test_corruption_is_deterministic_and_nested_under_a_seed(data, stream):
    def run(fraction, kind, seed):
        return corrupt_stories(stream, data.eot_id, fraction, kind,
                               np.random.default_rng(seed), data.tokenizer)

    for kind in ("shuffled_words", "random_tokens"):
        assert np.array_equal(run(0.5, kind, 3), run(0.5, kind, 3))
        assert not np.array_equal(run(0.5, kind, 3), run(0.5, kind, 4))
    quarter = set(choose_stories(40, 0.25, np.random.default_rng(5)).tolist())
    half = set(choose_stories(40, 0.5, np.random.default_rng(5)).tolist())
    assert len(quarter) == 10 and len(half) == 20 and quarter <= half


@pytest.mark.parametrize("epochs", [2, 4, 8])
def test_repeated_subset_is_a_prefix_of_whole_stories(data, epochs):
    tokens = np.asarray(data.train)
    subset = repeated_subset(tokens, epochs, data.eot_id)
    assert subset[-1] == data.eot_id  # cut just after an end of text
    assert np.array_equal(subset, tokens[:len(subset)])
    story = np.mean(np.diff(np.flatnonzero(tokens == data.eot_id)))
    assert abs(len(subset) - len(tokens) / epochs) <= story  # within a story of 1/epochs
    budget = len(tokens) // 3
    assert abs(len(repeated_subset(tokens, epochs, data.eot_id, budget=budget))
               - budget / epochs) <= story * 2
    assert len(repeated_subset(tokens, 1, data.eot_id)) == len(tokens)


@pytest.mark.parametrize("call, message", [
    (lambda s, t: corrupt_stories(s, 0, 1.5, "random_tokens", np.random.default_rng(0), t),
     "fraction must be in"),
    (lambda s, t: corrupt_stories(s, 0, 0.5, "typos", np.random.default_rng(0), t),
     "unknown corruption"),
    (lambda s, t: corrupt_stories(s, None, 0.5, "random_tokens", np.random.default_rng(0), t),
     "no end-of-text id"),
    (lambda s, t: corrupt_stories(s.reshape(-1, 1), 0, 0.5, "random_tokens",
                                  np.random.default_rng(0), t), "1-D"),
    (lambda s, t: repeated_subset(s, 0.5, 0), "epochs must be at least 1"),
    (lambda s, t: repeated_subset(s, 2, 0, budget=0), "budget must be"),
    (lambda s, t: repeated_subset(np.array([3, 4, 5, 6]), 2, 0), "no end-of-text id to cut"),
])
def test_bad_arguments_raise_one_line_value_errors(data, stream, call, message):
    with pytest.raises(ValueError, match=message) as error:
        call(stream, data.tokenizer)
    assert "\n" not in str(error.value)


def test_the_experiment_trains_every_arm_on_the_same_budget():
    import algorithms.weeks.week13.data_quality as module

    tracker = RecordingTracker()
    config = module.DataQualityConfig.for_profile("smoke")
    summary = module.data_quality(config, tracker)
    assert summary and all(math.isfinite(v) for v in summary.values())
    columns, quality = tracker.tables["data/quality"]
    assert [row[0] for row in quality] == ["clean", "shuffled words 25%", "shuffled words 50%",
                                           "random tokens 25%", "random tokens 50%"]
    assert len({row[columns.index("tokens seen")] for row in quality}) == 1
    columns, quantity = tracker.tables["data/quantity"]
    assert [row[0] for row in quantity] == ["clean", "repeated ×2", "repeated ×4",
                                            "repeated ×8"]
    unique = [row[columns.index("unique tokens U")] for row in quantity]
    assert unique == sorted(unique, reverse=True) and unique[1] < unique[0]
    assert {"data/final_loss", "data/curves"} <= set(tracker.figures)
    assert all(tracker.figures.values())  # every figure has a caption
    for key in ("clean.val_loss", "random.f50.delta", "shuffled.f25.delta", "repeat.e4.delta",
                "repeat.e2.effective_fraction"):
        assert key in summary, key
    assert summary["clean.val_loss"] + summary["random.f50.delta"] == pytest.approx(
        summary["random.f50.val_loss"], abs=2e-4)
    assert 0 < summary["repeat.e2.effective_fraction"] <= 1
    # every arm scored on the clean validation split, with its own curve per seed
    assert any("data/random/f50/seed0/val_loss" in metrics for _, metrics in tracker.logs)


def test_muennighoff_effective_data_is_d_for_one_epoch_and_less_when_repeated():
    from algorithms.weeks.week13.data_quality import effective_tokens

    assert effective_tokens(1000, 1000) == pytest.approx(1000)
    assert effective_tokens(1200, 1000) == pytest.approx(1000)  # unread tokens count for nothing
    # their eq. 5 with R* = 15.4: 4 epochs are worth ~3.7 epochs of unique data
    assert effective_tokens(1000, 4000) == pytest.approx(
        1000 + 1000 * 15.4 * (1 - math.exp(-3 / 15.4)))
    assert effective_tokens(1000, 4000) / 4000 > 0.9 > effective_tokens(1000, 8000) / 8000


def test_bad_arms_are_refused_when_the_config_is_built():
    from algorithms.weeks.week13.data_quality import DataQualityConfig

    for bad in ({"kinds": ["typos"]}, {"fractions": [0.0]}, {"epochs": [1]}):
        with pytest.raises(ValueError):
            DataQualityConfig.for_profile("smoke", **bad)
