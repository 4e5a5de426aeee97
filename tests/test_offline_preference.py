"""Offline preference training (``algorithms.preference.offline``): every method learning a
synthetic preference on a tiny LM, the held-out implicit accuracy, and the sampled gold reward
and KL estimate (0 for the reference itself)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from algorithms.lm.config import LMConfig
from algorithms.lm.model import LanguageModel
from algorithms.preference.offline import (METHODS, OfflineConfig, implicit_accuracy,
                                           sample_gold_and_kl, train_offline)


def _model(seed: int = 0) -> LanguageModel:
    torch.manual_seed(seed)
    return LanguageModel(LMConfig(vocab_size=8, d_model=16, n_layers=1, n_heads=2,
                                  max_seq_len=16, multiple_of=8))


def _pairs(n: int, seed: int):
    """Chosen completions are made of token 3, rejected of token 4; prompts are noise."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        prompt = rng.integers(0, 8, rng.integers(1, 4)).tolist()
        k = int(rng.integers(1, 4))
        out.append((prompt, [3] * k, [4] * int(rng.integers(1, 4))))
    return out


@pytest.mark.parametrize("method", METHODS)
def test_every_method_learns_the_preference(method):
    reference = _model()
    policy = copy.deepcopy(reference)
    beta = 2.0 if method == "simpo" else 0.5
    history = train_offline(policy, reference, _pairs(64, 0),
                            OfflineConfig(method=method, beta=beta, steps=40, batch_size=16,
                                          lr=3e-3))
    assert {"loss", "logps/chosen", "logps/rejected"} <= set(history[-1])
    test = _pairs(32, 1)
    assert implicit_accuracy(policy, reference, test, method, np.ones(32)) > 0.9
    assert all(torch.equal(a, b) for a, b in zip(reference.parameters(),
                                                 _model().parameters()))  # never trained


def test_the_reference_has_zero_kl_from_itself_and_samples_are_scored():
    model = _model()
    samples = sample_gold_and_kl(model, model, [[1, 2], [3]], n_samples=3, max_new_tokens=4,
                                 decode=lambda ids: " ".join(map(str, ids)),
                                 gold=lambda texts: np.array([t.count("3") for t in texts],
                                                             dtype=float),
                                 eos_id=None, seed=0)
    assert samples.gold.shape == samples.kl.shape == (2, 3)
    np.testing.assert_allclose(samples.kl, 0.0, atol=1e-5)
    assert samples.means()["length"] == 4


@pytest.mark.parametrize("changes, needle", [
    ({"method": "rlhf"}, "unknown method"), ({"beta": 0.0}, "beta must be"),
    ({"beta": -1.0}, "beta must be"), ({"batch_size": 1}, "batch_size must be >= 2")])
def test_bad_settings_are_refused(changes, needle):
    with pytest.raises(ValueError, match=needle):
        OfflineConfig(**changes)
