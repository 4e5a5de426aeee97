"""Mamba's S6 mixer (algorithms/lm/mamba.py) against independent references: its own loop
scan, autograd's numerical gradients, and mambapy's MambaBlock with the same weights."""

from __future__ import annotations

import math

import pytest
import torch

from algorithms.lm.mamba import (
    MambaMixer,
    _auto_scan,
    parallel_scan,
    selective_scan,
    sequential_scan,
)

mambapy_mamba = pytest.importorskip("mambapy.mamba")
MambaBlock, MambaConfig = mambapy_mamba.MambaBlock, mambapy_mamba.MambaConfig

LENGTHS = (1, 2, 7, 16, 33)
D_MODEL, D_STATE = 16, 8


def scan_inputs(length: int, dtype: torch.dtype, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    # a in (0, 1) as Ā = exp(ΔA) is; b of either sign
    a = torch.rand(2, length, 3, 4, generator=generator, dtype=dtype).requires_grad_()
    b = torch.randn(2, length, 3, 4, generator=generator, dtype=dtype).requires_grad_()
    return a, b


def twin(forge: MambaMixer, pscan: bool) -> torch.nn.Module:
    """mambapy's MambaBlock of the same shape, forge's weights loaded strictly."""
    config = MambaConfig(d_model=forge.d_model, n_layers=1, d_state=forge.d_state,
                         expand_factor=forge.d_inner // forge.d_model, d_conv=forge.d_conv,
                         dt_rank=forge.dt_rank, bias=forge.out_proj.bias is not None,
                         conv_bias=forge.conv1d.bias is not None, pscan=pscan)
    block = MambaBlock(config).to(forge.D.dtype)
    block.load_state_dict(forge.state_dict(), strict=True)
    return block


# ------------------------------------------------------------------------------ the scans

@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
@pytest.mark.parametrize("length", LENGTHS)
def test_parallel_scan_equals_the_loop_values_and_gradients(length, dtype, tol):
    a, b = scan_inputs(length, dtype)
    loop, tree = sequential_scan(a, b), parallel_scan(a, b)
    torch.testing.assert_close(tree, loop, atol=tol, rtol=tol)
    g = torch.randn_like(loop)
    for got, want in zip(torch.autograd.grad(tree, (a, b), g),
                         torch.autograd.grad(loop, (a, b), g)):
        torch.testing.assert_close(got, want, atol=tol, rtol=tol)


def test_sequential_scan_is_the_recurrence():
    a, b = scan_inputs(5, torch.float64)
    h, expected = torch.zeros_like(b[:, 0]), []
    for t in range(5):
        h = a[:, t] * h + b[:, t]
        expected.append(h)
    torch.testing.assert_close(sequential_scan(a, b), torch.stack(expected, 1), rtol=1e-14,
                               atol=1e-14)  # addcmul may fuse the multiply-add (FMA)


@pytest.mark.parametrize("length", (1, 6, 11))
def test_parallel_scan_backward_passes_gradcheck(length):
    a, b = scan_inputs(length, torch.float64, seed=1)
    assert torch.autograd.gradcheck(parallel_scan, (a, b))


def test_parallel_scan_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="one shape"):
        parallel_scan(torch.rand(1, 4, 2), torch.rand(1, 4, 3))


# ---------------------------------------------------------------------- the selective scan

def ssm_inputs(length: int, dtype: torch.dtype = torch.float64, batch: int = 2, ed: int = 6,
               n: int = 4):
    generator = torch.Generator().manual_seed(length)
    x = torch.randn(batch, length, ed, generator=generator, dtype=dtype)
    delta = torch.nn.functional.softplus(torch.randn(batch, length, ed, generator=generator,
                                                     dtype=dtype) - 1)
    A = -torch.arange(1, n + 1, dtype=dtype).expand(ed, n).contiguous()
    B = torch.randn(batch, length, n, generator=generator, dtype=dtype)
    C = torch.randn(batch, length, n, generator=generator, dtype=dtype)
    D = torch.randn(ed, generator=generator, dtype=dtype)
    return [t.requires_grad_() for t in (x, delta, A, B, C, D)]


