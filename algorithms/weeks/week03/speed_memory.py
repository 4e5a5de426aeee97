"""``speed-memory``: time and peak memory of every attention variant as the sequence grows.

Each variant of :data:`algorithms.attention.variants.VARIANTS` runs forward, and forward +
backward, on random ``(batch, heads, L, head_dim)`` inputs (bidirectional, float32) at each
length; :class:`~algorithms.attention.profiling.LengthSweep` measures them and stops a variant
that gets too slow or runs out of memory. Logged: the four measurements per variant per length
(x = ``seq_len``), a table of every measurement with its ratio to PyTorch's SDPA, the variants'
configurations and why each stopped, and the lengths from which the variants that never hold an
L × L tensor are cheaper than SDPA and than dense attention.
"""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import ExperimentConfig, Tracker, experiment

QUANTITIES = ("forward_ms", "forward_backward_ms", "forward_mib", "forward_backward_mib")
REFERENCES = ("sdpa", "dense")  # what the linear-memory variants are compared against


class SpeedMemoryConfig(ExperimentConfig):
    lengths: tuple[int, ...] = (256, 512, 1024, 2048, 4096)
    """Sequence lengths L, shortest first."""
    variants: tuple[str, ...] = ("sdpa", "dense", "additive", "multiplicative", "mqa", "gqa",
                                 "chunked", "flash", "sliding_window", "block_local",
                                 "longformer", "bigbird", "performer", "linformer")
    """Names in ``VARIANTS``; CUDA-only ones are skipped on a CPU."""
    batch: int = 1
    heads: int = 4
    """Query heads (MQA and GQA use 1 and 2 key/value heads)."""
    head_dim: int = 64
    device: str = "auto"
    additive_max_len: int = 512
    """Additive attention is not run beyond this length: its tanh tensor is (B, h, L, L, d)."""
    time_limit_ms: float = 4000.0
    """A variant whose forward + backward takes longer is not run at longer lengths."""
    budget_s: float = 0.6
    """Timing: best of up to ``max_repeats`` runs within this budget."""
    max_repeats: int = 5
    threads: int = 1
    """Intra-op threads (0: PyTorch's default, all cores); see ``intra_op_threads``."""
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"lengths": (48, 96), "heads": 2, "head_dim": 16, "max_repeats": 1,
                  "budget_s": 0.0, "additive_max_len": 96},
        "gpu": {"lengths": (1024, 2048, 4096, 8192, 16384), "batch": 4, "heads": 8,
                "variants": ("sdpa", "dense", "additive", "multiplicative", "mqa", "gqa",
                             "chunked", "flash", "flash_triton", "sliding_window",
                             "block_local", "longformer", "bigbird", "performer", "linformer"),
                "additive_max_len": 1024, "max_repeats": 10, "threads": 0},
    }


@experiment(week=3, name="speed-memory", covers=(2,), config=SpeedMemoryConfig, seeded=False,
            units={"*_ms": "ms", "*_mib": "MiB", "*_len": "tokens", "*ratio*": "×"})
