"""Week 2's figures, drawn from what the experiments computed: compression against vocabulary
size, per-language heatmaps, vocabulary efficiency, Zipf plots and token premiums. Drawing only;
every figure uses :func:`algorithms.plotting.figure`.

One style across figures: colour = algorithm (BPE, WordPiece, Unigram), line style = source
(solid forge, dashed HF ``tokenizers``, dotted SentencePiece).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.colors import LogNorm, TwoSlopeNorm
from matplotlib.ticker import FuncFormatter

from algorithms.plotting import figure
from algorithms.tokenization import corpora
from algorithms.tokenization.references import LABELS

DOMAIN_TITLES = {"prose": "English prose", "code": "Python code", "science": "arXiv abstracts",
                 "udhr_mean": "UDHR, mean over languages"}
_FAMILY_COLOUR = {"bpe": "#0072B2", "wordpiece": "#D55E00", "unigram": "#009E73"}
_SOURCE_STYLE = {"forge": "-", "hf": "--", "spm": ":"}


def _style(method: str) -> dict[str, Any]:
    source, family = method.split("_", 1)
    return {"color": _FAMILY_COLOUR[family], "linestyle": _SOURCE_STYLE[source],
            "label": LABELS[method], "marker": "o", "markersize": 3.5,
            "linewidth": 2.0 if source == "forge" else 1.4}


def _ink(image: Any, value: float) -> str:
    """Black or white, whichever reads better on the colour ``value`` has in ``image``."""
    red, green, blue, _ = image.cmap(image.norm(value))
    return "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"


def _language_axes(ax: Any, codes: Sequence[str], methods: Sequence[str]) -> None:
    """Languages (with their script) along x, tokenizers along y."""
    ax.grid(False)
    ax.set_xticks(range(len(codes)), [f"{c}\n{corpora.LANGUAGES[c].script}" for c in codes],
                  fontsize=7.5)
    ax.set_yticks(range(len(methods)), [LABELS[m] for m in methods])


def _heatmap_figsize(codes: Sequence[str], methods: Sequence[str]) -> tuple[float, float]:
    return 0.55 * len(codes) + 2.6, 0.42 * len(methods) + 1.6


# ----------------------------------------------------------------------------- merge-strategies

def strategy_curves(sizes: Sequence[int], curves: dict[str, dict[str, list[float]]]) -> Any:
    """``curves[strategy][domain]``: bytes per token at each vocabulary size, a panel per domain."""
    domains = list(next(iter(curves.values())))
    fig, axes = figure(1, len(domains), sharey=True, figsize=(4.0 * len(domains), 3.4),
                       squeeze=False)
    axes = axes[0]
    for ax, name in zip(axes, domains):
        for strategy, colour in (("frequency", "#0072B2"), ("likelihood", "#D55E00")):
            ax.plot(sizes, curves[strategy][name], marker="o", markersize=4, color=colour,
                    label=f"{strategy} merges")
        ax.set(title=DOMAIN_TITLES[name], xscale="log", xlabel="vocabulary size",
               xticks=list(sizes), xticklabels=[f"{v:,}" for v in sizes])
        ax.minorticks_off()
    axes[0].set_ylabel("bytes per token (held out)")
    axes[0].legend(loc="upper left")
    fig.suptitle("Byte-level BPE: frequency vs likelihood (PMI) merges")
    return fig


def dropout_curves(ps: Sequence[float], curves: dict[str, list[float]]) -> Any:
    """``curves[domain]``: bytes per token at each dropout probability p."""
    fig, ax = figure(figsize=(5.2, 3.6))
    for name, values in curves.items():
        ax.plot(ps, values, marker="o", markersize=4, label=DOMAIN_TITLES[name])
    ax.axhline(1.0, color="black", linestyle=":", linewidth=1, label="single bytes (p = 1)")
    ax.set(xlabel="dropout probability p", ylabel="bytes per token (held out)",
           title="BPE-dropout: shorter tokens as p grows", ylim=(0, None))
    ax.legend()
    return fig


# ----------------------------------------------------------------------------- compression

def vocab_curves(sizes: Sequence[int], curves: dict[str, dict[str, list[float]]]) -> Any:
    """``curves[panel][method]``: bytes per token at each vocabulary size, a panel per text."""
    fig, axes = figure(1, len(curves), figsize=(3.6 * len(curves), 3.6), squeeze=False)
    axes = axes[0]
    for ax, (panel, by_method) in zip(axes, curves.items()):
        for method, values in by_method.items():
            ax.plot(sizes, values, **_style(method))
        ax.set(title=DOMAIN_TITLES[panel], xscale="log", xlabel="vocabulary size",
               xticks=list(sizes), xticklabels=[f"{v // 1000}k" if v >= 1000 else str(v)
                                                for v in sizes])
        ax.minorticks_off()
    axes[0].set_ylabel("bytes per token (held out)")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper")
    return fig


def language_heatmap(grid: np.ndarray, unknown: np.ndarray, methods: Sequence[str],
                     codes: Sequence[str], size: int, label: str, log: bool = False) -> Any:
    """``grid[method, language]`` as colours and numbers; cells with ``unknown`` starred."""
    fig, ax = figure(figsize=_heatmap_figsize(codes, methods))
    image = ax.imshow(grid, aspect="auto", cmap="viridis", norm=LogNorm() if log else None)
    _language_axes(ax, codes, methods)
    for (i, j), value in np.ndenumerate(grid):
        ax.text(j, i, f"{value:.1f}" + ("*" if unknown[i, j] else ""), ha="center", va="center",
                fontsize=6.5, color=_ink(image, value))
    bar = fig.colorbar(image, ax=ax, label=label + (" (log scale)" if log else ""), shrink=0.9,
                       pad=0.01)
    if log:
        ticks = [t for t in (1, 2, 5, 10, 20, 50, 100) if grid.min() <= t <= grid.max()]
        bar.set_ticks(ticks, labels=[f"{t:g}" for t in ticks])
        bar.ax.minorticks_off()
    ax.set_title(f"{label[0].upper() + label[1:]} per language (UDHR, vocabulary {size:,})")
    return fig


# ----------------------------------------------------------------------------- vocabulary

VOCABULARY_PANELS = (  # (metric, title, y label)
    ("unk_rate", "(a) unknown-token rate", "share of tokens that are unknown"),
    ("used_share", "(b) vocabulary used on held-out text", "share of the vocabulary"),
    ("bits_per_byte", "(c) unigram code length per byte", "bits per byte"),
    ("renyi_efficiency", "(d) Rényi efficiency, α = 2.5", r"$H_{2.5}(p)\,/\,\log_2|V|$"),
)


def vocabulary_panels(sizes: Sequence[int], series: dict[str, dict[str, list[float]]]) -> Any:
    """``series[metric][method]`` at each vocabulary size, the four metrics of
    ``VOCABULARY_PANELS`` in a 2 × 2 grid."""
    fig, axes = figure(2, 2, figsize=(9.6, 6.8))
    for ax, (metric, title, ylabel) in zip(axes.flat, VOCABULARY_PANELS):
        for method, values in series[metric].items():
            ax.plot(sizes, values, **_style(method))
        ax.set(title=title, ylabel=ylabel, xscale="log", xlabel="vocabulary size")
        ax.set_xticks(sizes, [f"{v:,}" for v in sizes])
        ax.minorticks_off()
    fig.legend(*axes.flat[0].get_legend_handles_labels(), loc="outside right upper")
    return fig


def zipf(ranked: dict[str, np.ndarray], exponents: dict[str, float], size: int) -> Any:
    """Token counts by rank (``ranked[method]``, descending), log–log, with each fitted slope."""
    fig, ax = figure(figsize=(6.4, 4.4))
    for method, counts in ranked.items():
        style = _style(method) | {"marker": None,
                                  "label": f"{LABELS[method]} (s = {exponents[method]:.2f})"}
        ax.plot(np.arange(1, len(counts) + 1), counts, **style)
    ax.set(xscale="log", yscale="log", xlabel="rank r", ylabel="count f(r)",
           title=f"Token rank-frequency, vocabulary {size:,}")
    ax.legend(fontsize=8)
    return fig


# ----------------------------------------------------------------------------- fairness

def _plain_formatter() -> Any:
    return FuncFormatter(lambda y, _: f"{y:g}")


def premium_bars(codes: Sequence[str], byte_premium: dict[str, float],
                 english: dict[str, float] | None, multilingual: dict[str, float] | None) -> Any:
    """forge BPE's premium per language (``codes``, in order) when trained on English only and
    on the multilingual mix, as bars; the byte premium as diamonds."""
    bars = [(premiums, colour, label) for premiums, colour, label in (
        (english, "#D55E00", "forge BPE, English-only training"),
        (multilingual, "#0072B2", "forge BPE, multilingual training")) if premiums]
    fig, ax = figure(figsize=(max(6.0, 0.42 * len(codes) + 1.5), 4.2))
    x = np.arange(len(codes))
    width = 0.8 / max(1, len(bars))
    for k, (premiums, colour, label) in enumerate(bars):
        ax.bar(x + (k - (len(bars) - 1) / 2) * width, [premiums[c] for c in codes], width,
               color=colour, label=label)
    ax.scatter(x, [byte_premium[c] for c in codes], marker="D", s=16, color="black", zorder=3,
               label="byte premium (UTF-8 bytes ÷ English bytes)")
    ax.axhline(1.0, color="black", linestyle="--", linewidth=1)
    ax.set(yscale="log", ylabel="tokens ÷ English tokens",
           title="Token premium relative to English (UDHR Articles 20–30)")
    ax.set_xticks(x, [f"{c}\n{corpora.LANGUAGES[c].script}" for c in codes], fontsize=7.5)
    ax.yaxis.set_major_formatter(_plain_formatter())
    ax.yaxis.set_minor_formatter(_plain_formatter())
    ax.legend(loc="upper left")
    return fig


def premium_heatmap(grid: np.ndarray, unknown: np.ndarray, methods: Sequence[str],
                    codes: Sequence[str]) -> Any:
    """``grid[method, language]`` premiums on a log colour scale centred on parity (1); cells
    with ``unknown`` starred and left out of the colour range."""
    fig, ax = figure(figsize=_heatmap_figsize(codes, methods))
    # log colour scale centred on parity: as red for 2× as blue for ½×
    clean = grid[~unknown] if (~unknown).any() else grid  # [UNK]s would set the scale
    spread = max(clean.max(), 1 / clean.min(), 1.01)
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-np.log(spread), vmax=np.log(spread))
    image = ax.imshow(np.log(grid), aspect="auto", cmap="RdBu_r", norm=norm)
    _language_axes(ax, codes, methods)
    for (i, j), value in np.ndenumerate(grid):
        ax.text(j, i, f"{value:.1f}" + ("*" if unknown[i, j] else ""), ha="center", va="center",
                fontsize=6.5,
                color="white" if abs(np.log(value)) > 0.6 * np.log(spread) else "black")
    bar = fig.colorbar(image, ax=ax, shrink=0.9, pad=0.01, label="premium (log scale)")
    ticks = [t for t in (0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 10)
             if 0.99 / spread <= t <= 1.01 * spread]
    bar.set_ticks(np.log(ticks), labels=[f"{t:g}" for t in ticks])
    ax.set_title("Token premium relative to English, multilingual training")
    return fig
