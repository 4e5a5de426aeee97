"""RetNet's multi-scale retention (Sun et al. 2023): the parallel, recurrent and chunkwise forms
against each other and against eq. 5 transcribed here, the decays, causality, and the authors'
torchscale 0.3.0 ``MultiScaleRetention`` with the same weights in all three of its modes."""

import sys
import types
from types import SimpleNamespace

import pytest
import torch

from algorithms.lm.retention import (
    MODES,
    MultiScaleRetention,
    retention_chunkwise,
    retention_decays,
    retention_parallel,
    retention_recurrent,
    rotate_pairs,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def torchscale():
    """torchscale's retention and its relative-position module. ``torchscale.architecture.retnet``
    imports fairscale and timm at the top for parts of the network the retention does not use
    (checkpoint wrappers, drop path); they are installed --no-deps, so stand-ins are put in
    ``sys.modules`` for the import and removed afterwards."""
    stubs = {"fairscale": {}, "fairscale.nn": {"checkpoint_wrapper": None, "wrap": None},
             "timm": {}, "timm.models": {}, "timm.models.layers": {"drop_path": None}}
    added = [name for name in stubs if name not in sys.modules]
    for name in added:
        module = types.ModuleType(name)
        module.__dict__.update(stubs[name])
        sys.modules[name] = module
    try:
        from torchscale.architecture.retnet import RetNetRelPos
        from torchscale.component.multiscale_retention import MultiScaleRetention as Reference
    finally:
        for name in added:
            del sys.modules[name]
    return SimpleNamespace(RetNetRelPos=RetNetRelPos, MultiScaleRetention=Reference)


def qkv(dtype=torch.float64, batch=2, heads=3, length=21, d_k=6, d_v=5, scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple(scale * torch.randn(batch, heads, length, d, generator=g, dtype=dtype)
                 for d in (d_k, d_k, d_v))


def log_decays(heads, dtype=torch.float64):
    return torch.log(retention_decays(heads)).to(dtype)


def test_decays_are_one_minus_two_to_the_minus_five_minus_h(torchscale):
    gammas = retention_decays(8)
    for h in range(8):
        assert gammas[h].item() == 1 - 2.0 ** (-5 - h)
    args = SimpleNamespace(decoder_embed_dim=64, decoder_retention_heads=8,
                           recurrent_chunk_size=4)
    torch.testing.assert_close(torchscale.RetNetRelPos(args).decay.exp().double(), gammas)


def test_parallel_form_is_equation_5_up_to_a_positive_row_scale():
    """(Q Kᵀ ⊙ D) V with D_{nm} = γ^{n−m} (n ≥ m), written out, against the normalised form:
    each output row is the raw one times a positive number, which the head norm removes."""
    q, k, v = qkv(scale=3.0)  # large scores, so that the max(|Σ R|, 1) clamp acts
    gammas = retention_decays(3)
    n = torch.arange(21)
    D = torch.where(n[:, None] >= n[None, :],
                    gammas[:, None, None] ** (n[:, None] - n[None, :]).clamp(min=0), 0.0)
    raw = (q @ k.transpose(-1, -2) * D) @ v
    out = retention_parallel(q, k, v, log_decays(3))
    ratio = (raw / out)[..., 0]
    assert (ratio > 0).all()
    torch.testing.assert_close(raw, out * ratio[..., None])
    assert (ratio > D.sum(-1).sqrt() + 1e-6).any()  # some rows were clamped by |Σ R| > 1


@pytest.mark.parametrize("scale", [0.3, 3.0])
def test_three_forms_agree_before_the_norm(scale):
    """The forms share one row scale, so they agree before the head norm, not only after it."""
    q, k, v = qkv(scale=scale)
    parallel = retention_parallel(q, k, v, log_decays(3))
    torch.testing.assert_close(retention_recurrent(q, k, v, log_decays(3)), parallel)
    for chunk in (1, 4, 5, 21, 32):  # 4 and 5 do not divide 21; 21 = L; 32 > L
        torch.testing.assert_close(retention_chunkwise(q, k, v, log_decays(3), chunk), parallel)


@pytest.mark.parametrize("norm", ["group", "rms"])
@pytest.mark.parametrize("eps", [0.0, 1e-6])
def test_module_modes_agree(norm, eps):
    torch.manual_seed(0)
    msr = MultiScaleRetention(24, 4, chunk_size=6, norm_eps=eps, norm=norm)
    x = torch.randn(2, 20, 24)
    with torch.no_grad():
        parallel = msr(x)
        for mode in ("recurrent", "chunkwise"):
            torch.testing.assert_close(msr(x, mode), parallel, atol=1e-5, rtol=1e-5)


def test_gradients_agree_across_modes():
    torch.manual_seed(1)
    msr = MultiScaleRetention(16, 2, chunk_size=4, norm_eps=0.0).double()
    x = torch.randn(2, 11, 16, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(2, 11, 16, dtype=torch.float64)
    params = [x, *msr.parameters()]

    def grads(mode):
        return torch.autograd.grad((msr(x, mode) * weight).sum(), params)

    reference = grads("parallel")
    for mode in ("recurrent", "chunkwise"):
        for got, want in zip(grads(mode), reference):
            torch.testing.assert_close(got, want, atol=1e-10, rtol=1e-8)


@pytest.mark.parametrize("mode", MODES)
def test_causal(mode):
    torch.manual_seed(2)
    msr = MultiScaleRetention(16, 2, chunk_size=4)
    x = torch.randn(1, 13, 16)
    with torch.no_grad():
        before = msr(x, mode)
        for t in (0, 5, 11):
            changed = x.clone()
            changed[:, t + 1:] = torch.randn_like(changed[:, t + 1:])
            after = msr(changed, mode)
            torch.testing.assert_close(after[:, :t + 1], before[:, :t + 1], atol=1e-6, rtol=0)
            assert not torch.allclose(after[:, t + 1:], before[:, t + 1:])


def test_rotation_makes_scores_depend_on_the_offset_only():
    g = torch.Generator().manual_seed(3)
    q, k = torch.randn(2, 8, dtype=torch.float64, generator=g)
    def score(n, m):
        rq = rotate_pairs(q.expand(n + 1, 8), torch.arange(n + 1))[n]
        rk = rotate_pairs(k.expand(m + 1, 8), torch.arange(m + 1))[m]
        return rq @ rk
    torch.testing.assert_close(score(7, 3), score(4, 0))
    torch.testing.assert_close(score(9, 9), q @ k)


# ----------------------------------------------------------------------------- torchscale

def reference_pair(torchscale, d, heads, chunk, eps, norm, seed=0):
    """Ours and torchscale's with the same weights: the parameter names are the same, so the
    state dict loads strictly. torchscale 0.3.0 normalises heads by RMSNorm; for ``"group"``
    its norm is swapped for the LayerNorm per head that earlier releases (and the paper's
    GroupNorm) used."""
    torch.manual_seed(seed)
    ours = MultiScaleRetention(d, heads, chunk_size=chunk, norm_eps=eps, norm=norm)
    with torch.no_grad():  # larger q, k than the init, so that the |Σ R| clamp acts
        ours.q_proj.weight.mul_(8)
        ours.k_proj.weight.mul_(8)
    args = SimpleNamespace(multiway=False, layernorm_eps=eps, decoder_embed_dim=d,
                           decoder_retention_heads=heads, recurrent_chunk_size=chunk)
    theirs = torchscale.MultiScaleRetention(args, d, 2 * d, heads)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    if norm == "group":
        theirs.group_norm = torch.nn.LayerNorm(2 * d // heads, eps=eps, elementwise_affine=False)
    return ours, theirs, torchscale.RetNetRelPos(args)


@pytest.mark.parametrize("norm", ["group", "rms"])
def test_matches_torchscale_parallel(torchscale, norm):
    """With torchscale's default ε = 1e-6: its parallel form is the paper's normalised one, and
    so is every one of our forms."""
    ours, theirs, rel_pos = reference_pair(torchscale, 32, 4, 8, 1e-6, norm)
    x = torch.randn(2, 24, 32)
    with torch.no_grad():
        want = theirs(x, rel_pos(24))
        for mode in MODES:
            torch.testing.assert_close(ours(x, mode), want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("norm", ["group", "rms"])
def test_matches_torchscale_recurrent_and_chunkwise_with_eps_zero(torchscale, norm):
    """torchscale's recurrent and chunkwise forms scale rows differently from its parallel
    form (no |Σ R| clamp in the recurrence; a per-chunk scale in the chunkwise form), which
    the head norm removes exactly only when its ε = 0."""
    ours, theirs, rel_pos = reference_pair(torchscale, 32, 4, 8, 0.0, norm, seed=1)
    x = torch.randn(2, 24, 32)  # torchscale's chunkwise form needs L divisible by the chunk
    with torch.no_grad():
        chunkwise = theirs(x, rel_pos(24, chunkwise_recurrent=True), chunkwise_recurrent=True)
        state = {}
        recurrent = torch.cat([theirs(x[:, n:n + 1], rel_pos(n + 1, activate_recurrent=True),
                                      incremental_state=state) for n in range(24)], dim=1)
        torch.testing.assert_close(ours(x, "chunkwise"), chunkwise, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(ours(x, "recurrent"), recurrent, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(ours(x), chunkwise, atol=1e-5, rtol=1e-5)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        MultiScaleRetention(18, 4)  # 18 does not split into 4 heads
    with pytest.raises(ValueError):
        MultiScaleRetention(12, 4)  # heads of width 3 cannot be rotated in pairs
    with pytest.raises(ValueError):
        MultiScaleRetention(16, 2, norm="batch")
    with pytest.raises(ValueError):
        MultiScaleRetention(16, 2)(torch.randn(1, 3, 16), mode="sequential")
