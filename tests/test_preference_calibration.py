"""Calibration of pairwise probabilities (Guo et al. 2017's ECE) and label-noise detection by
preference strength (Wang et al. 2024), on cases worked by hand and on synthetic annotators
whose flips are known."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.special import expit, logit

from algorithms.preference import annotate
from algorithms.preference.calibration import (label_noise_auroc, preference_strength,
                                               reliability)


def test_ece_by_hand():
    table = reliability([0.05, 0.15, 0.95, 1.0], [0, 1, 1, 0], n_bins=10)
    assert table.count.tolist() == [1, 1, 2]  # 1.0 falls in the last, closed bin
    assert table.frequency.tolist() == [0.0, 1.0, 0.5]
    assert table.ece == pytest.approx(0.25 * 0.05 + 0.25 * 0.85 + 0.5 * 0.475)


def test_calibrated_predictions_have_small_ece_and_overconfident_ones_do_not():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 0.99, 200_000)
    y = rng.random(len(p)) < p
    assert reliability(p, y).ece < 0.01
    assert reliability(expit(3 * logit(p)), y).ece > 0.1


def test_bad_predictions_are_refused():
    with pytest.raises(ValueError, match="prob must lie in"):
        reliability([1.2], [1])
    with pytest.raises(ValueError, match="equal-length"):
        reliability([0.5, 0.5], [1])


def test_auroc_is_the_share_of_flipped_clean_pairs_ordered_right():
    rng = np.random.default_rng(1)
    strength = rng.integers(-3, 4, 40).astype(float)  # ties included
    flipped = rng.random(40) < 0.3
    pairs = list(itertools.product(strength[flipped], strength[~flipped]))
    brute = np.mean([1.0 if s_bad < s_good else 0.5 if s_bad == s_good else 0.0
                     for s_bad, s_good in pairs])
    assert label_noise_auroc(strength, flipped) == pytest.approx(brute)
    assert np.isnan(label_noise_auroc(strength, np.zeros(40, dtype=bool)))


def test_an_ensemble_of_noisy_reward_models_finds_the_flipped_labels():
    rng = np.random.default_rng(2)
    gold_a, gold_b = rng.normal(0, 2, 5000), rng.normal(0, 2, 5000)
    labels = annotate(gold_a, gold_b, rng, temperature=0.5, flip_rate=0.2)
    a_chosen = labels.labels == 1
    members = 5  # each member: the gold reward plus its own error
    r_a = gold_a + rng.normal(0, 0.5, (members, 5000))
    r_b = gold_b + rng.normal(0, 0.5, (members, 5000))
    mean, spread = preference_strength(np.where(a_chosen, r_a, r_b), np.where(a_chosen, r_b, r_a))
    assert mean.shape == spread.shape == (5000,) and (spread > 0).all()
    assert label_noise_auroc(mean, labels.flipped) > 0.8
