"""Where one training step goes: FLOPs, peak memory and time of a language model's forward +
backward, split by component (attention, feed-forward, norms, embedding and head), measured
the same way for a model built with ``gradient_checkpointing`` (the trade it makes).

Every number comes from a library that sees the operators run, never from a formula of the
architecture, so a new mixer (Mamba, RetNet) or a mixture-of-experts feed-forward is measured
the same way once its class is named in a component map (:func:`default_components`):

* FLOPs: ``torch.utils.flop_counter.FlopCounterMode``. It counts the matrix products (mm, bmm,
  addmm, baddbmm, ``_scaled_mm``), convolutions and the attention kernels (forward and
  backward), at 2 FLOPs per multiply-add; it counts *no* elementwise op (norms, activations,
  softmax, rotary positions, the residual adds, a scan written elementwise), no embedding
  lookup and no optimizer. Attention is counted over the full T × T score matrix, the causal
  mask's skipped half included. What it counts is what ran: the experts a router chose, not all
  of them. PyTorch's CPU attention kernel is missing from its table; it is added here with the
  table's own formula.
* Peak memory: :class:`~algorithms.attention.profiling.LiveTensorMeter` on a CPU (live tensor
  storage: activations kept for backward, gradients, temporaries; not a fused kernel's scratch
  nor the allocator's overhead), ``torch.cuda.max_memory_allocated`` on CUDA; both above what
  was allocated before the step (the parameters, the batch): activations, gradients and
  temporaries.
* Time: best of ``repeats`` wall-clock steps after a warm-up, and per component from
  ``torch.profiler`` (one more step, traced): ``record_function`` ranges opened by forward hooks
  label the forward operators, and each backward operator is charged to the component whose
  forward created its autograd node, matched by the node's sequence number, which the profiler
  records for both.

A step is ``model.zero_grad(set_to_none=True); model.loss(idx, targets).backward()``: what a
training step costs before the optimizer.
"""

from __future__ import annotations

import functools
import math
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile, record_function
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

# week 3's measuring helpers, shared rather than written twice
from algorithms.attention.profiling import best_ms, synchronize
from algorithms.attention.profiling import peak_mib as peak_mib_of

Component = type | nn.Module  # a class (every instance) or one module (e.g. ``model.lm_head``)
Components = Mapping[str, Component | tuple[Component, ...]]

# Kineto (the profiler's backend) prints a line to stderr at every trace's start and stop unless
# its log level is raised; read when the first trace starts, so setting it here is in time
os.environ.setdefault("KINETO_LOG_LEVEL", "99")

_LABEL = "forge.component::"  # the prefix of the profiler ranges the hooks open
_BACKWARD = "autograd::engine::evaluate_function: "  # the engine's range around one node
OTHER = "other"


def default_components(model: nn.Module, extra: Components | None = None
                       ) -> dict[str, tuple[Component, ...]]:
    """The categories of :class:`~algorithms.lm.model.LanguageModel`'s modules, from
    ``algorithms.lm``'s classes:

    * attention: ``CausalSelfAttention``;
    * mixer: the other token mixers (``MambaMixer``, ``Mamba2Mixer``, ``MultiScaleRetention``);
    * ffn: ``SwiGLU``, ``GatedFeedForward``, ``FeedForward`` and ``MoEFeedForward`` (router and
      experts together);
    * norm: ``RMSNorm``, ``nn.LayerNorm``;
    * embedding/head: every ``nn.Embedding`` and the model's ``lm_head``, matched as that one
      module so that no other Linear layer is taken for it.

    ``extra`` adds classes: to a category already here (``{"ffn": (MyFFN,)}``) or as a new one
    (``{"router": (Router,)}``, appended last). A module belongs to the first category, in
    this order, that names its class or the module itself.
    """
    from algorithms.lm.layers import CausalSelfAttention, FeedForward, GatedFeedForward
    from algorithms.lm.layers import RMSNorm, SwiGLU
    from algorithms.lm.mamba import MambaMixer
    from algorithms.lm.moe import MoEFeedForward
    from algorithms.lm.retention import MultiScaleRetention
    from algorithms.lm.ssd import Mamba2Mixer

    head = getattr(model, "lm_head", None)
    components: dict[str, tuple[Component, ...]] = {
        "attention": (CausalSelfAttention,),
        "mixer": (MambaMixer, Mamba2Mixer, MultiScaleRetention),
        "ffn": (SwiGLU, GatedFeedForward, FeedForward, MoEFeedForward),
        "norm": (RMSNorm, nn.LayerNorm),
        "embedding/head": (nn.Embedding,) + ((head,) if isinstance(head, nn.Module) else ()),
    }
    for name, kinds in (extra or {}).items():
        components[name] = components.get(name, ()) + _as_tuple(kinds)
    return components


