"""Weak-to-strong generalisation: PGR, the hardened targets and the confidence loss."""

import math

import pytest
import torch
import torch.nn.functional as F

from algorithms.safety.weak_to_strong import (confidence_loss, hardened,
                                              performance_gap_recovered)


def test_pgr_is_the_fraction_of_the_gap_the_student_recovers():
    assert performance_gap_recovered(0.6, 0.6, 0.9) == 0.0
    assert performance_gap_recovered(0.6, 0.9, 0.9) == 1.0
    assert performance_gap_recovered(0.6, 0.75, 0.9) == pytest.approx(0.5)
    assert math.isnan(performance_gap_recovered(0.8, 0.7, 0.8))  # no gap to recover


def test_hardened_labels_keep_the_weak_labels_positive_fraction():
    probs = torch.tensor([0.9, 0.2, 0.6, 0.4, 0.1])
    assert hardened(probs, 0.4).tolist() == [1.0, 0.0, 1.0, 0.0, 0.0]
    assert hardened(probs, 0.0).sum() == 0


def test_the_confidence_loss_interpolates_between_imitation_and_self_training():
    logits = torch.tensor([2.0, -1.0, 0.5, -0.2])
    weak = torch.tensor([0.7, 0.4, 0.2, 0.6])
    assert confidence_loss(logits, weak, 0.0) == pytest.approx(
        float(F.binary_cross_entropy_with_logits(logits, weak)))
    # α = 1: the student's own predictions hardened at the weak labels' prior (half positive)
    own = torch.tensor([1.0, 0.0, 1.0, 0.0])
    assert confidence_loss(logits, weak, 1.0) == pytest.approx(
        float(F.binary_cross_entropy_with_logits(logits, own)))
    with pytest.raises(ValueError, match="alpha"):
        confidence_loss(logits, weak, 1.5)
