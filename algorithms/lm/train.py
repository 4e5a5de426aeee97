"""Pre-training a language model: AdamW, warmup + cosine schedule, checkpoints, resume, DDP.

The loop is nanoGPT's ``train.py``. Each optimizer step minimises the mean next-token
cross-entropy of a batch of B windows of T tokens (GPT-1 eq. 1, ``model.py``) with AdamW
(Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization", Algorithm 2):

    m ← β₁ m + (1 − β₁) g,   v ← β₂ v + (1 − β₂) g²,   θ ← θ − η_t (m̂ / (√v̂ + ε) + λ θ)

with decay λ only on matrices and embeddings (not on norm gains, as nanoGPT and LLaMA), the
gradient's global norm clipped to ``grad_clip`` first, and η_t from :func:`lr_at`.

Reproducibility is by construction: the batch of step s is a pure function of (seed, s), drawn
from a fresh ``torch.Generator``; its B rows are laid out as [micro-step][rank][row], so that
W ranks × A micro-steps × B/(W·A) rows see exactly the rows one process sees, and a run
resumed from a checkpoint (model, AdamW moments, step, history) continues exactly where the
uninterrupted run would be. Evaluation uses a fixed set of validation batches, seeded apart
from training and from ``seed``, so losses compare across steps and across runs.

Scale-out: ``torchrun --nproc_per_node=N -m algorithms.lm.train --corpus tinystories --out DIR``
(:func:`main`) trains with DistributedDataParallel, one process per device; bad input is one line.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from algorithms.lm.checkpoint import (
    CheckpointError, check_compatible, checkpoint_exists, load_checkpoint, save_checkpoint)
from algorithms.lm.data import gather_batch, random_offsets
from algorithms.lm.distributed import (
    DistributedContext, all_reduce_mean, all_reduce_sum, barrier, unwrap, wrap)

AUTOCAST = ("auto", "bf16", "fp16", "off")
_TRAIN_STREAM, _EVAL_STREAM = 1, 2  # independent random streams for the two kinds of batch
_EVAL_SEED = 1234  # evaluation batches do not depend on the run's seed: runs stay comparable


@dataclass(frozen=True)
class TrainConfig:
    """A training run. ``batch_size`` is the global batch: all ranks, all micro-steps."""

    steps: int
    batch_size: int
    block_size: int
    lr: float = 1e-3
    min_lr: float | None = None  # None: lr / 10 (Chinchilla, as nanoGPT)
    warmup_steps: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0  # 0 turns clipping off
    grad_accum: int = 1
    eval_every: int = 100
    eval_batches: int = 20
    checkpoint_every: int | None = None
    log_every: int = 1
    seed: int = 0
    # "auto": bf16 on CUDA devices that support it, else off; "fp16" adds a loss scaler
    autocast: str = "auto"

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "block_size", "grad_accum", "eval_every",
                     "eval_batches", "log_every"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got "
                                 f"{getattr(self, name)!r}")
        if self.checkpoint_every is not None and self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be None or >= 1, got "
                             f"{self.checkpoint_every}")
        if self.warmup_steps < 0 or self.lr <= 0 or self.seed < 0:
            raise ValueError(f"need warmup_steps >= 0, lr > 0, seed >= 0, got "
                             f"{self.warmup_steps}, {self.lr}, {self.seed}")
        if self.autocast not in AUTOCAST:
            raise ValueError(f"autocast must be one of {AUTOCAST}, got {self.autocast!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        if unknown := sorted(set(d) - {f.name for f in dataclasses.fields(cls)}):
            raise ValueError(f"unknown TrainConfig key {unknown[0]!r}")
        return cls(**d)


def lr_at(step: int, config: TrainConfig) -> float:
    """η at 0-based ``step``: linear warmup over ``warmup_steps``, then cosine decay to
    ``min_lr`` at ``steps`` (Loshchilov & Hutter 2017, "SGDR", eq. 5 without restarts;
    nanoGPT's ``get_lr``):

        η_s = η · (s + 1) / (w + 1)                               s < w
        η_s = η_min + ½ (η − η_min)(1 + cos(π (s − w) / (S − w)))   w ≤ s ≤ S
    """
    min_lr = config.lr / 10 if config.min_lr is None else config.min_lr
    if step < config.warmup_steps:
        return config.lr * (step + 1) / (config.warmup_steps + 1)
    if step >= config.steps:
        return min_lr
    ratio = (step - config.warmup_steps) / (config.steps - config.warmup_steps)
    return min_lr + 0.5 * (config.lr - min_lr) * (1.0 + math.cos(math.pi * ratio))


@dataclass
class TrainResult:
    """``tokens_seen`` counts from step 0 (a resumed run included); ``wall_s`` is this call's
    loop; ``tokens_per_s`` its training throughput, evaluation and checkpoint time excluded."""

    history: list[dict]
    final_val_loss: float
    tokens_seen: int
    wall_s: float
    model: nn.Module
    tokens_per_s: float


def make_optimizer(model: nn.Module, config: TrainConfig, device: str) -> torch.optim.AdamW:
    """AdamW with weight decay on the 2-D parameters (matrices, embeddings) only, and not on
    those marked ``_no_weight_decay`` (Mamba's A_log and D, as its reference code)."""
    params = [p for p in model.parameters() if p.requires_grad]  # a tied weight appears once
    decayed = [p.dim() >= 2 and not getattr(p, "_no_weight_decay", False) for p in params]
    groups = [{"params": [p for p, d in zip(params, decayed) if d],
               "weight_decay": config.weight_decay},
              {"params": [p for p, d in zip(params, decayed) if not d], "weight_decay": 0.0}]
    # the fused kernel updates every tensor in one pass (CUDA and CPU; ~4x torch's loop on CPU)
    fused = True if device.split(":")[0] in ("cuda", "cpu") else None
    return torch.optim.AdamW(groups, lr=config.lr, betas=(config.beta1, config.beta2), fused=fused)


def _seed(*parts: int) -> int:
    """A 64-bit seed hashed from integers (NumPy's SeedSequence): unrelated streams per step."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1, np.uint64)[0])


def _autocast(config: TrainConfig, device: str):
    kind = device.split(":")[0]
    if config.autocast == "fp16":
        return torch.autocast(kind, dtype=torch.float16)
    on = config.autocast == "bf16" or (config.autocast == "auto" and kind == "cuda"
                                       and torch.cuda.is_bf16_supported())
    return torch.autocast(kind, dtype=torch.bfloat16) if on else nullcontext()


def _objective(net: nn.Module, raw: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """(cross-entropy, the loss to minimise): the cross-entropy plus the model's auxiliary loss
    when it has one (a mixture of experts' balancing and z-losses, ``model.auxiliary_loss``)."""
    ce = _cross_entropy(net(x), y)
    aux = raw.auxiliary_loss() if hasattr(raw, "auxiliary_loss") else None
    return ce, ce if aux is None else ce + aux


def _cross_entropy(logits: Tensor, targets: Tensor, reduction: str = "mean") -> Tensor:
    # the loss goes through forward() (not model.loss) so that DDP sees the call; float32
    # log-softmax even under autocast
    return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction=reduction)


def _check(model: nn.Module, train_tokens: np.ndarray, val_tokens: np.ndarray,
           config: TrainConfig, ctx: DistributedContext) -> None:
    max_len = getattr(getattr(model, "config", None), "max_seq_len", None)
    if max_len is not None and config.block_size > max_len:
        raise ValueError(f"block_size={config.block_size} exceeds the model's "
                         f"max_seq_len={max_len}")
    shards = ctx.world_size * config.grad_accum
    if config.batch_size % shards:
        raise ValueError(f"batch_size={config.batch_size} is not divisible by world_size × "
                         f"grad_accum = {ctx.world_size} × {config.grad_accum}")
    for name, tokens in (("training", train_tokens), ("validation", val_tokens)):
        if len(tokens) < config.block_size + 1:
            raise ValueError(f"the {name} data has {len(tokens)} tokens, fewer than "
                             f"block_size + 1 = {config.block_size + 1}")


class _Batches:
    """This rank's rows of every batch: global batch → [micro-step][rank][row] slices."""

    def __init__(self, tokens: np.ndarray, config: TrainConfig, ctx: DistributedContext):
        self.tokens, self.config, self.device = tokens, config, ctx.device
        self.micro_rows = config.batch_size // config.grad_accum  # all ranks, one micro-step
        self.rows = self.micro_rows // ctx.world_size  # this rank, one micro-step
        self.first = ctx.rank * self.rows

    def get(self, offsets: Tensor, micro: int) -> tuple[Tensor, Tensor]:
        start = micro * self.micro_rows + self.first
        x, y = gather_batch(self.tokens, offsets[start:start + self.rows],
                            self.config.block_size)
        if self.device.startswith("cuda"):
            return (x.pin_memory().to(self.device, non_blocking=True),
                    y.pin_memory().to(self.device, non_blocking=True))
        return x, y

    def step(self, seed: int, step: int) -> Tensor:
        """The offsets of the global batch of ``step``: a function of (seed, step) only."""
        generator = torch.Generator().manual_seed(_seed(seed, _TRAIN_STREAM, step))
        return random_offsets(len(self.tokens), self.config.batch_size,
                              self.config.block_size, generator)

    def fixed(self, n_batches: int) -> list[tuple[Tensor, Tensor]]:
        """``n_batches`` evaluation batches, the same for every run of this batch shape."""
        generator = torch.Generator().manual_seed(_seed(_EVAL_SEED, _EVAL_STREAM))
        return [self.get(random_offsets(len(self.tokens), self.micro_rows,
                                        self.config.block_size, generator), 0)
                for _ in range(n_batches)]


@torch.no_grad()
def evaluate(model: nn.Module, batches: list[tuple[Tensor, Tensor]], ctx: DistributedContext,
             amp=nullcontext()) -> float:
    """Mean token cross-entropy over ``batches`` (this rank's shards), averaged over ranks."""
    was_training = model.training
    model.eval()
    total = torch.zeros((), device=ctx.device)
    for x, y in batches:
        with amp:
            total += _cross_entropy(model(x), y)
    model.train(was_training)
    # equal shards: the mean of the per-rank, per-batch means is the mean over every row
    return all_reduce_sum(total, ctx).item() / (len(batches) * ctx.world_size)


def train(model: nn.Module, data_train: np.ndarray, data_val: np.ndarray, config: TrainConfig,
          *, checkpoint_dir: Path | None = None, resume: bool = False,
          on_log: Callable[[dict], None] | None = None, device: str = "cpu",
          ctx: DistributedContext | None = None, tokenizer_dir: Path | None = None,
          stop_after: int | None = None,
          on_step: Callable[[nn.Module], dict] | None = None) -> TrainResult:
    """Train ``model`` for ``config.steps`` optimizer steps; returns its history and timings.

    History rows, passed to ``on_log`` on rank 0 as they come: ``{"step", "lr", "train_loss",
    "tokens"}`` every ``log_every`` steps (step = optimizer steps done; lr the one it used;
    train_loss the step's mean cross-entropy over all ranks; grad_norm the global gradient norm
    before clipping (rank 0's view, after the all-reduce); aux_loss a mixture of experts' regulariser; and what
    ``on_step(model)`` returns, called after backward with the gradients in place, rank 0's
    view) and ``{"step", "val_loss", "val_ppl"}``
    at step 0, every ``eval_every`` steps and at the end. With ``checkpoint_dir``, rank 0
    saves a checkpoint every ``checkpoint_every`` steps and at the end; ``resume=True``
    continues the checkpoint there (after :func:`check_compatible`) or starts fresh if there
    is none, and ``resume=False`` refuses to overwrite one. ``stop_after`` ends the run after
    that many steps as a kill would (no final evaluation or checkpoint). ``ctx`` (torchrun's
    ranks, see ``distributed.py``) overrides ``device``.
    """
    ctx = ctx or DistributedContext(device=device)
    device = ctx.device
    raw = unwrap(model).to(device)
    _check(raw, data_train, data_val, config, ctx)
    optimizer = make_optimizer(raw, config, device)
    history: list[dict] = []
    start = 0
    if checkpoint_dir is not None:
        checkpoint_dir = Path(checkpoint_dir)
        found = checkpoint_exists(checkpoint_dir)
        if not found and checkpoint_dir.exists() and (not checkpoint_dir.is_dir()
                                                      or any(checkpoint_dir.iterdir())):
            raise CheckpointError(f"{checkpoint_dir} exists and is not a forge checkpoint")
        if found:
            if not resume:
                raise CheckpointError(f"{checkpoint_dir} already holds a checkpoint; pass "
                                      f"resume=True to continue it")
            checkpoint = load_checkpoint(checkpoint_dir)
            check_compatible(checkpoint, raw.config, config.to_dict(),
                             tokenizer_dir=tokenizer_dir)
            raw.load_state_dict(checkpoint.model_state)
            optimizer.load_state_dict(checkpoint.optimizer_state)
            history, start = list(checkpoint.history), checkpoint.step
    net = wrap(raw, ctx)
    batches, amp = _Batches(data_train, config, ctx), _autocast(config, device)
    # fp16's 5 exponent bits underflow small gradients: scale the loss up, unscale before the
    # clip and skip steps that overflowed (Micikevicius et al. 2018, "Mixed Precision Training")
    scaler = torch.amp.GradScaler(device.split(":")[0], enabled=config.autocast == "fp16")
    val_batches = _Batches(data_val, config, ctx).fixed(config.eval_batches)
    tokens_per_step = config.batch_size * config.block_size

    def log(row: dict) -> None:
        history.append(row)
        if on_log is not None and ctx.is_main:
            on_log(row)

    def log_eval(step: int) -> float:
        t = time.perf_counter()
        loss = evaluate(raw, val_batches, ctx, amp)
        log({"step": step, "val_loss": loss, "val_ppl": math.exp(min(loss, 700.0))})
        return time.perf_counter() - t

    def save(step: int) -> float:
        t = time.perf_counter()
        if ctx.is_main:
            save_checkpoint(checkpoint_dir, raw, optimizer, step, raw.config, config.to_dict(),
                            history, tokenizer_dir)
        return time.perf_counter() - t

    if start == 0:
        log_eval(0)
    net.train()
    t0, paused, step = time.perf_counter(), 0.0, start  # paused: evaluating, checkpointing
    while step < config.steps:
        lr = lr_at(step, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
        offsets = batches.step(config.seed, step)
        loss_sum = torch.zeros((), device=device)
        aux_sum = torch.zeros((), device=device)
        for micro in range(config.grad_accum):
            x, y = batches.get(offsets, micro)
            last = micro == config.grad_accum - 1
            # DDP all-reduces gradients in backward; only the last micro-step needs it
            with net.no_sync() if (ctx.world_size > 1 and not last) else nullcontext():
                with amp:
                    loss, objective = _objective(net, raw, x, y)
                # Σ_micro ∇(L/A) = ∇ of the batch mean
                scaler.scale(objective / config.grad_accum).backward()
            loss_sum += loss.detach()
            aux_sum += (objective - loss).detach()
        logging = (step + 1) % config.log_every == 0 or step + 1 == config.steps
        scaler.unscale_(optimizer)
        if config.grad_clip > 0:  # the global norm, before clipping
            grad_norm = torch.nn.utils.clip_grad_norm_(raw.parameters(), config.grad_clip)
        else:
            grad_norm = torch.nn.utils.get_total_norm(
                [p.grad for p in raw.parameters() if p.grad is not None])
        extra = on_step(raw) if (on_step is not None and logging and ctx.is_main) else {}
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        if logging:
            train_loss = all_reduce_mean(loss_sum / config.grad_accum, ctx).item()
            row = {"step": step, "lr": lr, "train_loss": train_loss,
                   "tokens": step * tokens_per_step}
            row["grad_norm"] = grad_norm.item()
            if hasattr(raw, "auxiliary_loss") and getattr(raw.config, "n_experts", 0):
                row["aux_loss"] = all_reduce_mean(aux_sum / config.grad_accum, ctx).item()
            log({**row, **extra})
        if step % config.eval_every == 0 or step == config.steps:
            paused += log_eval(step)
        if checkpoint_dir is not None and (step == config.steps or (
                config.checkpoint_every and step % config.checkpoint_every == 0)):
            paused += save(step)
        if stop_after is not None and step >= stop_after:
            break  # as if killed here: no final evaluation, no checkpoint beyond the due ones
    wall = time.perf_counter() - t0
    barrier(ctx)  # every rank returns after rank 0's last checkpoint is on disk
    vals = [row["val_loss"] for row in history if "val_loss" in row]
    return TrainResult(history=history, final_val_loss=vals[-1] if vals else math.nan,
                       tokens_seen=step * tokens_per_step, wall_s=wall, model=raw,
                       tokens_per_s=(step - start) * tokens_per_step / max(wall - paused, 1e-9))


# ---------------------------------------------------------------------------------- torchrun


def main(argv: list[str] | None = None) -> None:
    """The torchrun entry point, :func:`algorithms.lm.launch.main` (kept here so that
    ``torchrun -m algorithms.lm.train`` is the command)."""
    from algorithms.lm.launch import main as launch

    launch(argv)


if __name__ == "__main__":
    try:
        main()
    except ValueError as error:  # a config that cannot fit, an unusable checkpoint: one line
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
