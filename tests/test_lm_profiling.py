"""Profiling one training step: FLOPs against the matmul count written out, per-component
attribution of forward and backward operators, and gradient checkpointing's exact gradients
and smaller peak."""

import dataclasses
from collections import Counter

import pytest
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from algorithms.lm.config import LMConfig
from algorithms.lm.layers import CausalSelfAttention, RMSNorm, SwiGLU
from algorithms.lm.model import LanguageModel
from algorithms.lm.profiling import (
    attribute_events,
    default_components,
    labelled_modules,
    profile_step,
    profiler_labels,
)

CONFIG = LMConfig(vocab_size=64, d_model=32, n_layers=2, n_heads=2, max_seq_len=32)
CATEGORIES = {"attention", "mixer", "ffn", "norm", "embedding/head", "other"}


def tiny(config: LMConfig = CONFIG) -> LanguageModel:
    torch.manual_seed(0)
    return LanguageModel(config)


def batch(length: int = 16, batch_size: int = 2, vocab: int = 64):
    generator = torch.Generator().manual_seed(1)
    idx = torch.randint(0, vocab, (batch_size, length + 1), generator=generator)
    return idx[:, :-1], idx[:, 1:]


def linear_weights(model: LanguageModel, under: str = "") -> int:
    return sum(m.weight.numel() for name, m in model.named_modules()
               if isinstance(m, nn.Linear) and name.startswith(under))


@pytest.fixture(scope="module")
def profiled():
    model = tiny()
    idx, targets = batch()
    return model, profile_step(model, idx, targets, repeats=2)


def test_flops_per_token_equal_the_matmuls_written_out(profiled):
    """Per token, a Linear with W weights costs 2W forward and 4W backward (input and weight
    gradients); attention over T keys costs 4 T d forward (q kᵀ and p v over every head) and
    10 T d backward (the kernel recomputes q kᵀ and makes four more products), the causal mask
    not subtracted."""
    model, p = profiled
    length, d, layers = 16, CONFIG.d_model, CONFIG.n_layers
    linear = linear_weights(model)
    assert p.tokens == 32
    assert p.forward_flops_per_token == 2 * linear + 4 * length * d * layers
    assert p.flops_per_token == 6 * linear + 14 * length * d * layers
    # the 6 N rule of thumb (Kaplan et al. 2020) is the Linear part
    assert p.flops_per_token == pytest.approx(6 * model.n_params(), rel=0.3)


def test_component_flops_split_the_total_by_module(profiled):
    model, p = profiled
    length, d, layers = 16, CONFIG.d_model, CONFIG.n_layers
    flops = p.component_flops_per_token
    assert set(flops) == CATEGORIES
    assert sum(flops.values()) == pytest.approx(p.flops_per_token)
    assert flops["attention"] == (6 * sum(linear_weights(model, f"model.layers.{i}.self_attn")
                                          for i in range(layers)) + 14 * length * d * layers)
    assert flops["ffn"] == 6 * sum(linear_weights(model, f"model.layers.{i}.mlp")
                                   for i in range(layers))
    assert flops["embedding/head"] == 6 * model.lm_head.weight.numel()
    assert flops["norm"] == flops["other"] == flops["mixer"] == 0  # norms: elementwise


def test_step_profile_reports_every_component_time_and_memory(profiled):
    model, p = profiled
    for times in (p.component_ms, p.component_forward_ms):
        assert set(times) == CATEGORIES
        assert all(t >= 0 for t in times.values())
    assert all(p.component_ms[c] >= p.component_forward_ms[c] for c in p.component_ms)
    assert p.step_ms >= 0 and p.peak_mib > 0
    assert all(param.grad is None for param in model.parameters())


