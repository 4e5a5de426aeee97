"""The figure of ``reward-kl-frontier``: every method's points, gold reward against KL."""

from __future__ import annotations

from typing import Any


def frontier_figure(points: dict[str, dict[str, Any]]) -> Any:
    """One line per family through its points in order of KL, each point mean ± 95% interval
    on both axes; the base model as a star."""
    from algorithms.plotting import PALETTE, figure

    fig, ax = figure(figsize=(6.4, 4.4))
    families = [f for f in dict.fromkeys(p["family"] for p in points.values()) if f != "base"]
    for i, family in enumerate(families):
        members = sorted((p for p in points.values() if p["family"] == family),
                         key=lambda p: p["kl"][0])
        colour = PALETTE[i % len(PALETTE)]
        ax.errorbar([p["kl"][0] for p in members], [p["gold_reward"][0] for p in members],
                    xerr=[p["kl"][1] for p in members], yerr=[p["gold_reward"][1] for p in members],
                    color=colour, marker="o", capsize=3, label=family)
    base = points.get("base")
    if base is not None:
        ax.scatter([base["kl"][0]], [base["gold_reward"][0]], color="black", marker="*", s=90,
                   zorder=3, label="base model")
    ax.set_xlabel("KL(π ‖ π_ref) (nats per completion)")
    ax.set_ylabel("gold reward (VADER compound)")
    ax.legend(fontsize="small")
    return fig
