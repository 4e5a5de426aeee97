"""Figures and captions of week 3's trained-model studies: extrapolation and analysis.

Every function returns ``(figure, caption)`` for ``tracker.log_figure(key, *returned)``, drawn
from what the experiment computed; the caption states the model, its training and what was
averaged. Drawing only: nothing here trains or evaluates. Imported by the experiments at run
time (it imports matplotlib and torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
import torch
from matplotlib.colors import PowerNorm

from algorithms.attention.positional import ENCODING_LABELS
from algorithms.plotting import PALETTE, figure

if TYPE_CHECKING:
    from algorithms.weeks.week03.analysis import AnalysisConfig
    from algorithms.weeks.week03.extrapolation import ExtrapolationConfig

Captioned = tuple[Any, str]


# ----------------------------------------------------------------------------- extrapolation

def _extrapolation_setting(config: ExtrapolationConfig) -> str:
    return (f"{config.n_layers}-layer GPT, d = {config.d_model}, {config.n_heads} heads, "
            f"{config.steps} AdamW steps of {config.batch_size} × {config.train_len} "
            f"characters of tiny Shakespeare (seed {config.seed}; every encoding sees the "
            "same batches)")


def extrapolation_loss_vs_length(losses: dict[str, dict[int, float]],
                                 config: ExtrapolationConfig) -> Captioned:
    """Validation loss against the evaluation length, one line per encoding;
    ``losses[encoding][factor]`` is the loss at ``factor × train_len``."""
    fig, ax = figure(figsize=(6.6, 4.2))
    for i, (encoding, by_factor) in enumerate(losses.items()):
        ax.plot(config.eval_factors, [by_factor[f] for f in config.eval_factors], marker="o",
                markersize=4, color=PALETTE[i % len(PALETTE)], label=ENCODING_LABELS[encoding])
    ax.set(xscale="log", xlabel=f"evaluation length (multiples of L = {config.train_len})",
           ylabel="validation loss (nats / char)", title="Length extrapolation")
    ax.set_xticks(config.eval_factors)
    ax.set_xticklabels([f"{f}L" for f in config.eval_factors])
    ax.xaxis.set_minor_formatter("")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    caption = (
        f"Validation loss (nats per character) when evaluating at multiples of the training "
        f"length L = {config.train_len}, mean over {config.eval_windows} non-overlapping "
        f"windows per length and over all positions of each window. "
        f"{_extrapolation_setting(config)}. Learned positions beyond L keep their random "
        f"initialisation; Shaw's relative vectors are clipped at ±{config.shaw_max_distance}; "
        "NoPE has only the causal mask.")
    return fig, caption


def extrapolation_loss_by_position(per_position: dict[str, torch.Tensor],
                                   config: ExtrapolationConfig) -> Captioned:
    """Loss at each position of the longest windows (smoothed over L/4), one line per
    encoding; ``per_position[encoding]`` is the mean loss per position."""
    width = max(1, config.train_len // 4)
    longest = max(config.eval_factors)
    fig, ax = figure(figsize=(7.2, 4.2))
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
    caption = (
        f"Loss at each position of windows {config.train_len * longest} = {longest}L long "
        f"(mean over {config.eval_windows} validation windows, smoothed over {width} "
        f"positions). Positions left of the dashed line were seen in training "
        f"(L = {config.train_len}). {_extrapolation_setting(config)}.")
    return fig, caption


# ----------------------------------------------------------------------------- analysis

def _analysis_setting(config: AnalysisConfig, final_loss: float) -> str:
    return (f"{config.n_layers}-layer, {config.n_heads}-head GPT with "
            f"{ENCODING_LABELS[config.positional]}, d = {config.d_model}, trained "
            f"{config.steps} steps on tiny Shakespeare at L = {config.train_len} "
            f"(seed {config.seed}; final training loss {final_loss:.3f} nats)")


def attention_maps(weights: list[torch.Tensor], text: list[str], stats: dict[str, torch.Tensor],
                   windows: int, final_loss: float, config: AnalysisConfig) -> Captioned:
    """Every layer's (rows) and head's (columns) attention weights ``(h, L, L)`` on ``text``,
    titled with the head's mean entropy and distance from ``stats``."""
    cmap = matplotlib.colormaps["magma"].with_extremes(bad="#e8e8e8")  # grey: masked keys
    layers, heads = len(weights), weights[0].shape[0]
    labels = [{" ": "␣", "\n": "⏎"}.get(c, c) for c in text]
    size = 2.6 if len(text) > 24 else 1.8
    fig, axes = figure(layers, heads, squeeze=False,
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
    caption = (
        f"Attention weights of every layer (rows) and head (columns) on the first "
        f"{len(text)} characters of a validation window (query = row, key = column; "
        "'␣' is a space, '⏎' a newline); colour is the weight on a square-root scale. Panel "
        f"titles give the head's mean entropy H and mean attention distance d over {windows} "
        f"validation windows of {config.train_len}. {_analysis_setting(config, final_loss)}.")
    return fig, caption


def entropy_distance(stats: dict[str, torch.Tensor], importance: torch.Tensor,
                     final_loss: float, config: AnalysisConfig) -> Captioned:
    """Per-head entropy bars against uniform attention (left); distance against entropy, sized
    by importance (right)."""
    layers, heads = stats["entropy"].shape
    uniform = float(stats["uniform_entropy"][0, 0])
    fig, (left, right) = figure(1, 2, figsize=(10, 3.8))
    width = 0.8 / heads
    for head in range(heads):
        left.bar([layer + (head - (heads - 1) / 2) * width for layer in range(layers)],
                 stats["entropy"][:, head].tolist(), width=width * 0.95,
                 color=PALETTE[head % 7], label=f"head {head}")
    left.axhline(uniform, color="black", linestyle="--", linewidth=1, label="uniform attention")
    left.set(xticks=range(layers), xticklabels=[f"layer {i}" for i in range(layers)],
             ylabel="mean entropy (nats)", title="Per-head attention entropy",
             ylim=(0, 1.3 * uniform))
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
    caption = (
        "Left: mean entropy of each head's attention distribution (bars) against the entropy "
        "of uniform causal attention over the same windows (dashed); low entropy = focused "
        "heads. Right: mean attention distance against entropy, marker size proportional to "
        "the head's importance (Michel et al. 2019: E|∂L/∂ξ_h|). "
        f"{_analysis_setting(config, final_loss)}.")
    return fig, caption


def pruning_curves(curves: dict[str, list[float]], random_curves: list[list[float]],
                   windows: int, final_loss: float, config: AnalysisConfig) -> Captioned:
    """Validation loss against the number of heads removed, for each pruning order."""
    fig, ax = figure(figsize=(6.6, 4.2))
    x = np.arange(len(curves["importance"]))
    randoms = np.array(random_curves)
    ax.fill_between(x, randoms.min(axis=0), randoms.max(axis=0), color="grey", alpha=0.2)
    ax.plot(x, randoms.mean(axis=0), color="grey", label="random order (mean, range)")
    ax.plot(x, curves["importance"], marker="o", markersize=3.5, label="least important first")
    ax.plot(x, curves["reverse"], marker="s", markersize=3.5, label="most important first")
    ax.plot(x, curves["entropy"], marker="^", markersize=3.5, label="highest entropy first")
    ax.axhline(curves["importance"][0], color="black", linestyle=":", linewidth=1,
               label="all heads")
    ax.set(xlabel="heads removed", ylabel="validation loss (nats / char)", title="Head pruning")
    ax.set_xticks(x)
    ax.legend(fontsize=8)
    caption = (
        "Validation loss as heads are removed one at a time (output gated to 0) in four "
        f"orders: least important first (importance = E|∂L/∂ξ_h| on {windows} validation "
        "windows, Michel et al. 2019), most important first, most diffuse (highest entropy) "
        f"first, and random (mean and range of {config.random_orders} orders). "
        f"{_analysis_setting(config, final_loss)}.")
    return fig, caption
