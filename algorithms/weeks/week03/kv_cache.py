"""``kv-cache``: decoding with a KV cache versus recomputing the prefix, for MHA, GQA and MQA.

One causal attention layer (``d_model``, ``n_heads`` query heads, each entry of ``kv_heads``
key/value heads) decodes ``decode_steps`` tokens after a prompt of each length in ``contexts``:
with a :class:`~algorithms.attention.multihead.KVCache`, and by recomputing the layer over the
whole prefix for every new token (:func:`~algorithms.attention.profiling.measure_decoding`).
Logged: ms per new token both ways, the cache's size (2 · T · g · d_head numbers), and the
largest difference between cached and full-forward outputs.
"""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import ExperimentConfig, Tracker, experiment


class KVCacheConfig(ExperimentConfig):
    d_model: int = 256
    n_heads: int = 8
    kv_heads: tuple[int, ...] = (8, 2, 1)
    """Key/value heads g per layer: n_heads is MHA, 1 is MQA, anything between GQA."""
    contexts: tuple[int, ...] = (128, 512, 2048)
    """Prompt lengths T before decoding."""
    decode_steps: int = 16
    repeats: int = 3
    """Timings are the best of this many runs."""
    device: str = "auto"
    threads: int = 1
    """Intra-op threads (0: PyTorch's default, all cores); see ``intra_op_threads``."""
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"d_model": 32, "n_heads": 4, "kv_heads": (4, 2, 1), "contexts": (16, 32),
                  "decode_steps": 4, "repeats": 1},
        "gpu": {"d_model": 1024, "n_heads": 16, "kv_heads": (16, 4, 1),
                "contexts": (512, 2048, 8192, 32768), "decode_steps": 32, "threads": 0},
    }


def attention_name(kv_heads: int, n_heads: int) -> str:
    """``mha`` (as many key/value heads as query heads), ``mqa`` (one) or ``gqa<g>``."""
    return {n_heads: "mha", 1: "mqa"}.get(kv_heads, f"gqa{kv_heads}")


@experiment(week=3, name="kv-cache", covers=(2,), config=KVCacheConfig, seeded=False,
            units={"*_ms": "ms", "*_mib": "MiB", "*max_abs_diff": ""})
def kv_cache(config: KVCacheConfig, tracker: Tracker) -> dict[str, float]:
    """KV-cached decoding vs recomputation for MHA, GQA and MQA: time per token, cache size."""
    import torch

    from algorithms.attention.multihead import MultiHeadAttention
    from algorithms.attention.profiling import device_named, intra_op_threads, measure_decoding
    from algorithms.weeks.week03 import figures

    with intra_op_threads(config.threads):
        torch.manual_seed(0)
        device = device_named(config.device)
        # attention name -> context -> measurement
        measured: dict[str, dict[int, Any]] = {}
        for kv_heads in tracker.track(config.kv_heads, total=len(config.kv_heads),
                                      description="kv-cache"):
            name = attention_name(kv_heads, config.n_heads)
            layer = MultiHeadAttention(config.d_model, config.n_heads, kv_heads).to(device).eval()
            measured[name] = {}
            for context in config.contexts:
                x = torch.randn(1, context + config.decode_steps, config.d_model, device=device)
                measured[name][context] = measure_decoding(layer, x, context, config.repeats)

        summary: dict[str, float] = {}
        rows = []
        for kv_heads in config.kv_heads:
            name = attention_name(kv_heads, config.n_heads)
            per_context = measured[name]
            for context, m in per_context.items():
                rows.append([name, kv_heads, context, round(m.cache_mib, 4),
                             round(m.cached_ms, 4), round(m.recompute_ms, 4), m.max_abs_diff])
                prefix = f"kv_cache.{name}.ctx{context}"
                summary |= {f"{prefix}.cached_ms": m.cached_ms,
                            f"{prefix}.recompute_ms": m.recompute_ms,
                            f"{prefix}.cache_mib": m.cache_mib}
            summary[f"kv_cache.{name}.max_abs_diff"] = max(
                m.max_abs_diff for m in per_context.values())
        tracker.log_table("kv_cache/measurements",
                          ["attention", "kv_heads", "context", "cache_mib", "cached_ms_per_token",
                           "recompute_ms_per_token", "max_abs_diff_vs_full"], rows)
        tracker.log_figure("kv_cache/decode",
                           *figures.kv_cache_decode(measured, config, device))
    return summary
