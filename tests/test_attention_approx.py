"""Performer and Linformer: how far from exact attention, and that more features / a larger
rank bring them closer."""

import pytest
import torch

from algorithms.attention import (
    LinformerAttention,
    PerformerAttention,
    orthogonal_gaussian_features,
    scaled_dot_product_attention,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _inputs(length=128, dim=16, logit_std=0.5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(2, length, dim, generator=generator, dtype=torch.float64)
               for _ in range(3))
    return q * logit_std ** 0.5, k * logit_std ** 0.5, v


def _error(approx, exact):
    return float((approx - exact).norm() / exact.norm())


def test_orthogonal_features_are_orthogonal_within_blocks_and_haar():
    omega = orthogonal_gaussian_features(24, 8, torch.Generator().manual_seed(0)).double()
    block = omega[:8] / omega[:8].norm(dim=1, keepdim=True)
    torch.testing.assert_close(block @ block.T, torch.eye(8, dtype=torch.float64), atol=1e-6,
                               rtol=0)
    # Haar: the first coordinate of the directions has no preferred sign (plain QR gives one)
    directions = torch.cat([orthogonal_gaussian_features(8, 8, torch.Generator().manual_seed(s))
                            for s in range(50)])
    assert 0.3 < (directions[:, 0] > 0).double().mean() < 0.7


def test_performer_features_are_positive():
    performer = PerformerAttention(16, n_features=32).double()
    q, k, _ = _inputs()
    assert (performer.features(q, True) > 0).all() and (performer.features(k, False) > 0).all()
    rows = performer.attention_matrix(q, k)
    torch.testing.assert_close(rows.sum(-1), torch.ones(2, 128, dtype=torch.float64))


@pytest.mark.parametrize("is_causal", [False, True], ids=["full", "causal"])
def test_performer_error_falls_as_features_grow(is_causal):
    q, k, v = _inputs()
    exact = scaled_dot_product_attention(q, k, v, is_causal=is_causal)
    mean_errors = []
    for m in (8, 64, 512):
        errors = [_error(PerformerAttention(16, m, seed=seed, chunk=48).double()(q, k, v,
                                                                                 is_causal),
                         exact) for seed in range(6)]
        mean_errors.append(sum(errors) / len(errors))
    assert mean_errors[0] > mean_errors[1] > mean_errors[2]
    assert mean_errors[2] < 0.5 * mean_errors[0]


def test_performer_causal_chunks_do_not_change_the_result():
    q, k, v = _inputs(length=50)
    outs = [PerformerAttention(16, 32, seed=1, chunk=c).double()(q, k, v, True)
            for c in (7, 50, 128)]
    torch.testing.assert_close(outs[0], outs[1])
    torch.testing.assert_close(outs[0], outs[2])


def test_performer_is_differentiable():
    q, k, v = (t.requires_grad_() for t in _inputs(length=40))
    out = PerformerAttention(16, 32).double()(q, k, v, True)
    grads = torch.autograd.grad(out.sum(), (q, k, v))
    assert all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)


def test_linformer_pooling_is_exact_at_full_rank_and_improves_with_rank():
    q, k, v = _inputs(length=96)
    exact = scaled_dot_product_attention(q, k, v)
    errors = [_error(LinformerAttention(96, rank, projection="pool")(q, k, v), exact)
              for rank in (8, 24, 48, 96)]
    assert errors[-1] < 1e-12
    assert errors[0] > errors[1] > errors[2] > errors[3]


def test_linformer_pooling_counts_uneven_segments():
    """With k not dividing n, the implied weights are still a distribution over all keys."""
    q, k, _ = _inputs(length=50)
    weights = LinformerAttention(50, 7, projection="pool").attention_matrix(q, k)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 50, dtype=torch.float64))


def test_linformer_learned_projection_shapes_and_limits():
    linformer = LinformerAttention(max_len=64, rank=8, seed=0).double()
    q, k, v = _inputs(length=40)
    assert linformer(q, k, v).shape == (2, 40, 16)
    with pytest.raises(NotImplementedError):
        linformer(q, k, v, is_causal=True)
    long = _inputs(length=80)
    with pytest.raises(ValueError):
        linformer(*long)
    shared = LinformerAttention(max_len=64, rank=8, share_kv=True)
    assert shared.E is shared.F and len(list(shared.parameters())) == 1
