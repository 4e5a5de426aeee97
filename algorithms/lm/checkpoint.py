"""Checkpoints of a language model's training run: a folder, written atomically, verified on load.

A checkpoint is a folder::

    model.pt          the model's state_dict (torch.save)
    optimizer.pt      the optimizer's state_dict (AdamW moments and step counts)
    tokenizer/        optional: a copy of the tokenizer's files
    checkpoint.json   {"format": "forge-lm-checkpoint", "version": 1, "step", "lm_config",
                       "train_config", "history", "files": {relative path: sha256}}

Atomic replacement. A new checkpoint for ``path`` is written and fsynced in the sibling
``path.tmp``, then swapped in with two renames: ``path`` → ``path.old``, ``path.tmp`` → ``path``,
and only then is ``path.old`` deleted. A rename is atomic, so a kill at any moment leaves one
of: the old ``path`` (the new one unfinished in ``.tmp``); only ``path.old`` (killed between the
renames); or the new ``path`` (``.old`` not yet deleted). :func:`load_checkpoint` reads ``path``
when it exists and ``path.old`` otherwise, so it always finds a complete checkpoint, and the
next save tidies what the kill left. Nothing is ever written into ``path`` itself.

Loading checks, in order, that the folder exists, that ``checkpoint.json`` is ours and of a
known version, that every file's SHA-256 matches, and that the torch files load with
``weights_only=True`` (no code runs from a checkpoint); each failure is one
:class:`CheckpointError` line.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from torch import nn

from algorithms.experiment import InputError
from algorithms.lm.config import LMConfig

FORMAT = "forge-lm-checkpoint"
VERSION = 1
MANIFEST = "checkpoint.json"
# TrainConfig fields that may change on resume: they do not change the loss curve
RESUMABLE_FIELDS = ("checkpoint_every",)


class CheckpointError(InputError):
    """A checkpoint that cannot be used; the message is one line saying why (an
    :class:`~algorithms.experiment.InputError`: ``forge run`` reports it as bad input)."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _siblings(path: Path) -> tuple[Path, Path]:
    return path.with_name(path.name + ".tmp"), path.with_name(path.name + ".old")


def checkpoint_exists(path: Path) -> bool:
    """Whether ``path`` (or, after a kill between renames, ``path.old``) holds a checkpoint."""
    path = Path(path)
    return (path / MANIFEST).is_file() or (_siblings(path)[1] / MANIFEST).is_file()


def save_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer | None,
                    step: int, lm_config: LMConfig, train_config: dict[str, Any],
                    history: list[dict], tokenizer_dir: Path | None = None) -> Path:
    """Write a checkpoint to ``path``, replacing the one there atomically (module docstring)."""
    path = Path(path)
    tmp, old = _siblings(path)
    if path.exists() and not (path / MANIFEST).is_file():
        if not path.is_dir() or any(path.iterdir()):
            raise CheckpointError(f"{path} exists and is not a forge checkpoint; not replacing it")
        path.rmdir()  # an empty folder made in advance holds nothing to keep
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(tmp, ignore_errors=True)  # an unfinished write from a killed run
    tmp.mkdir()
    torch.save(model.state_dict(), tmp / "model.pt")
    torch.save(optimizer.state_dict() if optimizer is not None else {}, tmp / "optimizer.pt")
    if tokenizer_dir is not None:
        shutil.copytree(tokenizer_dir, tmp / "tokenizer")
    files = {}
    for file in sorted(p for p in tmp.rglob("*") if p.is_file()):
        _fsync(file)
        files[file.relative_to(tmp).as_posix()] = _sha256(file)
    manifest = {"format": FORMAT, "version": VERSION, "step": step,
                "lm_config": lm_config.to_dict(), "train_config": dict(train_config),
                "history": history, "files": files}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1), "utf-8")
    _fsync(tmp / MANIFEST)
    _fsync(tmp)
    if (path / MANIFEST).is_file():
        shutil.rmtree(old, ignore_errors=True)  # path is complete, so old is stale
        os.rename(path, old)
    os.rename(tmp, path)
    _fsync(path.parent)
    shutil.rmtree(old, ignore_errors=True)
    return path


@dataclass
class Checkpoint:
    """A verified checkpoint; ``optimizer_state`` is read from disk on first use."""

    path: Path
    step: int
    lm_config: LMConfig
    train_config: dict[str, Any]
    history: list[dict]
    model_state: dict[str, torch.Tensor]
    files: dict[str, str]

    @cached_property
    def optimizer_state(self) -> dict[str, Any]:
        return _torch_load(self.path / "optimizer.pt")

    @property
    def tokenizer_dir(self) -> Path | None:
        """The checkpoint's copy of its tokenizer, if it has one."""
        folder = self.path / "tokenizer"
        return folder if folder.is_dir() else None