def speed_memory(config: SpeedMemoryConfig, tracker: Tracker) -> dict[str, float]:
    """Time and peak memory of every attention variant vs sequence length, against PyTorch SDPA."""
    import torch

    from algorithms.attention.profiling import (
        LengthSweep,
        crossovers,
        device_named,
        intra_op_threads,
    )
    from algorithms.attention.variants import LINEAR_MEMORY_FAMILIES, VARIANTS
    from algorithms.weeks.week03 import figures

    with intra_op_threads(config.threads):
        torch.manual_seed(0)
        device = device_named(config.device)
        names = [n for n in config.variants if device.type == "cuda" or not VARIANTS[n].cuda_only]
        sweep = LengthSweep({name: VARIANTS[name] for name in names}, config.batch, config.heads,
                            config.head_dim, max(config.lengths), device, config.budget_s,
                            config.max_repeats, config.time_limit_ms,
                            length_limits={"additive": config.additive_max_len})
        for length in tracker.track(config.lengths, total=len(config.lengths),
                                    description="speed-memory"):
            measured = sweep.measure_at(length)
            if measured:  # empty once every variant has stopped growing
                tracker.log({f"speed_memory/{name}/{quantity}": getattr(m, quantity)
                             for name, m in measured.items() for quantity in QUANTITIES},
                            step=length, x="seq_len")
        results = sweep.results

        summary = _log_measurements(results, tracker)
        tracker.log_table("speed_memory/variants",
                          ["variant", "label", "family", "configuration", "stopped_growing"],
                          [[name, VARIANTS[name].label, VARIANTS[name].family,
                            VARIANTS[name].note, sweep.stopped.get(name, "")] for name in names])
        candidates = [n for n in names if VARIANTS[n].family in LINEAR_MEMORY_FAMILIES]
        found = crossovers(results, candidates, REFERENCES)
        by_pair: dict[tuple[str, str], dict[str, Any]] = {}
        for c in found:
            by_pair.setdefault((c.variant, c.reference), {})[c.quantity] = c
        tracker.log_table(
            "speed_memory/crossovers", ["variant", "reference", "time_crossover_len",
                                        "time_note", "memory_crossover_len", "memory_note"],
            [[variant, reference, *_length_and_how(pair["time"]),
              *_length_and_how(pair["memory"])] for (variant, reference), pair in by_pair.items()])
        summary |= {f"crossover.{c.variant}.vs_{c.reference}.{c.quantity}_len": float(c.length)
                    for c in found if c.length is not None}

        for pass_name in ("forward_backward", "forward"):
            tracker.log_figure(f"speed_memory/{pass_name}",
                               *figures.speed_memory_by_length(results, pass_name, config, device))
        tracker.log_figure("speed_memory/ratio_to_sdpa",
                           *figures.speed_memory_ratio_to_sdpa(results, config, device))
    return summary


def _log_measurements(results: dict[str, dict[int, Any]], tracker: Tracker) -> dict[str, float]:
    """The measurements table (with fwd+bwd ratios to SDPA at the same length) and the
    summary's ``speed.<variant>.len<L>.*`` keys."""
    import math

    from algorithms.attention.variants import VARIANTS

    reference = results.get("sdpa", {})
    summary: dict[str, float] = {}
    rows = []
    for name, per_length in results.items():
        for length, m in per_length.items():
            ref = reference.get(length)
            time_ratio = m.forward_backward_ms / ref.forward_backward_ms if ref else math.nan
            memory_ratio = (m.forward_backward_mib / ref.forward_backward_mib
                            if ref and ref.forward_backward_mib > 0 else math.nan)
            rows.append([name, VARIANTS[name].family, length, round(m.forward_ms, 3),
                         round(m.forward_backward_ms, 3), round(m.forward_mib, 3),
                         round(m.forward_backward_mib, 3), round(time_ratio, 3),
                         round(memory_ratio, 3), m.repeats])
            prefix = f"speed.{name}.len{length}"
            summary[f"{prefix}.forward_ms"] = m.forward_ms
            summary[f"{prefix}.forward_backward_ms"] = m.forward_backward_ms
            summary[f"{prefix}.forward_backward_mib"] = m.forward_backward_mib
            if ref and name != "sdpa":
                summary[f"{prefix}.time_ratio_to_sdpa"] = time_ratio
    tracker.log_table("speed_memory/measurements",
                      ["variant", "family", "seq_len", "forward_ms", "forward_backward_ms",
                       "forward_mib", "forward_backward_mib", "fwd_bwd_time_ratio_to_sdpa",
                       "fwd_bwd_memory_ratio_to_sdpa", "timing_repeats"], rows)
    return summary


def _length_and_how(crossover: Any) -> list[Any]:
    return ["" if crossover.length is None else round(crossover.length), crossover.how]
