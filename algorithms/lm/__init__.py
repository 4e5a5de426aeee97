"""A from-scratch decoder-only language model (weeks 5, 9-13): model, generation, training.

======================  ===================================================  ====================
module                  contents                                             paper
======================  ===================================================  ====================
``config.py``           ``LMConfig``: every size, validated                  Touvron et al. 2023
``layers.py``           RMSNorm, SwiGLU, causal self-attention with RoPE     Zhang & Sennrich;
                        and a KV cache (sdpa and reference paths)            Shazeer; Su et al.
``model.py``            ``LanguageModel`` (LLaMA shape, HF-compatible        Radford et al. 2018,
                        state dict), ``hf_llama_config``                     2019; Touvron et al.
``generate.py``         sampling (temperature, top-k, top-p), cached         Holtzman et al. 2020
                        generation, sequence log-probabilities
======================  ===================================================  ====================

The parameter names and shapes equal Hugging Face's ``LlamaForCausalLM``, so weights move
between the two with ``load_state_dict`` alone (see ``model.py``).
"""

from algorithms.lm.config import LMConfig
from algorithms.lm.generate import (
    Sampling,
    filter_logits,
    generate,
    sample_next,
    sequence_log_probs,
)
from algorithms.lm.layers import CausalSelfAttention, RMSNorm, SwiGLU
from algorithms.lm.model import DecoderBlock, LanguageModel, hf_llama_config

__all__ = [
    "CausalSelfAttention", "DecoderBlock", "LMConfig", "LanguageModel", "RMSNorm", "Sampling",
    "SwiGLU", "filter_logits", "generate", "hf_llama_config", "sample_next", "sequence_log_probs",
]
