"""Measuring attention: wall-clock time and peak tensor memory of forward and backward passes.

Peak memory on a CPU. ``tracemalloc`` cannot see tensors (PyTorch allocates them with its own
C++ allocator, outside Python's), and the process's resident set mixes in the allocator's caching
and other threads. :class:`LiveTensorMeter` instead *counts live tensors*: a
``TorchDispatchMode`` sees every ATen operator call, in the forward and in the autograd backward,
records the storage of every tensor an operator returns, and releases it when the last tensor
using that storage is garbage-collected. Its peak is the largest total of live tensor storage
(activations saved for backward included) above what existed before the measurement. It does not
see scratch buffers that a fused kernel allocates and frees inside one operator (e.g. the
per-thread blocks inside PyTorch's CPU flash kernel), nor allocator overhead. On CUDA,
``torch.cuda.max_memory_allocated`` is used instead, which sees everything.
"""

from __future__ import annotations

import math
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class LiveTensorMeter(TorchDispatchMode):
    """``with LiveTensorMeter() as meter: ...`` then ``meter.peak`` (bytes above the start)."""

    def __init__(self) -> None:
        super().__init__()
        self._bytes: dict[int, int] = {}  # storage address -> size, for storages created inside
        self._refs: dict[int, int] = {}  # storage address -> number of live tensors using it
        self.current = 0
        self.peak = 0

    def _track(self, tensor: torch.Tensor) -> None:
        storage = tensor.untyped_storage()
        address = storage.data_ptr()
        if address == 0 or tensor.device.type == "meta":
            return
        if address not in self._bytes:
            self._bytes[address] = storage.nbytes()
            self._refs[address] = 0
            self.current += storage.nbytes()
            self.peak = max(self.peak, self.current)
        self._refs[address] += 1
        # PyTorch keeps a tensor's Python object alive as long as its C++ tensor lives (also
        # when autograd saved it), so the finalizer runs when the tensor is really freed.
        weakref.finalize(tensor, self._release, address)

    def _release(self, address: int) -> None:
        if address not in self._refs:
            return
        self._refs[address] -= 1
        if self._refs[address] == 0:
            self.current -= self._bytes.pop(address)
            del self._refs[address]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {id(t) for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)}
        for value in tree_flatten(out)[0]:
            # in-place ops return their input: already counted (or created before the meter)
            if isinstance(value, torch.Tensor) and id(value) not in inputs:
                self._track(value)
        return out


@dataclass(frozen=True)
class Measurement:
    """Best-of-repeats wall time (ms) and peak memory above the inputs (MiB)."""

    forward_ms: float
    forward_backward_ms: float
    forward_mib: float
    forward_backward_mib: float
    repeats: int


def _cuda_sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_mib(fn: Callable[[], Any], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        start = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - start) / 2**20
    with LiveTensorMeter() as meter:
        fn()
    return meter.peak / 2**20


def _best_ms(fn: Callable[[], Any], device: torch.device, budget_s: float,
             max_repeats: int) -> tuple[float, int]:
    """Minimum over repeats (the least-disturbed run) after one warm-up call."""
    fn()
    _cuda_sync(device)
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < max_repeats and (not times or time.perf_counter() - started < budget_s):
        tic = time.perf_counter()
        fn()
        _cuda_sync(device)
        times.append(time.perf_counter() - tic)
    return 1000 * min(times), len(times)


def measure(attention: Callable[..., torch.Tensor], q: torch.Tensor, k: torch.Tensor,
            v: torch.Tensor, is_causal: bool = False, budget_s: float = 0.5,
            max_repeats: int = 5) -> Measurement:
    """Time and peak memory of ``attention(q, k, v, is_causal)``: forward alone (no graph), and
    forward + backward of ``(out · g).sum()`` for a fixed random g."""
    device = q.device
    leaves = [t.detach().requires_grad_(True) for t in (q, k, v)]
    grad_out = torch.randn(*q.shape[:-1], v.shape[-1], dtype=q.dtype, device=device)

    def forward() -> None:
        with torch.no_grad():
            attention(q, k, v, is_causal)

    def forward_backward() -> None:
        out = attention(*leaves, is_causal)
        torch.autograd.grad(out, leaves, grad_out)

    forward_ms, repeats = _best_ms(forward, device, budget_s, max_repeats)
    forward_backward_ms, _ = _best_ms(forward_backward, device, budget_s, max_repeats)
    return Measurement(forward_ms, forward_backward_ms, _peak_mib(forward, device),
                       _peak_mib(forward_backward, device), repeats)


def crossover_length(variant: dict[int, Measurement], reference: dict[int, Measurement],
                     quantity: str) -> tuple[float | None, str]:
    """The length from which ``variant`` is cheaper than ``reference`` in ``quantity`` (fwd+bwd
    ms or MiB), and how it was found: log-log interpolation between the last measured length
    where it was not cheaper and the next; the shortest length if it is cheaper at every
    length; None if it is not cheaper at the longest length both were measured at."""
    common = sorted(set(variant) & set(reference))
    if not common:
        return None, "not measured"
    gap = [math.log(max(getattr(variant[n], quantity), 1e-9))
           - math.log(max(getattr(reference[n], quantity), 1e-9)) for n in common]
    if gap[-1] >= 0:
        return None, f"not cheaper up to L = {common[-1]}"
    last_loss = max((i for i, g in enumerate(gap) if g >= 0), default=None)
    if last_loss is None:
        return float(common[0]), f"cheaper at every length (from L = {common[0]})"
    n0, n1, g0, g1 = common[last_loss], common[last_loss + 1], gap[last_loss], gap[last_loss + 1]
    t = g0 / (g0 - g1)
    return (math.exp(math.log(n0) + t * (math.log(n1) - math.log(n0))),
            f"log-log interpolated between L = {n0} and {n1}")
