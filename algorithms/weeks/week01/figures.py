"""Week 1's figures, drawn from what the experiments computed: value heatmaps of grid worlds
with optimal actions as arrows, the gambler's value function and stakes, and cost and error
curves of the DP algorithms. Drawing only; every figure uses :func:`algorithms.plotting.figure`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from algorithms.mdp import TabularMDP
from algorithms.mdp.environments import COMPASS
from algorithms.plotting import PALETTE, figure
from algorithms.weeks.week01.contenders import family, label

# Cells drawn as labelled patches instead of values: (face colour, label, label colour).
SPECIAL_CELLS = {"T": ("#d9d9d9", "T", "black"), "G": ("#E69F00", "G", "black"),
                 "H": ("#23395d", "H", "white"), "C": ("#8c2d04", "", "white")}


# ----------------------------------------------------------------------------- grid worlds

def _grid_figsize(mdp: TabularMDP) -> tuple[float, float]:
    rows, cols = mdp.shape
    cell = 0.62 if cols > 6 else 0.8
    return cols * cell + 1.6, rows * cell + 0.9


def _ink(image: Any, value: float) -> str:
    """Black or white, whichever reads better on the colour ``value`` has in ``image``."""
    red, green, blue, _ = image.cmap(image.norm(value))
    return "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"


def draw_grid(ax: Any, mdp: TabularMDP, V: np.ndarray, ties: np.ndarray | None = None, *,
              title: str, value_label: str | None, path: Sequence[int] = (),
              vmin: float | None = None, vmax: float | None = None) -> Any:
    """A value heatmap of a grid world: numbers in every cell, the actions ``ties[s]`` as arrows
    from the cell centre, special cells (terminal, goal, hole, cliff) as labelled patches and
    ``path`` as a line. Returns the image; ``value_label=None`` leaves the colour bar to the
    caller."""
    rows, cols = mdp.shape
    kinds = np.array([list(row) for row in mdp.layout])
    special = np.isin(kinds, list(SPECIAL_CELLS))
    image = ax.imshow(np.ma.masked_array(V.reshape(rows, cols), special), vmin=vmin, vmax=vmax)
    if value_label is not None:
        ax.figure.colorbar(image, ax=ax, label=value_label, shrink=0.9, pad=0.02)
    ax.set(title=title, xlabel="column", ylabel="row", xticks=range(cols), yticks=range(rows))
    ax.grid(False)
    ax.set_xticks(np.arange(-0.5, cols), minor=True)
    ax.set_yticks(np.arange(-0.5, rows), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="minor", length=0)

    font = 8 if cols <= 5 else 6.5
    digits = 0 if np.allclose(V, np.round(V)) else 2 if np.abs(V).max() < 10 else 1
    # with arrows or a path below the centre, the number moves to the top of the cell
    text_y = -0.28 if ties is not None or len(path) else 0.0
    arrows = []  # (x, y, dx, dy, colour), drawn in one quiver call
    for s in range(mdp.n_states):
        r, c = divmod(s, cols)
        kind = kinds[r, c]
        if kind in SPECIAL_CELLS:
            face, text, colour = SPECIAL_CELLS[kind]
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, facecolor=face, edgecolor="white",
                                   linewidth=1.5))
            ax.text(c, r, text, ha="center", va="center", color=colour, fontsize=font + 2,
                    fontweight="bold")
            continue
        ink = _ink(image, V[s])
        ax.text(c, r + text_y, f"{V[s]:.{digits}f}", ha="center", va="center", color=ink,
                fontsize=font, zorder=6)
        if kind in "SABab":
            ax.text(c - 0.44, r - 0.44, {"a": "A′", "b": "B′"}.get(kind, kind), ha="left",
                    va="top", color=ink, fontsize=font - 0.5, fontweight="bold")
        if ties is not None and not mdp.terminal[s]:
            arrows += [(c, r + 0.14, *COMPASS[mdp.action_names[a]][::-1], ink)
                       for a in np.flatnonzero(ties[s])]
    if arrows:
        x, y, dx, dy, colour = zip(*arrows)
        ax.quiver(x, y, 0.26 * np.array(dx), 0.26 * np.array(dy), color=colour, angles="xy",
                  scale_units="xy", scale=1, width=0.022 / cols, headwidth=4, headlength=4,
                  headaxislength=3.5, zorder=4)
    if (kinds == "C").any():
        cliff_cols = np.flatnonzero(kinds[-1] == "C")
        ax.text(cliff_cols.mean(), rows - 1, "The Cliff  (−100, back to S)", ha="center",
                va="center", color="white", fontsize=font + 1.5, fontweight="bold")
    if len(path) > 1:
        path_r, path_c = np.divmod(np.asarray(path), cols)
        ax.plot(path_c, path_r + 0.14, color="#D55E00", linewidth=2.5, alpha=0.9,
                solid_capstyle="round", marker="o", markersize=3, zorder=5)
    return image


def value_heatmap(mdp: TabularMDP, V: np.ndarray, ties: np.ndarray) -> Any:
    """One grid world's v* and every optimal action."""
    fig, ax = figure(figsize=_grid_figsize(mdp))
    draw_grid(ax, mdp, V, ties, title=rf"{mdp.name}: $v_*$ and $\pi_*$", value_label=r"$v_*(s)$")
    return fig