def test_backward_operators_are_charged_to_the_component_that_made_their_forward():
    """Counted, not timed: in one traced step each layer's attention makes 4 forward matrix
    products (q, k, v, o) and 8 backward (input and weight gradient of each), the SwiGLU 3 and
    6, the head 1 and 2; none is left to "other"."""
    model = tiny()
    idx, targets = batch()
    labelled = labelled_modules(model, default_components(model))
    with profiler_labels(labelled), profile(activities=[ProfilerActivity.CPU]) as trace:
        model.loss(idx, targets).backward()
    products = Counter((category, phase) for event, category, phase
                       in attribute_events(trace.events()) if event.name == "aten::mm")
    layers = CONFIG.n_layers
    assert products == {("attention", "forward"): 4 * layers,
                        ("attention", "backward"): 8 * layers,
                        ("ffn", "forward"): 3 * layers, ("ffn", "backward"): 6 * layers,
                        ("embedding/head", "forward"): 1, ("embedding/head", "backward"): 2}
    backward_kernels = {category for event, category, phase in attribute_events(trace.events())
                        if phase == "backward" and "scaled_dot_product" in event.name}
    assert backward_kernels == {"attention"}


def test_components_are_the_outermost_matches_and_take_new_classes():
    model = tiny()
    labelled = {name: category for name, _, category
                in labelled_modules(model, default_components(model))}
    assert labelled["lm_head"] == labelled["model.embed_tokens"] == "embedding/head"
    assert labelled["model.layers.0.self_attn"] == "attention"
    assert labelled["model.layers.1.mlp"] == "ffn"
    assert labelled["model.norm"] == labelled["model.layers.0.input_layernorm"] == "norm"
    assert not any(".q_proj" in name or ".gate_proj" in name for name in labelled)
    assert len(labelled) == 2 + 1 + 4 * CONFIG.n_layers

    # a caller's classes: appended to a category, or a category of its own, measured alike
    block = type(model.model.layers[0])
    components = default_components(model, extra={"ffn": nn.GELU, "block": (block,)})
    assert components["attention"] == (CausalSelfAttention,) and RMSNorm in components["norm"]
    assert components["ffn"][0] is SwiGLU and components["ffn"][-1] is nn.GELU
    assert list(components)[-1] == "block" and components["block"] == (block,)
    p = profile_step(model, *batch(), components={"block": components["block"]}, repeats=1)
    assert p.component_flops_per_token["block"] == pytest.approx(
        p.flops_per_token - 6 * model.lm_head.weight.numel())
    assert set(p.component_ms) == {"block", "other"}


def test_other_mixers_and_experts_are_profiled_as_their_categories():
    """Mamba's scan is elementwise (not counted), its projections and convolution are; the
    experts' products count where the router sent tokens."""
    config = LMConfig(vocab_size=64, d_model=32, n_layers=2, n_heads=2, max_seq_len=32,
                      mixer="mamba", n_experts=2, ssm_state=4)
    p = profile_step(tiny(config), *batch(), repeats=1)
    flops = p.component_flops_per_token
    assert flops["attention"] == 0 and flops["mixer"] > 0 and flops["ffn"] > 0
    assert sum(flops.values()) == pytest.approx(p.flops_per_token)
    assert p.component_ms["mixer"] >= 0 and p.component_ms["attention"] == 0  # no operator


def test_checkpointing_lowers_the_peak_of_the_same_step():
    config = LMConfig(vocab_size=64, d_model=32, n_layers=4, n_heads=2, max_seq_len=32)
    plain = profile_step(tiny(config), *batch(length=32), repeats=1)
    checkpointed = profile_step(tiny(dataclasses.replace(config, gradient_checkpointing=True)),
                                *batch(length=32), repeats=1)
    # peak live tensor storage, counted exactly on a CPU: no timing involved
    assert checkpointed.peak_mib < plain.peak_mib
    assert checkpointed.flops_per_token > plain.flops_per_token  # the recomputed forward


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_profile_step_on_cuda():
    model = tiny()
    p = profile_step(model, *batch(), repeats=1, device="cuda")
    assert p.peak_mib > 0 and p.flops_per_token > 0
    assert all(t >= 0 for t in p.component_ms.values())
