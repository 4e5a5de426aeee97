"""The scaling laws fitted to the model family's runs, tabled beside the published ones.

* Kaplan et al. (2020), eq. 1.1–1.2: L(N) = (N_c / N)^α_N over the sizes, each at its largest
  budget (the most tokens it saw: the closest this grid comes to "trained to convergence"), N
  without embeddings; L(D) = (D_c / D)^α_D over the largest model's budgets; and eq. 1.3's
  compute frontier L(C_min) = (C_c / C_min)^α_C, the least loss at each budget (the one Kaplan
  law a compute-limited grid observes directly).
* Hoffmann et al. (2022), approach 2: a parabola in log N per compute budget, its minimum N_opt,
  and N_opt ∝ C^a (``algorithms.lm.isoflop``).
* Hoffmann et al. (2022), approach 3: L(N, D) = E + A/N^α + B/D^β by Huber loss on log L with
  L-BFGS from a grid, bootstrap intervals, and the compute-optimal exponent a = β/(α + β)
  (``algorithms.lm.scaling_laws``).
"""

from __future__ import annotations

import math
from typing import Any

from algorithms.experiment import Tracker


def _interval(ci: tuple[float, float], digits: int = 3) -> str:
    low, high = ci
    return f"[{low:.{digits}g}, {high:.{digits}g}]"


