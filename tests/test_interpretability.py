"""Sparse autoencoders, residual-stream hooks and activation patching (week 11)."""

import pytest
import torch

from algorithms.interpretability.hooks import (collect_activations, patching_effects,
                                               spliced_loss)
from algorithms.interpretability.sae import (SAEConfig, SparseAutoencoder, resample_dead,
                                             sae_metrics, train_sae)
from algorithms.lm.config import LMConfig
from algorithms.lm.model import LanguageModel


def sparse_data(n=4_000, d=16, k=32, active=2, seed=0):
    """x = Σ of ``active`` of ``k`` unit directions with magnitudes in [0.5, 1.5]."""
    g = torch.Generator().manual_seed(seed)
    directions = torch.randn(k, d, generator=g)
    directions /= directions.norm(dim=1, keepdim=True)
    codes = torch.zeros(n, k)
    for i in range(n):
        idx = torch.randperm(k, generator=g)[:active]
        codes[i, idx] = 0.5 + torch.rand(active, generator=g)
    return codes @ directions, directions


def test_an_sae_recovers_the_directions_of_sparse_data():
    x, directions = sparse_data()
    result = train_sae(x, SAEConfig(expansion=4, l1=1.0, steps=800, batch_size=256,
                                    lr=3e-3, resample_every=300, dead_window=100))
    sae = result.sae
    metrics = sae_metrics(sae, x * result.scale)
    # 2 true features per input; duplicates and L1 shrinkage cost some L0 and variance
    assert metrics["explained_variance"] > 0.85 and metrics["l0"] < 10
    assert torch.allclose(sae.W_dec.norm(dim=1), torch.ones(sae.n_features), atol=1e-5)
    best = (directions @ sae.W_dec.detach().t()).max(dim=1).values  # each true direction's match
    assert (best > 0.9).float().mean() >= 0.8, best


def test_the_decoder_gradient_loses_its_component_along_each_row():
    sae = SparseAutoencoder(6, 2, torch.Generator().manual_seed(0))
    x = torch.randn(32, 6)
    x_hat, f = sae(x)
    ((x - x_hat) ** 2).sum().backward()
    sae.remove_parallel_gradient()
    assert torch.allclose((sae.W_dec.grad * sae.W_dec).sum(dim=1), torch.zeros(12), atol=1e-4)


def test_dead_features_are_resampled_from_high_error_inputs_and_their_adam_state_reset():
    sae = SparseAutoencoder(4, 2, torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(sae.parameters())
    x_hat, f = sae(torch.randn(8, 4))
    x_hat.sum().backward()
    optimizer.step()
    dead = torch.zeros(8, dtype=torch.bool)
    dead[[1, 5]] = True
    pool = torch.tensor([[3.0, 0.0, 4.0, 0.0]])  # both dead features are drawn from it
    assert resample_dead(sae, dead, pool, optimizer, torch.Generator().manual_seed(0)) == 2
    expected = (pool[0] - sae.b_dec.detach()) / (pool[0] - sae.b_dec.detach()).norm()
    assert torch.allclose(sae.W_dec[1], expected) and torch.allclose(sae.W_dec[5], expected)
    assert float(sae.b_enc[1]) == 0.0
    assert float(optimizer.state[sae.W_dec]["exp_avg_sq"][[1, 5]].abs().sum()) == 0.0
    assert float(optimizer.state[sae.W_dec]["exp_avg_sq"][0].abs().sum()) > 0.0


def test_metrics_of_an_exact_autoencoder():
    sae = SparseAutoencoder(3, 1)
    with torch.no_grad():
        sae.W_dec.copy_(torch.eye(3))
        sae.W_enc.copy_(torch.eye(3))
    x = torch.tensor([[1.0, 0.0, 2.0], [0.0, 3.0, 1.0], [2.0, 0.0, 0.0]])
    metrics = sae_metrics(sae, x)
    assert metrics["explained_variance"] == pytest.approx(1.0)
    assert metrics["l0"] == pytest.approx(5 / 3) and metrics["dead_fraction"] == 0.0
    with pytest.raises(ValueError, match="SAEConfig needs"):
        SAEConfig(l1=-1.0)


@pytest.fixture(scope="module")
def tiny_lm():
    torch.manual_seed(0)
    return LanguageModel(LMConfig(vocab_size=50, d_model=16, n_layers=2, n_heads=2,
                                  max_seq_len=32)).eval()


def test_an_identity_splice_keeps_the_loss_and_a_zero_splice_changes_it(tiny_lm):
    rows = torch.randint(50, (4, 12))
    clean = spliced_loss(tiny_lm, 0, rows)
    assert spliced_loss(tiny_lm, 0, rows, lambda out: out.clone()) == pytest.approx(clean)
    assert spliced_loss(tiny_lm, 0, rows, torch.zeros_like) != pytest.approx(clean)
    assert collect_activations(tiny_lm, -1, rows).shape == (48, 16)
    with pytest.raises(ValueError, match="not a site"):
        collect_activations(tiny_lm, 2, rows)


def test_patching_the_last_site_at_the_last_position_recovers_everything(tiny_lm):
    clean = torch.randint(50, (3, 8))
    corrupt = clean.clone()
    corrupt[:, 2] = (clean[:, 2] + 1) % 50

    def metric(logits):
        return logits[:, 0] - logits[:, 1]

    clean_score, corrupt_score, patched = patching_effects(tiny_lm, clean, corrupt, metric)
    assert patched.shape == (3, 8)
    assert float(patched[-1, -1]) == pytest.approx(float(clean_score), abs=1e-5)
    # positions before the corrupted token carry nothing of it (causal attention)
    assert torch.allclose(patched[:, :2], corrupt_score.expand(3, 2), atol=1e-5)
    # at the embeddings, the corrupted position itself is the whole difference
    assert float(patched[0, 2]) == pytest.approx(float(clean_score), abs=1e-5)
    with pytest.raises(ValueError, match="one shape"):
        patching_effects(tiny_lm, clean, corrupt[:, :5], metric)
