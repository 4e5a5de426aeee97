"""Week 3: attention mechanisms and positional encodings.

Five experiments:

* ``speed-memory``: time and peak memory of every attention variant (dense, additive,
  multiplicative, MQA/GQA, chunked, FlashAttention, sliding window, block-local, Longformer,
  BigBird, Performer, Linformer) against PyTorch's fused SDPA, forward and backward, as the
  sequence grows; where the sub-quadratic variants overtake the quadratic ones.
* ``approximation``: how far Performer and Linformer are from exact attention as the number of
  random features / the projected rank grows.
* ``kv-cache``: decoding with a KV cache versus recomputing, for MHA, GQA and MQA: time per token
  and cache size.
* ``extrapolation``: a small GPT trained on tiny Shakespeare at length L with each positional
  encoding (none, sinusoidal, learned, Shaw, RoPE, ALiBi), evaluated at 2L, 4L and 8L.
* ``analysis``: attention maps of a trained model, per-head entropy and attention distance, head
  importance (Michel et al., 2019) and the loss as heads are pruned.

The implementations live in :mod:`algorithms.attention`. torch, numpy and matplotlib are imported
inside the functions: ``forge weeks`` imports this module and must stay fast.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, ClassVar

from algorithms.experiment import ExperimentConfig, Tracker, experiment

ENCODING_LABELS = {"none": "NoPE", "sinusoidal": "sinusoidal", "learned": "learned absolute",
                   "shaw": "Shaw relative", "rope": "RoPE", "alibi": "ALiBi"}


def _new_figure(*args: Any, **kw: Any) -> tuple[Any, Any]:
    from algorithms.plotting import figure

    return figure(*args, **kw)


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _with_threads(fn: Callable[[Any, Tracker], dict[str, float]]
                  ) -> Callable[[Any, Tracker], dict[str, float]]:
    """Run ``fn`` with ``config.threads`` intra-op threads (0: leave PyTorch's setting), then
    restore. The cpu profiles use 1: these models and kernels are small enough that a second
    thread gains little, while on a machine whose cores are shared with another process the
    OpenMP threads wait on each other and runs get several times slower (and timings noisy).
    The gpu profiles use 0."""

    @functools.wraps(fn)
    def run(config: Any, tracker: Tracker) -> dict[str, float]:
        import torch

        before = torch.get_num_threads()
        if config.threads > 0:
            torch.set_num_threads(config.threads)
        try:
            return fn(config, tracker)
        finally:
            torch.set_num_threads(before)

    return run


def _tidy_log_axes(ax: Any, x_ticks: Any = None) -> None:
    """Log axes labelled with plain numbers: x ticks at the measured values (when given), y
    ticks at powers of ten, plus the 2× and 5× minor ticks when the axis spans few decades."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    plain = FuncFormatter(lambda value, _: f"{value:g}")
    if x_ticks is not None:
        ax.set_xticks(list(x_ticks))
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(NullFormatter())
    if ax.get_yscale() == "log":
        low, high = ax.get_ylim()
        ax.yaxis.set_major_formatter(plain)
        few = math.log10(high / low) < 2.5
        ax.yaxis.set_minor_formatter(
            FuncFormatter(lambda value, _: f"{value:g}" if few and round(
                value / 10 ** math.floor(math.log10(value)), 6) in (2, 5) else "")
            if few else NullFormatter())


def _device(name: str) -> Any:
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


# ----------------------------------------------------------------------------- speed-memory

class SpeedMemoryConfig(ExperimentConfig):
    lengths: tuple[int, ...] = (256, 512, 1024, 2048, 4096)
    variants: tuple[str, ...] = ("sdpa", "dense", "additive", "multiplicative", "mqa", "gqa",
                                 "chunked", "flash", "sliding_window", "block_local",
                                 "longformer", "bigbird", "performer", "linformer")
    batch: int = 1
    heads: int = 4
    head_dim: int = 64
    device: str = "auto"
    additive_max_len: int = 512  # its (L, L, d) tanh tensor: 770 MiB fwd+bwd at 512 already
    time_limit_ms: float = 4000.0  # a variant slower than this stops growing
    budget_s: float = 0.6  # timing: best of up to max_repeats runs within this budget
    max_repeats: int = 5
    threads: int = 1  # intra-op threads (0: PyTorch's default, all cores); see _with_threads
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
@_with_threads
def speed_memory(config: SpeedMemoryConfig, tracker: Tracker) -> dict[str, float]:
    """Time and peak memory of every attention variant vs sequence length, against PyTorch SDPA."""
    import torch

    from algorithms.attention.profiling import crossover_length, measure
    from algorithms.attention.variants import VARIANTS

    torch.manual_seed(0)
    device = _device(config.device)
    names = tuple(n for n in config.variants if device.type == "cuda" or not VARIANTS[n].cuda_only)
    config = config.model_copy(update={"variants": names})
    results: dict[str, dict[int, Any]] = {name: {} for name in config.variants}
    stopped: dict[str, str] = {}
    lengths = list(config.lengths)
    for index, length in enumerate(tracker.track(lengths, total=len(lengths),
                                                 description="speed-memory")):
        q = torch.randn(config.batch, config.heads, length, config.head_dim, device=device)
        scalars = {"speed_memory/seq_len": float(length)}
        for name in config.variants:
            variant = VARIANTS[name]
            if name in stopped:
                continue
            if name == "additive" and length > config.additive_max_len:
                stopped[name] = f"L > {config.additive_max_len}: (L, L, d) tensor too large"
                continue
            kv_heads = variant.kv_heads or config.heads
            k = torch.randn(config.batch, kv_heads, length, config.head_dim, device=device)
            v = torch.randn_like(k)
            module = variant.build(config.head_dim, max(lengths)).to(device)
            try:
                m = measure(module, q, k, v, is_causal=False, budget_s=config.budget_s,
                            max_repeats=config.max_repeats)
            except torch.OutOfMemoryError:  # the quadratic variants, at the gpu profile's 16k
                stopped[name] = f"out of memory at L = {length}"
                del module, k, v
                torch.cuda.empty_cache()
                continue
            results[name][length] = m
            scalars |= {f"speed_memory/{name}/forward_ms": m.forward_ms,
                        f"speed_memory/{name}/forward_backward_ms": m.forward_backward_ms,
                        f"speed_memory/{name}/forward_mib": m.forward_mib,
                        f"speed_memory/{name}/forward_backward_mib": m.forward_backward_mib}
            if m.forward_backward_ms > config.time_limit_ms:
                stopped[name] = f"fwd+bwd took {m.forward_backward_ms:.0f} ms at L = {length}"
        tracker.log(scalars, step=index)

    summary: dict[str, float] = {}
    rows = []
    for name in config.variants:
        for length, m in results[name].items():
            ref = results["sdpa"].get(length) if "sdpa" in results else None
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
    tracker.log_table("speed_memory/variants", ["variant", "label", "family", "configuration",
                                                "stopped_growing"],
                      [[name, VARIANTS[name].label, VARIANTS[name].family, VARIANTS[name].note,
                        stopped.get(name, "")] for name in config.variants])

    crossover_rows = []
    for name in config.variants:
        if VARIANTS[name].family not in ("sparse", "linear", "exact-tiled"):
            continue
        for reference in ("sdpa", "dense"):
            if reference not in results:
                continue
            row = [name, reference]
            for quantity in ("forward_backward_ms", "forward_backward_mib"):
                where, note = crossover_length(results[name], results[reference],
                                               quantity)
                row += ["" if where is None else round(where), note]
                if where is not None:
                    kind = "time" if quantity.endswith("ms") else "memory"
                    summary[f"crossover.{name}.vs_{reference}.{kind}_len"] = float(where)
            crossover_rows.append(row)
    tracker.log_table("speed_memory/crossovers",
                      ["variant", "reference", "time_crossover_len", "time_note",
                       "memory_crossover_len", "memory_note"], crossover_rows)

    where = "GPU" if device.type == "cuda" else f"CPU, {_threads()} threads"
    memory_how = ("torch.cuda.max_memory_allocated above the inputs" if device.type == "cuda"
                  else "live-tensor accounting: every tensor an ATen op returns (forward and "
                       "backward, saved activations included) counted until freed, via a "
                       "TorchDispatchMode; scratch buffers inside a fused kernel are not seen; "
                       "tracemalloc cannot see torch's allocator")
    shape = (f"batch {config.batch}, {config.heads} query heads, head dim {config.head_dim}, "
             "bidirectional (no mask), float32")
    for pass_name, time_key, memory_key in (("forward + backward", "forward_backward_ms",
                                             "forward_backward_mib"),
                                            ("forward only", "forward_ms", "forward_mib")):
        fig = _speed_memory_figure(results, time_key, memory_key, pass_name)
        tracker.log_figure(
            f"speed_memory/{time_key.removesuffix('_ms')}", fig,
            f"Attention variants vs sequence length, {pass_name} ({where}; {shape}). Top: wall "
            "time, best of up to "
            f"{config.max_repeats} runs after a warm-up. Bottom: peak memory above the inputs, "
            f"measured by {memory_how}. Panels group the variants by family; PyTorch's fused "
            "scaled_dot_product_attention (black, dashed) is in every panel. MQA/GQA use 1/2 "
            "key-value heads for the 4 query heads. Log–log axes: slope 2 is quadratic.")
    fig = _ratio_figure(results, config.variants)
    tracker.log_figure(
        "speed_memory/ratio_to_sdpa", fig,
        f"Forward + backward time of each variant divided by PyTorch SDPA's at the same length "
        f"({where}; {shape}); below 1 (blue) the variant is faster. Blank: not run (additive "
        f"beyond L = {config.additive_max_len}, or over the {config.time_limit_ms:g} ms limit).")
    return summary


_FAMILIES = {"dense": "Quadratic (L × L materialised)", "exact-tiled": "Exact, tiled",
             "sparse": "Sparse / local (exact on pattern)", "linear": "Linear approximations"}


def _speed_memory_figure(results: dict[str, dict[int, Any]], time_key: str, memory_key: str,
                         pass_name: str) -> Any:
    from algorithms.attention.variants import VARIANTS
    from algorithms.plotting import PALETTE

    families = [f for f in _FAMILIES if any(VARIANTS[n].family == f for n in results)]
    fig, axes = _new_figure(2, len(families), squeeze=False,
                            figsize=(3.6 * len(families), 6.4), sharex=True)
    markers = "osD^v"
    for column, family in enumerate(families):
        members = [n for n in results if VARIANTS[n].family == family and results[n]]
        for row, key in enumerate((time_key, memory_key)):
            ax = axes[row, column]
            if "sdpa" in results and results["sdpa"]:
                ref = results["sdpa"]
                ax.plot(list(ref), [getattr(m, key) for m in ref.values()], color="black",
                        linestyle="--", linewidth=1.3, label="PyTorch SDPA")
            for i, name in enumerate(members):
                values = results[name]
                ax.plot(list(values), [max(getattr(m, key), 1e-3) for m in values.values()],
                        color=PALETTE[i % 7], marker=markers[i % len(markers)], markersize=3.5,
                        label=VARIANTS[name].label)
            ax.set(xscale="log", yscale="log")
            _tidy_log_axes(ax, sorted({n for r in results.values() for n in r}))
            ax.tick_params(axis="x", labelrotation=45)
            if row == 0:
                ax.set_title(_FAMILIES[family], fontsize=10)
                ax.legend(loc="upper left", fontsize=7.5)
            else:
                ax.set_xlabel("sequence length L")
            if column == 0:
                ax.set_ylabel(f"{pass_name}: time (ms)" if row == 0
                              else f"{pass_name}: peak memory (MiB)")
    return fig


def _ratio_figure(results: dict[str, dict[int, Any]], names: tuple[str, ...]) -> Any:
    import numpy as np

    from algorithms.attention.variants import VARIANTS

    lengths = sorted({n for r in results.values() for n in r})
    names = [n for n in names if n != "sdpa"]
    ratios = np.full((len(names), len(lengths)), np.nan)
    for i, name in enumerate(names):
        for j, length in enumerate(lengths):
            if length in results[name] and length in results.get("sdpa", {}):
                ratios[i, j] = (results[name][length].forward_backward_ms
                                / results["sdpa"][length].forward_backward_ms)
    fig, ax = _new_figure(figsize=(1.0 * len(lengths) + 3.2, 0.36 * len(names) + 1.4))
    from matplotlib.colors import LogNorm

    limit = max(2.0, float(np.nanmax(np.abs(np.log2(ratios))))) if np.isfinite(ratios).any() \
        else 2.0
    image = ax.imshow(ratios, cmap="RdBu_r", norm=LogNorm(2 ** -limit, 2 ** limit),
                      aspect="auto")
    for i in range(len(names)):
        for j in range(len(lengths)):
            if np.isfinite(ratios[i, j]):
                ax.text(j, i, f"{ratios[i, j]:.2g}", ha="center", va="center", fontsize=7.5,
                        color="white" if abs(math.log2(ratios[i, j])) > 0.6 * limit else "black")
    ax.set(xticks=range(len(lengths)), xticklabels=lengths, yticks=range(len(names)),
           yticklabels=[VARIANTS[n].label for n in names], xlabel="sequence length L",
           title="Forward + backward time ÷ PyTorch SDPA")
    ax.grid(False)
    bar = fig.colorbar(image, ax=ax, label="time ratio (log scale)", shrink=0.9)
    step = max(1, int(limit) // 3)
    ticks = [2.0 ** e for e in range(-int(limit), int(limit) + 1, step)]
    bar.set_ticks(ticks, labels=[f"{t:g}" if t >= 1 else f"1/{1 / t:g}" for t in ticks])
    bar.ax.minorticks_off()
    return fig


# ----------------------------------------------------------------------------- approximation

class ApproximationConfig(ExperimentConfig):
    seq_len: int = 512
    head_dim: int = 64
    heads: int = 4
    logit_stds: tuple[float, ...] = (0.25, 0.5, 1.0)  # std of qᵀk/√d of the random inputs
    features: tuple[int, ...] = (16, 32, 64, 128, 256, 512, 1024)
    ranks: tuple[int, ...] = (8, 16, 32, 64, 128, 256, 512)
    draws: int = 6  # random-feature draws averaged per point
    threads: int = 1  # intra-op threads (0: PyTorch's default); see _with_threads
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"seq_len": 64, "head_dim": 16, "heads": 2, "features": (8, 64, 512),
                  "ranks": (8, 32, 64), "draws": 4},
        "gpu": {"seq_len": 2048, "features": (16, 32, 64, 128, 256, 512, 1024, 2048, 4096),
                "ranks": (16, 32, 64, 128, 256, 512, 1024, 2048), "draws": 16, "threads": 0},
    }


