"""Week 8's figures, in forge's one style (``algorithms.plotting``); they only draw."""

from __future__ import annotations

from typing import Any

import numpy as np

from algorithms.plotting import PALETTE, figure


def training_curves(histories: dict[str, list[dict[str, Any]]]) -> Any:
    """Train (thin) and validation (thick) cross-entropy against optimizer steps."""
    fig, ax = figure(figsize=(6.0, 3.6))
    for i, (label, history) in enumerate(histories.items()):
        colour = PALETTE[i % len(PALETTE)]
        train = [(row["step"], row["train_loss"]) for row in history if "train_loss" in row]
        val = [(row["step"], row["val_loss"]) for row in history if "val_loss" in row]
        if train:
            ax.plot(*zip(*train), color=colour, alpha=0.45, linewidth=1.0,
                    label=f"{label}: train")
        if val:
            ax.plot(*zip(*val), color=colour, marker="o", markersize=3, label=f"{label}: val")
    ax.set(xlabel="optimizer steps", ylabel="cross-entropy (nats / token)")
    ax.legend(loc="upper right")
    return fig


def loss_vs_size(counts: np.ndarray, losses: np.ndarray, fit: Any, labels: list[str]) -> Any:
    """Validation loss against non-embedding parameters (log x), seeds as dots, the mean with
    its 95% interval, and the fitted L(N) with the bootstrap band of its parameters."""
    from algorithms.harness import mean_ci

    fig, ax = figure(figsize=(6.0, 3.8))
    mean, half = mean_ci(losses)
    for row in losses:
        ax.scatter(counts, row, color=PALETTE[0], alpha=0.35, s=12)
    ax.errorbar(counts, mean, yerr=half, color=PALETTE[0], marker="o", linestyle="none",
                capsize=3, label=f"mean over {len(losses)} seeds")
    grid = np.geomspace(counts.min() / 1.5, counts.max() * 2.0, 100)
    ax.plot(grid, fit.predict(grid), color=PALETTE[1], label=fit.label())
    ax.axhline(fit.E, color="black", linestyle=":", linewidth=1.0,
               label=f"E = {fit.E:.2f} (irreducible, fitted)")
    ax.set_xscale("log")
    ax.set(xlabel="non-embedding parameters N", ylabel="validation loss (nats / token)")
    for n, y, label in zip(counts, mean, labels):
        ax.annotate(label.split(",")[0], (n, y), textcoords="offset points", xytext=(4, 6),
                    fontsize=9)
    ax.legend(loc="upper right", fontsize="small")
    return fig


def generation_panels(metric_rows: list[list[Any]], reference: float) -> Any:
    """Judge perplexity and distinct-2 against model size, one line per decoding rule (rows of
    the ``generation/metrics`` table: model, params, decoding, d1, d2, rep4, judge ppl, len)."""
    fig, (left, right) = figure(1, 2)
    decodings = list(dict.fromkeys(row[2] for row in metric_rows if row[1] != ""))
    for i, decoding in enumerate(decodings):
        rows = sorted((row for row in metric_rows if row[2] == decoding), key=lambda r: r[1])
        params = [row[1] for row in rows]
        left.plot(params, [row[6] for row in rows], marker="o", color=PALETTE[i],
                  label=decoding)
        right.plot(params, [row[4] for row in rows], marker="o", color=PALETTE[i],
                   label=decoding)
    left.axhline(reference, color="black", linestyle=":", linewidth=1.0, label="human text")
    for ax, title in ((left, "judge perplexity (lower: more fluent)"),
                      (right, "distinct-2 (higher: more diverse)")):
        ax.set_xscale("log")
        ax.set(title=title, xlabel="non-embedding parameters")
    left.set_yscale("log")
    left.legend(fontsize="small")
    return fig


def exposure_panels(curves: dict[str, Any], entropy: float) -> Any:
    """Per model: exact KL to the source at each generation step, teacher forced vs free
    running, with 95% bands."""
    fig, axes = figure(1, len(curves), squeeze=False, sharey=True)
    for ax, (label, found) in zip(axes.flat, curves.items()):
        t = found.positions
        for colour, name, mean, half in (
                (PALETTE[0], "teacher forced", found.kl_teacher_forced,
                 found.kl_teacher_forced_ci),
                (PALETTE[1], "free running", found.kl_free_running, found.kl_free_running_ci)):
            ax.plot(t, mean, color=colour, label=name)
            ax.fill_between(t, mean - half, mean + half, color=colour, alpha=0.2, linewidth=0)
        ax.set(title=f"{label} training", xlabel="generation step t",
               ylabel="KL(p ‖ q) (nats)")
        ax.legend(fontsize="small")
    fig.suptitle(f"source entropy rate {entropy:.2f} nats / token")
    return fig
