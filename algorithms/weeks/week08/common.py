"""What week 8's experiments share: the corpus, a language-model config, one training run logged
through the tracker, and models stored as artifacts.

A model artifact is a checkpoint folder (``algorithms.lm.checkpoint``: weights, the model and
training configs, the loss history, the tokenizer) in ``tracker.artifact_dir(name)/checkpoint``;
later experiments and weeks load it by name with :func:`load_model_artifact`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import model_validator

from algorithms.experiment import ExperimentConfig, Tracker

if TYPE_CHECKING:
    from algorithms.lm.config import LMConfig
    from algorithms.lm.data import LMData
    from algorithms.lm.model import LanguageModel
    from algorithms.lm.train import TrainConfig, TrainResult

BASE_MODEL = "lm:tinystories-base"
"""The week-8 base model every later LM week starts from."""
SIZE_MODELS = "lm:tinystories-sizes"
"""One model per size of the perplexity-vs-size study (its first seed)."""

STORY_PROMPTS = ("Once upon a time", "One day, a little girl named Lily",
                 "The dog wanted to", "Tom and his mom went to the park.")
"""Prompts in TinyStories' register, for samples (plus the empty prompt: a story from scratch)."""


class LMExperimentConfig(ExperimentConfig):
    """A corpus, a model (``model``: fields of ``algorithms.lm.config.LMConfig`` except the
    vocabulary, which the tokenizer fixes) and a training run (``train``: fields of
    ``algorithms.lm.train.TrainConfig``; its seed is the run's). Checked when built, so a model
    whose context is shorter than the training block never starts."""

    corpus: str = "tinystories"
    vocab_size: int = 1024
    """BPE vocabulary for TinyStories (ignored for character-level Shakespeare)."""
    model: dict[str, Any] = {}
    train: dict[str, Any] = {}

    @model_validator(mode="after")
    def _fits(self) -> LMExperimentConfig:
        from algorithms.lm.config import LMConfig
        from algorithms.lm.train import TrainConfig

        lm = LMConfig(vocab_size=self.vocab_size, **self.model)  # ValueError: one line each
        run = TrainConfig(seed=self.seed, **self.train)
        if run.block_size > lm.max_seq_len:
            raise ValueError(f"training block of {run.block_size} tokens does not fit the "
                             f"model's context of {lm.max_seq_len}")
        return self

    def lm_config(self, vocab_size: int, **changes: Any) -> LMConfig:
        from algorithms.lm.config import LMConfig

        return LMConfig(vocab_size=vocab_size, **{**self.model, **changes})

    def train_config(self, seed: int | None = None, **changes: Any) -> TrainConfig:
        from algorithms.lm.train import TrainConfig

        return TrainConfig(seed=self.seed if seed is None else seed, **{**self.train, **changes})


def load_data(config: LMExperimentConfig, tracker: Tracker) -> LMData:
    """The corpus tokenized (cached by content). The gpu profile trains on the full TinyStories
    file when ``[data] tinystories`` names one; otherwise the shipped excerpt (~1.7 MB)."""
    from algorithms.lm.data import load_lm_data

    override = tracker.data_file(config.corpus) if config.profile == "gpu" else None
    return load_lm_data(config.corpus, tracker.cache_dir(), config.vocab_size, override)


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def train_logged(tracker: Tracker, model: LanguageModel, data: LMData, run: TrainConfig,
                 prefix: str, checkpoint_dir: Path | None = None,
                 on_step: Callable[[Any], dict[str, float]] | None = None) -> TrainResult:
    """:func:`algorithms.lm.train.train`, every field of every history row but the step and
    token count logged as ``prefix/<field>`` against ``train_step``: ``train_loss``, ``lr``,
    ``grad_norm``, ``val_loss``, ``val_ppl``, and what ``on_step(model)`` adds.

    With ``checkpoint_dir`` the run checkpoints there and continues a checkpoint it finds (a
    resumed run); the rows the checkpoint already holds are logged first, so the resumed run's
    record has the whole curve."""
    from algorithms.lm.checkpoint import checkpoint_exists, load_checkpoint
    from algorithms.lm.train import train

    def on_log(row: dict[str, Any]) -> None:
        tracker.log({f"{prefix}/{name}": value for name, value in row.items()
                     if name not in ("step", "tokens")}, step=row["step"], x="train_step")

    if checkpoint_dir is not None and checkpoint_exists(checkpoint_dir):
        for row in load_checkpoint(checkpoint_dir).history:
            on_log(row)
    return train(model, data.train, data.val, run, checkpoint_dir=checkpoint_dir,
                 resume=checkpoint_dir is not None, on_log=on_log, device=device(),
                 tokenizer_dir=data.tokenizer_dir, on_step=on_step)


def save_model(folder: Path, result: TrainResult, run: TrainConfig, data: LMData) -> Path:
    """The trained model as a checkpoint (no optimizer state: it is for loading, not resuming)."""
    from algorithms.lm.checkpoint import save_checkpoint

    model = result.model
    return save_checkpoint(folder / "checkpoint", model, None, run.steps, model.config,
                           run.to_dict(), result.history, data.tokenizer_dir)


def load_model_artifact(tracker: Tracker, name: str) -> tuple[LanguageModel, Any, Any]:
    """(model in eval mode, its checkpoint, its tokenizer) of artifact ``name``; the checkpoint
    is verified (hashes, format) and its tokenizer must fit the model's vocabulary."""
    return load_model_folder(tracker.use_artifact(name) / "checkpoint")


def load_model_folder(folder: Path) -> tuple[LanguageModel, Any, Any]:
    from algorithms.lm.checkpoint import CheckpointError, check_compatible, load_model
    from algorithms.lm.data import load_tokenizer

    model, checkpoint = load_model(folder, device=device())
    if checkpoint.tokenizer_dir is None:
        raise CheckpointError(f"{folder}: the checkpoint has no tokenizer")
    tokenizer = load_tokenizer(checkpoint.tokenizer_dir)
    check_compatible(checkpoint, checkpoint.lm_config, tokenizer_vocab_size=tokenizer.vocab_size)
    return model, checkpoint, tokenizer


def encode_prompt(tokenizer: Any, text: str, eot_id: int | None) -> list[int]:
    """A prompt's ids, after the end-of-text token that starts every story in training."""
    ids = tokenizer.encode(text) if text else []
    return ([eot_id] if eot_id is not None else []) + ids


def eot_of(tokenizer: Any) -> int | None:
    from algorithms.lm.data import EOT

    return getattr(tokenizer, "special_ids", {}).get(EOT)
