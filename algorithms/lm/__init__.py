"""A from-scratch decoder-only language model (weeks 5, 9-13): model, generation, training.

======================  ===================================================  ====================
module                  contents                                             paper
======================  ===================================================  ====================
``config.py``           ``LMConfig``: every size and architecture switch     Touvron et al. 2023
``layers.py``           RMSNorm, LayerNorm, the FFN family (SwiGLU, GeGLU,   Zhang & Sennrich;
                        ReLU, GELU), causal self-attention with RoPE,        Shazeer 2020; Su et
                        QK-norm and a KV cache (sdpa and reference paths)    al.; Henry et al.
``model.py``            ``LanguageModel`` (LLaMA by default, HF-compatible   Radford et al. 2018,
                        state dict): pre/post/no norm, parallel blocks,      2019; Touvron et al.;
                        other mixers, MoE, checkpointing; ``hf_llama_config`` Chowdhery et al.
``mamba.py``            Mamba's selective scan (loop and parallel), mixer    Gu & Dao 2023
``ssd.py``              Mamba-2's SSD: recurrent, quadratic, chunked; mixer  Dao & Gu 2024
``retention.py``        RetNet's retention: parallel, recurrent, chunkwise   Sun et al. 2023
``moe.py``              top-k routing, capacity, balancing and z-losses      Fedus et al. 2021;
                                                                             Zoph et al. 2022
``profiling.py``        FLOPs, peak memory, time per component of a step     —
``precision.py``        FP8 (E4M3 / E5M2) linear layers, emulated off-GPU    Micikevicius et al.
``generate.py``         sampling (temperature, top-k, top-p), cached         Holtzman et al. 2020
                        generation, sequence log-probabilities
``data.py``             corpora (TinyStories, Tiny Shakespeare), week 2's    Sennrich et al. 2016;
                        BPE and a char tokenizer, cached memory-mapped       Eldan & Li 2023
                        token arrays, batches
``train.py``            AdamW, warmup + cosine, clipping, accumulation,      Loshchilov & Hutter
                        bf16 / fp16 autocast, evaluation, resume             2017, 2019
``launch.py``           the torchrun command line                            —
``checkpoint.py``       atomic, verified checkpoints; compatibility checks   —
``distributed.py``      torchrun ranks, DDP (gloo on CPU, NCCL on GPU)       Li et al. 2020
``synthetic.py``        a Markov source with known probabilities             Shannon 1948
``exposure.py``         teacher forcing vs free running, exact KL per step   Bengio et al. 2015
``scaling.py``          L(N) = E + A·N^(−α) with bootstrap intervals         Kaplan et al. 2020
``scaling_laws.py``     Kaplan's power laws; L(N, D) by Huber L-BFGS; the    Kaplan et al. 2020;
                        compute-optimal allocation                           Hoffmann et al. 2022
``isoflop.py``          IsoFLOP parabolas → N_opt ∝ C^a                      Hoffmann et al. 2022
``text_metrics.py``     distinct-n, repetition, perplexity                   Li et al. 2016;
                                                                             Welleck et al. 2020
======================  ===================================================  ====================

Only the model and generation are imported here; the other modules are imported by name
(``from algorithms.lm.train import train``), so that importing the model stays light.

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
