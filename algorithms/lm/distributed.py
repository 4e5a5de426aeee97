"""Data-parallel training under ``torchrun``: one process per device, gradients averaged.

Distributed data parallelism (Li et al. 2020, "PyTorch Distributed: Experiences on Accelerating
Data Parallel Training", §3): every rank holds a full replica of the model, computes the
gradient of its own shard of the batch, and an all-reduce replaces each rank's gradient by the
mean over ranks, ḡ = (1/W) Σ_r g_r, before the (identical) optimizer step. With equal shards
that mean is the gradient of the whole batch's mean loss, so W ranks with B/W rows each take
the same step as one process with B rows, up to floating-point summation order.

``torchrun`` starts the processes and tells each one who it is through the environment
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``); without them this
is a single process and every function here is the identity.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn


@dataclass(frozen=True)
class DistributedContext:
    """Who this process is: its global ``rank`` of ``world_size``, its ``local_rank`` on the
    machine, and the ``device`` it computes on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        """Rank 0 writes checkpoints and logs; the others only compute."""
        return self.rank == 0


def init_from_env(device: str | None = None) -> DistributedContext:
    """Join the process group that torchrun describes in the environment (gloo on CPU, NCCL on
    CUDA, one GPU per local rank), or a single process when it describes none.

    ``device`` overrides the default of ``cuda`` when available, else ``cpu``.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if world_size == 1:
        return DistributedContext(0, 1, 0, device)
    if device.startswith("cuda"):
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(device)  # before init: NCCL binds each rank to its own GPU
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    return DistributedContext(rank, world_size, local_rank, device)


def wrap(model: nn.Module, ctx: DistributedContext) -> nn.Module:
    """The model wrapped in DistributedDataParallel when there is more than one rank."""
    if ctx.world_size == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [ctx.local_rank] if ctx.device.startswith("cuda") else None
    return DistributedDataParallel(model, device_ids=device_ids)


def unwrap(model: nn.Module) -> nn.Module:
    """The replica inside a DDP wrapper (its state_dict has no ``module.`` prefix)."""
    return getattr(model, "module", model)


def all_reduce_mean(t: Tensor, ctx: DistributedContext | None) -> Tensor:
    """(1/W) Σ_r t_r over ranks (a new tensor; ``t`` itself is left alone)."""
    if ctx is None or ctx.world_size == 1:
        return t
    out = t.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / ctx.world_size


def all_reduce_sum(t: Tensor, ctx: DistributedContext | None) -> Tensor:
    """Σ_r t_r over ranks (a new tensor)."""
    if ctx is None or ctx.world_size == 1:
        return t
    out = t.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


def barrier(ctx: DistributedContext | None) -> None:
    """Wait until every rank gets here (e.g. until rank 0 has written a cache)."""
    if ctx is not None and ctx.world_size > 1:
        dist.barrier()


def shutdown(ctx: DistributedContext | None) -> None:
    """Leave the process group (torchrun expects every rank to)."""
    if ctx is not None and ctx.world_size > 1 and dist.is_initialized():
        dist.destroy_process_group()
