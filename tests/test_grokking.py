"""Grokking on modular addition (Power et al. 2022; Nanda et al. 2023): the split, the
one-layer transformer, the Fourier basis, the progress measures on logits whose frequencies are
known, and a tiny run that memorises its training set."""

from __future__ import annotations

import math

import pytest
import torch

from algorithms.grokking import (GrokConfig, GrokTransformer, all_pairs, fourier_basis, gini,
                                 grid_mask, key_frequencies, logit_spectrum, milestones,
                                 modular_addition, train_grokking)
from algorithms.grokking.progress import (excluded_logits, excluded_loss, frequency_spectrum,
                                          fourier_names, grid_accuracy, grid_loss, key_component,
                                          restricted_logits, restricted_loss)
from algorithms.grokking.train import lr_at, make_optimizer


# ----------------------------------------------------------------------------- data

def test_the_split_covers_every_pair_exactly_once():
    p = 23
    train_x, train_y, test_x, test_y = modular_addition(p, 0.3, seed=0)
    assert len(train_x) == int(0.3 * p * p) and len(train_x) + len(test_x) == p * p
    pairs = [tuple(row[:2]) for row in torch.cat([train_x, test_x]).tolist()]
    assert sorted(pairs) == [(a, b) for a in range(p) for b in range(p)]
    for x, y in ((train_x, train_y), (test_x, test_y)):
        assert (x[:, 2] == p).all()  # the '=' token
        assert torch.equal(y, (x[:, 0] + x[:, 1]) % p)
    mask = grid_mask(train_x, p)
    assert mask.sum() == len(train_x) and not grid_mask(test_x, p)[mask].any()


def test_the_split_is_a_function_of_the_seed():
    a, b = modular_addition(23, 0.3, seed=1), modular_addition(23, 0.3, seed=1)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not torch.equal(a[0], modular_addition(23, 0.3, seed=2)[0])
    with pytest.raises(ValueError):
        modular_addition(23, 1.0)


# ----------------------------------------------------------------------------- model

