"""A decoder-only transformer language model in the LLaMA shape, written from its papers.

* Radford et al. (2018), "Improving Language Understanding by Generative Pre-Training" (GPT-1):
  the autoregressive factorisation P(u) = Π_i P(u_i | u_1, ..., u_{i−1}) and the language-model
  objective, eq. 1:  L_1(U) = Σ_i log P(u_i | u_{i−k}, ..., u_{i−1}; Θ), with a context of k
  tokens. :meth:`LanguageModel.loss` is −L_1 / n, the mean token cross-entropy.
* Touvron et al. (2023), "LLaMA: Open and Efficient Foundation Language Models", §2.2: GPT's
  decoder with pre-normalisation by RMSNorm (Zhang & Sennrich 2019), the SwiGLU feed-forward
  (Shazeer 2020) and rotary positions (Su et al. 2021, "RoFormer") instead of learned absolute
  ones; no biases. The layers are in ``layers.py``.
* Initialisation as GPT-2 (Radford et al. 2019, §2.3): weights ~ N(0, 0.02²), and the two
  projections that write into the residual stream scaled by 1/√(2 · n_layers), since every
  block adds two such outputs and their sum's variance would otherwise grow with depth.

The parameter names equal Hugging Face's ``LlamaForCausalLM``, so that
``hf.load_state_dict(forge.state_dict())`` and the reverse load strictly, with no renaming or
permutation (tested). Shapes are ``(out, in)`` as ``nn.Linear`` stores them; d = d_model,
h = n_heads, g = kv heads, d_h = head_dim, f = the SwiGLU width, V = vocab_size:

===============================================  =================
key                                              shape
===============================================  =================
``model.embed_tokens.weight``                    (V, d)
``model.layers.{i}.input_layernorm.weight``      (d,)
``model.layers.{i}.self_attn.q_proj.weight``     (h · d_h, d)
``model.layers.{i}.self_attn.k_proj.weight``     (g · d_h, d)
``model.layers.{i}.self_attn.v_proj.weight``     (g · d_h, d)
``model.layers.{i}.self_attn.o_proj.weight``     (d, h · d_h)
``model.layers.{i}.post_attention_layernorm...`` (d,)
``model.layers.{i}.mlp.gate_proj.weight``        (f, d)
``model.layers.{i}.mlp.up_proj.weight``          (f, d)
``model.layers.{i}.mlp.down_proj.weight``        (d, f)
``model.norm.weight``                            (d,)
``lm_head.weight``                               (V, d), the embedding itself when tied
===============================================  =================
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from algorithms.attention.multihead import KVCache
from algorithms.lm.config import LMConfig
from algorithms.lm.layers import CausalSelfAttention, RMSNorm, make_ffn, make_norm


class DecoderBlock(nn.Module):
    """One residual block; the default is LLaMA's pre-norm block:

        pre (GPT-2, LLaMA):          h = x + mix(norm(x));     out = h + ffn(norm(h))
        post (Vaswani et al. 2017):  h = norm(x + mix(x));     out = norm(h + ffn(h))
        none:                        h = x + mix(x);           out = h + ffn(h)
        parallel (GPT-J; PaLM §2):   out = x + mix(norm(x)) + ffn(norm(x))   (one shared norm)

    Normalising the *input* of each sublayer (pre) leaves the residual stream an identity path
    from the embedding to the output, which is what lets deep stacks train without warm-up
    tricks; post-norm puts a norm on that path, and its gradients near the output are larger
    (Xiong et al. 2020, "On Layer Normalization in the Transformer Architecture", Thm. 1).
    ``mix`` is causal self-attention (``self_attn``) or another token mixer (``mixer``); the
    feed-forward (``mlp``) may be a mixture of experts, or absent (``ffn = "none"``).
    """

    def __init__(self, config: LMConfig):
        super().__init__()
        self.position, self.parallel = config.norm_position, config.block == "parallel"
        self.attention = config.mixer == "attention"
        norm = (lambda: make_norm(config)) if config.norm_position != "none" else nn.Identity
        self.input_layernorm = norm()
        if config.mixer == "attention":
            self.self_attn = CausalSelfAttention(config)
        else:
            self.mixer = make_mixer(config)
        self.mlp = None
        if config.ffn != "none":
            if not self.parallel:
                self.post_attention_layernorm = norm()
            self.mlp = make_ffn(config) if not config.n_experts else make_moe(config)

    def mix(self, x: Tensor, cache: KVCache | None) -> Tensor:
        return self.self_attn(x, cache) if self.attention else self.mixer(x)

    def forward(self, x: Tensor, cache: KVCache | None = None) -> Tensor:
        if self.position == "post":
            if self.parallel:
                return self.input_layernorm(x + self.mix(x, cache) + self.mlp(x))
            h = self.input_layernorm(x + self.mix(x, cache))
            return h if self.mlp is None else self.post_attention_layernorm(h + self.mlp(h))
        if self.parallel:
            n = self.input_layernorm(x)
            return x + self.mix(n, cache) + self.mlp(n)
        h = x + self.mix(self.input_layernorm(x), cache)
        return h if self.mlp is None else h + self.mlp(self.post_attention_layernorm(h))


def make_mixer(config: LMConfig) -> nn.Module:
    """A token mixer other than attention, sized from the config (each initialises itself, as
    its paper does)."""
    if config.mixer == "mamba":
        from algorithms.lm.mamba import MambaMixer

        return MambaMixer(config.d_model, d_state=config.ssm_state, expand=config.ssm_expand,
                          d_conv=config.ssm_conv)
    if config.mixer == "mamba2":
        from algorithms.lm.ssd import Mamba2Mixer

        inner = config.ssm_expand * config.d_model
        return Mamba2Mixer(config.d_model, d_state=config.ssm_state, expand=config.ssm_expand,
                           d_conv=config.ssm_conv, head_dim=inner // config.n_heads,
                           chunk_size=config.ssm_chunk)
    from algorithms.lm.retention import MultiScaleRetention

    return MultiScaleRetention(config.d_model, config.n_heads, chunk_size=config.retention_chunk)


def make_moe(config: LMConfig) -> nn.Module:
    """``n_experts`` copies of the configured feed-forward behind a top-k router."""
    from algorithms.lm.moe import MoEFeedForward

    return MoEFeedForward(config.d_model, config.n_experts, top_k=config.moe_top_k,
                          capacity_factor=config.capacity_factor,
                          make_expert=lambda: make_ffn(config))


class _Backbone(nn.Module):
    """The transformer without its head: named ``model`` in the parent, as in HF."""

    def __init__(self, config: LMConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.d_model)
        self.layers = nn.ModuleList(DecoderBlock(config) for _ in range(config.n_layers))
        # post-norm blocks end normalised already (the original Transformer has no final norm)
        self.norm = make_norm(config) if config.norm_position == "pre" else nn.Identity()


class LanguageModel(nn.Module):
    """P(x_t | x_<t) for every position t: ``forward(idx)`` maps ``(B, T)`` token ids to
    ``(B, T, V)`` next-token logits; row t sees tokens 0..t only.

    With ``caches`` (one :class:`KVCache` per layer, from :meth:`new_caches`) the input is the
    continuation of what the caches hold: its positions start at ``caches[0].length``, and its
    keys and values are appended, so decoding feeds one new token per step.
    """

    def __init__(self, config: LMConfig):
        super().__init__()
        self.config = config
        self.model = _Backbone(config)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        for name, module in self.named_modules():
            if ".mixer" not in name:  # Mamba and RetNet initialise themselves, as their papers
                self._init_weights(module)
        residual_std = config.init_std / math.sqrt(2 * config.n_layers)
        for name, module in self.model.layers.named_modules():
            if name.endswith((".o_proj", ".down_proj")) and ".mixer" not in name:
                nn.init.normal_(module.weight, std=residual_std)  # experts' too
        if config.tie_embeddings:  # Press & Wolf (2017): the output embedding is the input's
            self.lm_head.weight = self.model.embed_tokens.weight

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=self.config.init_std)
        elif isinstance(module, RMSNorm):
            nn.init.ones_(module.weight)

    def forward(self, idx: Tensor, caches: list[KVCache] | None = None) -> Tensor:
        return self.lm_head(self.hidden_states(idx, caches))

    def hidden_states(self, idx: Tensor, caches: list[KVCache] | None = None) -> Tensor:
        """The last block's output after the final norm, ``(B, T, d_model)``: what ``lm_head``
        reads, and what a reward or value head on this backbone reads instead."""
        if caches is not None and len(caches) != len(self.model.layers):
            raise ValueError(f"{len(caches)} caches for {len(self.model.layers)} layers")
        if caches is not None and self.config.mixer != "attention":
            raise ValueError(f"the {self.config.mixer} mixer keeps no KV cache")
        x = self.model.embed_tokens(idx)
        # gradient checkpointing (Chen et al. 2016, "Training Deep Nets with Sublinear Memory
        # Cost"): keep only each block's input and recompute its inside during backward
        recompute = self.config.gradient_checkpointing and self.training and \
            torch.is_grad_enabled() and caches is None
        for i, block in enumerate(self.model.layers):
            if recompute:
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x, caches[i] if caches is not None else None)
        return self.model.norm(x)

    def auxiliary_loss(self) -> Tensor | None:
        """Σ over mixture-of-experts layers of α · balance + β · z from the last forward (the
        Switch and ST-MoE regularisers, ``algorithms.lm.moe``); None for a dense model. The
        training loop adds it to the cross-entropy."""
        layers = self.moe_layers()
        if not layers:
            return None
        return sum(self.config.moe_balance_weight * m.balance_loss +
                   self.config.moe_z_weight * m.z_loss for m in layers)

    def moe_layers(self) -> list[nn.Module]:
        """The mixture-of-experts feed-forwards, first layer first (their ``stats`` hold the
        last forward's routing statistics)."""
        return [block.mlp for block in self.model.layers if self.config.n_experts]

    def loss(self, idx: Tensor, targets: Tensor, ignore_index: int = -100) -> Tensor:
        """−L_1 / n of GPT-1 eq. 1: the mean over non-ignored targets of −log P(target | prefix).

        ``targets`` is ``(B, T)``, usually ``idx`` shifted left by one; positions equal to
        ``ignore_index`` (padding, prompt tokens) count neither in the sum nor in n. The logits
        are upcast so that the log-softmax over a large vocabulary runs in float32.
        """
        logits = self(idx)
        return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(),
                               ignore_index=ignore_index)

    def new_caches(self, batch: int, max_len: int | None = None,
                   device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None) -> list[KVCache]:
        """Empty KV caches, one per layer, on the model's device and dtype unless told."""
        if self.config.mixer != "attention":
            raise ValueError(f"the {self.config.mixer} mixer keeps no KV cache; generate "
                             f"with use_cache=False")
        weight = self.lm_head.weight
        max_len = self.config.max_seq_len if max_len is None else max_len
        return [KVCache(batch, self.config.kv_heads, max_len, self.config.head_dim,
                        dtype=dtype or weight.dtype, device=device or weight.device)
                for _ in self.model.layers]

    def n_params(self, embeddings: bool = True) -> int:
        """Number of parameters, a tied matrix counted once.

        ``embeddings=False`` leaves out the token embedding and the output projection
        ``lm_head``: the N of Kaplan et al. (2020), "Scaling Laws for Neural Language Models",
        §2.1, whose laws are cleanest in non-embedding parameters (N ≈ 12 · n_layers · d²
        for their GPT blocks). RMSNorm gains count in both.
        """
        total = sum(p.numel() for p in self.parameters())  # parameters() yields a tied one once
        if embeddings:
            return total
        embedding_weights = {id(self.model.embed_tokens.weight): self.model.embed_tokens.weight,
                             id(self.lm_head.weight): self.lm_head.weight}
        return total - sum(w.numel() for w in embedding_weights.values())