@pytest.mark.parametrize("length", LENGTHS)
def test_selective_scan_methods_agree_with_the_explicit_recurrence(length):
    x, delta, A, B, C, D = inputs = ssm_inputs(length)
    y_loop = selective_scan(*inputs, method="sequential")
    y_tree = selective_scan(*inputs, method="parallel")
    # eq. 2a/2b written out per time step, one (ED, N) state per batch element
    h = torch.zeros(x.shape[0], x.shape[2], A.shape[1], dtype=x.dtype)
    ys = []
    for t in range(length):
        dt = delta[:, t, :, None]
        h = torch.exp(dt * A) * h + dt * B[:, t, None, :] * x[:, t, :, None]
        ys.append((h * C[:, t, None, :]).sum(-1) + D * x[:, t])
    torch.testing.assert_close(y_loop, torch.stack(ys, 1), atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(y_tree, y_loop, atol=1e-10, rtol=1e-10)
    g = torch.randn_like(y_loop)
    for got, want in zip(torch.autograd.grad(y_tree, inputs, g),
                         torch.autograd.grad(y_loop, inputs, g)):
        torch.testing.assert_close(got, want, atol=1e-10, rtol=1e-10)


def test_selective_scan_continues_from_a_state():
    inputs = ssm_inputs(9)
    y_full = selective_scan(*inputs)
    first = [t[:, :4] if t.dim() == 3 else t for t in inputs]
    rest = [t[:, 4:] if t.dim() == 3 else t for t in inputs]
    for method in ("sequential", "parallel"):
        y1, h = selective_scan(*first, method=method, return_state=True)
        y2 = selective_scan(*rest, method=method, h0=h)
        torch.testing.assert_close(torch.cat([y1, y2], 1), y_full, atol=1e-12, rtol=1e-12)


def test_selective_scan_rejects_an_unknown_method():
    with pytest.raises(ValueError, match="method"):
        selective_scan(*ssm_inputs(2), method="fft")


# ----------------------------------------------------------------- the block vs mambapy

def mixer(scan: str = "sequential", seed: int = 0, **kwargs) -> MambaMixer:
    torch.manual_seed(seed)
    return MambaMixer(D_MODEL, d_state=D_STATE, scan=scan, **kwargs)


@pytest.mark.parametrize("pscan", [True, False], ids=["mambapy-pscan", "mambapy-sequential"])
@pytest.mark.parametrize("scan", ["sequential", "parallel"])
def test_mixer_equals_mambapy_block_with_the_same_weights(scan, pscan):
    forge = mixer(scan)
    reference = twin(forge, pscan)
    x = torch.randn(3, 13, D_MODEL, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    ours, theirs = forge(x), reference(x_ref)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    g = torch.randn_like(ours)
    (ours * g).sum().backward()
    (theirs * g).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad, atol=1e-5, rtol=1e-5)
    # and the parameter gradients, name by name
    theirs_by_name = dict(reference.named_parameters())
    for name, p in forge.named_parameters():
        torch.testing.assert_close(p.grad, theirs_by_name[name].grad, atol=1e-4, rtol=1e-4,
                                   msg=name)


@pytest.mark.parametrize("kwargs", [{}, {"bias": True, "conv_bias": False},
                                    {"expand": 3, "d_conv": 3, "dt_rank": 5}])
def test_state_dicts_have_mambapys_keys_and_shapes_and_load_both_ways(kwargs):
    forge = mixer(**kwargs)
    reference = twin(forge, pscan=True)
    ours, theirs = forge.state_dict(), reference.state_dict()
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}
    torch.manual_seed(1)
    other = MambaBlock(reference.config)  # fresh weights, mambapy's own initialisation
    forge.load_state_dict(other.state_dict(), strict=True)
    x = torch.randn(2, 5, D_MODEL)
    torch.testing.assert_close(forge(x), other(x), atol=1e-5, rtol=1e-5)