def test_the_model_has_the_named_weights_and_no_layernorm():
    p, d, h, m = 23, 32, 4, 128
    model = GrokTransformer(p, d_model=d, n_heads=h, d_mlp=m)
    shapes = {name: tuple(param.shape) for name, param in model.named_parameters()}
    assert shapes == {"W_E": (p + 1, d), "W_pos": (3, d), "W_Q": (h, d, d // h),
                      "W_K": (h, d, d // h), "W_V": (h, d, d // h), "W_O": (h, d // h, d),
                      "W_in": (d, m), "b_in": (m,), "W_out": (m, d), "b_out": (d,),
                      "W_U": (d, p)}
    assert not any(isinstance(module, torch.nn.LayerNorm) for module in model.modules())
    assert model.W_logit.shape == (m, p)
    x, _ = all_pairs(p)
    assert model(x[:5]).shape == (5, 3, p)


def test_attention_is_causal_and_last_only_is_the_last_position():
    p = 23
    model = GrokTransformer(p, d_model=32, n_heads=4, d_mlp=64,
                            generator=torch.Generator().manual_seed(0))
    x, _ = all_pairs(p)
    x = x[::37]
    changed = x.clone()
    changed[:, 2] = (changed[:, 2] + 1) % p  # a number where '=' was
    with torch.no_grad():
        out, out_changed = model(x), model(changed)
        assert torch.equal(out[:, :2], out_changed[:, :2])  # earlier positions never see it
        assert not torch.allclose(out[:, 2], out_changed[:, 2])
        cache: dict[str, torch.Tensor] = {}
        last = model(x, cache=cache, last_only=True)
    torch.testing.assert_close(last, out[:, -1:], rtol=1e-5, atol=1e-6)
    assert cache["attn"].shape == (len(x), 4, 1, 3) and cache["post"].shape == (len(x), 1, 64)
    full: dict[str, torch.Tensor] = {}
    model(x, cache=full)
    assert torch.all(full["attn"][:, :, 0, 1:] == 0)  # position 0 attends to itself only


# ----------------------------------------------------------------------------- Fourier

@pytest.mark.parametrize("p", [5, 23, 113])
def test_the_fourier_basis_is_orthonormal(p):
    basis = fourier_basis(p)
    assert basis.shape == (p, p) and len(fourier_names(p)) == p
    torch.testing.assert_close(basis @ basis.T, torch.eye(p, dtype=torch.float64),
                               rtol=0, atol=1e-12)
    x = torch.arange(p, dtype=torch.float64)
    # rows 2k − 1 and 2k: cos and sin of frequency k (here k = 2)
    torch.testing.assert_close(basis[3], math.sqrt(2 / p) * torch.cos(4 * math.pi * x / p))
    torch.testing.assert_close(basis[4], math.sqrt(2 / p) * torch.sin(4 * math.pi * x / p))
    with pytest.raises(ValueError):
        fourier_basis(p + 1)


def test_an_embedding_of_two_frequencies_has_those_key_frequencies():
    p, freqs = 23, (3, 7)
    x = torch.arange(p, dtype=torch.float64)
    W = torch.stack([torch.cos(2 * math.pi * freqs[0] * x / p),
                     torch.sin(2 * math.pi * freqs[0] * x / p),
                     0.5 * torch.cos(2 * math.pi * freqs[1] * x / p + 1.0),
                     torch.ones(p)], dim=1)  # the constant column does not count
    spectrum = frequency_spectrum(W)
    assert key_frequencies(spectrum, 2)[0] == freqs
    assert key_frequencies(spectrum, 2)[1] == pytest.approx(1.0)
    assert spectrum[0] == pytest.approx(0.0, abs=1e-20)
    K = (p - 1) // 2
    assert gini(spectrum) > 0.8
    assert gini(torch.ones(K)) == pytest.approx(0.0, abs=1e-12)
    assert gini(torch.eye(K)[0]) == pytest.approx((K - 1) / K)


# ----------------------------------------------------------------------------- progress measures

def _trig_logits(p: int, freqs: dict[int, float]) -> torch.Tensor:
    """L[a, b, c] = Σ_k α_k cos(w_k(a + b − c)): the generalising algorithm's logits."""
    r = torch.arange(p, dtype=torch.float64)
    diff = r[:, None, None] + r[None, :, None] - r[None, None, :]
    return sum(alpha * torch.cos(2 * math.pi * k * diff / p) for k, alpha in freqs.items())


def test_logits_of_two_frequencies_restrict_to_themselves():
    p, freqs = 23, (4, 9)
    logits = _trig_logits(p, {4: 6.0, 9: 4.0})
    assert key_frequencies(logit_spectrum(logits), 2) == (freqs, pytest.approx(1.0))
    assert grid_accuracy(logits) == 1.0
    full = grid_loss(logits)
    assert restricted_loss(logits, freqs) == pytest.approx(full, rel=1e-12)
    mask = grid_mask(modular_addition(p, 0.3, seed=0)[0], p)
    assert excluded_loss(logits, freqs, mask) == pytest.approx(math.log(p), rel=1e-12)
    # one key frequency removed leaves the other to answer with
    assert excluded_loss(logits, (4,), mask) < math.log(p) - 1


def test_the_key_component_is_the_projection_on_cos_and_sin_of_a_plus_b():
    p, freqs = 11, (2, 5)
    logits = torch.randn(p, p, p, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    r = torch.arange(p, dtype=torch.float64)
    s = r[:, None] + r[None, :]
    expected = torch.zeros_like(logits)
    for k in freqs:  # eq. (1) written out over the p² grid, per answer c
        for trig in (torch.cos, torch.sin):
            u = trig(2 * math.pi * k * s / p) * math.sqrt(2) / p
            expected += u[:, :, None] * torch.einsum("ab,abc->c", u, logits)
    component = key_component(logits, freqs)
    torch.testing.assert_close(component, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(key_component(component, freqs), component, rtol=0, atol=1e-12)
    torch.testing.assert_close(excluded_logits(logits, freqs) + component, logits)
    mean = logits.mean(dim=(0, 1), keepdim=True)
    torch.testing.assert_close(restricted_logits(logits, freqs), component + mean)
    with pytest.raises(ValueError):
        key_component(logits, (6,))  # K = 5 at p = 11


# ----------------------------------------------------------------------------- training

def test_adamw_and_the_warmup_are_as_configured():
    config = GrokConfig(p=23, d_model=32, d_mlp=64, lr=2e-3, weight_decay=0.5,
                        betas=(0.8, 0.9), warmup_steps=4, steps=10)
    group, = make_optimizer(GrokTransformer(23, 32, 4, 64), config).param_groups
    assert (group["weight_decay"], group["betas"]) == (0.5, (0.8, 0.9))
    assert [lr_at(t, config) for t in range(6)] == pytest.approx(
        [5e-4, 1e-3, 1.5e-3, 2e-3, 2e-3, 2e-3])
    assert lr_at(0, GrokConfig(warmup_steps=0)) == 1e-3
    defaults = GrokConfig()
    assert (defaults.p, defaults.train_fraction, defaults.lr, defaults.weight_decay,
            defaults.betas, defaults.warmup_steps) == (113, 0.3, 1e-3, 1.0, (0.9, 0.98), 10)
    for bad in ({"p": 24}, {"p": 23, "key_frequencies": (3, 12)}, {"steps": 0}):
        with pytest.raises(ValueError):
            GrokConfig(**bad)


def test_a_tiny_run_memorises_its_training_set():
    config = GrokConfig(p=23, train_fraction=0.3, d_model=32, n_heads=4, d_mlp=128,
                        steps=400, eval_every=100)
    rows = []
    result = train_grokking(config, on_log=rows.append)
    assert rows == result.history and [row["step"] for row in rows] == [0, 100, 200, 300, 400]
    assert result.history[-1]["train_acc"] == 1.0
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert milestones(result.history)["memorised"] is not None
    assert set(rows[-1]) == {"step", "lr", "train_loss", "train_acc", "test_loss", "test_acc",
                             "restricted_loss", "excluded_loss", "key_fraction", "gini",
                             "sum_squared_weights"}
    assert all(isinstance(value, (int, float)) for value in rows[-1].values())
    assert len(result.key_frequencies) == len(result.spectra) == len(rows)
    assert len(result.final_key_frequencies) == 5 and len(result.spectra[0]) == 11
    assert rows[-1]["lr"] == config.lr
    fixed = train_grokking(GrokConfig(**{**config.to_dict(), "steps": 100,
                                         "key_frequencies": (1, 2)}))
    assert fixed.key_frequencies == [(1, 2), (1, 2)]
    # the measures never touch training: the same seed retraces the same run
    assert fixed.history[1]["train_loss"] == rows[1]["train_loss"]
    assert fixed.history[1]["restricted_loss"] != rows[1]["restricted_loss"]
