"""The from-scratch LM (algorithms/lm) against independent references: torch's own layers,
explicit formulas, and Hugging Face's LlamaForCausalLM with the same weights."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from algorithms.attention.positional import RotaryEmbedding
from algorithms.lm import LanguageModel, LMConfig, hf_llama_config
from algorithms.lm.layers import CausalSelfAttention, RMSNorm, SwiGLU

transformers = pytest.importorskip("transformers")
from transformers.models.llama.modeling_llama import (  # noqa: E402
    apply_rotary_pos_emb,
    rotate_half,
)

TINY = dict(vocab_size=61, d_model=32, n_layers=2, n_heads=4, max_seq_len=32)


def tiny(**overrides) -> LMConfig:
    return LMConfig(**{**TINY, **overrides})


def hf_twin(model: LanguageModel, attn: str = "eager"):
    """LlamaForCausalLM of the same shape, randomly built (no download), our weights loaded."""
    hf_config = transformers.LlamaConfig(**hf_llama_config(model.config), attn_implementation=attn)
    hf = transformers.LlamaForCausalLM(hf_config).eval()
    hf.load_state_dict(model.state_dict(), strict=True)
    return hf


# ----------------------------------------------------------------------------- config

def test_config_resolves_llama_width_and_round_trips():
    config = LMConfig(vocab_size=100, d_model=128)
    assert config.hidden_dim == 352  # int(2/3 · 512) = 341, rounded up to a multiple of 32
    assert config.head_dim == 32 and config.kv_heads == 4
    assert LMConfig(vocab_size=100, d_ff=77).hidden_dim == 77
    assert LMConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="bogus"):
        LMConfig.from_dict({**config.to_dict(), "bogus": 1})


@pytest.mark.parametrize("overrides", [
    dict(d_model=30, n_heads=4), dict(n_heads=4, n_kv_heads=3), dict(d_model=12, n_heads=4),
    dict(n_layers=0), dict(vocab_size=-1), dict(attention="flash"), dict(multiple_of=0),
])
def test_config_rejects_bad_shapes(overrides):
    with pytest.raises(ValueError):
        tiny(**overrides)


# ----------------------------------------------------------------------------- layers

def test_rmsnorm_equals_torch_rmsnorm():
    torch.manual_seed(0)
    ours, theirs = RMSNorm(24, eps=1e-5), torch.nn.RMSNorm(24, eps=1e-5)
    with torch.no_grad():
        ours.weight.normal_()
        theirs.weight.copy_(ours.weight)
    x = torch.randn(3, 7, 24) * 5
    torch.testing.assert_close(ours(x), theirs(x), atol=1e-6, rtol=1e-5)
    # computed in float32, returned in the dtype of a bfloat16 model
    assert ours.bfloat16()(x.bfloat16()).dtype == torch.bfloat16


def test_swiglu_equals_the_silu_formula():
    torch.manual_seed(0)
    mlp = SwiGLU(16, 40)
    x = torch.randn(2, 5, 16)
    expected = (F.silu(x @ mlp.gate_proj.weight.T) * (x @ mlp.up_proj.weight.T)) \
        @ mlp.down_proj.weight.T
    torch.testing.assert_close(mlp(x), expected)


def test_half_split_rope_equals_hf_rotate_half():
    head_dim, base = 16, 500.0
    rope = RotaryEmbedding(head_dim, base, interleaved=False)
    q, k = torch.randn(2, 2, 3, 9, head_dim, dtype=torch.float64)
    positions = torch.arange(4, 13)
    # HF's tables: the frequencies repeated for the two halves
    inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    angles = torch.cat([positions[:, None] * inv_freq] * 2, dim=-1)
    q_hf, k_hf = apply_rotary_pos_emb(q, k, angles.cos(), angles.sin(), unsqueeze_dim=0)
    torch.testing.assert_close(rope.rotate(q, positions), q_hf, atol=1e-12, rtol=0)
    torch.testing.assert_close(rope.rotate(k, positions), k_hf, atol=1e-12, rtol=0)
    torch.testing.assert_close(rope.rotate_complex(q, positions), q_hf, atol=1e-12, rtol=0)
    assert torch.equal(rotate_half(rotate_half(q)), -q)  # the reference is a quarter turn


def test_interleaved_rope_is_still_weeks_3_adjacent_pairs():
    rope, default = RotaryEmbedding(8, interleaved=True), RotaryEmbedding(8)
    x = torch.randn(2, 5, 8)
    positions = torch.arange(3, 8)
    angles = positions.double()[:, None] * 10000 ** (-torch.arange(0, 8, 2).double() / 8)
    cos, sin = angles.cos().float(), angles.sin().float()
    even, odd = x[..., 0::2], x[..., 1::2]
    expected = torch.stack([even * cos - odd * sin, even * sin + odd * cos], -1).flatten(-2)
    assert torch.equal(rope.rotate(x, positions), expected)
    assert torch.equal(default.rotate(x, positions), expected)


@pytest.mark.parametrize("kv_heads", [4, 2, 1])
def test_attention_paths_agree_with_explicit_sdpa(kv_heads):
    torch.manual_seed(0)
    config = tiny(n_kv_heads=kv_heads)
    fast = CausalSelfAttention(config)
    reference = CausalSelfAttention(LMConfig(**{**config.to_dict(), "attention": "reference"}))
    reference.load_state_dict(fast.state_dict())
    x = torch.randn(2, 11, config.d_model)
    # the independent reference: project, rotate, repeat the shared heads, one SDPA call
    b, t, hd = 2, 11, config.head_dim
    q = (x @ fast.q_proj.weight.T).view(b, t, -1, hd).transpose(1, 2)
    k = (x @ fast.k_proj.weight.T).view(b, t, -1, hd).transpose(1, 2)
    v = (x @ fast.v_proj.weight.T).view(b, t, -1, hd).transpose(1, 2)
    rope = RotaryEmbedding(hd, config.rope_base, interleaved=False)
    q, k = rope.rotate(q, torch.arange(t)), rope.rotate(k, torch.arange(t))
    group = config.n_heads // kv_heads
    k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    expected = out.transpose(1, 2).reshape(b, t, -1) @ fast.o_proj.weight.T
    torch.testing.assert_close(fast(x), expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(reference(x), expected, atol=1e-6, rtol=1e-5)


# ----------------------------------------------------------------------------- the model

@pytest.mark.parametrize(("overrides", "attn"), [
    (dict(), "eager"), (dict(n_kv_heads=2), "eager"), (dict(n_kv_heads=2), "sdpa"),
    (dict(n_kv_heads=1, tie_embeddings=True), "eager"),
])
def test_logits_equal_hf_llama_with_the_same_weights(overrides, attn):
    torch.manual_seed(0)
    ours = LanguageModel(tiny(**overrides)).eval()
    hf = hf_twin(ours, attn)
    idx = torch.randint(0, TINY["vocab_size"], (3, 20))
    with torch.no_grad():
        torch.testing.assert_close(ours(idx), hf(idx).logits, atol=1e-5, rtol=0)
    # and the reverse direction: HF's (random) weights into ours, strictly
    with torch.no_grad():
        for p in hf.parameters():
            p.normal_(0, 0.1)
    back = LanguageModel(ours.config).eval()
    back.load_state_dict(hf.state_dict(), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(back(idx), hf(idx).logits, atol=1e-5, rtol=0)
    assert ours.n_params() == hf.num_parameters()


def test_reference_attention_model_equals_sdpa_model():
    torch.manual_seed(0)
    fast = LanguageModel(tiny(n_kv_heads=2))
    slow = LanguageModel(tiny(n_kv_heads=2, attention="reference"))
    slow.load_state_dict(fast.state_dict())
    idx = torch.randint(0, TINY["vocab_size"], (2, 17))
    torch.testing.assert_close(fast(idx), slow(idx), atol=1e-5, rtol=0)


def test_changing_a_future_token_never_changes_an_earlier_logit():
    torch.manual_seed(0)
    model = LanguageModel(tiny())
    idx = torch.randint(0, TINY["vocab_size"], (1, 16))
    changed = idx.clone()
    changed[0, 9] = (idx[0, 9] + 1) % TINY["vocab_size"]
    a, b = model(idx), model(changed)
    torch.testing.assert_close(a[:, :9], b[:, :9], atol=0, rtol=0)
    assert not torch.allclose(a[:, 9:], b[:, 9:])


@pytest.mark.parametrize("attention", ["sdpa", "reference"])
@pytest.mark.parametrize("chunks", [[1] * 14, [5] + [1] * 9, [6, 3, 5], [4, 1, 4, 1, 4]])
def test_kv_cached_decoding_equals_full_recomputation(attention, chunks):
    torch.manual_seed(0)
    model = LanguageModel(tiny(n_kv_heads=2, attention=attention)).eval()
    idx = torch.randint(0, TINY["vocab_size"], (2, sum(chunks)))
    full = model(idx)
    caches, start, pieces = model.new_caches(2), 0, []
    for size in chunks:
        pieces.append(model(idx[:, start:start + size], caches))
        start += size
    assert caches[0].length == idx.shape[1]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=0)


def test_input_longer_than_the_context_is_refused():
    model = LanguageModel(tiny())
    with pytest.raises(ValueError, match="33 tokens does not fit the model's context of 32"):
        model(torch.zeros(1, 33, dtype=torch.long))
    caches = model.new_caches(1, max_len=40)
    model(torch.zeros(1, 30, dtype=torch.long), caches)
    with pytest.raises(ValueError, match="context of 32"):
        model(torch.zeros(1, 3, dtype=torch.long), caches)


def test_loss_is_the_mean_token_cross_entropy_and_ignores_padding():
    torch.manual_seed(0)
    model = LanguageModel(tiny())
    idx = torch.randint(0, TINY["vocab_size"], (2, 9))
    targets = torch.randint(0, TINY["vocab_size"], (2, 9))
    targets[1, 5:] = -100
    log_probs = model(idx).log_softmax(-1)
    kept = targets != -100
    expected = -log_probs[kept].gather(-1, targets[kept][:, None]).mean()
    torch.testing.assert_close(model.loss(idx, targets), expected)


def test_initialisation_follows_gpt2():
    torch.manual_seed(0)
    config = LMConfig(vocab_size=512, d_model=256, n_layers=8, n_heads=4)
    model = LanguageModel(config)
    block = model.model.layers[3]
    assert abs(block.self_attn.q_proj.weight.std().item() - 0.02) < 0.002
    assert abs(model.model.embed_tokens.weight.std().item() - 0.02) < 0.002
    residual = 0.02 / math.sqrt(2 * 8)
    for weight in (block.self_attn.o_proj.weight, block.mlp.down_proj.weight):
        assert abs(weight.std().item() - residual) < 0.1 * residual
        assert abs(weight.mean().item()) < 0.1 * residual
    assert torch.equal(block.input_layernorm.weight, torch.ones(256))


def test_n_params_counts_by_hand_and_ties_once():
    config = tiny(n_kv_heads=2, d_ff=48)
    d, f, v, layers = 32, 48, 61, 2
    kv = 2 * 8  # two key/value heads of head_dim 8
    per_layer = d * d + 2 * d * kv + d * d + 3 * d * f + 2 * d
    body = layers * per_layer + d
    untied = LanguageModel(config)
    assert untied.n_params(embeddings=False) == body
    assert untied.n_params() == body + 2 * v * d
    tied = LanguageModel(tiny(n_kv_heads=2, d_ff=48, tie_embeddings=True))
    assert tied.lm_head.weight is tied.model.embed_tokens.weight
    assert tied.n_params() == body + v * d
    assert tied.n_params(embeddings=False) == body


def test_rmsnorm_gradients_equal_autograd_of_torchs_rmsnorm():
    """The hand-written backward of forge's RMSNorm against autograd through nn.RMSNorm
    (float64), for the input and the gain; and torch's gradcheck on the function itself."""
    torch.manual_seed(0)
    x = torch.randn(3, 5, 16, dtype=torch.float64, requires_grad=True)
    ours, theirs = RMSNorm(16, eps=1e-5).double(), torch.nn.RMSNorm(16, eps=1e-5).double()
    with torch.no_grad():
        ours.weight.copy_(torch.randn(16))
        theirs.weight.copy_(ours.weight)
    upstream = torch.randn(3, 5, 16, dtype=torch.float64)
    (grad_x,) = torch.autograd.grad((ours(x) * upstream).sum(), x)
    (ref_x,) = torch.autograd.grad((theirs(x) * upstream).sum(), x)
    torch.testing.assert_close(grad_x, ref_x, rtol=1e-10, atol=1e-12)
    (ours(x) * upstream).sum().backward()
    (theirs(x) * upstream).sum().backward()
    torch.testing.assert_close(ours.weight.grad, theirs.weight.grad, rtol=1e-10, atol=1e-12)
    assert torch.autograd.gradcheck(lambda t: ours(t), (x.detach().requires_grad_(),))


def test_the_full_width_rope_equals_week_3s_half_split_rotation_bit_for_bit():
    from algorithms.lm.layers import rotate_half_split

    torch.manual_seed(0)
    rope = RotaryEmbedding(16, interleaved=False)
    cos, sin = rope.tables(torch.arange(12), torch.float32)
    x = torch.randn(2, 3, 12, 16)  # (B, heads, L, d_h)
    wide_cos, wide_sin = torch.cat([cos, cos], -1), torch.cat([-sin, sin], -1)
    assert torch.equal(rotate_half_split(x, wide_cos, wide_sin), rope.rotate_with(x, cos, sin))
