"""``lm-base``: the week-8 base model, a small LLaMA-shape decoder trained on TinyStories with
week 2's byte-level BPE; later weeks load it as ``lm:tinystories-base``.

Training is GPT-1's objective (Radford et al. 2018, eq. 1): maximise Σ_t log P(x_t | x_<t) over
the corpus, i.e. minimise the mean token cross-entropy, with teacher forcing (every position is
conditioned on the true prefix). Perplexity is exp(cross-entropy): the effective number of
equally likely next tokens. The shipped TinyStories excerpt is ~1.7 MB of text (a few hundred
thousand tokens), so at the cpu profile the run sees the training text many times over: the
results are data-limited, and the train/val gap says by how much.
"""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import Tracker, experiment
from algorithms.weeks.week08.common import (
    BASE_MODEL,
    STORY_PROMPTS,
    LMExperimentConfig,
    encode_prompt,
    load_data,
    save_model,
    train_logged,
)

UNITS = {"*per_s": "tokens/s", "*params*": "parameters", "*tokens*": "tokens", "*ppl*": "",
         "*loss*": "nats/token", "*epochs": "epochs"}  # first match wins

SAMPLINGS = ({"temperature": 0.0}, {"temperature": 0.8, "top_p": 0.95})
"""Greedy decoding and nucleus sampling (Holtzman et al. 2020) for the base model's samples."""


class BaseModelConfig(LMExperimentConfig):
    model: dict[str, Any] = {"d_model": 128, "n_layers": 4, "n_heads": 4, "max_seq_len": 256}
    train: dict[str, Any] = {"steps": 700, "batch_size": 32, "block_size": 128, "lr": 3e-3,
                             "warmup_steps": 50, "beta2": 0.99, "eval_every": 50,
                             "eval_batches": 20, "checkpoint_every": 100, "log_every": 10}
    sample_tokens: int = 160
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"vocab_size": 300,
                  "model": {"d_model": 32, "n_layers": 1, "n_heads": 2, "max_seq_len": 64},
                  "train": {"steps": 4, "batch_size": 4, "block_size": 32, "warmup_steps": 1,
                            "eval_every": 2, "eval_batches": 2, "checkpoint_every": 2,
                            "log_every": 1},
                  "sample_tokens": 12},
        "gpu": {"vocab_size": 4096,
                "model": {"d_model": 512, "n_layers": 8, "n_heads": 8, "max_seq_len": 512},
                "train": {"steps": 20_000, "batch_size": 64, "block_size": 512, "lr": 1e-3,
                          "warmup_steps": 500, "eval_every": 500, "checkpoint_every": 1000,
                          "log_every": 50}}}


@experiment(week=8, name="lm-base", covers=(1,), config=BaseModelConfig, units=UNITS,
            produces=(BASE_MODEL,), resumable=True)
def lm_base(config: BaseModelConfig, tracker: Tracker) -> dict[str, float]:
    """The base LM on TinyStories: training curves, perplexity, samples; stored for later weeks."""
    import numpy as np
    import torch

    from algorithms.lm.generate import Sampling, generate
    from algorithms.lm.model import LanguageModel
    from algorithms.lm.text_metrics import distinct_n, mean_repetition
    from algorithms.weeks.week08.figures import training_curves

    data = load_data(config, tracker)
    torch.manual_seed(config.seed)
    model = LanguageModel(config.lm_config(data.vocab_size))
    run = config.train_config()
    result = train_logged(tracker, model, data, run, "base",
                          checkpoint_dir=tracker.checkpoint_dir() / "lm")
    save_model(tracker.artifact_dir(BASE_MODEL), result, run, data)

    rows, samples = [], []
    generator = torch.Generator().manual_seed(config.seed)
    device = next(model.parameters()).device
    for prompt in ("", *STORY_PROMPTS):
        ids = torch.tensor([encode_prompt(data.tokenizer, prompt, data.eot_id)], device=device)
        for setting in SAMPLINGS:
            sampling = Sampling(**setting)
            (new,) = generate(result.model, ids, config.sample_tokens, sampling,
                              eos_id=data.eot_id, generator=generator)
            samples.append(new)
            rows.append([prompt or "(none)", sampling.label(), data.decode(new)])
    tracker.log_table("samples/base", ["prompt", "decoding", "sample"], rows)
    tracker.log_figure("base/curves", training_curves({"base": result.history}),
                       f"Training and validation cross-entropy of the {model.n_params():,}-"
                       "parameter base model on the shipped TinyStories excerpt, against "
                       "optimizer steps.")

    train_losses = [row["train_loss"] for row in result.history if "train_loss" in row]
    best_val = min(row["val_loss"] for row in result.history if "val_loss" in row)
    return {
        "base.n_params": model.n_params(),
        "base.n_params_non_embedding": model.n_params(embeddings=False),
        "base.val_loss": round(result.final_val_loss, 4),
        "base.best_val_loss": round(best_val, 4),
        "base.val_ppl": round(float(np.exp(result.final_val_loss)), 3),
        "base.train_loss": round(float(np.mean(train_losses[-5:])), 4),
        "base.tokens_seen": result.tokens_seen,
        "base.train_tokens": len(data.train),
        "base.epochs": round(result.tokens_seen / len(data.train), 2),
        "base.tokens_per_s": round(result.tokens_per_s),
        "base.vocab_size": data.vocab_size,
        "base.samples_distinct_2": round(distinct_n(samples, 2), 4),
        "base.samples_repetition_4": round(mean_repetition(samples, 4), 4),
    }