def test_initialisation_follows_the_paper():
    forge = MambaMixer(64, d_state=D_STATE, dt_min=0.002, dt_max=0.05)
    assert forge.dt_rank == math.ceil(64 / 16) and forge.d_inner == 128
    # S4D-Real: A = −(1..N) in every channel; D = 1
    A = -torch.exp(forge.A_log)
    torch.testing.assert_close(A, -torch.arange(1.0, D_STATE + 1).expand(128, -1))
    torch.testing.assert_close(forge.D, torch.ones(128))
    # Δ = softplus(bias) in [dt_min, dt_max]; dt_proj weights within ±rank^-1/2
    dt = torch.nn.functional.softplus(forge.dt_proj.bias)
    assert 0.002 * (1 - 1e-5) <= dt.min() and dt.max() <= 0.05 * (1 + 1e-5)
    assert forge.dt_proj.weight.abs().max() <= forge.dt_rank ** -0.5
    torch.testing.assert_close(forge.A_log, twin(forge, True).A_log)


# --------------------------------------------------------------- causality and decoding

@pytest.mark.parametrize("scan", ["sequential", "parallel"])
def test_changing_token_t_leaves_earlier_outputs_unchanged(scan):
    forge = mixer(scan).double()
    x = torch.randn(2, 12, D_MODEL, dtype=torch.float64)
    y = forge(x)
    for t in (0, 5, 11):
        x2 = x.clone()
        x2[:, t] += torch.randn(2, D_MODEL, dtype=torch.float64)
        y2 = forge(x2)
        torch.testing.assert_close(y2[:, :t], y[:, :t], atol=1e-12, rtol=0)
        assert (y2[:, t] - y[:, t]).abs().max() > 1e-6  # and token t itself does change


@pytest.mark.parametrize("scan", ["sequential", "parallel"])
def test_step_by_step_and_chunked_decoding_equal_the_full_forward(scan):
    forge = mixer(scan).double()
    x = torch.randn(2, 10, D_MODEL, dtype=torch.float64)
    with torch.no_grad():
        full = forge(x)
        state = forge.new_state(2)
        stepped = torch.stack([forge.step(x[:, t], state) for t in range(10)], 1)
        torch.testing.assert_close(stepped, full, atol=1e-12, rtol=1e-12)
        assert state.length == 10
        # a prefilled prompt of 6, a chunk of 3, then one token
        state = forge.new_state(2)
        parts = [forge(x[:, :6], state), forge(x[:, 6:9], state),
                 forge.step(x[:, 9], state)[:, None]]
        torch.testing.assert_close(torch.cat(parts, 1), full, atol=1e-12, rtol=1e-12)


def test_step_equals_mambapys_step():
    forge = mixer()
    reference = twin(forge, pscan=True)
    x = torch.randn(2, 6, D_MODEL)
    state = forge.new_state(2)
    cache = (None, torch.zeros(2, forge.d_inner, forge.d_conv - 1))
    with torch.no_grad():
        for t in range(6):
            ours = forge.step(x[:, t], state)
            theirs, cache = reference.step(x[:, t], cache)
            torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(state.ssm, cache[0], atol=1e-5, rtol=1e-5)


def test_bfloat16_module_runs_its_scan_in_float32():
    forge = mixer("parallel")
    x = torch.randn(2, 9, D_MODEL)
    reference = forge(x)
    low = forge.to(torch.bfloat16)(x.to(torch.bfloat16))
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), reference, atol=0.05, rtol=0.05)


def test_scan_choice_follows_the_benchmark():
    cpu, before = torch.device("cpu"), torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert _auto_scan(cpu) == "sequential"
        assert mixer("auto")._scan_method(cpu) == "sequential"
        torch.set_num_threads(2)
        assert _auto_scan(cpu) == "parallel"
    finally:
        torch.set_num_threads(before)
    assert _auto_scan(torch.device("cuda")) == "parallel"
    assert mixer("parallel")._scan_method(cpu) == "parallel"
    with pytest.raises(ValueError, match="scan"):
        MambaMixer(D_MODEL, scan="fft")