def _torch_load(file: Path) -> Any:
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds; all mean "not a usable file"
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{file} is not a readable torch file: {reason}") from None


def load_checkpoint(path: Path) -> Checkpoint:
    """The checkpoint at ``path`` (or the ``path.old`` a kill left), verified; never writes."""
    path = Path(path)
    folder = path if path.exists() else _siblings(path)[1]
    if not folder.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    if not folder.is_dir():
        raise CheckpointError(f"{path} is a file, not a forge checkpoint folder")
    try:
        manifest = json.loads((folder / MANIFEST).read_text("utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path} is not a forge checkpoint (no {MANIFEST})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(f"{path} is not a forge checkpoint ({MANIFEST} is not "
                              f"JSON)") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a forge checkpoint ({MANIFEST} has no "
                              f"format {FORMAT!r})")
    if manifest.get("version") != VERSION:
        raise CheckpointError(f"{path}: unknown checkpoint version {manifest.get('version')!r}"
                              f" (this forge reads version {VERSION})")
    try:
        files = dict(manifest["files"])
        step, history = int(manifest["step"]), list(manifest["history"])
        train_config = dict(manifest["train_config"])
        lm_config = LMConfig.from_dict(manifest["lm_config"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: malformed {MANIFEST} ({error})") from None
    for name in ("model.pt", "optimizer.pt"):
        if name not in files:
            raise CheckpointError(f"{path}: {MANIFEST} lists no {name}")
    for name, digest in files.items():
        file = folder / name
        if not file.is_file():
            raise CheckpointError(f"{path}: {name} is missing")
        if _sha256(file) != digest:
            raise CheckpointError(f"{path}: {name} is corrupt (its SHA-256 does not match)")
    model_state = _torch_load(folder / "model.pt")
    if not isinstance(model_state, dict):
        raise CheckpointError(f"{path}: model.pt does not hold a state_dict")
    return Checkpoint(folder, step, lm_config, train_config, history, model_state, files)


def check_compatible(checkpoint: Checkpoint, lm_config: LMConfig,
                     train_config: dict[str, Any] | None = None,
                     tokenizer_vocab_size: int | None = None,
                     tokenizer_dir: Path | None = None) -> None:
    """Raise :class:`CheckpointError` naming the first field where ``checkpoint`` differs.

    The model shape must match exactly. Of ``train_config`` every field must match except
    those in ``RESUMABLE_FIELDS``: all others (steps included, since the cosine schedule ends
    at ``steps``) change the curve a resumed run would draw. ``tokenizer_vocab_size`` is
    checked against the model's vocabulary, and ``tokenizer_dir`` file by file against the
    checkpoint's copy of its tokenizer, when it has one.
    """
    for name, value in lm_config.to_dict().items():
        was = checkpoint.lm_config.to_dict()[name]
        if was != value:
            raise CheckpointError(f"checkpoint was trained with {name}={was}, "
                                  f"this config has {value}")
    if train_config is not None:
        names = list(dict.fromkeys([*checkpoint.train_config, *train_config]))
        for name in names:
            if name in RESUMABLE_FIELDS:
                continue
            was, value = checkpoint.train_config.get(name), train_config.get(name)
            if was != value:
                raise CheckpointError(f"checkpoint was trained with {name}={was}, "
                                      f"this config has {value}")
    if tokenizer_vocab_size is not None and tokenizer_vocab_size != lm_config.vocab_size:
        raise CheckpointError(f"checkpoint's model has vocab_size={lm_config.vocab_size}, "
                              f"the tokenizer has {tokenizer_vocab_size}")
    if tokenizer_dir is not None and checkpoint.tokenizer_dir is not None:
        for name, digest in checkpoint.files.items():
            if name.startswith("tokenizer/"):
                other = Path(tokenizer_dir) / name.removeprefix("tokenizer/")
                if not other.is_file() or _sha256(other) != digest:
                    raise CheckpointError(f"checkpoint was trained with another tokenizer "
                                          f"({name} differs from {other})")


def load_model(path: Path, device: str = "cpu") -> tuple[nn.Module, Checkpoint]:
    """The checkpoint's :class:`LanguageModel` on ``device`` in eval mode, and the checkpoint."""
    from algorithms.lm.model import LanguageModel

    checkpoint = load_checkpoint(path)
    model = LanguageModel(checkpoint.lm_config)
    try:
        model.load_state_dict(checkpoint.model_state)
    except RuntimeError as error:
        raise CheckpointError(f"{path}: model.pt does not fit its lm_config "
                              f"({str(error).splitlines()[0]})") from None
    return model.to(device).eval(), checkpoint