def random_policy_evaluation(mdp: TabularMDP, panels: dict[str, tuple[np.ndarray, np.ndarray]]
                             ) -> Any:
    """Figure 4.1: one panel per title → (v_k, the greedy actions w.r.t. v_k)."""
    fig, axes = figure(2, 3, figsize=(11, 7.4))
    # one colour scale for all panels, so that the colours show the values growing with k
    low = min(values.min() for values, _ in panels.values())
    for ax, (title, (values, ties)) in zip(axes.flat, panels.items()):
        image = draw_grid(ax, mdp, values, ties, title=title, value_label=None, vmin=low,
                          vmax=0.0)
    fig.colorbar(image, ax=axes, label=r"$v_k(s)$", shrink=0.6)
    fig.suptitle(r"Iterative evaluation of the equiprobable random policy: $v_k$ and the "
                 r"greedy policy w.r.t. $v_k$")
    return fig


def gridworld_5x5(mdp: TabularMDP, v_random: np.ndarray, v_star: np.ndarray,
                  ties: np.ndarray) -> Any:
    """Figures 3.2 and 3.5 side by side: v_π of the random policy; v* and π*."""
    fig, axes = figure(1, 2, figsize=(9.2, 3.9))
    draw_grid(axes[0], mdp, v_random, value_label=r"$v_\pi(s)$",
              title=r"$v_\pi$ of the equiprobable random $\pi$ (Fig. 3.2)")
    draw_grid(axes[1], mdp, v_star, ties, title=r"$v_*$ and $\pi_*$ (Fig. 3.5)",
              value_label=r"$v_*(s)$")
    return fig


def cliff_path(mdp: TabularMDP, V: np.ndarray, path: Sequence[int]) -> Any:
    """Cliff walking's v* with the path the optimal policy takes from S."""
    fig, ax = figure(figsize=(9.5, 3.6))
    draw_grid(ax, mdp, V, path=path, title=r"Cliff walking: $v_*$ and the optimal path",
              value_label=r"$v_*(s)$")
    return fig


# ----------------------------------------------------------------------------- the gambler

def gambler(mdp: TabularMDP, ties: np.ndarray, policy: np.ndarray,
            curves: dict[str, np.ndarray]) -> Any:
    """Figure 4.3: value estimates against capital (one line per entry of ``curves``, the last
    one in black) above the stakes: ``policy`` as a line, every optimal stake (``ties``) as dots.
    """
    fig, (top, bottom) = figure(2, 1, figsize=(7.5, 6.6), sharex=True)
    capital = np.arange(1, mdp.n_states - 1)
    for i, (name, values) in enumerate(curves.items()):
        final = i == len(curves) - 1  # dashed, so that a late sweep under it stays visible
        top.plot(capital, values[capital], label=name, color="black" if final else None,
                 linestyle="--" if final and len(curves) > 1 else "-", linewidth=1.3)
    top.set(ylabel="value", title=f"{mdp.name}: value function", ylim=(0, 1.02))
    top.legend(loc="upper left")
    states, actions = np.nonzero(ties[capital])
    bottom.scatter(capital[states], actions + 1, s=9, color="#56B4E9", label="every optimal stake",
                   zorder=2)
    bottom.step(capital, policy[capital] + 1, where="mid", color="#0072B2", linewidth=1.4,
                label="smallest optimal stake", zorder=3)
    bottom.set(xlabel="capital", ylabel="stake", title="Optimal policy: stake for each capital",
               xticks=[1, 25, 50, 75, 99], ylim=(0, 52))
    bottom.legend(loc="upper left")
    return fig