def _std_tag(value: float) -> str:
    return "logit_std_" + f"{value:g}".replace(".", "_")  # 0.25 -> logit_std_0_25


@experiment(week=3, name="approximation", covers=(1,), config=ApproximationConfig,
            units={"*.rel_error": ""})
@_with_threads
def approximation(config: ApproximationConfig, tracker: Tracker) -> dict[str, float]:
    """Performer and Linformer error against exact attention as features / rank grow."""
    import numpy as np
    import torch

    from algorithms.attention.dot_product import scaled_dot_product_attention
    from algorithms.attention.linear import LinformerAttention, PerformerAttention

    generator = torch.Generator().manual_seed(config.seed)
    shape = (config.heads, config.seq_len, config.head_dim)
    base = [torch.randn(*shape, generator=generator, dtype=torch.float64) for _ in range(3)]
    # per logit scale and size: (relative output error, mean total-variation distance) per draw
    errors: dict[str, dict[float, dict[int, list[tuple[float, float]]]]] = {
        "performer": {}, "linformer_pool": {}}
    with torch.no_grad():
        for std in tracker.track(config.logit_stds, total=len(config.logit_stds),
                                 description="approximation"):
            # q, k ~ N(0, σ² I) gives logits qᵀk/√d with standard deviation σ²
            q, k, v = base[0] * std ** 0.5, base[1] * std ** 0.5, base[2]
            exact, weights = scaled_dot_product_attention(q, k, v, return_weights=True)

            def score(module: Any) -> tuple[float, float]:
                output_error = (module(q, k, v) - exact).norm() / exact.norm()
                # half the L1 distance between each query's two distributions, mean over queries
                tv = 0.5 * (module.attention_matrix(q, k) - weights).abs().sum(-1).mean()
                return float(output_error), float(tv)

            errors["performer"][std] = {
                m: [score(PerformerAttention(config.head_dim, m,
                                             seed=1000 * config.seed + draw).double())
                    for draw in range(config.draws)] for m in config.features}
            errors["linformer_pool"][std] = {
                rank: [score(LinformerAttention(config.seq_len, rank, projection="pool"))]
                for rank in config.ranks}

    summary, rows = {}, []
    for method, per_std in errors.items():
        size_kind, tag = ("features m", "m") if method == "performer" else ("rank k", "k")
        for std, per_size in per_std.items():
            for size, draws in per_size.items():
                out_err, tv = np.array(draws).T
                rows.append([method, std, size_kind, size, round(float(out_err.mean()), 5),
                             round(float(out_err.std(ddof=1)) if len(draws) > 1 else 0.0, 5),
                             round(float(tv.mean()), 5), len(draws)])
                prefix = f"approximation.{method}.{_std_tag(std)}.{tag}{size}"
                summary[f"{prefix}.rel_error"] = float(out_err.mean())
                summary[f"{prefix}.tv_distance"] = float(tv.mean())
    tracker.log_table("approximation/errors",
                      ["method", "logit_std", "size_kind", "size", "mean_rel_output_error",
                       "std_over_draws", "mean_tv_distance", "draws"], rows)

    fig, axes = _new_figure(2, 2, figsize=(10.5, 7.2), sharex="col")
    titles = {"performer": "Performer (FAVOR+)", "linformer_pool": "Linformer, mean pooling"}
    for column, (method, per_std) in enumerate(errors.items()):
        for i, (std, per_size) in enumerate(per_std.items()):
            sizes = np.array(list(per_size))
            for row in range(2):
                values = np.array([[d[row] for d in draws] for draws in per_size.values()])
                mean = values.mean(axis=1)
                ax = axes[row, column]
                line, = ax.plot(sizes, mean, marker="o", markersize=3.5,
                                label=f"logit s.d. {std:g}")
                if values.shape[1] > 1:
                    spread = values.std(axis=1, ddof=1)
                    ax.fill_between(sizes, np.maximum(mean - spread, 1e-4), mean + spread,
                                    color=line.get_color(), alpha=0.18)
                    ax.plot(sizes, mean[0] * np.sqrt(sizes[0] / sizes), color=line.get_color(),
                            linestyle=":", linewidth=1)
        axes[0, column].set_title(titles[method])
        axes[1, column].set_xlabel("random features m" if method == "performer"
                                   else "projected length k")
        for row in range(2):
            # Performer's error falls like a power of m: log-log; Linformer's reaches 0 at k = L
            axes[row, column].set(xscale="log",
                                  yscale="log" if method == "performer" else "linear")
            if method != "performer":
                axes[row, column].set_ylim(bottom=0)
            sizes = config.features if method == "performer" else config.ranks
            _tidy_log_axes(axes[row, column], sizes)
        if method != "performer":
            for row in range(2):
                axes[row, column].axvline(config.seq_len, color="grey", linewidth=0.8,
                                          linestyle="--")
    axes[0, 0].set_ylabel(r"output error $\|\hat{O} - O\|_F / \|O\|_F$")
    axes[1, 0].set_ylabel("attention TV distance")
    axes[0, 0].legend(fontsize=8)
    tracker.log_figure(
        "approximation/error_vs_size", fig,
        "Linear attention against exact softmax attention O = softmax(QKᵀ/√d)V on random "
        f"Gaussian inputs ({config.heads} heads, L = {config.seq_len}, d = {config.head_dim}, "
        f"float64, seed {config.seed}), scaled so that the logits have standard deviation "
        f"{', '.join(f'{s:g}' for s in config.logit_stds)}. Top: relative Frobenius error of "
        "the output. Bottom: total-variation distance between each query's exact and "
        "approximate attention distribution (½ Σ_j |Â_ij − A_ij|, the fraction of attention "
        "mass misplaced), mean over queries. Left: Performer, mean ± s.d. over "
        f"{config.draws} draws of orthogonal positive random features; dotted lines fall like "
        "1/√m, the Monte Carlo rate. Right: Linformer with the parameter-free mean-pooling "
        "projection of the paper's §4 (deterministic; exact at k = L, dashed; linear "
        "axis). Linformer's learned projections are not shown: untrained they do not "
        "approximate attention. Sharper attention (larger logits) is harder for both.")
    return summary


