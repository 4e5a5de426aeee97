"""The reward model on the LM backbone (InstructGPT eq. 1; Llama 2's margin; Coste et al.'s
ensembles): what the head reads, the loss by hand, and a tiny model that learns a synthetic
preference."""

from __future__ import annotations

import math

import pytest
import torch

from algorithms.lm.config import LMConfig
from algorithms.lm.model import LanguageModel
from algorithms.preference.reward_model import (RewardModel, ensemble_reward,
                                                pairwise_reward_loss)


def _reward_model(seed: int = 0) -> RewardModel:
    torch.manual_seed(seed)
    return RewardModel(LanguageModel(LMConfig(vocab_size=8, d_model=16, n_layers=1, n_heads=2,
                                              max_seq_len=16, multiple_of=8)))


def test_the_lm_head_reads_the_hidden_states_the_reward_head_reads():
    model = _reward_model()
    idx = torch.randint(0, 8, (3, 10))
    lm = model.backbone
    assert torch.allclose(lm(idx), lm.lm_head(lm.hidden_states(idx)))
    expected = model.head(lm.hidden_states(idx)[:, -1]).squeeze(-1)
    assert torch.allclose(model(idx), expected)


def test_the_reward_is_read_at_each_rows_last_real_token():
    model = _reward_model()
    short, long = torch.randint(0, 8, (1, 4)), torch.randint(0, 8, (1, 9))
    padded = torch.zeros(2, 9, dtype=torch.long)
    padded[0, :4], padded[1] = short[0], long[0]
    rewards = model(padded, torch.tensor([4, 9]))
    assert torch.allclose(rewards, torch.cat([model(short), model(long)]), atol=1e-6)
    with pytest.raises(ValueError, match="lengths must be in 1 .. 9"):
        model(padded, torch.tensor([0, 9]))


def test_a_sum_pooled_reward_adds_the_heads_per_token_rewards_over_the_real_tokens():
    torch.manual_seed(0)
    model = RewardModel(LanguageModel(LMConfig(vocab_size=8, d_model=16, n_layers=1, n_heads=2,
                                               max_seq_len=16, multiple_of=8)), pooling="sum")
    short, long = torch.randint(0, 8, (1, 4)), torch.randint(0, 8, (1, 9))
    padded = torch.zeros(2, 9, dtype=torch.long)
    padded[0, :4], padded[1] = short[0], long[0]
    rewards = model(padded, torch.tensor([4, 9]))
    by_hand = model.head(model.backbone.hidden_states(short)).sum()
    assert torch.allclose(rewards[0], by_hand, atol=1e-5)
    assert torch.allclose(rewards, torch.cat([model(short), model(long)]), atol=1e-5)
    # a shared prompt adds the same terms to both responses: the difference is the responses'
    prompt = torch.randint(0, 8, (1, 3))
    a, b = torch.randint(0, 8, (1, 4)), torch.randint(0, 8, (1, 4))
    hidden = model.backbone.hidden_states
    terms = lambda row: model.head(hidden(torch.cat([prompt, row], 1))).squeeze(-1)[0, 3:]
    difference = model(torch.cat([prompt, a], 1)) - model(torch.cat([prompt, b], 1))
    assert torch.allclose(difference, (terms(a) - terms(b)).sum(), atol=1e-5)
    with pytest.raises(ValueError, match="unknown pooling 'max'"):
        RewardModel(model.backbone, pooling="max")


def test_the_pairwise_loss_by_hand():
    chosen, rejected = torch.tensor([2.0, 0.0]), torch.tensor([1.0, 0.5])
    loss, stats = pairwise_reward_loss(chosen, rejected)
    by_hand = -(math.log(1 / (1 + math.exp(-1.0))) + math.log(1 / (1 + math.exp(0.5)))) / 2
    assert float(loss) == pytest.approx(by_hand)
    assert stats.accuracy == 0.5 and stats.margin == pytest.approx(0.25)
    # a margin asks for a larger gap: the same rewards cost more
    assert float(pairwise_reward_loss(chosen, rejected, margin=1.0)[0]) > float(loss)
    chosen.requires_grad_(True)
    pairwise_reward_loss(chosen, rejected)[0].backward()
    # d/dr_w of −log σ(r_w − r_l) is −(1 − σ(r_w − r_l)), averaged over the 2 pairs
    assert torch.allclose(chosen.grad, -(1 - torch.sigmoid(chosen - rejected)).detach() / 2)


def test_ensemble_objectives_by_hand():
    rewards = torch.tensor([[1.0, 0.0], [3.0, 0.0]])  # two members, two samples
    assert ensemble_reward(rewards).tolist() == [2.0, 0.0]
    assert ensemble_reward(rewards, "worst_case").tolist() == [1.0, 0.0]
    # population variance of (1, 3) is 1
    assert ensemble_reward(rewards, "uncertainty_weighted", penalty=0.5).tolist() == [1.5, 0.0]
    with pytest.raises(ValueError, match="unknown objective 'median'"):
        ensemble_reward(rewards, "median")


def test_a_tiny_reward_model_learns_to_prefer_sequences_with_more_of_one_token():
    torch.manual_seed(0)
    model = _reward_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)

    def pairs(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = torch.randint(0, 8, (n, 12)), torch.randint(0, 8, (n, 12))
        a_wins = ((a == 3).sum(1) >= (b == 3).sum(1))[:, None]
        return torch.where(a_wins, a, b), torch.where(a_wins, b, a)

    for _ in range(300):
        chosen, rejected = pairs(64)
        loss, _ = pairwise_reward_loss(model(chosen), model(rejected))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    chosen, rejected = pairs(500)
    with torch.no_grad():
        _, stats = pairwise_reward_loss(model(chosen), model(rejected))
    assert stats.accuracy > 0.85  # ties (equal counts) are labelled chosen either way
