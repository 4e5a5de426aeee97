"""The figures of ``preference-optimization``: the reward–KL frontier and the chosen and
rejected log-likelihoods over training."""

from __future__ import annotations

from typing import Any

import numpy as np


def frontier(study: Any, methods: list[Any], summary: dict[str, float]) -> Any:
    """Gold reward against KL per method, mean ± 95% interval over seeds on both axes, every
    seed a dot; the base model as a star at KL 0."""
    from algorithms.harness import mean_ci
    from algorithms.plotting import PALETTE, figure

    fig, ax = figure(figsize=(6, 4.2))
    for i, method in enumerate(methods):
        kl, gold = study.scalars(method.key, "kl"), study.scalars(method.key, "gold_reward")
        (kl_mean,), (kl_half,) = mean_ci(kl[:, None])
        (gold_mean,), (gold_half,) = mean_ci(gold[:, None])
        colour = PALETTE[i % len(PALETTE)]
        ax.errorbar(kl_mean, gold_mean, xerr=np.nan_to_num(kl_half),
                    yerr=np.nan_to_num(gold_half), color=colour, marker="o", capsize=3,
                    label=f"{method.label} (n={len(kl)})")
        ax.scatter(kl, gold, color=colour, s=10, alpha=0.35, linewidths=0)
    ax.scatter([0.0], [summary["base.gold_reward"]], color="black", marker="*", s=90,
               label="base model")
    ax.set_xlabel("KL(π ‖ π_ref) (nats per completion)")
    ax.set_ylabel("gold reward (VADER compound)")
    ax.legend(fontsize="small")
    return fig


def logps_curves(study: Any, methods: list[Any]) -> Any:
    """log π(chosen) and log π(rejected) against training step, one panel per method."""
    from algorithms.plotting import band_figure

    panels = {method.label: {
        "chosen": (study.grid, study.curves(method.key, "logps/chosen")),
        "rejected": (study.grid, study.curves(method.key, "logps/rejected"))}
        for method in methods}
    return band_figure(panels, ylabel="log π(y | x) (nats)", xlabel="training step")