# ----------------------------------------------------------------------------- kv-cache

class KVCacheConfig(ExperimentConfig):
    d_model: int = 256
    n_heads: int = 8
    kv_heads: tuple[int, ...] = (8, 2, 1)  # MHA, GQA, MQA
    contexts: tuple[int, ...] = (128, 512, 2048)
    decode_steps: int = 16
    repeats: int = 3  # timings are the best of this many
    device: str = "auto"
    threads: int = 1  # intra-op threads (0: PyTorch's default, all cores); see _with_threads
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"d_model": 32, "n_heads": 4, "kv_heads": (4, 2, 1), "contexts": (16, 32),
                  "decode_steps": 4, "repeats": 1},
        "gpu": {"d_model": 1024, "n_heads": 16, "kv_heads": (16, 4, 1),
                "contexts": (512, 2048, 8192, 32768), "decode_steps": 32, "threads": 0},
    }


@experiment(week=3, name="kv-cache", covers=(2,), config=KVCacheConfig, seeded=False,
            units={"*_ms": "ms", "*_mib": "MiB", "*max_abs_diff": ""})
@_with_threads
def kv_cache(config: KVCacheConfig, tracker: Tracker) -> dict[str, float]:
    """KV-cached decoding vs recomputation for MHA, GQA and MQA: time per token, cache size."""
    import time

    import torch

    from algorithms.attention.multihead import KVCache, MultiHeadAttention

    torch.manual_seed(0)
    device = _device(config.device)
    summary, rows = {}, []
    timings: dict[str, dict[int, tuple[float, float]]] = {}
    for kv_heads in tracker.track(config.kv_heads, total=len(config.kv_heads),
                                  description="kv-cache"):
        name = {config.n_heads: "mha", 1: "mqa"}.get(kv_heads, f"gqa{kv_heads}")
        layer = MultiHeadAttention(config.d_model, config.n_heads, kv_heads).to(device).eval()
        timings[name] = {}
        for context in config.contexts:
            total = context + config.decode_steps
            x = torch.randn(1, total, config.d_model, device=device)
            with torch.no_grad():
                full, _ = layer(x)  # causal, no cache: every position from scratch
                cache = KVCache(1, kv_heads, total, layer.head_dim, device=device)
                layer(x[:, :context], cache)  # prefill
                cached_ms = math.inf
                for _ in range(config.repeats):  # best of the repeats: the least disturbed
                    cache.length = context  # rewind: decode the same tokens again
                    steps, tic = [], time.perf_counter()
                    for t in range(context, total):
                        steps.append(layer(x[:, t:t + 1], cache)[0])
                    _sync(device)
                    cached_ms = min(cached_ms, 1000 * (time.perf_counter() - tic)
                                    / config.decode_steps)
                # without a cache, each new token recomputes the whole prefix
                recompute_ms = math.inf
                for _ in range(config.repeats):
                    tic = time.perf_counter()
                    layer(x[:, :context + 1])
                    _sync(device)
                    recompute_ms = min(recompute_ms, 1000 * (time.perf_counter() - tic))
            diff = float((torch.cat(steps, dim=1) - full[:, context:]).abs().max())
            cache_mib = cache.nbytes / 2**20
            timings[name][context] = (cached_ms, recompute_ms)
            rows.append([name, kv_heads, context, round(cache_mib, 4), round(cached_ms, 4),
                         round(recompute_ms, 4), diff])
            prefix = f"kv_cache.{name}.ctx{context}"
            summary |= {f"{prefix}.cached_ms": cached_ms, f"{prefix}.recompute_ms": recompute_ms,
                        f"{prefix}.cache_mib": cache_mib}
            summary[f"kv_cache.{name}.max_abs_diff"] = max(
                summary.get(f"kv_cache.{name}.max_abs_diff", 0.0), diff)
    tracker.log_table("kv_cache/decode", ["attention", "kv_heads", "context", "cache_mib",
                                          "cached_ms_per_token", "recompute_ms_per_token",
                                          "max_abs_diff_vs_full"], rows)

    from algorithms.plotting import PALETTE

    fig, (left, right) = _new_figure(1, 2, figsize=(10, 3.8))
    for i, (name, per_context) in enumerate(timings.items()):
        contexts = list(per_context)
        left.plot(contexts, [c for c, _ in per_context.values()], marker="o", markersize=4,
                  color=PALETTE[i], label=f"{name.upper()} cached")
        left.plot(contexts, [r for _, r in per_context.values()], marker="s", markersize=4,
                  color=PALETTE[i], linestyle="--", label=f"{name.upper()} recomputed")
        mine = [row for row in rows if row[0] == name]
        right.plot(contexts, [row[3] for row in mine], marker="o", markersize=4,
                   color=PALETTE[i], label=f"{name.upper()} ({mine[0][1]} KV heads)")
    left.set(xscale="log", yscale="log", xlabel="context length T", ylabel="ms per new token",
             title="Decoding one token")
    right.set(xscale="log", yscale="log", xlabel="context length T", ylabel="MiB per layer",
              title="KV-cache size (K and V)")
    for ax in (left, right):
        _tidy_log_axes(ax, config.contexts)
    left.legend(fontsize=7.5)
    right.legend(fontsize=8)
    where = "GPU" if device.type == "cuda" else f"CPU, {_threads()} threads"
    tracker.log_figure(
        "kv_cache/decode", fig,
        f"One attention layer (d_model = {config.d_model}, {config.n_heads} query heads, float32, "
        f"{where}), decoding after a prompt of T tokens. Left: time per new token with the KV "
        f"cache (mean over {config.decode_steps} steps) and without it (the whole prefix "
        f"recomputed every step), best of {config.repeats} runs. Right: the cache's size, "
        "2·T·g·d_head numbers for g key/value "
        "heads: GQA and MQA shrink it by h/g. Cached and full outputs agree to "
        f"{max(r[6] for r in rows):.1e}.")
    return summary


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ----------------------------------------------------------------------------- extrapolation

