"""Week 5's figures, in forge's one style (``algorithms.plotting``); they only draw."""

from __future__ import annotations

from typing import Any

import numpy as np

from algorithms.plotting import PALETTE, figure, panel_grid


def loss_vs_lr(lrs: list[float], losses: dict[str, np.ndarray]) -> Any:
    """Final loss against the learning rate (log x): ``losses`` label → (seeds, lrs). Seeds as
    dots, the mean of the finite ones with its 95% interval; a cross where a seed diverged."""
    from algorithms.harness import mean_ci

    fig, ax = figure(figsize=(6.0, 3.8))
    lrs_arr = np.asarray(lrs, dtype=float)
    top = 0.0
    for i, (label, values) in enumerate(losses.items()):
        colour = PALETTE[i % len(PALETTE)]
        values = np.where(np.isfinite(values), values, np.nan)
        mean, half = mean_ci(values)
        shift = lrs_arr * (1 + 0.04 * (i - 1))  # side by side, not on top of each other
        for row in values:
            ax.scatter(shift, row, color=colour, alpha=0.35, s=12)
        ax.errorbar(shift, mean, yerr=half, color=colour, marker="o", capsize=3, label=label)
        top = max(top, float(np.nanmax(values)) if np.isfinite(values).any() else 0.0)
        for j in np.flatnonzero((~np.isfinite(values)).any(axis=0)):
            ax.scatter([shift[j]], [top], color=colour, marker="x", s=60)
    ax.set_xscale("log")
    ax.set(xlabel="peak learning rate", ylabel="final validation loss (nats / token)")
    ax.legend(loc="best")
    return fig


def grad_norm_by_layer(norms: dict[str, np.ndarray]) -> Any:
    """Gradient norm per block (x: block index from the embedding); label → (seeds, layers)."""
    from algorithms.harness import mean_ci

    fig, ax = figure(figsize=(6.0, 3.6))
    for i, (label, values) in enumerate(norms.items()):
        colour = PALETTE[i % len(PALETTE)]
        mean, half = mean_ci(values)
        layers = np.arange(values.shape[1])
        ax.plot(layers, mean, color=colour, marker="o", label=label)
        ax.fill_between(layers, mean - half, mean + half, color=colour, alpha=0.2, linewidth=0)
    ax.set_yscale("log")
    ax.set(xlabel="block (0 = next to the embedding)", ylabel="gradient norm (median over steps)")
    ax.legend(loc="best")
    return fig


def _steps(config: Any) -> list[tuple[str, str]]:
    """One block of ``config`` as (label, kind) boxes from the residual stream's input up."""
    mixer = {"attention": "causal self-attention" + (" + QK-norm" if config.qk_norm else ""),
             "mamba": "Mamba (selective SSM)", "mamba2": "Mamba-2 (SSD)",
             "retnet": "multi-scale retention"}[config.mixer]
    ffn = {"swiglu": "SwiGLU FFN", "geglu": "GeGLU FFN", "relu": "ReLU FFN",
           "gelu": "GELU FFN", "none": ""}[config.ffn]
    if config.n_experts:
        ffn = f"{config.n_experts} {ffn.split()[0]} experts, top-{config.moe_top_k}"
    norm = {"rmsnorm": "RMSNorm", "layernorm": "LayerNorm"}[config.norm]
    if config.norm_position == "none":
        norm = ""
    if config.block == "parallel":
        return [(norm, "norm"), (f"{mixer.split()[-1]} ‖ {ffn}", "mix"), ("+", "add")]
    out: list[tuple[str, str]] = []
    for sub, kind in ((mixer, "mix"), (ffn, "ffn")):
        if not sub:
            continue
        if config.norm_position == "pre" and norm:
            out += [(norm, "norm"), (sub, kind), ("+", "add")]
        else:
            out += [(sub, kind), ("+", "add")] + ([(norm, "norm")] if norm else [])
    return out


def architecture_diagram(configs: dict[str, Any]) -> Any:
    """One column per architecture: its block as a stack of boxes (norm, mixer, feed-forward,
    residual additions), drawn from the config itself, with the block count."""
    colours = {"norm": PALETTE[2], "mix": PALETTE[0], "ffn": PALETTE[1], "add": "#dddddd"}
    nrows, ncols = panel_grid(len(configs))
    fig, axes = figure(nrows, ncols, squeeze=False, figsize=(2.3 * ncols, 4.4 * nrows))
    for ax in axes.flat[len(configs):]:
        ax.set_visible(False)
    for ax, (label, config) in zip(axes.flat, configs.items()):
        boxes = [("token embedding", "add")] + _steps(config) + \
            ([("final " + ("RMSNorm" if config.norm == "rmsnorm" else "LayerNorm"), "norm")]
             if config.norm_position == "pre" else []) + [("linear → softmax", "add")]
        y = 0.0
        for i, (text, kind) in enumerate(boxes):
            height = 0.5 if kind == "add" else 0.8
            ax.add_patch(_box(0.1, y, 0.8, height, colours[kind]))
            ax.text(0.5, y + height / 2, text, ha="center", va="center", fontsize=7, wrap=True)
            if i:
                ax.annotate("", xy=(0.5, y), xytext=(0.5, y - 0.15),
                            arrowprops={"arrowstyle": "->", "lw": 0.8})
            y += height + 0.15
        block = len(_steps(config))
        first = 0.5 + 0.15
        span = sum((0.5 if k == "add" else 0.8) + 0.15 for _, k in boxes[1:1 + block])
        ax.plot([0.04, 0.04], [first, first + span - 0.15], color="black", lw=1)
        ax.text(0.0, first + span / 2, f"× {config.n_layers}", rotation=90, ha="right",
                va="center", fontsize=8)
        ax.set(xlim=(-0.12, 1.0), ylim=(-0.1, y), title=label)
        ax.axis("off")
    return fig


