"""Mamba-2's SSD layer (Dao & Gu 2024): the chunked algorithm of §6 against the recurrence and
the quadratic matrix form, values and gradients; the Mamba-2 block against a token-by-token
transcription of Fig. 6, its causality and its independence of the chunk length."""

import math

import pytest
import torch
import torch.nn.functional as F

from algorithms.lm.ssd import (
    Mamba2Mixer,
    segsum,
    ssd_chunked,
    ssd_quadratic,
    ssd_recurrent,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def ssm_inputs(dtype, batch=2, length=37, heads=4, head_dim=8, groups=2, d_state=16, seed=0):
    """x, Δ = softplus(·) > 0, A < 0 and B, C with the shapes of Listing 1."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, length, heads, head_dim, generator=g, dtype=dtype)
    dt = F.softplus(torch.randn(batch, length, heads, generator=g, dtype=dtype) - 1)
    A = -torch.empty(heads, dtype=dtype).uniform_(0.5, 4, generator=g)
    B = 0.5 * torch.randn(batch, length, groups, d_state, generator=g, dtype=dtype)
    C = 0.5 * torch.randn(batch, length, groups, d_state, generator=g, dtype=dtype)
    return x, dt, A, B, C


def test_segsum_is_the_sum_over_each_segment():
    x = torch.randn(3, 6, dtype=torch.float64)
    s = segsum(x)
    for i in range(6):
        for j in range(6):
            if i >= j:
                torch.testing.assert_close(s[:, i, j], x[:, j + 1:i + 1].sum(-1))
            else:
                assert torch.isneginf(s[:, i, j]).all()
    # exp(segsum(log a)) is the 1-semiseparable mask Π_{k=j+1..i} a_k, with 1 on the diagonal
    mask = torch.exp(segsum(x))
    torch.testing.assert_close(torch.diagonal(mask, dim1=-2, dim2=-1), torch.ones(3, 6,
                                                                                   dtype=x.dtype))


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_three_forms_agree(dtype, tol):
    x, dt, A, B, C = ssm_inputs(dtype)
    recurrent, final = ssd_recurrent(x, dt, A, B, C, return_final_state=True)
    torch.testing.assert_close(ssd_quadratic(x, dt, A, B, C), recurrent, atol=tol, rtol=tol)
    for chunk in (1, 4, 5, 16, 37, 64):  # 5 and 16 do not divide 37; 37 = L; 64 > L
        chunked, chunked_final = ssd_chunked(x, dt, A, B, C, chunk, return_final_state=True)
        torch.testing.assert_close(chunked, recurrent, atol=tol, rtol=tol)
        torch.testing.assert_close(chunked_final, final, atol=tol, rtol=tol)


def test_initial_state_carries_a_split_sequence():
    """Running the second half from the first half's final state is running the whole."""
    x, dt, A, B, C = ssm_inputs(torch.float64)
    whole = ssd_chunked(x, dt, A, B, C, 8)
    first, state = ssd_chunked(x[:, :20], dt[:, :20], A, B[:, :20], C[:, :20], 8,
                               return_final_state=True)
    second = ssd_chunked(x[:, 20:], dt[:, 20:], A, B[:, 20:], C[:, 20:], 8, initial_state=state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)
    stepped = ssd_recurrent(x[:, 20:], dt[:, 20:], A, B[:, 20:], C[:, 20:], initial_state=state)
    torch.testing.assert_close(stepped, second)


def test_gradients_agree():
    inputs = [t.requires_grad_() for t in ssm_inputs(torch.float64, length=13)]
    weight = torch.randn(2, 13, 4, 8, dtype=torch.float64)

    def grads(fn):
        return torch.autograd.grad((fn(*inputs) * weight).sum(), inputs)

    reference = grads(ssd_recurrent)
    for fn in (ssd_quadratic, lambda *a: ssd_chunked(*a, 4), lambda *a: ssd_chunked(*a, 6)):
        for got, want in zip(grads(fn), reference):
            assert torch.isfinite(got).all()
            torch.testing.assert_close(got, want, atol=1e-10, rtol=1e-10)


def test_groups_share_b_and_c_across_contiguous_heads():
    x, dt, A, B, C = ssm_inputs(torch.float64, heads=4, groups=2)
    per_head = [t[:, :, [0, 0, 1, 1]] for t in (B, C)]  # heads 0, 1 read group 0; 2, 3 group 1
    torch.testing.assert_close(ssd_chunked(x, dt, A, B, C, 8),
                               ssd_recurrent(x, dt, A, *per_head))


# ----------------------------------------------------------------------------- the block

def reference_block(m: Mamba2Mixer, u: torch.Tensor) -> torch.Tensor:
    """Fig. 6 token by token, from the mixer's parameters: the convolution as a dot product
    with the last d_conv inputs, the SSM state updated per step, the gated RMSNorm per group."""
    batch, length, _ = u.shape
    H, P, N, G = m.n_heads, m.head_dim, m.d_state, m.n_groups
    zxbcdt = u @ m.in_proj.weight.T
    z, xbc, dt = zxbcdt.split([m.d_inner, m.d_inner + 2 * G * N, H], dim=-1)
    weight, width = m.conv1d.weight[:, 0], m.conv1d.weight.shape[-1]  # (channels, d_conv)
    history = torch.cat([xbc.new_zeros(batch, width - 1, xbc.shape[-1]), xbc], dim=1)
    h = u.new_zeros(batch, H, P, N)
    outputs = []
    for t in range(length):
        window = history[:, t:t + width]  # inputs t − d_conv + 1 .. t
        conv = F.silu((window * weight.T).sum(1) + m.conv1d.bias)
        x, Bt, Ct = conv.split([m.d_inner, G * N, G * N], dim=-1)
        x = x.view(batch, H, P)
        Bt = Bt.view(batch, G, N).repeat_interleave(H // G, dim=1)
        Ct = Ct.view(batch, G, N).repeat_interleave(H // G, dim=1)
        delta = F.softplus(dt[:, t] + m.dt_bias)  # (batch, H)
        a = torch.exp(-delta * torch.exp(m.A_log))
        h = a[..., None, None] * h + delta[..., None, None] * x[..., None] * Bt[:, :, None]
        y = (h @ Ct[..., None])[..., 0] + m.D[:, None] * x
        gated = (y.reshape(batch, m.d_inner) * F.silu(z[:, t])).view(batch, G, -1)
        rms = gated.pow(2).mean(-1, keepdim=True).add(m.norm.eps).sqrt()
        outputs.append((gated / rms).reshape(batch, -1) * m.norm.weight)
    return torch.stack(outputs, 1) @ m.out_proj.weight.T


def make_mixer(seed=0, **kwargs):
    torch.manual_seed(seed)
    config = dict(d_state=8, expand=2, d_conv=4, head_dim=8, chunk_size=8, n_groups=2)
    return Mamba2Mixer(16, **{**config, **kwargs})


def test_mixer_is_figure_6_token_by_token():
    m = make_mixer()
    u = torch.randn(2, 19, 16)
    with torch.no_grad():
        torch.testing.assert_close(m(u), reference_block(m, u), atol=1e-5, rtol=1e-5)


def test_mixer_does_not_depend_on_chunk_size():
    m = make_mixer(seed=1)
    u = torch.randn(2, 23, 16)
    with torch.no_grad():
        m.chunk_size = 23
        reference = m(u)
        for chunk in (1, 4, 7, 16, 64):
            m.chunk_size = chunk
            torch.testing.assert_close(m(u), reference, atol=1e-5, rtol=1e-5)


def test_mixer_is_causal():
    m = make_mixer(seed=2, chunk_size=4)
    u = torch.randn(1, 15, 16)
    with torch.no_grad():
        before = m(u)
        for t in (0, 6, 13):
            changed = u.clone()
            changed[:, t + 1:] = torch.randn_like(changed[:, t + 1:])
            after = m(changed)
            torch.testing.assert_close(after[:, :t + 1], before[:, :t + 1], atol=0, rtol=0)
            assert not torch.allclose(after[:, t + 1:], before[:, t + 1:])


def test_mixer_initialisation():
    m = Mamba2Mixer(64, d_state=16, head_dim=8)  # 16 heads
    dt = F.softplus(m.dt_bias)
    assert m.n_heads == 16 and dt.shape == (16,)
    assert (dt >= 1e-3 - 1e-7).all() and (dt <= 0.1 + 1e-7).all()
    A = torch.exp(m.A_log)
    assert (A >= 1).all() and (A <= 16).all()
    assert (m.D == 1).all() and (m.norm.weight == 1).all()
    assert all(getattr(p, "_no_weight_decay", False) for p in (m.dt_bias, m.A_log, m.D))
    names = {name for name, _ in m.named_parameters()}
    assert names == {"in_proj.weight", "conv1d.weight", "conv1d.bias", "dt_bias", "A_log", "D",
                     "norm.weight", "out_proj.weight"}  # mamba_ssm's Mamba2 names
    assert m.in_proj.weight.shape == (2 * 128 + 2 * 16 + 16, 64)
    assert not math.isnan(m(torch.randn(1, 5, 64)).sum().item())


def test_mixer_rejects_bad_shapes():
    with pytest.raises(ValueError):
        Mamba2Mixer(16, expand=2, head_dim=5)
    with pytest.raises(ValueError):
        Mamba2Mixer(16, expand=2, head_dim=8, n_groups=3)
