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

Also here: the run context every measurement shares (:func:`device_named`,
:func:`intra_op_threads`, :func:`describe_device`), a sweep of the attention variants over
growing lengths (:class:`LengthSweep`), where one variant becomes cheaper than another
(:func:`crossover_length`, :func:`crossovers`), and KV-cached decoding against recomputation
(:func:`measure_decoding`).
"""

from __future__ import annotations

import math
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from algorithms.attention.multihead import KVCache, MultiHeadAttention

if TYPE_CHECKING:
    from algorithms.attention.variants import Variant


def device_named(name: str) -> torch.device:
    """``"auto"``: CUDA when available, else the CPU; any other name as given."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def describe_device(device: torch.device) -> str:
    """Where a measurement ran, for captions: ``"GPU"`` or ``"CPU, 1 threads"``."""
    return "GPU" if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"


@contextmanager
def intra_op_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` intra-op threads (0: leave PyTorch's setting), then
    restore the previous count.

    Why 1 on a CPU: the week's models and kernels are small enough that a second thread gains
    little, while on a machine whose cores are shared with another process the OpenMP threads
    spin-wait on each other, which makes runs slower and timings noisy.
    """
    before = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def synchronize(device: torch.device) -> None:
    """Wait for queued CUDA kernels (a no-op on the CPU): a timer must stop after the work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


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


def peak_mib(fn: Callable[[], Any], device: torch.device) -> float:
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


def best_ms(fn: Callable[[], Any], device: torch.device, budget_s: float,
             max_repeats: int) -> tuple[float, int]:
    """Minimum over repeats (the least-disturbed run) after one warm-up call."""
    fn()
    synchronize(device)
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < max_repeats and (not times or time.perf_counter() - started < budget_s):
        tic = time.perf_counter()
        fn()
        synchronize(device)
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

    forward_ms, repeats = best_ms(forward, device, budget_s, max_repeats)
    forward_backward_ms, _ = best_ms(forward_backward, device, budget_s, max_repeats)
    return Measurement(forward_ms, forward_backward_ms, peak_mib(forward, device),
                       peak_mib(forward_backward, device), repeats)


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


@dataclass(frozen=True)
class Crossover:
    """Where ``variant`` becomes cheaper than ``reference`` in forward + backward ``quantity``
    (``"time"`` or ``"memory"``): ``length`` is None if it never does, ``how`` says how the
    length was found."""

    variant: str
    reference: str
    quantity: str
    length: float | None
    how: str


def crossovers(results: Mapping[str, Mapping[int, Measurement]], candidates: Iterable[str],
               references: Iterable[str]) -> list[Crossover]:
    """:func:`crossover_length` of every candidate against every reference that was measured,
    for forward + backward time and memory (in that order, per candidate and reference)."""
    found = []
    for name in candidates:
        for reference in references:
            if reference not in results:
                continue
            for quantity, attribute in (("time", "forward_backward_ms"),
                                        ("memory", "forward_backward_mib")):
                length, how = crossover_length(dict(results[name]), dict(results[reference]),
                                               attribute)
                found.append(Crossover(name, reference, quantity, length, how))
    return found


@dataclass
class LengthSweep:
    """Attention variants measured at growing sequence lengths, each until it stops growing.

    :meth:`measure_at` draws random ``q`` ``(batch, heads, L, head_dim)`` and, per variant,
    ``k``, ``v`` with the variant's number of key/value heads, builds the variant for the
    longest length and measures it with :func:`measure`. A variant is not run at longer
    lengths once its forward + backward took more than ``time_limit_ms``, once it ran out of
    GPU memory, or beyond its entry in ``length_limits``; ``stopped`` says which and why.
    """

    variants: Mapping[str, Variant]
    batch: int
    heads: int
    head_dim: int
    max_len: int
    device: torch.device
    budget_s: float
    max_repeats: int
    time_limit_ms: float
    length_limits: Mapping[str, int] = field(default_factory=dict)
    results: dict[str, dict[int, Measurement]] = field(init=False)
    stopped: dict[str, str] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.results = {name: {} for name in self.variants}

    def measure_at(self, length: int) -> dict[str, Measurement]:
        """Measure every variant still growing at ``length``; returns what was measured."""
        q = torch.randn(self.batch, self.heads, length, self.head_dim, device=self.device)
        measured = {}
        for name, variant in self.variants.items():
            if name in self.stopped:
                continue
            if length > self.length_limits.get(name, length):
                self.stopped[name] = f"L > {self.length_limits[name]}, its length limit"
                continue
            kv_heads = variant.kv_heads or self.heads
            k = torch.randn(self.batch, kv_heads, length, self.head_dim, device=self.device)
            v = torch.randn_like(k)
            module = variant.build(self.head_dim, self.max_len).to(self.device)
            try:
                m = measure(module, q, k, v, is_causal=False, budget_s=self.budget_s,
                            max_repeats=self.max_repeats)
            except torch.OutOfMemoryError:  # the quadratic variants at long lengths on a GPU
                self.stopped[name] = f"out of memory at L = {length}"
                del module, k, v
                torch.cuda.empty_cache()
                continue
            self.results[name][length] = measured[name] = m
            if m.forward_backward_ms > self.time_limit_ms:
                self.stopped[name] = (f"fwd+bwd took {m.forward_backward_ms:.0f} ms "
                                      f"at L = {length}")
        return measured


@dataclass(frozen=True)
class DecodeMeasurement:
    """Per new token: best-of-repeats ms with the KV cache and when recomputing the prefix; the
    cache's size (MiB); the largest |difference| between cached and full-forward outputs."""

    cached_ms: float
    recompute_ms: float
    cache_mib: float
    max_abs_diff: float


@torch.no_grad()
def measure_decoding(layer: MultiHeadAttention, x: torch.Tensor, context: int,
                     repeats: int) -> DecodeMeasurement:
    """Decode ``x[:, context:]`` (``(1, T, d_model)``) one token at a time after a prefill of
    the first ``context`` tokens, with a :class:`KVCache`, and compare it with recomputing the
    causal layer over the whole ``context + 1``-token prefix for one new token.

    Cached time is the mean per decoded token of the best of ``repeats`` passes (the cache is
    rewound to ``context`` before each); recomputed time is the best of ``repeats`` forwards.
    """
    device, total = x.device, x.shape[1]
    full, _ = layer(x)  # causal, no cache: every position from scratch
    cache = KVCache(1, layer.n_kv_heads, total, layer.head_dim, device=device)
    layer(x[:, :context], cache)  # prefill
    cached_ms = math.inf
    for _ in range(repeats):
        cache.length = context  # rewind: decode the same tokens again
        steps, tic = [], time.perf_counter()
        for t in range(context, total):
            steps.append(layer(x[:, t:t + 1], cache)[0])
        synchronize(device)
        cached_ms = min(cached_ms, 1000 * (time.perf_counter() - tic) / (total - context))
    recompute_ms = math.inf
    for _ in range(repeats):  # without a cache, each new token recomputes the whole prefix
        tic = time.perf_counter()
        layer(x[:, :context + 1])
        synchronize(device)
        recompute_ms = min(recompute_ms, 1000 * (time.perf_counter() - tic))
    diff = float((torch.cat(steps, dim=1) - full[:, context:]).abs().max())
    return DecodeMeasurement(cached_ms, recompute_ms, cache.nbytes / 2**20, diff)