def _box(x: float, y: float, w: float, h: float, colour: str) -> Any:
    from matplotlib.patches import FancyBboxPatch

    return FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02", facecolor=colour,
                          edgecolor="black", linewidth=0.6, alpha=0.85)


def cost_vs_length(sweep: dict[str, dict[int, Any]], tokens: int) -> Any:
    """Three panels against sequence length (log x): training tokens/s, peak MiB and FLOPs per
    token; ``sweep`` label → length → a ``StepProfile``."""
    fig, axes = figure(1, 3, figsize=(11.0, 3.4))
    panels = (("training tokens / s", lambda p: tokens / (p.step_ms / 1000)),
              ("peak tensor memory (MiB)", lambda p: p.peak_mib),
              ("FLOPs per token (fwd + bwd)", lambda p: p.flops_per_token))
    for ax, (ylabel, value) in zip(axes, panels):
        for i, (label, by_length) in enumerate(sweep.items()):
            lengths = sorted(by_length)
            ax.plot(lengths, [value(by_length[n]) for n in lengths], marker="o",
                    color=PALETTE[i % len(PALETTE)], label=label)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set(xlabel="sequence length", ylabel=ylabel)
    axes[0].legend(loc="best", fontsize="small")
    return fig


def expert_load(loads: dict[str, np.ndarray]) -> Any:
    """Grouped bars: label → (seeds, experts) shares of the assignments, with 95% intervals."""
    from algorithms.harness import mean_ci

    fig, ax = figure(figsize=(6.0, 3.4))
    width = 0.8 / max(len(loads), 1)
    n = 1
    for i, (label, values) in enumerate(loads.items()):
        mean, half = mean_ci(values)
        n = len(mean)
        ax.bar(np.arange(n) + (i - (len(loads) - 1) / 2) * width, mean, width, yerr=half,
               color=PALETTE[i % len(PALETTE)], capsize=2, label=label)
    ax.axhline(1 / n, color="black", linestyle=":", linewidth=1.0)
    ax.set_xticks(np.arange(n), [f"expert {i}" for i in range(n)])
    ax.set(ylabel="share of assignments")
    ax.legend(loc="best", fontsize="small")
    return fig


def capacity_sweep(factors: list[float | None], dropped: np.ndarray, losses: np.ndarray) -> Any:
    """Dropped share and final loss (seeds × factors) against the capacity factor; the
    unlimited one (None) is drawn at the right edge."""
    from algorithms.harness import mean_ci

    finite = [f for f in factors if f is not None]
    right = (max(finite) * 1.6) if finite else 1.0
    xs = np.array([right if f is None else f for f in factors], dtype=float)
    fig, axes = figure(1, 2, figsize=(9.0, 3.4))
    for ax, values, ylabel in ((axes[0], dropped, "share of assignments dropped"),
                               (axes[1], losses, "final validation loss (nats / token)")):
        mean, half = mean_ci(values)
        ax.errorbar(xs, mean, yerr=half, marker="o", capsize=3, color=PALETTE[0])
        ax.set_xticks(xs, [("no limit" if f is None else f"{f:g}") for f in factors])
        ax.set(xlabel="capacity factor", ylabel=ylabel)
    return fig


def component_shares(shares: dict[str, dict[str, float]], components: tuple[str, ...]) -> Any:
    """One horizontal stacked bar per architecture: its step time's share by component."""
    fig, ax = figure(figsize=(7.0, 0.45 * len(shares) + 1.4))
    labels = list(shares)
    left = np.zeros(len(labels))
    for i, name in enumerate(components):
        widths = np.array([shares[label].get(name, 0.0) for label in labels])
        if not widths.any():
            continue
        ax.barh(labels, widths, left=left, color=PALETTE[i % len(PALETTE)], label=name)
        left += widths
    ax.invert_yaxis()
    ax.set(xlabel="share of the step's operator time", xlim=(0, 1))
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=4, fontsize="small")
    return fig


def checkpointing_trade(trade: dict[str, dict[int, Any]]) -> Any:
    """Peak memory and step time against sequence length, with and without checkpointing;
    ``trade`` name → length → ``StepProfile``."""
    fig, axes = figure(1, 2, figsize=(9.0, 3.4))
    for i, (name, by_length) in enumerate(trade.items()):
        lengths = sorted(by_length)
        for ax, value in ((axes[0], lambda p: p.peak_mib), (axes[1], lambda p: p.step_ms)):
            ax.plot(lengths, [value(by_length[n]) for n in lengths], marker="o",
                    color=PALETTE[i % len(PALETTE)], label=name)
    axes[0].set(xlabel="sequence length", ylabel="peak tensor memory (MiB)")
    axes[1].set(xlabel="sequence length", ylabel="step time (ms)")
    for ax in axes:
        ax.set_xscale("log", base=2)
    axes[0].legend(loc="best")
    return fig
