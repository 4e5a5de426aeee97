"""Emergence as a metric question (Wei et al. 2022; Schaeffer et al. 2023): the addition family
and its reversed answers, the four scores of one model's answers, and a training run that
learns one-digit addition."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from algorithms.emergence import (PAD, VOCAB_SIZE, answer_length, decode_answer, encode,
                                  held_out_set, mixed_batch, prompt_length, sequence_length, text)
from algorithms.emergence.metrics import (edit_distance, exact_match, independent_exact_match,
                                          score, token_accuracy)
from algorithms.emergence.train import train_addition
from algorithms.lm.config import LMConfig
from algorithms.lm.generate import sequence_log_probs
from algorithms.lm.model import LanguageModel
from algorithms.lm.train import TrainConfig
from algorithms.weeks.week13.emergence import sharpness

# ----------------------------------------------------------------------------- the task


def test_answers_are_the_sum_reversed_and_zero_padded():
    rows = encode(np.array([47, 99]), np.array([5, 1]), width=2)
    assert text(rows[0]) == "47+05=250"  # 52 written least significant digit first
    assert text(rows[1]) == "99+01=001"  # 100
    answers = rows[:, prompt_length(2):]
    assert decode_answer(answers).tolist() == [52, 100]
    assert rows.shape[1] == sequence_length(2) == 9 and answer_length(2) == 3


def test_every_row_of_a_test_set_adds_up_and_the_set_is_fixed():
    width = 4
    rows = held_out_set(width, 200)
    a = decode_answer(rows[:, :width][:, ::-1])  # operands are written most significant first
    b = decode_answer(rows[:, width + 1:2 * width + 1][:, ::-1])
    assert (decode_answer(rows[:, prompt_length(width):]) == a + b).all()
    assert np.array_equal(rows, held_out_set(width, 200))
    assert rows.max() < VOCAB_SIZE


def test_operands_out_of_range_are_refused():
    with pytest.raises(ValueError, match="operands must be in 0 .. 99"):
        encode(np.array([100]), np.array([1]), width=2)


def test_a_mixed_batch_masks_exactly_each_rows_answer():
    batch = mixed_batch(3, 64, np.random.default_rng(0))
    assert set(np.unique(batch.widths)) <= {1, 2, 3}
    for row, mask, k in zip(batch.tokens, batch.answer, batch.widths):
        assert mask.sum() == answer_length(k)
        assert np.flatnonzero(mask).tolist() == list(range(prompt_length(k), sequence_length(k)))
        assert (row[sequence_length(k):] == PAD).all() and (row[:sequence_length(k)] != PAD).all()


# ----------------------------------------------------------------------------- the scores


def test_exact_match_accuracy_and_edit_distance_by_hand():
    target = np.array([[1, 2, 3, 4], [1, 2, 3, 4]])
    predicted = np.array([[1, 2, 3, 4], [2, 3, 4, 0]])
    assert exact_match(predicted, target).tolist() == [1.0, 0.0]
    assert token_accuracy(predicted, target).tolist() == [1.0, 0.0]
    # a shift is one deletion and one insertion away, though no position matches
    assert edit_distance(predicted, target).tolist() == [0.0, 2.0]
    assert independent_exact_match(0.9, 3) == pytest.approx(0.729)


def test_p_to_the_l_is_exact_match_when_tokens_are_independent():
    rng = np.random.default_rng(0)
    p, length = 0.8, 5
    correct = rng.random((200_000, length)) < p
    target = np.zeros((200_000, length), dtype=int)
    predicted = np.where(correct, 0, 1)
    assert exact_match(predicted, target).mean() == pytest.approx(
        independent_exact_match(token_accuracy(predicted, target).mean(), length), abs=0.005)


def _model(max_width: int, seed: int = 0) -> LanguageModel:
    torch.manual_seed(seed)
    return LanguageModel(LMConfig(vocab_size=VOCAB_SIZE, d_model=16, n_layers=1, n_heads=2,
                                  max_seq_len=sequence_length(max_width), multiple_of=8))


def test_scores_of_a_model_agree_with_its_own_probabilities():
    width = 3
    model, rows = _model(width), held_out_set(width, 32)
    scores = score(model, rows, width)
    # greedy decoding is all right exactly when every teacher-forced greedy token is
    assert np.array_equal(scores.exact_match, scores.exact_match_forced)
    log_probs = sequence_log_probs(model, torch.as_tensor(rows), start=prompt_length(width))
    assert np.allclose(scores.answer_logprob, log_probs.sum(-1).detach().double().numpy(), atol=1e-4)
    assert np.allclose(scores.logprob, scores.answer_logprob / answer_length(width))
    means = scores.means()
    assert means["independent_exact_match"] == pytest.approx(means["token_acc"] ** 4)


def test_training_learns_one_digit_addition():
    model = _model(1)
    before = score(model, held_out_set(1, 100), 1).means()
    run = TrainConfig(steps=300, batch_size=64, block_size=sequence_length(1), lr=1e-2,
                      warmup_steps=10, weight_decay=0.0, log_every=50, seed=0)
    torch.set_num_threads(1)
    history = train_addition(model, 1, run)
    after = score(model, held_out_set(1, 100), 1).means()
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert after["token_acc"] > before["token_acc"] + 0.3
    assert after["answer_logprob"] > before["answer_logprob"]


def test_sharpness_is_the_largest_share_of_the_change():
    assert sharpness([0.0, 0.0, 0.0, 1.0]) == 1.0
    assert sharpness([0.0, 0.25, 0.5, 0.75]) == pytest.approx(1 / 3)
    assert sharpness([0.3, 0.3]) == 0.0