def fit_family(config: Any, tracker: Tracker, runs: list[dict[str, Any]]) -> dict[str, float]:
    """Every fit of ``runs`` (dicts with n_params, n_params_non_embedding, tokens, budget,
    loss), logged as tables and figures; returns the summary."""
    import numpy as np

    from algorithms.lm.isoflop import fit_isoflop
    from algorithms.lm.scaling_laws import PUBLISHED, fit_chinchilla, fit_kaplan
    from algorithms.weeks.week13.figures import frontier, isoflop_profiles, predicted_vs_observed

    runs = [r for r in runs if math.isfinite(r["loss"])]
    n = np.array([r["n_params"] for r in runs], dtype=float)
    d = np.array([r["tokens"] for r in runs], dtype=float)
    loss = np.array([r["loss"] for r in runs], dtype=float)
    budgets = np.array([r["budget"] for r in runs], dtype=float)
    summary: dict[str, float] = {}

    top = budgets.max()
    by_size = [r for r in runs if r["budget"] == top]
    kaplan_n = fit_kaplan([r["n_params_non_embedding"] for r in by_size],
                          [r["loss"] for r in by_size], variable="N", n_boot=config.n_boot,
                          seed=config.seed)
    largest = max(r["n_params"] for r in runs)
    by_tokens = sorted((r for r in runs if r["n_params"] == largest), key=lambda r: r["tokens"])
    kaplan_d = fit_kaplan([r["tokens"] for r in by_tokens], [r["loss"] for r in by_tokens],
                          variable="D", n_boot=config.n_boot, seed=config.seed)
    frontier_runs = [min((r for r in runs if r["budget"] == c), key=lambda r: r["loss"])
                     for c in sorted(set(budgets))]
    kaplan_c = fit_kaplan([r["budget"] for r in frontier_runs],
                          [r["loss"] for r in frontier_runs], variable="C",
                          n_boot=config.n_boot, seed=config.seed)
    iso_error, profiles_fit = "", None
    try:  # a budget whose profile has no interior minimum has no N_opt: say so, go on
        profiles_fit = fit_isoflop(n, d, loss, budgets=budgets, n_boot=config.n_boot,
                                   seed=config.seed)
        iso = profiles_fit
        if not iso.inside.all():  # a minimum outside the sizes is an extrapolation: left out
            keep = np.isin(budgets, iso.budgets[iso.inside])
            iso_error = (f"budgets with a minimum inside the grid only "
                         f"({int(iso.inside.sum())} of {len(iso.inside)})")
            iso = fit_isoflop(n[keep], d[keep], loss[keep], budgets=budgets[keep],
                              n_boot=config.n_boot, seed=config.seed)
    except ValueError as error:
        iso, iso_error = None, str(error)
    chin = fit_chinchilla(n, d, loss, n_boot=max(config.n_boot // 2, 4), seed=config.seed)

    hoffmann, besiroglu, kaplan = (PUBLISHED["hoffmann2022_approach3"],
                                   PUBLISHED["besiroglu2024_replication"], PUBLISHED["kaplan2020"])
    rows = [
        ["Kaplan α_N (L(N), non-embedding N)", round(kaplan_n.alpha, 4),
         _interval(kaplan_n.alpha_ci), kaplan["alpha_N"], None],
        ["Kaplan α_D (L(D), largest model)", round(kaplan_d.alpha, 4),
         _interval(kaplan_d.alpha_ci), kaplan["alpha_D"], None],
        ["Kaplan α_C (L(C_min), least loss per budget)", round(kaplan_c.alpha, 4),
         _interval(kaplan_c.alpha_ci), kaplan["alpha_C_min"], None],
        ["approach 2: N_opt ∝ C^a" + (f" ({iso_error})" if iso_error else ""),
         round(iso.a, 4), _interval(iso.a_ci), 0.49, None]
        if iso is not None else ["approach 2: N_opt ∝ C^a", None, f"no fit: {iso_error}", 0.49,
                                 None],
        ["approach 3: α", round(chin.alpha, 4), _interval(chin.ci["alpha"]), hoffmann["alpha"],
         besiroglu["alpha"]],
        ["approach 3: β", round(chin.beta, 4), _interval(chin.ci["beta"]), hoffmann["beta"],
         besiroglu["beta"]],
        ["approach 3: E", round(chin.E, 4), _interval(chin.ci["E"]), hoffmann["E"],
         besiroglu["E"]],
        ["approach 3: a = β/(α+β)", round(chin.a, 4), _interval(chin.ci["a"]),
         round(hoffmann["beta"] / (hoffmann["alpha"] + hoffmann["beta"]), 3),
         round(besiroglu["beta"] / (besiroglu["alpha"] + besiroglu["beta"]), 3)],
    ]
    tracker.log_table("fits/exponents", ["quantity", "forge family", "95% bootstrap interval",
                                         "Hoffmann et al. 2022 / Kaplan et al. 2020",
                                         "Besiroglu et al. 2024"], rows)
    if profiles_fit is not None:
        tracker.log_table("fits/isoflop_minima", ["compute budget (FLOPs)", "N_opt", "D_opt",
                                                  "loss at N_opt", "minimum inside the grid"],
                          [[f"{c:.2g}", round(float(no)), round(float(do)),
                            round(float(lo), 4), bool(inside)] for c, no, do, lo, inside in
                           zip(profiles_fit.budgets, profiles_fit.n_opt, profiles_fit.d_opt,
                               profiles_fit.loss_opt, profiles_fit.inside)])

    profiles = {}
    for c in sorted(set(budgets)):
        mask = budgets == c
        order = np.argsort(n[mask])
        x, y = n[mask][order], loss[mask][order]
        parabola = np.polyfit(np.log(x), y, 2) if len(x) >= 3 else None
        profiles[f"C = {c:.2g}"] = (x, y, parabola)
    tracker.log_figure("fits/isoflop", isoflop_profiles(profiles),
                       "Final validation loss against parameters at each compute budget "
                       "(C = 6ND), with each budget's parabola in log N and its minimum "
                       "(dotted): Hoffmann et al.'s IsoFLOP profiles.")
    if iso is not None:
        tracker.log_figure("fits/frontier", frontier(iso.budgets, iso.n_opt, {
            f"IsoFLOP fit, a = {iso.a:.2f}": (iso.k_n, iso.a),
            f"approach 3, a = {chin.a:.2f}": (chin.compute_optimal(1.0)[0], chin.a)}),
            "The loss-minimising model size per compute budget, the fitted power law of the "
            "IsoFLOP minima, and approach 3's compute-optimal N*(C) = G·(C/6)^a.")
    tracker.log_figure("fits/predicted", predicted_vs_observed(loss, {
        "approach 3 L(N, D)": chin.predict(n, d)}),
        f"Approach 3's fitted law against every run's measured loss ({chin.label()}).")

    summary.update({"kaplan.alpha_n": round(kaplan_n.alpha, 4),
                    "kaplan.alpha_n_lo": round(kaplan_n.alpha_ci[0], 4),
                    "kaplan.alpha_n_hi": round(kaplan_n.alpha_ci[1], 4),
                    "kaplan.alpha_d": round(kaplan_d.alpha, 4),
                    "kaplan.alpha_c": round(kaplan_c.alpha, 4),
                    "kaplan.alpha_c_lo": round(kaplan_c.alpha_ci[0], 4),
                    "kaplan.alpha_c_hi": round(kaplan_c.alpha_ci[1], 4)})
    if iso is not None:
        summary["isoflop.n_budgets"] = len(iso.budgets)
        summary.update({"isoflop.a": round(iso.a, 4), "isoflop.a_lo": round(iso.a_ci[0], 4),
                        "isoflop.a_hi": round(iso.a_ci[1], 4), "isoflop.b": round(iso.b, 4)})
    for name in ("E", "alpha", "beta", "a"):
        value = getattr(chin, name)
        summary[f"chinchilla.{name}"] = round(float(value), 4)
        summary[f"chinchilla.{name}_lo"] = round(float(chin.ci[name][0]), 4)
        summary[f"chinchilla.{name}_hi"] = round(float(chin.ci[name][1]), 4)
    summary["chinchilla.rmse_log"] = round(float(chin.rmse), 5)
    n_star, d_star = chin.compute_optimal(float(top))
    summary["chinchilla.n_opt_top_budget"] = round(float(n_star))
    summary["chinchilla.tokens_per_param_top_budget"] = round(float(d_star / n_star), 2)
    return {k: v for k, v in summary.items() if math.isfinite(v)}
