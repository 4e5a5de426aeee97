"""Positional encodings: the formulas, RoPE's relative-position property and its two forms,
ALiBi's slopes (the paper's reference code), and Shaw's relative terms against the naive form."""

import math

import pytest
import torch

from algorithms.attention import (
    ALiBi,
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    ShawRelativePosition,
    SinusoidalPositionalEncoding,
    alibi_slopes,
    sinusoidal_table,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_sinusoidal_table_is_vaswanis_formula():
    d = 10
    table = sinusoidal_table(torch.arange(7), d).double()
    for p in range(7):
        for i in range(d // 2):
            angle = p / 10000 ** (2 * i / d)
            assert table[p, 2 * i] == pytest.approx(math.sin(angle), abs=1e-6)
            assert table[p, 2 * i + 1] == pytest.approx(math.cos(angle), abs=1e-6)
    scaled = SinusoidalPositionalEncoding(d, scale=0.5)(torch.arange(7))
    torch.testing.assert_close(scaled, 0.5 * table.float())


def test_sinusoidal_offset_is_a_rotation_of_each_pair():
    """PE(p + k) is a linear function of PE(p): each (sin, cos) pair rotates by k ω_i."""
    d, k = 8, 5
    table = sinusoidal_table(torch.arange(40), d).double()
    shifted = sinusoidal_table(torch.arange(40) + k, d).double()
    for i in range(d // 2):
        w = k / 10000 ** (2 * i / d)
        rotation = torch.tensor([[math.cos(w), -math.sin(w)], [math.sin(w), math.cos(w)]],
                                dtype=torch.float64)
        torch.testing.assert_close(table[:, 2 * i:2 * i + 2] @ rotation,
                                   shifted[:, 2 * i:2 * i + 2], atol=1e-6, rtol=0)


def test_learned_embedding_refuses_positions_beyond_its_table():
    table = LearnedPositionalEmbedding(max_len=8, d_model=4)
    assert table(torch.arange(8)).shape == (8, 4)
    with pytest.raises(IndexError):
        table(torch.arange(9))


# ----------------------------------------------------------------------------- RoPE

def test_rope_logit_depends_only_on_the_offset():
    """⟨R_m q, R_n k⟩ is the same for every (m, n) with the same n − m (RoFormer eq. 16)."""
    rope = RotaryEmbedding(head_dim=16)
    generator = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 16, generator=generator, dtype=torch.float64)

    def logit(m, n):
        return float(rope.rotate(q[None], torch.tensor([m])) @ rope.rotate(k[None],
                                                                          torch.tensor([n])).T)

    for offset in (-7, 0, 3, 50):
        values = [logit(m, m + offset) for m in (0, 1, 13, 400, 9999)]
        assert max(values) - min(values) < 1e-9
    assert abs(logit(0, 3) - logit(0, 4)) > 1e-3  # and it does depend on the offset


def test_rope_at_position_zero_is_the_identity_and_preserves_norms():
    rope = RotaryEmbedding(head_dim=8)
    x = torch.randn(3, 5, 8, dtype=torch.float64)
    torch.testing.assert_close(rope.rotate(x[:, :1], torch.tensor([0])), x[:, :1])
    rotated = rope.rotate(x, torch.arange(100, 105))
    torch.testing.assert_close(rotated.norm(dim=-1), x.norm(dim=-1))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rope_real_form_equals_complex_form(dtype):
    rope = RotaryEmbedding(head_dim=12, base=500.0)
    x = torch.randn(2, 4, 31, 12, dtype=dtype)
    positions = torch.arange(7, 38)
    atol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(rope.rotate(x, positions), rope.rotate_complex(x, positions),
                               atol=atol, rtol=0)


def test_rope_rotates_adjacent_pairs_by_m_theta():
    rope = RotaryEmbedding(head_dim=4)
    x = torch.tensor([[1.0, 0.0, 1.0, 0.0]], dtype=torch.float64)
    out = rope.rotate(x, torch.tensor([3]))
    theta = [1.0, 10000 ** (-2 / 4)]
    expected = [math.cos(3 * theta[0]), math.sin(3 * theta[0]),
                math.cos(3 * theta[1]), math.sin(3 * theta[1])]
    torch.testing.assert_close(out[0], torch.tensor(expected, dtype=torch.float64))


# ----------------------------------------------------------------------------- ALiBi

def _reference_get_slopes(n):
    """Verbatim from ofirpress/attention_with_linear_biases (fairseq/models/transformer.py)."""
    def get_slopes_power_of_2(n):
        start = (2**(-2**-(math.log2(n)-3)))
        ratio = start
        return [start*ratio**i for i in range(n)]

    if math.log2(n).is_integer():
        return get_slopes_power_of_2(n)
    else:
        closest_power_of_2 = 2**math.floor(math.log2(n))
        return (get_slopes_power_of_2(closest_power_of_2)
                + _reference_get_slopes(2*closest_power_of_2)[0::2][:n-closest_power_of_2])


def test_alibi_slopes_for_8_heads_are_the_papers():
    assert alibi_slopes(8) == pytest.approx([2 ** -i for i in range(1, 9)])


@pytest.mark.parametrize("n_heads", [1, 2, 3, 5, 6, 12, 16, 20, 24, 40])
def test_alibi_slopes_match_the_reference_code(n_heads):
    slopes = alibi_slopes(n_heads)
    assert len(slopes) == n_heads
    assert slopes == pytest.approx(_reference_get_slopes(n_heads), rel=1e-12)


def test_alibi_slopes_for_12_heads_interleave_the_16_head_sequence():
    # the 8 slopes of 8 heads, then every other slope of 16 heads: 2^-0.5, 2^-1.5, ...
    expected = [2 ** -i for i in range(1, 9)] + [2 ** -(0.5 + i) for i in range(4)]
    assert alibi_slopes(12) == pytest.approx(expected)


def test_alibi_bias_is_minus_slope_times_distance():
    bias = ALiBi(n_heads=4).bias(torch.arange(6), torch.arange(6))
    slopes = alibi_slopes(4)
    for h in range(4):
        for i in range(6):
            for j in range(i + 1):
                assert float(bias[h, i, j]) == pytest.approx(-slopes[h] * (i - j))


# ----------------------------------------------------------------------------- Shaw et al.

def test_shaw_terms_equal_the_naive_per_pair_embeddings():
    """The gathered / scattered implementation equals eqs. 3–5 with the (Lq, Lk, d) tensors."""
    torch.manual_seed(0)
    shaw = ShawRelativePosition(head_dim=6, max_distance=3).double()
    q = torch.randn(2, 9, 6, dtype=torch.float64)
    weights = torch.rand(2, 9, 11, dtype=torch.float64).softmax(-1)
    q_pos, k_pos = torch.arange(2, 11), torch.arange(11)
    a_k = shaw.keys[shaw.buckets(q_pos, k_pos)]  # (Lq, Lk, d): a^K_ij
    a_v = shaw.values[shaw.buckets(q_pos, k_pos)]
    torch.testing.assert_close(shaw.logits(q, q_pos, k_pos), torch.einsum("bid,ijd->bij", q, a_k))
    torch.testing.assert_close(shaw.output(weights, q_pos, k_pos),
                               torch.einsum("bij,ijd->bid", weights, a_v))


def test_shaw_buckets_clip_the_distance():
    shaw = ShawRelativePosition(head_dim=2, max_distance=2)
    buckets = shaw.buckets(torch.arange(6), torch.arange(6))
    assert buckets[5, 0] == 0 and buckets[0, 5] == 4 and buckets[3, 3] == 2
    assert buckets[4, 1] == 0  # distance −3 clipped to −2