def _as_tuple(kinds: Component | tuple[Component, ...]) -> tuple[Component, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


def _category(module: nn.Module, components: Components) -> str | None:
    return next((name for name, kinds in components.items() for kind in _as_tuple(kinds)
                 if module is kind or (isinstance(kind, type) and isinstance(module, kind))), None)


def labelled_modules(model: nn.Module, components: Components
                     ) -> list[tuple[str, nn.Module, str]]:
    """``(qualified name, module, category)`` of the outermost modules that match a category.

    Outermost: the search does not descend into a match, so the Linear layers inside attention
    count as attention, and a mixture of experts' router and experts as the mixture. Everything
    outside every match (the loss, the residual adds, blocks' own code) is ``"other"``.
    """
    found, seen = [], set()

    def visit(module: nn.Module, name: str) -> None:
        if id(module) in seen:  # a shared module (tied weights) is labelled once
            return
        seen.add(id(module))
        category = _category(module, components)
        if category is not None:
            found.append((name, module, category))
            return
        for child_name, child in module.named_children():
            visit(child, f"{name}.{child_name}" if name else child_name)

    visit(model, "")
    return found


@contextmanager
def profiler_labels(labelled: Iterable[tuple[str, nn.Module, str]]) -> Iterator[None]:
    """While open, each forward of a :func:`labelled_modules` module runs inside a
    ``record_function`` range named by its category, for :func:`attribute_events`."""
    handles, open_ranges = [], defaultdict(list)

    def enter(category: str, module: nn.Module, args) -> None:
        scope = record_function(_LABEL + category)
        scope.__enter__()
        open_ranges[id(module)].append(scope)

    def leave(module: nn.Module, args, output) -> None:
        open_ranges[id(module)].pop().__exit__(None, None, None)

    try:
        for _, module, category in labelled:
            handles.append(module.register_forward_pre_hook(functools.partial(enter, category)))
            handles.append(module.register_forward_hook(leave))
        yield
    finally:
        for handle in handles:
            handle.remove()


def attribute_events(events: Iterable) -> list[tuple[Any, str, str]]:
    """``(event, category, phase)`` for every CPU event of a traced step (``torch.profiler``'s
    ``FunctionEvent``), phase ``"forward"`` or ``"backward"``.

    A forward event's category is its nearest enclosing label (``"other"`` outside every
    label). A backward event sits in the engine's range around one autograd node, and that
    range carries the sequence number of the forward operator that created the node: the
    category is where that operator ran. Several forward operators read the same number
    (``at::sequence_number::peek``) but only the one that creates a node increments it, so the
    creator is the *last* forward operator with that number. Gradient accumulation into
    ``.grad`` has no forward operator (number -1): ``"other"``.
    """
    cpu = sorted((e for e in events if e.device_type == DeviceType.CPU),
                 key=lambda e: e.time_range.start)
    enclosing: dict[int, tuple[str, Any]] = {}

    def nearest(event) -> tuple[str, Any]:
        """("label", category), ("backward", sequence number) or ("none", None)."""
        key = id(event)
        if key not in enclosing:
            if event.name.startswith(_LABEL):
                enclosing[key] = ("label", event.name[len(_LABEL):])
            elif event.name.startswith(_BACKWARD):
                enclosing[key] = ("backward", event.sequence_nr)
            elif event.cpu_parent is None:
                enclosing[key] = ("none", None)
            else:
                enclosing[key] = nearest(event.cpu_parent)
        return enclosing[key]

    created_in: dict[int, str] = {}
    for event in cpu:
        kind, value = nearest(event)
        if kind != "backward" and event.sequence_nr >= 0:
            created_in[event.sequence_nr] = value if kind == "label" else OTHER

    attributed = []
    for event in cpu:
        kind, value = nearest(event)
        if kind == "backward":
            attributed.append((event, created_in.get(value, OTHER), "backward"))
        else:
            attributed.append((event, value if kind == "label" else OTHER, "forward"))
    return attributed


def _attribute_time(events: Iterable, on_cuda: bool) -> tuple[dict[str, float], dict[str, float]]:
    """Forward + backward and forward-only ms per category: each event's *self* time (CPU time;
    on CUDA, its kernels' time) goes to the one category :func:`attribute_events` gives it, so
    the categories sum to the step's traced time."""
    total: dict[str, float] = defaultdict(float)
    forward: dict[str, float] = defaultdict(float)
    for event, category, phase in attribute_events(events):
        own_ms = (event.self_device_time_total if on_cuda else event.self_cpu_time_total) / 1000
        total[category] += own_ms
        if phase == "forward":
            forward[category] += own_ms
    return dict(total), dict(forward)


def _cpu_flash_forward_flop(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query, key, value)


def _cpu_flash_backward_flop(grad_out, query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out, query, key, value)


def _flop_counter() -> FlopCounterMode:
    """A silent ``FlopCounterMode`` that also counts PyTorch's CPU flash-attention kernel (same
    signature as the CUDA kernels' entries in its table, so the same formulas)."""
    aten, extra = torch.ops.aten, {}
    if hasattr(aten, "_scaled_dot_product_flash_attention_for_cpu"):
        extra[aten._scaled_dot_product_flash_attention_for_cpu] = _cpu_flash_forward_flop
        extra[aten._scaled_dot_product_flash_attention_for_cpu_backward] = \
            _cpu_flash_backward_flop
    return FlopCounterMode(display=False, custom_mapping=extra)


@dataclass(frozen=True)
class StepProfile:
    """One training step (forward + backward) of ``tokens`` tokens.

    ``flops_per_token``, ``forward_flops_per_token``: matrix-product, convolution and attention
    FLOPs (FlopCounterMode; see the module docstring for what it leaves out).
    ``component_flops_per_token``: the same forward + backward FLOPs by category (the counter's
    per-module totals of the outermost labelled modules; ``"other"`` is the rest), summing to
    ``flops_per_token``. The counter names modules from the model's own call, so ``loss`` must
    run the model through ``model(...)`` for them to be found (else all is ``"other"``). It
    charges backward operators to a module from when the gradient of its output is ready until
    the gradient of its inputs is, so two components that read the same input tensor can swap
    backward FLOPs; the LM's components read distinct inputs.
    ``peak_mib``: peak memory above the start of the step (activations and gradients).
    ``step_ms``: best of ``repeats`` untraced steps.
    ``component_ms``: forward + backward ms by category, of one traced step: operators' self
    time (on CUDA, their kernels' time), with the profiler's overhead; on a CPU the Python time
    between operators counts only inside a labelled forward (as the label's own time), so
    compare shares, not the sum with ``step_ms``. ``"other"`` holds the loss, residual adds and
    gradient accumulation into ``.grad``.
    ``component_forward_ms``: the forward part of ``component_ms``.
    """

    tokens: int
    flops_per_token: float
    forward_flops_per_token: float
    component_flops_per_token: dict[str, float]
    peak_mib: float
    step_ms: float
    component_ms: dict[str, float]
    component_forward_ms: dict[str, float]
    repeats: int


def _place(model: nn.Module, idx: Tensor, targets: Tensor, device: torch.device | str | None
           ) -> tuple[torch.device, Tensor, Tensor]:
    if device is None:
        device = next(model.parameters()).device
    device = torch.device(device)
    model.to(device)
    return device, idx.to(device), targets.to(device)


def _step(model: nn.Module, idx: Tensor, targets: Tensor) -> None:
    # gradients set to None first: the step allocates them, as the first step of training does
    model.zero_grad(set_to_none=True)
    model.loss(idx, targets).backward()


def profile_step(model: nn.Module, idx: Tensor, targets: Tensor,
                 components: Components | None = None, repeats: int = 3,
                 device: torch.device | str | None = None) -> StepProfile:
    """Profile ``model.loss(idx, targets).backward()`` (``model`` moved to ``device``, default
    its own; ``idx`` and ``targets`` moved there too) into a :class:`StepProfile`.

    ``components`` maps a category to classes or modules (default
    :func:`default_components`). The step runs ``repeats + 4`` times: a warm-up, the timed
    repeats, one each for memory, FLOPs and the trace. Parameter gradients are left None.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    device, idx, targets = _place(model, idx, targets, device)
    components = default_components(model) if components is None else components
    labelled = labelled_modules(model, components)
    tokens = idx.numel()
    step = functools.partial(_step, model, idx, targets)
    step_ms, _ = best_ms(step, device, math.inf, repeats)  # warm-up, then exactly `repeats`
    model.zero_grad(set_to_none=True)  # else freeing the last step's gradients hides new ones
    peak_mib = peak_mib_of(step, device)

    with _flop_counter() as counter:
        model.zero_grad(set_to_none=True)
        with _flop_counter() as forward_counter:
            loss = model.loss(idx, targets)
        loss.backward()
    del loss
    # the counter names a module "<root class>.<qualified name>", as its ModuleTracker does
    counts = {name: sum(ops.values()) for name, ops in counter.get_flop_counts().items()}
    root = type(model).__name__
    flops: dict[str, float] = defaultdict(float)
    for name, _, category in labelled:
        flops[category] += counts.get(f"{root}.{name}" if name else root, 0) / tokens
    total_flops = counter.get_total_flops()
    flops[OTHER] += total_flops / tokens - sum(flops.values())

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda"
                                           else [])
    with profiler_labels(labelled), profile(activities=activities) as trace:
        step()
        synchronize(device)
    component_ms, component_forward_ms = _attribute_time(trace.events(), device.type == "cuda")
    model.zero_grad(set_to_none=True)

    categories = [*components, OTHER]
    return StepProfile(
        tokens=tokens,
        flops_per_token=total_flops / tokens,
        forward_flops_per_token=forward_counter.get_total_flops() / tokens,
        component_flops_per_token={c: flops.get(c, 0.0) for c in categories},
        peak_mib=peak_mib,
        step_ms=step_ms,
        component_ms={c: component_ms.get(c, 0.0) for c in categories},
        component_forward_ms={c: component_forward_ms.get(c, 0.0) for c in categories},
        repeats=repeats,
    )
