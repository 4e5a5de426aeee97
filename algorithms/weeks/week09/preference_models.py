"""``preference-models``: Bradley-Terry, Plackett-Luce and Elo fitted to preferences drawn from
known strengths, and what each recovers: from how much annotation, in which order, and from
rankings read as pairs.

The models (``algorithms.preference``). Items i = 0..n−1 have strengths θ_i (natural-log,
centred). Bradley & Terry (1952), "Rank Analysis of Incomplete Block Designs: I. The Method of
Paired Comparisons":

    P(i ≻ j) = σ(θ_i − θ_j),   σ(x) = 1 / (1 + e^{−x}),                                   (1)

fitted by maximum likelihood on the win counts (Newton's method; the MLE exists iff the
comparison graph is strongly connected, Hunter 2004, "MM algorithms for generalized
Bradley-Terry models", Assumption 1). Luce (1959), "Individual Choice Behavior", and Plackett
(1975), "The Analysis of Permutations": a ranking r_1 ≻ ... ≻ r_k of k shown items is k − 1
successive choices from what is left,

    P(r | θ) = Π_{s=1}^{k−1} exp(θ_{r_s}) / Σ_{m ≥ s} exp(θ_{r_m}),                         (2)

fitted by maximum likelihood over all choice stages. Elo (1978), "The Rating of Chessplayers,
Past and Present": after i beats j,

    R_i ← R_i + K (1 − E_i),  R_j ← R_j − K (1 − E_i),  E_i = 1 / (1 + 10^{(R_j − R_i)/400}),  (3)

one online stochastic-gradient step on (1) with θ = R ln(10)/400, from R = 1500 for everyone.
Every fit here is the penalised MLE −ℓ(θ) + α Σθ² with a small ``alpha`` (0.01 by default), so
that it exists at the smallest budgets, where some item may win (or lose) all of its few
comparisons; α shrinks a well-determined strength by about 1% or less (the likelihood's curvature
per item is about 0.2 × its number of comparisons, against 2α = 0.02).

The truth: ``n_items`` strengths drawn N(0, 1) and centred, fresh for every seed. Three studies:

1. Recovery against annotation budget, pairwise against listwise. The budget is counted in
   *choices*, the unit of eq. (2): one pairwise comparison is one choice, one ranking of k items
   is k − 1 choices (pick the best of k, then of k − 1, ..., of 2). At budget B, Bradley-Terry
   gets B uniform random pairs (winner by eq. 1), Plackett-Luce gets B // (k − 1) rankings of k
   uniformly chosen items (by eq. 2, via Gumbel noise), and Elo (K = ``elo_k``) plays the same B
   pairs as Bradley-Terry, once, in the order they were drawn; its ratings are converted to θ
   and centred. The budgets are nested (each seed draws the largest once and uses prefixes).
   Reported: RMSE of θ̂ against θ, and Spearman's ρ and Kendall's τ between them, mean and 95%
   t-interval over seeds (table ``preferences/recovery``, figure ``preferences/recovery``).
   Counting a ranking as k − 1 choices is the generous accounting for rankings: a choice out of
   four items carries more information than a choice out of two, and whether it costs an
   annotator the same effort is an assumption, not something measured here.
2. Order dependence: one seed's ``order_games`` pairs replayed in ``n_orders`` random orders
   (``order_dependence``) at each K of ``elo_ks``. Reported per K: the standard deviation over
   orders of each item's final rating (Elo points and logits, mean over items), the RMSE between
   Elo's θ and the Bradley-Terry MLE on the same games (mean over orders), Elo's RMSE to the
   truth, and the mean Spearman ρ between the rankings of two orders; and for Bradley-Terry the
   largest change of any θ̂ over orders, which is exactly 0 because the fit reads only the win
   counts (table and figure ``preferences/order``).
3. Pairwise from listwise: ``rb_rankings`` rankings of k items per seed, over ``rb_seeds``
   seeds, fitted by Plackett-Luce, and broken into all k(k − 1)/2 implied [winner, loser] pairs
   and fitted by Bradley-Terry. Under Plackett-Luce each implied pair's marginal probability is
   exactly eq. (1) (the difference of two Gumbel noises is logistic), so the rank-broken fit
   estimates the same θ; but the pairs of one ranking are dependent, and Bradley-Terry's
   likelihood multiplies them as if independent: k(k − 1)/2 terms per ranking against
   Plackett-Luce's k − 1. Reported: RMSE, the nominal standard error of each θ̂_i from the
   inverse observed information (the pseudo-inverse of the negative log-likelihood's Hessian at
   θ̂, which is singular along 1; the penalty is left out), the ratio of the actual RMSE to that
   nominal error (1 when the error bars are right), and how often the nominal 95% interval
   θ̂_i ± 1.96 SE_i covers θ_i (table ``preferences/rank-breaking``).

What it can show: everything is simulated from the models themselves, so the data are exactly
Bradley-Terry (pairs) or Plackett-Luce (rankings) and every method is fitted to its own
well-specified model; none of it says how real annotators behave (that is the annotator study's
question). Elo is the exception by design: it is a fixed-step online estimator of the right
model, and the studies show what the fixed step costs (noise that does not average away, and
dependence on the order of the games). The rank-breaking result is the composite-likelihood
picture: a consistent point estimate whose model-based error bars, read as if the pairs were
independent, are too narrow; the size of the gap at k = 4 is what the table measures. At the
smallest budgets (a handful of comparisons per item) the maximum-likelihood fits are unstable (an
item that won nearly everything gets a large θ̂, held back only by α), and Elo, which starts
everyone at the same rating and moves by at most K per game, can have the smaller RMSE there:
its shrinkage towards the mean helps before its fixed-step noise dominates.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import model_validator

from algorithms.experiment import ExperimentConfig, Tracker, experiment

UNITS = {"*theta_rmse*": "logits", "*order_spread_rating": "Elo points",
         "*order_spread": "logits", "*bt_deviation": "logits",
         "*nominal_se": "logits", "*se_ratio": "", "*coverage95": "", "*kendall_tau*": "",
         "*spearman_rho*": "", "*rank_correlation": "", "*n_seeds": "", "*n_items": "items",
         "*budget": "choices", "*_per_ranking": "", "*ranking_size": "items"}

METHODS = (("bt", "Bradley-Terry MLE (pairs)"), ("pl", "Plackett-Luce MLE (rankings of {k})"),
           ("elo", "Elo, K={K:g} (same pairs, one pass)"))
"""Each method of the recovery study: its summary key and its label in tables and legends."""


class PreferenceModelsConfig(ExperimentConfig):
    """``n_items`` true strengths θ ~ N(0, 1) per seed; recovery at each budget of ``budgets``
    (choices) over ``n_seeds`` seeds, rankings of ``ranking_size`` items; Elo with ``elo_k``;
    ``order_games`` games in ``n_orders`` orders at each K of ``elo_ks``; ``rb_rankings``
    rankings over ``rb_seeds`` seeds for rank-breaking; every fit penalised by ``alpha``."""

    n_items: int = 20
    ranking_size: int = 4
    budgets: list[int] = [120, 240, 480, 960, 1920, 3840]
    n_seeds: int = 10
    alpha: float = 0.01
    elo_k: float = 32.0
    elo_scale: float = 400.0
    elo_ks: list[float] = [8.0, 16.0, 32.0, 64.0]
    order_games: int = 1000
    n_orders: int = 200
    rb_rankings: int = 200
    rb_seeds: int = 100
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"n_items": 8, "budgets": [60, 240, 960], "n_seeds": 3, "order_games": 200,
                  "n_orders": 10, "rb_rankings": 60, "rb_seeds": 4},
        "gpu": {"n_items": 30, "budgets": [150, 300, 600, 1200, 2400, 4800, 9600],
                "n_seeds": 10, "order_games": 3000, "n_orders": 500, "rb_rankings": 400,
                "rb_seeds": 300}}

    @model_validator(mode="after")
    def _check(self) -> PreferenceModelsConfig:
        if not 2 <= self.ranking_size <= self.n_items:
            raise ValueError(f"ranking_size must be in 2..n_items={self.n_items}, got "
                             f"{self.ranking_size}")
        if not self.budgets or sorted(set(self.budgets)) != self.budgets:
            raise ValueError(f"budgets must be distinct and ascending, got {self.budgets}")
        if self.budgets[0] < self.ranking_size - 1:
            raise ValueError(f"the smallest budget must buy one ranking "
                             f"({self.ranking_size - 1} choices), got {self.budgets[0]}")
        if self.n_seeds < 2 or self.rb_seeds < 2 or self.n_orders < 2:
            raise ValueError("need n_seeds, rb_seeds and n_orders >= 2 for intervals and spreads")
        if not self.elo_ks or self.elo_k not in self.elo_ks:
            raise ValueError(f"elo_k={self.elo_k} must be one of elo_ks={self.elo_ks}")
        if min(self.order_games, self.rb_rankings) < 1 or self.alpha < 0:
            raise ValueError("need order_games, rb_rankings >= 1 and alpha >= 0")
        return self


def true_strengths(n_items: int, rng: Any) -> Any:
    """θ ~ N(0, 1) per item, centred (the models are invariant to a common shift)."""
    theta = rng.normal(size=n_items)
    return theta - theta.mean()


def agreement(theta_hat: Any, theta: Any) -> dict[str, float]:
    """RMSE of the centred θ̂ against θ, Spearman's ρ and Kendall's τ between them."""
    import numpy as np
    from scipy.stats import kendalltau, spearmanr

    centred = theta_hat - theta_hat.mean()
    return {"theta_rmse": float(np.sqrt(np.mean((centred - theta) ** 2))),
            "spearman_rho": float(spearmanr(theta_hat, theta).statistic),
            "kendall_tau": float(kendalltau(theta_hat, theta).statistic)}


@experiment(week=9, name="preference-models", covers=(1,), config=PreferenceModelsConfig,
            units=UNITS)
def preference_models(config: PreferenceModelsConfig, tracker: Tracker) -> dict[str, float]:
    """Bradley-Terry, Plackett-Luce and Elo recovering known strengths: against annotation
    budget, over random orders of the same games, and from rankings broken into pairs."""
    summary: dict[str, float] = {"preferences.n_items": config.n_items,
                                 "preferences.n_seeds": config.n_seeds,
                                 "preferences.ranking_size": config.ranking_size}
    summary.update(recovery_study(config, tracker))
    summary.update(order_study(config, tracker))
    summary.update(rank_breaking_study(config, tracker))
    return summary


def recovery_study(config: PreferenceModelsConfig, tracker: Tracker) -> dict[str, float]:
    """Study 1: every method at every budget over seeds; table, figure, curves, summary."""
    import numpy as np

    from algorithms.harness import mean_ci
    from algorithms.preference import (elo_ratings, elo_to_bradley_terry, fit_bradley_terry,
                                       fit_plackett_luce, sample_comparisons, sample_rankings)
    from algorithms.weeks.week09.figures import recovery_figure

    k, budgets = config.ranking_size, config.budgets
    labels = {key: label.format(k=k, K=config.elo_k) for key, label in METHODS}
    scores = ("theta_rmse", "spearman_rho", "kendall_tau")
    # results[method][score]: (seeds, budgets)
    results = {key: {s: np.zeros((config.n_seeds, len(budgets))) for s in scores}
               for key, _ in METHODS}
    seeds = range(config.seed, config.seed + config.n_seeds)
    for row, seed in enumerate(tracker.track(seeds, total=config.n_seeds,
                                             description="recovery: seeds")):
        rng = np.random.default_rng(seed)
        theta = true_strengths(config.n_items, rng)
        pairs = sample_comparisons(theta, budgets[-1], rng)
        rankings = sample_rankings(theta, budgets[-1] // (k - 1), k, rng)
        for col, budget in enumerate(budgets):
            fits = {
                "bt": fit_bradley_terry(config.n_items, pairs[:budget], alpha=config.alpha),
                "pl": fit_plackett_luce(config.n_items, rankings[: budget // (k - 1)],
                                        alpha=config.alpha),
                "elo": elo_to_bradley_terry(
                    elo_ratings(config.n_items, pairs[:budget], k=config.elo_k,
                                scale=config.elo_scale), scale=config.elo_scale)}
            for key, theta_hat in fits.items():
                for score, value in agreement(theta_hat, theta).items():
                    results[key][score][row, col] = value

    summary: dict[str, float] = {}
    rows = []
    for key, _ in METHODS:
        stats = {s: mean_ci(results[key][s]) for s in scores}
        for col, budget in enumerate(budgets):
            observed = (f"{budget // (k - 1)} rankings" if key == "pl"
                        else f"{budget} comparisons")
            rows.append([labels[key], budget, observed,
                         *[round(float(stats[s][part][col]), 4) for s in scores
                           for part in (0, 1)]])
            summary[f"{key}.budget{budget}.theta_rmse"] = round(float(stats["theta_rmse"][0][col]),
                                                                4)
            tracker.log({f"preference-models/{key}/{s}": float(stats[s][0][col])
                         for s in scores}, step=budget, x="comparisons")
        for s in scores:
            summary[f"{key}.{s}"] = round(float(stats[s][0][-1]), 4)
            summary[f"{key}.{s}_ci95"] = round(float(stats[s][1][-1]), 4)
    summary["preferences.largest_budget"] = budgets[-1]
    tracker.log_table(
        "preferences/recovery",
        ["method", "budget (choices)", "observations", "θ RMSE (logits)", "± 95% CI",
         "Spearman ρ", "± 95% CI", "Kendall τ", "± 95% CI"], rows)
    tracker.log_figure(
        "preferences/recovery",
        recovery_figure(np.array(budgets),
                        {labels[key]: results[key]["theta_rmse"] for key, _ in METHODS},
                        {labels[key]: results[key]["kendall_tau"] for key, _ in METHODS}),
        f"Recovering {config.n_items} known strengths θ ~ N(0, 1) from simulated preferences, "
        f"against the annotation budget in choices (a pairwise comparison is one choice, a "
        f"ranking of {k} items is {k - 1}): left, RMSE of θ̂ against θ (log-log); right, "
        f"Kendall's τ between θ̂ and θ. Bradley-Terry and Elo (K = {config.elo_k:g}, one pass) "
        f"see the same pairs, Plackett-Luce rankings of {k}; mean and 95% interval over "
        f"{config.n_seeds} seeds (dots: seeds).")
    return summary


def order_study(config: PreferenceModelsConfig, tracker: Tracker) -> dict[str, float]:
    """Study 2: the same games in many orders, Elo at every K against Bradley-Terry."""
    import math

    import numpy as np

    from algorithms.harness import mean_ci
    from algorithms.preference import elo_to_bradley_terry, order_dependence, sample_comparisons
    from algorithms.weeks.week09.figures import order_figure

    to_logits = math.log(10.0) / config.elo_scale
    ks = config.elo_ks
    names = ("order_spread_rating", "order_spread", "bt_deviation", "theta_rmse",
             "rank_correlation")
    elo = {name: np.zeros((config.n_seeds, len(ks))) for name in names}
    bt_spread = np.zeros(config.n_seeds)
    bt_rmse = np.zeros(config.n_seeds)
    seeds = range(config.seed, config.seed + config.n_seeds)
    for row, seed in enumerate(tracker.track(seeds, total=config.n_seeds,
                                             description="order dependence: seeds")):
        rng = np.random.default_rng([seed, 1])
        theta = true_strengths(config.n_items, rng)
        games = sample_comparisons(theta, config.order_games, rng)
        for col, k in enumerate(ks):
            # the same orders for every K: the generator is re-seeded per K
            result = order_dependence(config.n_items, games, np.random.default_rng([seed, 2]),
                                      n_orders=config.n_orders, k=k, scale=config.elo_scale,
                                      alpha=config.alpha)
            elo_theta = np.stack([elo_to_bradley_terry(r, config.elo_scale) for r in result.elo])
            mle = result.bt[0]
            elo["order_spread_rating"][row, col] = float(result.elo_std.mean())
            elo["order_spread"][row, col] = float(elo_theta.std(axis=0).mean())
            elo["bt_deviation"][row, col] = float(np.sqrt(((elo_theta - mle) ** 2).mean(axis=1))
                                                  .mean())
            elo["theta_rmse"][row, col] = float(np.sqrt(((elo_theta - theta) ** 2).mean(axis=1))
                                                .mean())
            elo["rank_correlation"][row, col] = result.elo_rank_correlation
            if col == 0:
                # max |θ̂_order − θ̂_first order|: it bounds the spread over orders, and is
                # exactly 0 (a standard deviation of equal numbers can round to 1e-16)
                bt_spread[row] = result.bt_max_deviation
                bt_rmse[row] = float(np.sqrt(np.mean((mle - theta) ** 2)))

    summary: dict[str, float] = {}
    rows = []
    stats = {name: mean_ci(values) for name, values in elo.items()}
    for col, k in enumerate(ks):
        mean = {name: float(stats[name][0][col]) for name in names}
        half = {name: float(stats[name][1][col]) for name in names}
        rows.append([f"Elo, K={k:g}", k, round(mean["order_spread_rating"], 2),
                     round(mean["order_spread"], 4), round(half["order_spread"], 4),
                     round(mean["bt_deviation"], 4), round(half["bt_deviation"], 4),
                     round(mean["theta_rmse"], 4), round(mean["rank_correlation"], 4)])
        prefix = f"elo.k{k:g}"
        for name in names:
            summary[f"{prefix}.{name}"] = round(mean[name], 4)
        if k == config.elo_k:
            for name in ("order_spread_rating", "order_spread", "bt_deviation"):
                summary[f"elo.{name}"] = round(mean[name], 4)
            summary["elo.order_rank_correlation"] = round(mean["rank_correlation"], 4)
    bt_rmse_mean, _ = mean_ci(bt_rmse[:, None])
    rows.append(["Bradley-Terry MLE", "—", round(float(bt_spread.max()) / to_logits, 2),
                 float(bt_spread.max()), 0.0, 0.0, 0.0, round(float(bt_rmse_mean[0]), 4), 1.0])
    summary["bt.order_spread"] = float(bt_spread.max())
    summary["bt.order_theta_rmse"] = round(float(bt_rmse_mean[0]), 4)
    tracker.log_table(
        "preferences/order",
        ["method", "K", "rating spread over orders (Elo points)", "spread over orders (logits)",
         "± 95% CI", "RMSE to the BT MLE (logits)", "± 95% CI", "θ RMSE to truth (logits)",
         "Spearman ρ between orders"], rows)
    tracker.log_figure(
        "preferences/order",
        order_figure(np.array(ks), {"spread over orders": elo["order_spread"],
                                    "RMSE to the Bradley-Terry MLE": elo["bt_deviation"],
                                    "RMSE to the true θ": elo["theta_rmse"]},
                     float(bt_rmse_mean[0])),
        f"Elo's dependence on the order of the games: {config.order_games} games among "
        f"{config.n_items} items replayed in {config.n_orders} random orders, at each K. Per "
        f"item, the standard deviation of the final rating over orders (in logits, θ = R ln 10 "
        f"/ {config.elo_scale:g}), and the RMSE of Elo's θ to the Bradley-Terry MLE on the same "
        f"games and to the truth; mean and 95% interval over {config.n_seeds} seeds (dots: "
        f"seeds). The MLE reads only the win counts: its spread over orders is exactly 0 "
        f"(dotted line: its RMSE to the truth).")
    return summary


def rank_breaking_study(config: PreferenceModelsConfig, tracker: Tracker) -> dict[str, float]:
    """Study 3: Plackett-Luce on rankings against Bradley-Terry on their implied pairs."""
    import numpy as np

    from algorithms.harness import mean_ci
    from algorithms.preference import bradley_terry, plackett_luce
    from algorithms.preference import fit_bradley_terry, fit_plackett_luce, sample_rankings

    k = config.ranking_size
    arms = ("pl", "bt")
    rmse = {arm: np.zeros(config.rb_seeds) for arm in arms}
    se = {arm: np.zeros(config.rb_seeds) for arm in arms}
    covered = {arm: [] for arm in arms}
    seeds = range(config.seed, config.seed + config.rb_seeds)
    for row, seed in enumerate(tracker.track(seeds, total=config.rb_seeds,
                                             description="rank-breaking: seeds")):
        rng = np.random.default_rng([seed, 3])
        theta = true_strengths(config.n_items, rng)
        rankings = sample_rankings(theta, config.rb_rankings, k, rng)
        pairs = plackett_luce.rank_break(rankings)
        fits = {"pl": fit_plackett_luce(config.n_items, rankings, alpha=config.alpha),
                "bt": fit_bradley_terry(config.n_items, pairs, alpha=config.alpha)}
        info = {"pl": plackett_luce.observed_information(config.n_items, rankings, fits["pl"]),
                "bt": bradley_terry.observed_information(config.n_items, pairs, fits["bt"])}
        for arm in arms:
            error = fits[arm] - theta
            errors = bradley_terry.standard_errors(info[arm])
            rmse[arm][row] = float(np.sqrt(np.mean(error ** 2)))
            se[arm][row] = float(np.sqrt(np.mean(errors ** 2)))
            covered[arm].append(np.abs(error) <= 1.96 * errors)

    labels = {"pl": f"Plackett-Luce MLE on the rankings of {k}",
              "bt": "Bradley-Terry MLE on the rank-broken pairs"}
    terms = {"pl": config.rb_rankings * (k - 1), "bt": config.rb_rankings * k * (k - 1) // 2}
    summary: dict[str, float] = {"rankbreak.choices_per_ranking": k - 1,
                                 "rankbreak.pairs_per_ranking": k * (k - 1) // 2,
                                 "rankbreak.n_seeds": config.rb_seeds}
    rows = []
    for arm in arms:
        mean, half = mean_ci(rmse[arm][:, None])
        # the actual error against the claimed one, pooled over seeds and items
        ratio = float(np.sqrt(np.mean(rmse[arm] ** 2) / np.mean(se[arm] ** 2)))
        coverage = float(np.mean(np.concatenate(covered[arm])))
        observed = (f"{config.rb_rankings} rankings" if arm == "pl"
                    else f"{terms['bt']} pairs from {config.rb_rankings} rankings")
        rows.append([labels[arm], observed, terms[arm], round(float(mean[0]), 4),
                     round(float(half[0]), 4), round(float(np.mean(se[arm])), 4),
                     round(ratio, 3), round(coverage, 3)])
        summary[f"rankbreak.{arm}.theta_rmse"] = round(float(mean[0]), 4)
        summary[f"rankbreak.{arm}.theta_rmse_ci95"] = round(float(half[0]), 4)
        summary[f"rankbreak.{arm}.nominal_se"] = round(float(np.mean(se[arm])), 4)
        summary[f"rankbreak.{arm}.se_ratio"] = round(ratio, 4)
        summary[f"rankbreak.{arm}.coverage95"] = round(coverage, 4)
    tracker.log_table(
        "preferences/rank-breaking",
        ["method", "observations", "terms in the likelihood", "θ RMSE (logits)", "± 95% CI",
         "nominal SE (logits)", "RMSE / nominal SE", "coverage of nominal 95% intervals"], rows)
    return summary
