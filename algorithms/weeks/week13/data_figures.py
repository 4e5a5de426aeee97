"""The data-quality experiment's figures, in forge's one style (``algorithms.plotting``); they
only draw."""

from __future__ import annotations

from typing import Any

import numpy as np

from algorithms.plotting import figure, seed_errorbars


def final_loss(quality: dict[str, tuple[np.ndarray, np.ndarray]],
               quantity: dict[str, tuple[np.ndarray, np.ndarray]]) -> Any:
    """Two panels of final clean validation loss: against the fraction of stories corrupted
    (``quality``: one line per corruption, fraction 0 being the clean run) and against the
    epochs a fixed token budget reads its unique data (``quantity``, log₂ x; 1 epoch being the
    clean run). Each maps label → (x, losses[seed, k])."""
    fig, (left, right) = figure(1, 2)
    seed_errorbars(left, quality)
    left.set(title="quality", xlabel="fraction of training stories corrupted",
             ylabel="clean validation loss (nats/token)")
    seed_errorbars(right, quantity)
    right.set_xscale("log", base=2)
    # ticks at the nominal powers of two; the points sit at the measured D/U
    ticks = sorted({2.0 ** round(np.log2(e)) for epochs, _ in quantity.values() for e in epochs})
    right.set_xticks(ticks, [f"{t:g}" for t in ticks])
    right.set(title="quantity", xlabel="epochs over the unique data (same tokens seen)",
              ylabel="clean validation loss (nats/token)")
    for ax in (left, right):
        ax.legend(loc="best", fontsize="small")
    return fig
