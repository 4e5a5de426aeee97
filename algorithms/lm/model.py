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

from algorithms.attention.multihead import KVCache
from algorithms.lm.config import LMConfig
from algorithms.lm.layers import CausalSelfAttention, RMSNorm, SwiGLU


class DecoderBlock(nn.Module):
    """Pre-norm residual block: h = x + attn(norm(x)); out = h + mlp(norm(h)).

    Normalising the *input* of each sublayer leaves the residual stream an identity path from
    the embedding to the output, which is what lets deep stacks train without warm-up tricks.
    """

    def __init__(self, config: LMConfig):
        super().__init__()
        self.input_layernorm = RMSNorm(config.d_model, config.norm_eps)
        self.self_attn = CausalSelfAttention(config)
        self.post_attention_layernorm = RMSNorm(config.d_model, config.norm_eps)
        self.mlp = SwiGLU(config.d_model, config.hidden_dim)

    def forward(self, x: Tensor, cache: KVCache | None = None) -> Tensor:
        h = x + self.self_attn(self.input_layernorm(x), cache)
        return h + self.mlp(self.post_attention_layernorm(h))


class _Backbone(nn.Module):
    """The transformer without its head: named ``model`` in the parent, as in HF."""

    def __init__(self, config: LMConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.d_model)
        self.layers = nn.ModuleList(DecoderBlock(config) for _ in range(config.n_layers))
        self.norm = RMSNorm(config.d_model, config.norm_eps)


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
        self.apply(self._init_weights)
        residual_std = config.init_std / math.sqrt(2 * config.n_layers)
        for block in self.model.layers:
            nn.init.normal_(block.self_attn.o_proj.weight, std=residual_std)
            nn.init.normal_(block.mlp.down_proj.weight, std=residual_std)
        if config.tie_embeddings:  # Press & Wolf (2017): the output embedding is the input's
            self.lm_head.weight = self.model.embed_tokens.weight

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=self.config.init_std)
        elif isinstance(module, RMSNorm):
            nn.init.ones_(module.weight)

    def forward(self, idx: Tensor, caches: list[KVCache] | None = None) -> Tensor:
        if caches is not None and len(caches) != len(self.model.layers):
            raise ValueError(f"{len(caches)} caches for {len(self.model.layers)} layers")
        x = self.model.embed_tokens(idx)
        for i, block in enumerate(self.model.layers):
            x = block(x, caches[i] if caches is not None else None)
        return self.lm_head(self.model.norm(x))

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
    dict, so this package never imports transformers; ``rope_parameters`` is the 5.x form)."""
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