class ExtrapolationConfig(ExperimentConfig):
    encodings: tuple[str, ...] = ("none", "sinusoidal", "learned", "shaw", "rope", "alibi")
    train_len: int = 64
    eval_factors: tuple[int, ...] = (1, 2, 4, 8)
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    steps: int = 300
    batch_size: int = 32
    lr: float = 3e-3
    shaw_max_distance: int = 16
    eval_windows: int = 192  # non-overlapping validation windows per length (≤ 217 fit at 8L)
    device: str = "cpu"
    threads: int = 1  # intra-op threads (0: PyTorch's default); see _with_threads
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"train_len": 16, "eval_factors": (1, 2, 4), "d_model": 16, "n_heads": 2,
                  "n_layers": 1, "steps": 12, "batch_size": 8, "eval_windows": 2},
        "gpu": {"train_len": 256, "d_model": 256, "n_layers": 4, "n_heads": 8, "steps": 3000,
                "batch_size": 64, "lr": 1e-3, "shaw_max_distance": 64, "eval_windows": 32,
                "device": "auto", "threads": 0},
    }


@experiment(week=3, name="extrapolation", covers=(4,), config=ExtrapolationConfig,
            units={"*loss": "nats", "*.ratio": "×"})
@_with_threads
def extrapolation(config: ExtrapolationConfig, tracker: Tracker) -> dict[str, float]:
    """Train at length L, test at 2L/4L/8L: each positional encoding on tiny Shakespeare."""
    import torch

    from algorithms.attention.model import CharCorpus, GPTConfig, TinyGPT, train

    device = _device(config.device)
    corpus = CharCorpus.shakespeare()
    lengths = [config.train_len * f for f in config.eval_factors]
    eval_sets = {n: tuple(t.to(device) for t in corpus.windows("val", n, config.eval_windows))
                 for n in lengths}
    summary: dict[str, float] = {}
    rows, curves, per_position = [], {}, {}
    for encoding in tracker.track(config.encodings, total=len(config.encodings),
                                  description="extrapolation"):
        torch.manual_seed(config.seed)
        model = TinyGPT(GPTConfig(corpus.vocab_size, config.d_model, config.n_layers,
                                  config.n_heads, positional=encoding, max_len=max(lengths),
                                  max_relative_distance=config.shaw_max_distance)).to(device)
        # the same batches for every encoding: the encodings are the only difference
        generator = torch.Generator().manual_seed(config.seed)
        curves[encoding] = train(model, _OnDevice(corpus, device), config.steps,
                                 config.batch_size, config.train_len, config.lr, generator)
        losses = {}
        with torch.no_grad():
            for factor, n in zip(config.eval_factors, lengths):
                inputs, targets = eval_sets[n]
                chunk = max(1, 8192 // n)  # windows per forward pass: bounded attention memory
                position_loss = torch.cat([
                    model.loss(x, y, reduction="none")
                    for x, y in zip(inputs.split(chunk), targets.split(chunk))]).mean(dim=0).cpu()
                losses[factor] = float(position_loss.mean())
                if n == max(lengths):
                    per_position[encoding] = position_loss
        for factor, loss in losses.items():
            summary[f"extrapolation.{encoding}.len{factor}x.loss"] = loss
        summary[f"extrapolation.{encoding}.train_loss"] = sum(curves[encoding][-20:]) / len(
            curves[encoding][-20:])
        worst = max(config.eval_factors)
        summary[f"extrapolation.{encoding}.len{worst}x_over_len1x.ratio"] = \
            losses[worst] / losses[config.eval_factors[0]]
        rows.append([config.seed, ENCODING_LABELS[encoding]]
                    + [round(losses[f], 4) for f in config.eval_factors]
                    + [round(losses[worst] / losses[config.eval_factors[0]], 4)])

    for step in range(0, config.steps, max(1, config.steps // 100)):
        tracker.log({f"extrapolation/{e}/train_loss": curve[step] for e, curve in curves.items()},
                    step=step)
    tracker.log_table(
        "extrapolation/loss_by_length",
        ["seed", "encoding"] + [f"loss_{f}x_{config.train_len * f}"
                                for f in config.eval_factors]
        + [f"ratio_{max(config.eval_factors)}x_to_1x"], rows)

    setting = (f"{config.n_layers}-layer GPT, d = {config.d_model}, {config.n_heads} heads, "
               f"{config.steps} AdamW steps of {config.batch_size} × {config.train_len} "
               f"characters of tiny Shakespeare (seed {config.seed}; every encoding sees the "
               "same batches)")
    fig = _extrapolation_figure(rows, config)
    tracker.log_figure(
        "extrapolation/loss_vs_length", fig,
        f"Validation loss (nats per character) when evaluating at multiples of the training "
        f"length L = {config.train_len}, mean over {config.eval_windows} non-overlapping "
        f"windows per length and over all positions of each window. {setting}. Learned "
        "positions beyond L keep their random initialisation; Shaw's relative vectors are "
        f"clipped at ±{config.shaw_max_distance}; NoPE has only the causal mask.")
    fig = _position_loss_figure(per_position, config)
    tracker.log_figure(
        "extrapolation/loss_by_position", fig,
        f"Loss at each position of windows {max(lengths)} = {max(config.eval_factors)}L long "
        f"(mean over {config.eval_windows} validation windows, smoothed over "
        f"{max(1, config.train_len // 4)} positions). Positions left of the dashed line were "
        f"seen in training (L = {config.train_len}). {setting}.")
    return summary


class _OnDevice:
    """A corpus whose batches are moved to the model's device."""

    def __init__(self, corpus: Any, device: Any):
        self.corpus, self.device = corpus, device

    def batch(self, *args: Any) -> tuple[Any, Any]:
        inputs, targets = self.corpus.batch(*args)
        return inputs.to(self.device), targets.to(self.device)


def _extrapolation_figure(rows: list[list[Any]], config: ExtrapolationConfig) -> Any:
    from algorithms.plotting import PALETTE

    fig, ax = _new_figure(figsize=(6.6, 4.2))
    for i, row in enumerate(rows):
        ax.plot(config.eval_factors, row[2:2 + len(config.eval_factors)], marker="o",
                markersize=4, color=PALETTE[i % len(PALETTE)], label=row[1])
    ax.set(xscale="log", xlabel=f"evaluation length (multiples of L = {config.train_len})",
           ylabel="validation loss (nats / char)", title="Length extrapolation")
    ax.set_xticks(config.eval_factors)
    ax.set_xticklabels([f"{f}L" for f in config.eval_factors])
    ax.xaxis.set_minor_formatter("")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def _position_loss_figure(per_position: dict[str, Any], config: ExtrapolationConfig) -> Any:
    import torch

    from algorithms.plotting import PALETTE

    fig, ax = _new_figure(figsize=(7.2, 4.2))
    width = max(1, config.train_len // 4)
    for i, (encoding, losses) in enumerate(per_position.items()):
        n = len(losses) // width * width
        smoothed = losses[:n].view(-1, width).mean(dim=1)
        centres = torch.arange(len(smoothed)) * width + (width - 1) / 2
        ax.plot(centres.tolist(), smoothed.tolist(), color=PALETTE[i % len(PALETTE)],
                label=ENCODING_LABELS[encoding])
    ax.axvline(config.train_len, color="black", linestyle="--", linewidth=1)
    ax.text(config.train_len, ax.get_ylim()[1], " ← trained on positions < L", va="top",
            fontsize=8)
    ax.set(xlabel="position in the window", ylabel="loss (nats / char)",
           title="Where extrapolation fails")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


# ----------------------------------------------------------------------------- analysis

class AnalysisConfig(ExperimentConfig):
    positional: str = "rope"
    train_len: int = 64
    d_model: int = 64
    n_layers: int = 3
    n_heads: int = 4
    steps: int = 400
    batch_size: int = 32
    lr: float = 3e-3
    eval_batches: int = 4
    map_len: int = 32
    random_orders: int = 6
    device: str = "cpu"
    threads: int = 1  # intra-op threads (0: PyTorch's default); see _with_threads
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"train_len": 16, "d_model": 16, "n_layers": 2, "n_heads": 2, "steps": 12,
                  "batch_size": 8, "eval_batches": 2, "map_len": 12, "random_orders": 2},
        "gpu": {"train_len": 256, "d_model": 256, "n_layers": 6, "n_heads": 8, "steps": 3000,
                "batch_size": 64, "lr": 1e-3, "eval_batches": 16, "map_len": 64,
                "device": "auto", "threads": 0},
    }


@experiment(week=3, name="analysis", covers=(3,), config=AnalysisConfig,
            units={"*.loss": "nats", "*entropy*": "nats", "*distance*": "tokens",
                   "*heads*": "heads"})
@_with_threads
def analysis(config: AnalysisConfig, tracker: Tracker) -> dict[str, float]:
    """Attention maps, per-head entropy and distance, head importance and pruning of a small GPT."""
    import torch

    from algorithms.attention.analysis import (
        ablation_deltas,
        head_importance,
        head_statistics,
        pruning_curve,
    )
    from algorithms.attention.model import CharCorpus, GPTConfig, TinyGPT, train

    device = _device(config.device)
    torch.manual_seed(config.seed)
    corpus = CharCorpus.shakespeare()
    model = TinyGPT(GPTConfig(corpus.vocab_size, config.d_model, config.n_layers,
                              config.n_heads, positional=config.positional,
                              max_len=config.train_len)).to(device)
    generator = torch.Generator().manual_seed(config.seed)
    losses = train(model, _OnDevice(corpus, device), config.steps, config.batch_size,
                   config.train_len, config.lr, generator)
    for step in range(0, config.steps, max(1, config.steps // 100)):
        tracker.log({"analysis/train_loss": losses[step]}, step=step)

    inputs, targets = (t.to(device) for t in corpus.windows(
        "val", config.train_len, config.eval_batches * config.batch_size))
    batches = list(zip(inputs.split(config.batch_size), targets.split(config.batch_size)))
    stats = {key: value.cpu() for key, value in head_statistics(model, inputs).items()}
    importance = head_importance(model, batches).cpu()
    deltas = ablation_deltas(model, batches)
    heads = [(layer, head) for layer in range(config.n_layers) for head in range(config.n_heads)]

    by_importance = sorted(heads, key=lambda h: float(importance[h]))
    by_entropy = sorted(heads, key=lambda h: -float(stats["entropy"][h]))  # most diffuse first
    order_generator = torch.Generator().manual_seed(config.seed)
    curves = {"importance": pruning_curve(model, batches, by_importance),
              "reverse": pruning_curve(model, batches, by_importance[::-1]),
              "entropy": pruning_curve(model, batches, by_entropy)}
    random_curves = [pruning_curve(model, batches,
                                   [heads[i] for i in torch.randperm(len(heads),
                                                                     generator=order_generator)])
                     for _ in range(config.random_orders)]

    tracker.log_table(
        "analysis/heads", ["layer", "head", "entropy_nats", "uniform_entropy_nats",
                           "mean_distance", "importance", "ablation_loss_change",
                           "importance_rank"],
        [[layer, head, round(float(stats["entropy"][layer, head]), 4),
          round(float(stats["uniform_entropy"][layer, head]), 4),
          round(float(stats["distance"][layer, head]), 3),
          round(float(importance[layer, head]), 5), round(float(deltas[layer, head]), 5),
          by_importance[::-1].index((layer, head)) + 1] for layer, head in heads])
    n = len(heads)
    random_mean = [sum(c[i] for c in random_curves) / len(random_curves) for i in range(n + 1)]
    tracker.log_table(
        "analysis/pruning", ["heads_pruned", "importance_order", "reverse_order",
                             "entropy_order", "random_order_mean"],
        [[i, round(curves["importance"][i], 4), round(curves["reverse"][i], 4),
          round(curves["entropy"][i], 4), round(random_mean[i], 4)] for i in range(n + 1)])

    base = curves["importance"][0]
    half = n // 2
    within = max(i for i in range(n + 1) if curves["importance"][i] <= base + 0.05)
    summary = {
        "analysis.loss.unpruned": base,
        "analysis.prune_half.importance.loss": curves["importance"][half],
        "analysis.prune_half.random.loss": random_mean[half],
        "analysis.prune_half.reverse.loss": curves["reverse"][half],
        "analysis.prune_half.entropy.loss": curves["entropy"][half],
        "analysis.prune_all.loss": curves["importance"][n],
        "analysis.heads_prunable_within_005_nats": float(within),
        "analysis.heads_total": float(n),
        "analysis.importance_vs_ablation.spearman": _spearman(importance.flatten().tolist(),
                                                              deltas.flatten().tolist()),
    }
    for layer in range(config.n_layers):
        summary[f"analysis.layer{layer}.mean_entropy"] = float(stats["entropy"][layer].mean())
        summary[f"analysis.layer{layer}.mean_distance"] = float(stats["distance"][layer].mean())

    setting = (f"{config.n_layers}-layer, {config.n_heads}-head GPT with "
               f"{ENCODING_LABELS[config.positional]}, d = {config.d_model}, trained "
               f"{config.steps} steps on tiny Shakespeare at L = {config.train_len} "
               f"(seed {config.seed}; final training loss "
               f"{sum(losses[-20:]) / len(losses[-20:]):.3f} nats)")
    sample = inputs[0, :config.map_len]
    with torch.no_grad():
        _, weights = model(sample[None], need_weights=True)
    text = [corpus.chars[int(i)] for i in sample]
    tracker.log_figure(
        "analysis/attention_maps", _attention_maps_figure([w[0].cpu() for w in weights], text,
                                                          stats),
        f"Attention weights of every layer (rows) and head (columns) on the first "
        f"{config.map_len} characters of a validation window (query = row, key = column; "
        "'␣' is a space, '⏎' a newline); colour is the weight on a square-root scale. Panel "
        f"titles give the head's mean entropy H and mean attention distance d over "
        f"{len(inputs)} validation windows of {config.train_len}. {setting}.")
    tracker.log_figure(
        "analysis/entropy_distance", _entropy_figure(stats, importance),
        f"Left: mean entropy of each head's attention distribution (bars) against the entropy "
        f"of uniform causal attention over the same windows (dashed); low entropy = focused "
        "heads. Right: mean attention distance against entropy, marker size proportional to "
        f"the head's importance (Michel et al. 2019: E|∂L/∂ξ_h|). {setting}.")
    tracker.log_figure(
        "analysis/pruning", _pruning_figure(curves, random_curves),
        f"Validation loss as heads are removed one at a time (output gated to 0) in four "
        "orders: least important first (importance = E|∂L/∂ξ_h| on "
        f"{len(inputs)} validation windows, Michel et al. 2019), most important first, most "
        f"diffuse (highest entropy) first, and random (mean and range of {config.random_orders} "
        f"orders). {setting}.")
    return summary


def _spearman(x: list[float], y: list[float]) -> float:
    def ranks(values: list[float]) -> list[float]:
        order = sorted(range(len(values)), key=values.__getitem__)
        result = [0.0] * len(values)
        for rank, i in enumerate(order):
            result[i] = float(rank)
        return result

    rx, ry = ranks(x), ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    norm = math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))
    return cov / norm if norm else 0.0


def _attention_maps_figure(weights: list[Any], text: list[str], stats: dict[str, Any]) -> Any:
    import matplotlib
    import numpy as np
    from matplotlib.colors import PowerNorm

    cmap = matplotlib.colormaps["magma"].with_extremes(bad="#e8e8e8")  # grey: masked keys

    layers, heads = len(weights), weights[0].shape[0]
    labels = [{" ": "␣", "\n": "⏎"}.get(c, c) for c in text]
    size = 2.6 if len(text) > 24 else 1.8
    fig, axes = _new_figure(layers, heads, squeeze=False,
                            figsize=(size * heads + 0.8, size * layers + 0.3))
    image = None
    for layer in range(layers):
        for head in range(heads):
            ax = axes[layer, head]
            values = weights[layer][head].numpy()
            future = np.triu(np.ones_like(values, dtype=bool), k=1)
            image = ax.imshow(np.ma.masked_array(values, future), norm=PowerNorm(0.5, 0.0, 1.0),
                              cmap=cmap)
            ax.grid(False)
            entropy = float(stats["entropy"][layer, head])
            distance = float(stats["distance"][layer, head])
            ax.set_title(f"layer {layer}, head {head}\nH = {entropy:.2f} nats, d = {distance:.1f}",
                         fontsize=8)
            ticks = range(len(labels))
            ax.set_xticks(ticks, labels if layer == layers - 1 else [""] * len(labels),
                          fontsize=5.5, fontfamily="monospace")
            ax.set_yticks(ticks, labels if head == 0 else [""] * len(labels), fontsize=5.5,
                          fontfamily="monospace")
            ax.tick_params(length=0, pad=1)
    fig.colorbar(image, ax=axes, label="attention weight", shrink=0.6)
    fig.suptitle("Attention maps (query ↓, key →; grey: masked future)")
    return fig


def _entropy_figure(stats: dict[str, Any], importance: Any) -> Any:
    from algorithms.plotting import PALETTE

    layers, heads = stats["entropy"].shape
    fig, (left, right) = _new_figure(1, 2, figsize=(10, 3.8))
    width = 0.8 / heads
    for head in range(heads):
        left.bar([layer + (head - (heads - 1) / 2) * width for layer in range(layers)],
                 stats["entropy"][:, head].tolist(), width=width * 0.95,
                 color=PALETTE[head % 7], label=f"head {head}")
    left.axhline(float(stats["uniform_entropy"][0, 0]), color="black", linestyle="--",
                 linewidth=1, label="uniform attention")
    left.set(xticks=range(layers), xticklabels=[f"layer {i}" for i in range(layers)],
             ylabel="mean entropy (nats)", title="Per-head attention entropy",
             ylim=(0, 1.3 * float(stats["uniform_entropy"][0, 0])))
    left.legend(fontsize=7.5, ncols=3, loc="upper left")
    scale = 300 / max(float(importance.max()), 1e-12)
    for layer in range(layers):
        right.scatter(stats["entropy"][layer].tolist(), stats["distance"][layer].tolist(),
                      s=(importance[layer] * scale + 8).tolist(), color=PALETTE[layer % 7],
                      alpha=0.75, label=f"layer {layer}", edgecolor="white")
        for head in range(heads):
            right.annotate(f"{layer}.{head}", (float(stats["entropy"][layer, head]),
                                               float(stats["distance"][layer, head])),
                           fontsize=7, xytext=(4, 3), textcoords="offset points")
    right.set(xlabel="mean entropy (nats)", ylabel="mean attention distance (tokens)",
              title="Focus vs reach (size = importance)")
    right.legend(fontsize=8)
    return fig


def _pruning_figure(curves: dict[str, list[float]], random_curves: list[list[float]]) -> Any:
    import numpy as np

    fig, ax = _new_figure(figsize=(6.6, 4.2))
    x = np.arange(len(curves["importance"]))
    randoms = np.array(random_curves)
    ax.fill_between(x, randoms.min(axis=0), randoms.max(axis=0), color="grey", alpha=0.2)
    ax.plot(x, randoms.mean(axis=0), color="grey", label="random order (mean, range)")
    ax.plot(x, curves["importance"], marker="o", markersize=3.5,
            label="least important first")
    ax.plot(x, curves["reverse"], marker="s", markersize=3.5, label="most important first")
    ax.plot(x, curves["entropy"], marker="^", markersize=3.5, label="highest entropy first")
    ax.axhline(curves["importance"][0], color="black", linestyle=":", linewidth=1,
               label="all heads")
    ax.set(xlabel="heads removed", ylabel="validation loss (nats / char)",
           title="Head pruning")
    ax.set_xticks(x)
    ax.legend(fontsize=8)
    return fig