def hf_llama_config(config: LMConfig) -> dict[str, Any]:
    """Keyword arguments for ``transformers.LlamaConfig`` describing the same network (a plain
    dict, so this package never imports transformers; ``rope_parameters`` is the 5.x form).
    Only LLaMA's own architecture has one: any week-5 switch away from it is an error."""
    llama = {"norm": "rmsnorm", "norm_position": "pre", "qk_norm": False, "ffn": "swiglu",
             "block": "sequential", "mixer": "attention", "n_experts": 0}
    if changed := [k for k, v in llama.items() if getattr(config, k) != v]:
        raise ValueError(f"LlamaForCausalLM has no equivalent of {changed[0]}="
                         f"{getattr(config, changed[0])!r}")
    return {
        "vocab_size": config.vocab_size,
        "hidden_size": config.d_model,
        "intermediate_size": config.hidden_dim,
        "num_hidden_layers": config.n_layers,
        "num_attention_heads": config.n_heads,
        "num_key_value_heads": config.kv_heads,
        "head_dim": config.head_dim,
        "max_position_embeddings": config.max_seq_len,
        "rope_parameters": {"rope_type": "default", "rope_theta": config.rope_base},
        "rms_norm_eps": config.norm_eps,
        "tie_word_embeddings": config.tie_embeddings,
        "initializer_range": config.init_std,
        "attention_bias": False,
        "mlp_bias": False,
        "hidden_act": "silu",
    }
