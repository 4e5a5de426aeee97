"""Weak-to-strong generalisation: PGR, the hardened targets, the confidence loss and the
continuation task's pairs."""

import math

import pytest
import torch
import torch.nn.functional as F

from algorithms.safety.weak_to_strong import (confidence_loss, hardened,
                                              performance_gap_recovered)
from algorithms.weeks.week11.weak_to_strong import continuation_examples, story_paragraphs


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


def _stories() -> str:
    """Six stories of two paragraphs, each sentence naming its story and position."""
    paragraphs = []
    for story in range(6):
        for part in range(2):
            opening = "Once upon a time there was story" if part == 0 else "Then came story"
            paragraphs.append(" ".join(f"{opening if i == 0 else 'Here is story'} {story} "
                                       f"part {part} sentence {i}." for i in range(5)))
    return "\n\n".join(paragraphs) + "\n"


def _where(sentence: str) -> tuple[int, int, int]:
    words = sentence.rstrip(".").split()
    return int(words[-5]), int(words[-3]), int(words[-1])  # story, paragraph, sentence


def test_story_paragraphs_start_a_story_at_once_upon_a_time():
    paragraphs = story_paragraphs(_stories())
    assert [story for story, _ in paragraphs] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert all(len(sentences) == 5 for _, sentences in paragraphs)


@pytest.mark.parametrize("negatives", ["shuffled", "other_story", "same_story"])
def test_continuation_pairs_are_balanced_and_their_labels_say_which_pair_is_which(negatives):
    texts, labels = continuation_examples(_stories(), negatives, words=(4, 12), seed=1)
    assert texts and sum(labels) * 2 == len(labels)  # balanced
    for text, label in zip(texts, labels):
        if label == 1 or negatives != "shuffled":
            first, second = (_where(s) for s in text.split(". ", 1))
        if label == 1:  # s_i and s_{i+1} of one paragraph
            assert second == (first[0], first[1], first[2] + 1)
        elif negatives == "shuffled":  # s_{i+1}'s words, the last kept, in another order
            first, second = text.split(". ", 1)
            following = f"Here is story {_where(first)[0]} part {_where(first)[1]} sentence " \
                        f"{_where(first)[2] + 1}."
            assert second != following and second.split()[-1] == following.split()[-1]
            assert sorted(second.lower().split()) == sorted(following.lower().split())
        elif negatives == "other_story":
            assert second[0] != first[0]
        else:  # a later, non-adjacent sentence of the same paragraph
            assert second[:2] == first[:2] and second[2] >= first[2] + 2
    with pytest.raises(ValueError, match="continuation_negatives"):
        continuation_examples(_stories(), "reversed")
