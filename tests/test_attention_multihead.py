"""MHA / GQA / MQA layers and the small GPT: KV-cached decoding equals full recomputation for
every positional encoding, head masks remove heads, the profiler counts tensors."""

import pytest
import torch
import torch.nn.functional as F

from algorithms.attention import (
    POSITIONAL_ENCODINGS,
    ALiBi,
    KVCache,
    MultiHeadAttention,
    RotaryEmbedding,
    ShawRelativePosition,
)
from algorithms.attention.analysis import (
    attention_distance,
    attention_entropy,
    head_importance,
    pruning_curve,
)
from algorithms.attention.model import GPTConfig, TinyGPT
from algorithms.attention.profiling import LiveTensorMeter, measure


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("positional", ["none", "rope", "alibi", "shaw"])
@pytest.mark.parametrize("n_kv_heads", [6, 3, 1], ids=["mha", "gqa", "mqa"])
def test_kv_cached_decoding_equals_full_recomputation(n_kv_heads, positional):
    torch.manual_seed(0)
    layer = MultiHeadAttention(24, n_heads=6, n_kv_heads=n_kv_heads, positional=positional,
                               max_relative_distance=4).double()
    x = torch.randn(2, 19, 24, dtype=torch.float64)
    full, _ = layer(x)
    cache = KVCache(2, n_kv_heads, 19, 4, dtype=torch.float64)
    pieces = [layer(x[:, :5], cache)[0]]  # a prompt of 5, then one token at a time
    pieces += [layer(x[:, t:t + 1], cache)[0] for t in range(5, 19)]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-12, rtol=0)
    assert cache.length == 19
    assert cache.nbytes == 2 * 2 * n_kv_heads * 19 * 4 * 8


def test_kv_cache_refuses_to_overflow():
    cache = KVCache(1, 1, 4, 2)
    cache.append(torch.zeros(1, 1, 3, 2), torch.zeros(1, 1, 3, 2))
    with pytest.raises(IndexError):
        cache.append(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2))


def test_multihead_without_positions_matches_sdpa_with_shared_heads():
    torch.manual_seed(1)
    layer = MultiHeadAttention(16, n_heads=4, n_kv_heads=2).double()
    x = torch.randn(3, 11, 16, dtype=torch.float64)
    out, weights = layer(x, need_weights=True)
    q = layer.q_proj(x).view(3, 11, 4, 4).transpose(1, 2)
    k = layer.k_proj(x).view(3, 11, 2, 4).transpose(1, 2).repeat_interleave(2, dim=1)
    v = layer.v_proj(x).view(3, 11, 2, 4).transpose(1, 2).repeat_interleave(2, dim=1)
    heads = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    expected = layer.out_proj(heads.transpose(1, 2).reshape(3, 11, 16))
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=0)
    assert weights.shape == (3, 4, 11, 11)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4, 11, dtype=torch.float64))


def test_mqa_and_gqa_shrink_only_the_key_value_projections():
    sizes = {g: sum(p.numel() for p in MultiHeadAttention(64, 8, g).parameters())
             for g in (8, 2, 1)}
    assert sizes[8] - sizes[2] == 2 * 64 * (8 - 2) * 8
    assert sizes[2] - sizes[1] == 2 * 64 * 8


@pytest.mark.parametrize("positional", POSITIONAL_ENCODINGS)
def test_tiny_gpt_cached_generation_equals_full_forward(positional):
    torch.manual_seed(2)
    model = TinyGPT(GPTConfig(vocab_size=11, d_model=16, n_layers=2, n_heads=4, n_kv_heads=2,
                              positional=positional, max_len=32)).double().eval()
    idx = torch.randint(0, 11, (2, 13))
    with torch.no_grad():
        full, _ = model(idx)
        caches = model.new_caches(2, 13)
        steps = [model(idx[:, :4], caches)[0]] + [model(idx[:, t:t + 1], caches)[0]
                                                  for t in range(4, 13)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-10, rtol=0)


def test_relative_encodings_see_only_offsets():
    """Shifting every position by 100 changes no logit: RoPE, ALiBi and Shaw are relative."""
    positions = torch.arange(9)
    q, k = torch.randn(2, 9, 8, dtype=torch.float64)
    rope = RotaryEmbedding(8)

    def rope_logits(shift):
        return rope.rotate(q, positions + shift) @ rope.rotate(k, positions + shift).T

    torch.testing.assert_close(rope_logits(0), rope_logits(100))
    alibi = ALiBi(4)
    torch.testing.assert_close(alibi.bias(positions, positions),
                               alibi.bias(positions + 100, positions + 100))
    shaw = ShawRelativePosition(8, max_distance=3)
    assert torch.equal(shaw.buckets(positions, positions),
                       shaw.buckets(positions + 100, positions + 100))


def test_head_mask_zero_removes_a_heads_contribution():
    torch.manual_seed(4)
    layer = MultiHeadAttention(16, 4).double()
    x = torch.randn(2, 7, 16, dtype=torch.float64)
    mask = torch.tensor([1.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    out, _ = layer(x, head_mask=mask)
    with torch.no_grad():
        layer.out_proj.weight[:, 4:8] = 0.0  # head 1's slice of W^O
    torch.testing.assert_close(out, layer(x)[0])


def test_entropy_and_distance_of_known_distributions():
    uniform = torch.full((1, 4), 0.25)
    assert float(attention_entropy(uniform)[0]) == pytest.approx(torch.log(torch.tensor(4.0)))
    one_hot = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]])
    assert attention_entropy(one_hot).abs().max() < 1e-6
    assert attention_distance(one_hot).tolist() == [[0.0, 0.0, 2.0]]


def test_head_importance_and_pruning_curve_shapes():
    torch.manual_seed(5)
    model = TinyGPT(GPTConfig(vocab_size=7, d_model=8, n_layers=2, n_heads=2))
    batches = [(torch.randint(0, 7, (2, 9)), torch.randint(0, 7, (2, 9))) for _ in range(2)]
    importance = head_importance(model, batches)
    assert importance.shape == (2, 2) and (importance >= 0).all()
    curve = pruning_curve(model, batches, [(0, 0), (1, 1), (0, 1), (1, 0)])
    assert len(curve) == 5


def test_live_tensor_meter_counts_what_is_alive():
    with LiveTensorMeter() as meter:
        a = torch.ones(1000)  # 4000 bytes live
        b = a * 2  # 8000
        del a  # 4000
        c = b + 1  # 8000 again: a was freed first, so the peak stays at 8000
        del b, c  # 0
    assert meter.peak == 8000
    assert meter.current == 0


def test_measure_reports_memory_that_grows_with_the_score_matrix():
    from algorithms.attention import ScaledDotProductAttention

    small = measure(ScaledDotProductAttention(), *(torch.randn(1, 64, 8) for _ in range(3)),
                    budget_s=0.0, max_repeats=1)
    large = measure(ScaledDotProductAttention(), *(torch.randn(1, 256, 8) for _ in range(3)),
                    budget_s=0.0, max_repeats=1)
    assert large.forward_mib > 8 * small.forward_mib  # 16× more scores, plus O(L) terms
    assert large.forward_backward_mib >= large.forward_mib
