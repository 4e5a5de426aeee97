"""Week 9's figures, in forge's one style (``algorithms.plotting``); they only draw."""

from __future__ import annotations

from typing import Any

import numpy as np

from algorithms.plotting import figure, seed_errorbars


def recovery_figure(budgets: np.ndarray, rmse: dict[str, np.ndarray],
                    tau: dict[str, np.ndarray]) -> Any:
    """Two panels against the budget (choices, log x): RMSE of θ̂ (log y) and Kendall's τ;
    label → values[seed, budget], mean ± 95% interval over seeds, each seed a dot."""
    fig, (left, right) = figure(1, 2, figsize=(8.4, 4.2))
    seed_errorbars(left, {label: (budgets, values) for label, values in rmse.items()})
    left.set_xscale("log")
    left.set_yscale("log")
    left.set(title="error of the strengths", xlabel="budget (choices)",
             ylabel="θ RMSE (logits)")
    seed_errorbars(right, {label: (budgets, values) for label, values in tau.items()})
    right.set_xscale("log")
    right.set(title="order of the strengths", xlabel="budget (choices)",
              ylabel="Kendall τ with the true θ")
    for ax in (left, right):
        ax.set_xticks(budgets, [f"{b:g}" for b in budgets], rotation=45)
        ax.minorticks_off()
    fig.legend(*left.get_legend_handles_labels(), loc="outside lower center", ncols=2,
               fontsize="small")
    return fig


def order_figure(ks: np.ndarray, lines: dict[str, np.ndarray], bt_rmse: float) -> Any:
    """Elo's measures against K (log x): label → values[seed, K]; the Bradley-Terry MLE's
    RMSE to the truth as a dotted line (its spread over orders is 0)."""
    fig, ax = figure(figsize=(5.6, 3.8))
    seed_errorbars(ax, {label: (ks, values) for label, values in lines.items()})
    ax.axhline(bt_rmse, color="black", linestyle=":", linewidth=1.0,
               label="Bradley-Terry MLE: RMSE to the true θ")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks, [f"{k:g}" for k in ks])
    ax.set(xlabel="Elo K", ylabel="logits")
    ax.legend(loc="best", fontsize="small")
    return fig
