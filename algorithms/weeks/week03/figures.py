"""Figures and captions of week 3's kernel studies: speed-memory, approximation, kv-cache.

Every function returns ``(figure, caption)`` for ``tracker.log_figure(key, *returned)``, drawn
from what the experiment computed; the caption states the setting the numbers come from.
Drawing only: nothing here measures. The figures of the trained-model studies (extrapolation,
analysis) are in ``model_figures.py``. Imported by the experiments at run time (it imports
matplotlib).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.ticker import FuncFormatter, NullFormatter

from algorithms.plotting import PALETTE, figure

if TYPE_CHECKING:
    from algorithms.weeks.week03.approximation import ApproximationConfig
    from algorithms.weeks.week03.kv_cache import KVCacheConfig
    from algorithms.weeks.week03.speed_memory import SpeedMemoryConfig

Captioned = tuple[Any, str]


def tidy_log_axes(ax: Any, x_ticks: Any = None) -> None:
    """Log axes labelled with plain numbers: x ticks at the measured values (when given), y
    ticks at powers of ten, plus the 2× and 5× minor ticks when the axis spans few decades."""
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


# ----------------------------------------------------------------------------- speed-memory

FAMILY_TITLES = {"dense": "Quadratic (L × L materialised)", "exact-tiled": "Exact, tiled",
                 "sparse": "Sparse / local (exact on pattern)", "linear": "Linear approximations"}
PASS_NAMES = {"forward_backward": "forward + backward", "forward": "forward only"}


def _speed_setting(config: SpeedMemoryConfig, device: Any) -> str:
    from algorithms.attention.profiling import describe_device

    return (f"{describe_device(device)}; batch {config.batch}, {config.heads} query heads, "
            f"head dim {config.head_dim}, bidirectional (no mask), float32")


def speed_memory_by_length(results: dict[str, dict[int, Any]], pass_name: str,
                           config: SpeedMemoryConfig, device: Any) -> Captioned:
    """Time (top) and peak memory (bottom) against L, one column per family of variants;
    ``pass_name`` is ``"forward_backward"`` or ``"forward"``."""
    from algorithms.attention.variants import VARIANTS

    time_key, memory_key, label = f"{pass_name}_ms", f"{pass_name}_mib", PASS_NAMES[pass_name]
    families = [f for f in FAMILY_TITLES if any(VARIANTS[n].family == f for n in results)]
    fig, axes = figure(2, len(families), squeeze=False, figsize=(3.6 * len(families), 6.4),
                       sharex=True)
    markers = "osD^v"
    lengths = sorted({n for r in results.values() for n in r})
    for column, family in enumerate(families):
        members = [n for n in results if VARIANTS[n].family == family and results[n]]
        for row, key in enumerate((time_key, memory_key)):
            ax = axes[row, column]
            if results.get("sdpa"):
                ref = results["sdpa"]
                ax.plot(list(ref), [getattr(m, key) for m in ref.values()], color="black",
                        linestyle="--", linewidth=1.3, label="PyTorch SDPA")
            for i, name in enumerate(members):
                values = results[name]
                ax.plot(list(values), [max(getattr(m, key), 1e-3) for m in values.values()],
                        color=PALETTE[i % 7], marker=markers[i % len(markers)], markersize=3.5,
                        label=VARIANTS[name].label)
            ax.set(xscale="log", yscale="log")
            tidy_log_axes(ax, lengths)
            ax.tick_params(axis="x", labelrotation=45)
            if row == 0:
                ax.set_title(FAMILY_TITLES[family], fontsize=10)
                ax.legend(loc="upper left", fontsize=7.5)
            else:
                ax.set_xlabel("sequence length L")
            if column == 0:
                ax.set_ylabel(f"{label}: time (ms)" if row == 0
                              else f"{label}: peak memory (MiB)")
    memory_how = ("torch.cuda.max_memory_allocated above the inputs" if device.type == "cuda"
                  else "live-tensor accounting: every tensor an ATen op returns (forward and "
                       "backward, saved activations included) counted until freed, via a "
                       "TorchDispatchMode; scratch buffers inside a fused kernel are not seen; "
                       "tracemalloc cannot see torch's allocator")
    caption = (
        f"Attention variants vs sequence length, {label} ({_speed_setting(config, device)}). "
        f"Top: wall time, best of up to {config.max_repeats} runs after a warm-up. Bottom: "
        f"peak memory above the inputs, measured by {memory_how}. Panels group the variants by "
        "family; PyTorch's fused scaled_dot_product_attention (black, dashed) is in every "
        f"panel. MQA/GQA use 1/2 key-value heads for the {config.heads} query heads. Log–log "
        "axes: slope 2 is quadratic.")
    return fig, caption


def speed_memory_ratio_to_sdpa(results: dict[str, dict[int, Any]], config: SpeedMemoryConfig,
                               device: Any) -> Captioned:
    """Heat map of each variant's forward + backward time over SDPA's, per length."""
    from algorithms.attention.variants import VARIANTS

    lengths = sorted({n for r in results.values() for n in r})
    names = [n for n in results if n != "sdpa"]
    reference = results.get("sdpa", {})
    ratios = np.full((len(names), len(lengths)), np.nan)
    for i, name in enumerate(names):
        for j, length in enumerate(lengths):
            if length in results[name] and length in reference:
                ratios[i, j] = (results[name][length].forward_backward_ms
                                / reference[length].forward_backward_ms)
    fig, ax = figure(figsize=(1.0 * len(lengths) + 3.2, 0.36 * len(names) + 1.4))
    limit = (max(2.0, float(np.nanmax(np.abs(np.log2(ratios)))))
             if np.isfinite(ratios).any() else 2.0)
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
    caption = (
        "Forward + backward time of each variant divided by PyTorch SDPA's at the same length "
        f"({_speed_setting(config, device)}); below 1 (blue) the variant is faster. Blank: not "
        f"run (additive beyond L = {config.additive_max_len}, over the "
        f"{config.time_limit_ms:g} ms limit at a shorter length, or out of memory).")
    return fig, caption


# ----------------------------------------------------------------------------- approximation

def approximation_error_vs_size(errors: dict[str, dict[float, dict[int, list[Any]]]],
                                config: ApproximationConfig) -> Captioned:
    """Output error (top) and attention TV distance (bottom) against Performer's features m
    (left) and Linformer's rank k (right), one line per logit scale."""
    fig, axes = figure(2, 2, figsize=(10.5, 7.2), sharex="col")
    titles = {"performer": "Performer (FAVOR+)", "linformer_pool": "Linformer, mean pooling"}
    for column, (method, per_std) in enumerate(errors.items()):
        performer = method == "performer"
        for std, per_size in per_std.items():
            sizes = np.array(list(per_size))
            for row in range(2):  # 0: output error, 1: TV distance
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
        axes[1, column].set_xlabel("random features m" if performer else "projected length k")
        for row in range(2):
            ax = axes[row, column]
            # Performer's error falls like a power of m: log-log; Linformer's reaches 0 at k = L
            ax.set(xscale="log", yscale="log" if performer else "linear")
            if not performer:
                ax.set_ylim(bottom=0)
                ax.axvline(config.seq_len, color="grey", linewidth=0.8, linestyle="--")
            tidy_log_axes(ax, config.features if performer else config.ranks)
    axes[0, 0].set_ylabel(r"output error $\|\hat{O} - O\|_F / \|O\|_F$")
    axes[1, 0].set_ylabel("attention TV distance")
    axes[0, 0].legend(fontsize=8)
    caption = (
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
    return fig, caption


# ----------------------------------------------------------------------------- kv-cache

def kv_cache_decode(measured: dict[str, dict[int, Any]], config: KVCacheConfig,
                    device: Any) -> Captioned:
    """Time per new token with and without the cache (left) and the cache's size (right)."""
    from algorithms.attention.profiling import describe_device
    from algorithms.weeks.week03.kv_cache import attention_name

    kv_heads = {attention_name(g, config.n_heads): g for g in config.kv_heads}
    fig, (left, right) = figure(1, 2, figsize=(10, 3.8))
    for i, (name, per_context) in enumerate(measured.items()):
        contexts, label, g = list(per_context), name.upper(), kv_heads[name]
        left.plot(contexts, [m.cached_ms for m in per_context.values()], marker="o",
                  markersize=4, color=PALETTE[i], label=f"{label} cached")
        left.plot(contexts, [m.recompute_ms for m in per_context.values()], marker="s",
                  markersize=4, color=PALETTE[i], linestyle="--", label=f"{label} recomputed")
        right.plot(contexts, [m.cache_mib for m in per_context.values()], marker="o",
                   markersize=4, color=PALETTE[i], label=f"{label} ({g} KV head{'s' * (g > 1)})")
    left.set(xscale="log", yscale="log", xlabel="context length T", ylabel="ms per new token",
             title="Decoding one token")
    right.set(xscale="log", yscale="log", xlabel="context length T", ylabel="MiB per layer",
              title="KV-cache size (K and V)")
    for ax in (left, right):
        tidy_log_axes(ax, config.contexts)
    left.legend(fontsize=7.5)
    right.legend(fontsize=8)
    agreement = max(m.max_abs_diff for per in measured.values() for m in per.values())
    caption = (
        f"One attention layer (d_model = {config.d_model}, {config.n_heads} query heads, "
        f"float32, {describe_device(device)}), decoding after a prompt of T tokens. Left: time "
        f"per new token with the KV cache (mean over {config.decode_steps} steps) and without "
        f"it (the whole prefix recomputed every step), best of {config.repeats} runs. Right: "
        "the cache's size, 2·T·g·d_head numbers for g key/value heads: GQA and MQA shrink it "
        f"by h/g. Cached and full outputs agree to {agreement:.1e}.")
    return fig, caption

