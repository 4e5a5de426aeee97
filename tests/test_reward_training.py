"""Fitting reward models (``algorithms.preference.reward_training``): a fine-tuned tower and a
linear head on frozen features each learn a synthetic preference, and the features a head reads
are the tower's last-token hidden states."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from algorithms.lm.config import LMConfig
from algorithms.lm.model import LanguageModel
from algorithms.preference.reward_model import RewardModel
from algorithms.preference.reward_training import (backbone_features, fit_linear_head,
                                                   rewards_of, train_reward_model)


def _backbone(seed: int = 0) -> LanguageModel:
    torch.manual_seed(seed)
    return LanguageModel(LMConfig(vocab_size=8, d_model=16, n_layers=1, n_heads=2,
                                  max_seq_len=16, multiple_of=8))


def _pairs(n: int, seed: int) -> tuple[list[list[int]], list[list[int]]]:
    """Chosen rows end in token 3, rejected in token 4; the rest is noise of varied length."""
    rng = np.random.default_rng(seed)
    chosen, rejected = [], []
    for _ in range(n):
        prefix = rng.integers(0, 8, rng.integers(2, 6)).tolist()
        chosen.append(prefix + [3])
        rejected.append(rng.integers(0, 8, rng.integers(2, 6)).tolist() + [4])
    return chosen, rejected


def test_a_fine_tuned_tower_learns_the_preference():
    model = RewardModel(_backbone())
    chosen, rejected = _pairs(64, seed=0)
    history = train_reward_model(model, chosen, rejected, steps=60, batch_size=16, lr=3e-3,
                                 seed=0, log_every=10)
    assert history[0]["step"] == 0 and history[-1]["step"] == 59
    test_c, test_r = _pairs(32, seed=1)
    assert np.mean(rewards_of(model, test_c) > rewards_of(model, test_r)) > 0.9
    assert model.backbone.lm_head.weight.grad is None  # the unused head is never trained


def test_a_linear_head_on_frozen_features_learns_the_preference():
    backbone = _backbone()
    chosen, rejected = _pairs(128, seed=0)
    before = [p.clone() for p in backbone.parameters()]
    w = fit_linear_head(backbone_features(backbone, chosen),
                        backbone_features(backbone, rejected), steps=300, lr=0.05)
    assert all(torch.equal(a, b) for a, b in zip(before, backbone.parameters()))
    test_c, test_r = _pairs(64, seed=1)
    margin = backbone_features(backbone, test_c) @ w - backbone_features(backbone, test_r) @ w
    assert np.mean(margin > 0) > 0.9


def test_features_are_the_hidden_state_at_each_rows_last_token_or_their_sum():
    backbone = _backbone()
    rows = [[1, 2, 3], [4, 5, 6, 7, 1]]
    features = backbone_features(backbone, rows)
    with torch.no_grad():
        expected = [backbone.hidden_states(torch.tensor([r]))[0, -1].numpy() for r in rows]
    np.testing.assert_allclose(features, np.stack(expected), atol=1e-5)
    summed = backbone_features(backbone, rows, pooling="sum")
    with torch.no_grad():
        expected = [backbone.hidden_states(torch.tensor([r]))[0].sum(0).numpy() for r in rows]
    np.testing.assert_allclose(summed, np.stack(expected), atol=1e-5)


def test_bad_arguments_are_refused():
    model = RewardModel(_backbone())
    with pytest.raises(ValueError, match="as many chosen as rejected"):
        train_reward_model(model, [[1]], [], steps=1, batch_size=1, lr=1e-3, seed=0)
    with pytest.raises(ValueError, match="same \\(n, d\\)"):
        fit_linear_head(np.zeros((2, 3)), np.zeros((3, 3)))


def test_token_counts_count_each_rows_tokens():
    from algorithms.preference.reward_training import token_counts

    counts = token_counts([[1, 1, 3], [0]], vocab_size=4)
    assert counts.tolist() == [[0, 2, 0, 1], [1, 0, 0, 0]]
