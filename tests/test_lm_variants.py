"""Week 5's architecture switches of the one language model: each is the block its paper writes.

The blocks are checked against their equations written out here from the model's own weights
(post-norm: Vaswani et al. 2017; parallel: GPT-J / PaLM; QK-norm; the FFN family of Shazeer
2020), plus what every variant must keep: causality, matched feed-forward parameters, exact
gradients under checkpointing, and that the default is still LLaMA.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from algorithms.lm.config import FFNS, LMConfig
from algorithms.lm.model import LanguageModel, hf_llama_config
from algorithms.lm.train import TrainConfig, train

SMALL = {"vocab_size": 50, "d_model": 32, "n_layers": 2, "n_heads": 4, "max_seq_len": 24,
         "multiple_of": 8}
VARIANTS = [
    {}, {"norm": "layernorm"}, {"norm_position": "post"}, {"norm_position": "none"},
    {"qk_norm": True}, {"ffn": "relu"}, {"ffn": "gelu"}, {"ffn": "geglu"},
    {"block": "parallel"}, {"block": "parallel", "norm_position": "post"},
    {"n_experts": 3, "moe_top_k": 2}, {"gradient_checkpointing": True},
    {"mixer": "mamba", "ffn": "none", "ssm_state": 4}, {"mixer": "mamba2", "ssm_state": 8,
                                                        "ssm_chunk": 8},
    {"mixer": "retnet", "retention_chunk": 8},
]


def model_of(**changes) -> LanguageModel:
    torch.manual_seed(0)
    return LanguageModel(LMConfig(**{**SMALL, **changes})).double()


@pytest.mark.parametrize("changes", VARIANTS, ids=lambda c: ",".join(
    f"{k}={v}" for k, v in c.items()) or "llama")
def test_every_variant_is_causal_and_trains(changes):
    model = model_of(**changes)
    idx = torch.randint(0, 50, (2, 12))
    logits = model(idx)
    assert logits.shape == (2, 12, 50) and torch.isfinite(logits).all()
    changed = idx.clone()
    changed[:, 7] = (changed[:, 7] + 1) % 50
    if changes.get("n_experts"):  # capacity is shared by the batch's tokens: no dropping here
        model = model_of(**{**changes, "capacity_factor": None})
        logits = model(idx)
    after = model(changed)
    assert torch.allclose(logits[:, :7], after[:, :7], atol=1e-10)  # the past never sees t ≥ 7
    loss = model.loss(idx[:, :-1], idx[:, 1:])
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def _norm(module, x):
    return module(x)


def test_post_norm_block_is_vaswanis_equation():
    model = model_of(norm_position="post", norm="layernorm", ffn="relu")
    block = model.model.layers[0]
    x = torch.randn(2, 10, 32, dtype=torch.float64)
    h = block.input_layernorm(x + block.self_attn(x))  # x = LayerNorm(x + Sublayer(x))
    expected = block.post_attention_layernorm(h + block.mlp.down_proj(
        F.relu(block.mlp.up_proj(h))))
    assert torch.allclose(block(x), expected, atol=1e-12)
    assert isinstance(model.model.norm, torch.nn.Identity)  # no final norm after post-norm


def test_parallel_block_shares_one_norm():
    model = model_of(block="parallel")
    block = model.model.layers[0]
    assert not hasattr(block, "post_attention_layernorm")
    x = torch.randn(2, 10, 32, dtype=torch.float64)
    n = block.input_layernorm(x)
    assert torch.allclose(block(x), x + block.self_attn(n) + block.mlp(n), atol=1e-12)


def test_qk_norm_normalises_each_head_before_rotation():
    model = model_of(qk_norm=True)
    attn = model.model.layers[0].self_attn
    with torch.no_grad():
        attn.q_norm.weight.fill_(1.0)
    q = attn.q_proj(100 * torch.randn(1, 5, 32, dtype=torch.float64)).view(1, 5, 4, 8)
    rms = attn.q_norm(q).pow(2).mean(-1).sqrt()
    assert torch.allclose(rms, torch.ones_like(rms), atol=1e-4)
    assert "model.layers.0.self_attn.q_norm.weight" in model.state_dict()


@pytest.mark.parametrize("ffn", [f for f in FFNS if f != "none"])
def test_feed_forwards_have_matched_parameters(ffn):
    """8 · d² per layer whichever the FFN: gated ones are 2/3 as wide (Shazeer 2020, §2)."""
    config = LMConfig(vocab_size=50, d_model=96, multiple_of=1, ffn=ffn)
    mlp = LanguageModel(config).model.layers[0].mlp
    count = sum(p.numel() for p in mlp.parameters())
    assert abs(count - 8 * 96 ** 2) / (8 * 96 ** 2) < 0.01


def test_geglu_and_swiglu_formulas():
    for ffn, act in (("geglu", F.gelu), ("swiglu", F.silu)):
        mlp = model_of(ffn=ffn).model.layers[0].mlp
        x = torch.randn(3, 32, dtype=torch.float64)
        expected = mlp.down_proj(act(mlp.gate_proj(x)) * mlp.up_proj(x))
        assert torch.allclose(mlp(x), expected, atol=1e-12)


def test_gradient_checkpointing_gives_the_same_gradients():
    plain, checkpointed = model_of(), model_of(gradient_checkpointing=True)
    checkpointed.load_state_dict(plain.state_dict())
    idx = torch.randint(0, 50, (2, 16))
    for model in (plain, checkpointed):
        model.train()
        model.loss(idx[:, :-1], idx[:, 1:]).backward()
    for (name, a), b in zip(plain.named_parameters(), checkpointed.parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-12), name


def test_default_is_still_llama_and_others_have_no_hf_equivalent():
    assert hf_llama_config(LMConfig(vocab_size=50))["hidden_act"] == "silu"
    for changes in ({"norm": "layernorm"}, {"block": "parallel"}, {"n_experts": 2}):
        with pytest.raises(ValueError, match="no equivalent"):
            hf_llama_config(LMConfig(vocab_size=50, **changes))


@pytest.mark.parametrize("bad", [{"norm": "batchnorm"}, {"mixer": "lstm"}, {"n_experts": -1},
                                 {"n_experts": 2, "moe_top_k": 3}, {"capacity_factor": 0.0},
                                 {"ffn": "none", "block": "parallel"}, {"ssm_state": 0}])
def test_bad_switches_are_one_line_errors(bad):
    with pytest.raises(ValueError):
        LMConfig(vocab_size=50, **bad)


def test_non_attention_mixers_refuse_kv_caches():
    model = model_of(mixer="retnet", retention_chunk=8)
    with pytest.raises(ValueError, match="no KV cache"):
        model.new_caches(1)


def test_moe_model_adds_its_auxiliary_loss_and_logs_it():
    model = LanguageModel(LMConfig(**{**SMALL, "n_experts": 4}))
    tokens = np.random.default_rng(0).integers(0, 50, 2000).astype(np.uint16)
    result = train(model, tokens, tokens, TrainConfig(steps=3, batch_size=4, block_size=16,
                                                      warmup_steps=1, eval_every=3,
                                                      eval_batches=1))
    rows = [row for row in result.history if "train_loss" in row]
    assert all(row["aux_loss"] > 0 and row["grad_norm"] > 0 for row in rows)
    aux = model.auxiliary_loss()
    expected = sum(0.01 * m.balance_loss + 0.001 * m.z_loss for m in model.moe_layers())
    assert torch.allclose(aux, expected)


def test_on_step_sees_the_gradients():
    model = LanguageModel(LMConfig(**SMALL))
    tokens = np.random.default_rng(0).integers(0, 50, 2000).astype(np.uint16)
    seen = []

    def on_step(m):
        seen.append(m.lm_head.weight.grad is not None)
        return {"probe": 1.0}

    result = train(model, tokens, tokens, TrainConfig(steps=2, batch_size=4, block_size=16,
                                                      warmup_steps=1, eval_every=2,
                                                      eval_batches=1), on_step=on_step)
    assert seen == [True, True]
    assert all(row["probe"] == 1.0 for row in result.history if "train_loss" in row)


def test_bf16_autocast_trains_on_cpu():
    model = LanguageModel(LMConfig(**SMALL))
    tokens = np.random.default_rng(0).integers(0, 50, 2000).astype(np.uint16)
    result = train(model, tokens, tokens, TrainConfig(steps=2, batch_size=4, block_size=16,
                                                      warmup_steps=1, eval_every=2,
                                                      eval_batches=1, autocast="bf16"))
    assert np.isfinite(result.final_val_loss)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device"))])
def test_fp16_autocast_trains_with_a_loss_scaler(device):
    model = LanguageModel(LMConfig(**SMALL))
    tokens = np.random.default_rng(0).integers(0, 50, 2000).astype(np.uint16)
    result = train(model, tokens, tokens, TrainConfig(steps=3, batch_size=4, block_size=16,
                                                      warmup_steps=1, eval_every=3,
                                                      eval_batches=1, autocast="fp16"),
                   device=device)
    assert np.isfinite(result.final_val_loss)
    norms = [row["grad_norm"] for row in result.history if "grad_norm" in row]
    assert all(0 < n < 1e3 for n in norms)  # unscaled before measuring: not × 2^16
