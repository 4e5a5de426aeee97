"""The constitutional-AI and red-team figures of week 11, in forge's one style
(``algorithms.plotting``); they only draw."""

from __future__ import annotations

from typing import Any

import numpy as np

from algorithms.plotting import figure, seed_errorbars

PANELS = {"negative_share": "VADER negative share", "fluency": "fluency (base log-lik/token)",
          "length": "length (tokens)", "kl": "KL to base (nats)"}


def before_after(scores: dict[str, dict[str, dict[str, list[float]]]], models: dict[str, str],
                 splits: dict[str, str]) -> Any:
    """split → model → metric → per-seed values: one panel per metric of :data:`PANELS`, the
    pipeline's stages (base → SL-CAI → RL-CAI) on the x axis, one series per prompt split."""
    fig, axes = figure(1, len(PANELS), squeeze=False)
    x = np.arange(len(models))
    for ax, (metric, title) in zip(axes.flat, PANELS.items()):
        lines = {}
        for k, (split, label) in enumerate(splits.items()):
            values = np.array([scores[split][m][metric] for m in models]).T  # (seeds, models)
            lines[label] = (x + 0.08 * (k - 0.5), values)
        seed_errorbars(ax, lines)
        ax.set_xticks(x, [label.split(" (")[0] for label in models.values()])
        ax.set(title=title, xlabel="stage")
    axes[0, 0].legend(loc="best", fontsize="x-small")
    return fig


def attack_success(asr: dict[str, dict[str, list[float]]], search: dict[str, list[float]]) -> Any:
    """Left: ASR (per-seed values) of each prompt set (rows of ``asr``) against each target
    (its keys); right: the search's mean estimated flag rate per round, one line per target."""
    fig, axes = figure(1, 2, squeeze=False)
    sets = list(asr)
    targets = list(next(iter(asr.values())))
    x = np.arange(len(sets))
    lines = {t: (x + 0.12 * (k - 0.5), np.array([asr[s][t] for s in sets]).T)
             for k, t in enumerate(targets)}
    seed_errorbars(axes[0, 0], lines)
    axes[0, 0].set_xticks(x, sets, rotation=15, ha="right", fontsize="small")
    axes[0, 0].set(title="ASR (fresh samples)", ylabel="flagged share")
    axes[0, 0].legend(loc="best", fontsize="x-small")
    for target, history in search.items():
        axes[0, 1].plot(np.arange(len(history)), history, marker="o", label=f"against {target}")
    axes[0, 1].set(title="mutation search", xlabel="round",
                   ylabel="estimated flag rate")
    axes[0, 1].legend(loc="best", fontsize="x-small")
    return fig