# ----------------------------------------------------------------------------- costs and errors

def _panels(n: int) -> tuple[Any, Any]:
    ncols = min(3, n)
    nrows = -(-n // ncols)
    fig, axes = figure(nrows, ncols, squeeze=False, figsize=(4.2 * ncols, 3.3 * nrows))
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def _style(name: str, families: list[str]) -> dict[str, Any]:
    """An algorithm's colour (its family) and line style (solid synchronous, dashed in-place);
    only the synchronous line is labelled, the legend explains the dashes."""
    base = family(name)
    return {"color": PALETTE[families.index(base)], "linestyle": "--" if name != base else "-",
            "label": label(name) if name == base else None}


def _legend(fig: Any, ax: Any) -> None:
    """One legend for the figure, beside the panels: the algorithms' colours, then line styles."""
    handles, labels = ax.get_legend_handles_labels()
    handles += [Line2D([], [], color="grey"), Line2D([], [], color="grey", linestyle="--")]
    fig.legend(handles, labels + ["synchronous", "in-place"], loc="outside right upper")


def cost_vs_gamma(costs: dict[tuple[str, float], dict[str, dict[str, float]]], column: str,
                  unit: str, titles: dict[str, str]) -> Any:
    """``costs[env, γ][algorithm][column]`` against γ, one panel per environment."""
    envs = list(dict.fromkeys(env for env, _ in costs))
    names = list(next(iter(costs.values())))
    families = list(dict.fromkeys(map(family, names)))
    fig, axes = _panels(len(envs))
    for ax, env in zip(axes.flat, envs):
        gammas = sorted(gamma for e, gamma in costs if e == env)
        for name in names:
            ax.plot(range(len(gammas)), [costs[env, g][name][column] for g in gammas],
                    marker="o", markersize=3.5, **_style(name, families))
        ax.set(title=titles[env], yscale="log", xticks=range(len(gammas)),
               xticklabels=[f"{g:g}" for g in gammas], xlabel="γ", ylabel=unit)
    _legend(fig, axes.flat[0])
    return fig


def error_curves(curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]],
                 titles: dict[str, str], x_axis: str, floor: float, title: str,
                 bounds: dict[str, np.ndarray] | None = None) -> Any:
    """``curves[env][algorithm] = (‖V_k − v*‖∞, backups)`` for k = 0, 1, … against sweeps or
    backups (``x_axis``), log–log, from k = 1; ``bounds[env]`` (from k = 1) dotted."""
    envs = list(curves)
    families = list(dict.fromkeys(map(family, curves[envs[0]])))
    fig, axes = _panels(len(envs))
    for ax, env in zip(axes.flat, envs):
        # log x: PI's first evaluation alone can run for more sweeps than VI needs in all
        for name, (errors, backups) in curves[env].items():
            x = backups if x_axis == "backups" else np.arange(len(errors))
            ax.plot(x[1:], errors[1:], linewidth=1.3, **_style(name, families))
        if bounds is not None:
            ax.plot(np.arange(1, len(bounds[env]) + 1), bounds[env], color="black",
                    linestyle=":", linewidth=1.2, label=r"$\gamma^k\,\|V_0 - v_*\|_\infty$")
        ax.set(title=titles[env], xscale="log", yscale="log", ylim=(floor / 3, None),
               ylabel=r"$\|V_k - v_*\|_\infty$",
               xlabel="sweeps k" if x_axis == "sweeps" else "Bellman backups")
    _legend(fig, axes.flat[0])
    fig.suptitle(title)
    return fig
