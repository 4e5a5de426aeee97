"""PPO for text (``algorithms.preference.ppo_text``): GAE over tokens against a hand computation,
the adaptive KL controller of Ziegler et al., whitening, and a tiny LM whose score rises."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from algorithms.lm.config import LMConfig
from algorithms.lm.model import LanguageModel
from algorithms.preference.ppo_text import (PolicyWithValue, PPOTextConfig, adaptive_kl_coef,
                                            gae, train_ppo_text, whiten)


def _lm(seed: int = 0) -> LanguageModel:
    torch.manual_seed(seed)
    return LanguageModel(LMConfig(vocab_size=8, d_model=16, n_layers=1, n_heads=2,
                                  max_seq_len=16, multiple_of=8))


def test_gae_over_tokens_matches_the_recursion_by_hand():
    rewards = torch.tensor([[0.0, 0.0, 1.0], [0.5, 2.0, 0.0]])
    values = torch.tensor([[0.2, 0.4, 0.6], [0.1, 0.3, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    gamma, lam = 1.0, 0.9
    got = gae(rewards, values, mask, gamma, lam)
    # row 0: δ2 = 1 − 0.6, δ1 = 0 + 0.6 − 0.4, δ0 = 0 + 0.4 − 0.2
    d2, d1, d0 = 0.4, 0.2, 0.2
    expected0 = [d0 + lam * (d1 + lam * d2), d1 + lam * d2, d2]
    # row 1 ends after two tokens: V past its end is 0
    e1 = 2.0 - 0.3
    expected1 = [0.5 + 0.3 - 0.1 + lam * e1, e1, 0.0]
    np.testing.assert_allclose(got.numpy(), [expected0, expected1], atol=1e-6)


def test_the_adaptive_controller_moves_beta_toward_the_target_and_clips_the_error():
    assert adaptive_kl_coef(0.1, 12.0, 6.0, 0.1) == pytest.approx(0.1 * (1 + 0.1 * 0.2))
    assert adaptive_kl_coef(0.1, 3.0, 6.0, 0.1) == pytest.approx(0.1 * (1 - 0.1 * 0.2))
    assert adaptive_kl_coef(0.1, 6.6, 6.0, 0.1) == pytest.approx(0.1 * (1 + 0.1 * 0.1))


def test_whitening_uses_only_the_masked_entries():
    x = torch.tensor([1.0, 2.0, 3.0, 100.0])
    mask = torch.tensor([1.0, 1.0, 1.0, 0.0])
    out = whiten(x, mask)
    assert out[3] == 0 and abs(float(out[:3].mean())) < 1e-6
    assert float(out[:3].pow(2).mean()) == pytest.approx(1.0, abs=1e-4)


def test_ppo_raises_the_score_of_a_tiny_model_and_the_kl_penalty_holds_it_back():
    def score(prompts, completions):  # the share of the completion's tokens that are 3
        return np.array([np.mean([t == 3 for t in c]) if c else 0.0 for c in completions])

    finals = {}
    for beta in (0.0, 1.0):
        reference = _lm()
        model = PolicyWithValue(_lm())
        history = train_ppo_text(model, reference, [[1], [2], [5], [6]] * 4, score,
                                 PPOTextConfig(iterations=20, batch_prompts=16, max_new_tokens=4,
                                               epochs=2, minibatch=8, lr=3e-3,
                                               init_kl_coef=beta))
        assert {"score", "kl", "beta", "entropy", "value_loss"} <= set(history[0])
        finals[beta] = (np.mean([r["score"] for r in history[-3:]]),
                        np.mean([r["kl"] for r in history[-3:]]))
    assert finals[0.0][0] > np.mean([0.125]) + 0.3  # from about 1/8 of tokens by chance
    assert finals[1.0][1] < finals[0.0][1]  # a KL penalty keeps the policy nearer π_ref


@pytest.mark.parametrize("changes, needle", [
    ({"init_kl_coef": -0.1}, "KL coefficient β must be"),
    ({"adaptive": True, "target_kl": 0.0}, "needs target_kl > 0")])
def test_bad_settings_are_refused(changes, needle):
    with pytest.raises(ValueError, match=needle):
        PPOTextConfig(**changes)
