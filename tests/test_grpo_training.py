"""GRPO training (``algorithms.preference.grpo_training``): a tiny LM learning to emit a rewarded
token, with the reward (not the loss) rising."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from algorithms.lm.config import LMConfig
from algorithms.lm.model import LanguageModel
from algorithms.preference.grpo_training import GRPOConfig, train_grpo


def _model(seed: int = 0) -> LanguageModel:
    torch.manual_seed(seed)
    return LanguageModel(LMConfig(vocab_size=8, d_model=16, n_layers=1, n_heads=2,
                                  max_seq_len=16, multiple_of=8))


def test_grpo_raises_the_reward_of_a_tiny_model():
    reference = _model()
    policy = copy.deepcopy(reference)

    def reward(prompts, completions):  # the share of the completion's tokens that are 3
        return np.array([np.mean([t == 3 for t in c]) if c else 0.0 for c in completions])

    history = train_grpo(policy, reference, [[1], [2], [5]], reward,
                         GRPOConfig(group_size=8, prompts_per_step=3, iterations=25,
                                    updates_per_batch=2, lr=1e-2, beta=0.04, max_new_tokens=4))
    first = np.mean([row["reward"] for row in history[:3]])
    last = np.mean([row["reward"] for row in history[-3:]])
    assert last > first + 0.3
    assert {"reward", "reward_std", "kl", "clip/fraction", "completion_length"} <= set(history[0])


@pytest.mark.parametrize("changes, needle", [
    ({"group_size": 1}, "group_size must be an integer >= 2"),
    ({"loss_type": "ppo"}, "loss_type must be one of"), ({"beta": -0.1}, "beta must be >= 0")])
def test_bad_settings_are_refused(changes, needle):
    with pytest.raises(ValueError, match=needle):
        GRPOConfig(**changes)
