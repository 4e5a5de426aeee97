"""Week 9's ``preference-models`` at the smoke profile: Bradley-Terry, Plackett-Luce and Elo
recover known strengths, the tables have their rows, and Bradley-Terry ignores the order of the
games while Elo does not."""

from __future__ import annotations

import math

import numpy as np
import pytest
from recording_tracker import RecordingTracker

from algorithms.preference.plackett_luce import rank_break
from algorithms.weeks.week09.preference_models import PreferenceModelsConfig, preference_models


@pytest.fixture(scope="module")
def run():
    config = PreferenceModelsConfig.for_profile("smoke")
    tracker = RecordingTracker()
    return config, preference_models(config, tracker), tracker


def test_the_summary_is_finite_and_the_tables_and_figures_exist(run):
    _, summary, tracker = run
    assert summary and all(math.isfinite(v) for v in summary.values())
    assert set(tracker.tables) == {"preferences/recovery", "preferences/order",
                                   "preferences/rank-breaking"}
    assert set(tracker.figures) == {"preferences/recovery", "preferences/order"}
    for key in ("bt.theta_rmse", "pl.theta_rmse", "elo.theta_rmse", "elo.order_spread",
                "bt.order_spread", "rankbreak.bt.coverage95"):
        assert key in summary, key


def test_recovery_has_every_method_at_every_budget_and_bt_improves_with_data(run):
    config, summary, tracker = run
    columns, rows = tracker.tables["preferences/recovery"]
    assert columns[:4] == ["method", "budget (choices)", "observations", "θ RMSE (logits)"]
    assert len(rows) == 3 * len(config.budgets)
    assert [row[1] for row in rows] == config.budgets * 3
    bt = [row[3] for row in rows if row[0].startswith("Bradley-Terry")]
    assert bt[-1] < bt[0]
    assert summary["bt.theta_rmse"] == bt[-1]
    pl_rows = [row for row in rows if row[0].startswith("Plackett-Luce")]
    k = config.ranking_size
    assert [row[2] for row in pl_rows] == [f"{b // (k - 1)} rankings" for b in config.budgets]
    for row in rows:
        assert row[3] >= 0 and -1 <= row[5] <= 1 and -1 <= row[7] <= 1


def test_bt_is_invariant_to_the_order_of_the_games_and_elo_is_not(run):
    config, summary, tracker = run
    assert summary["bt.order_spread"] <= 1e-9
    assert summary["elo.order_spread"] > 0
    _, rows = tracker.tables["preferences/order"]
    assert [row[0] for row in rows] == [f"Elo, K={k:g}" for k in config.elo_ks] + [
        "Bradley-Terry MLE"]
    spreads = [row[3] for row in rows[:-1]]
    assert all(s > 0 for s in spreads) and spreads[-1] > spreads[0]  # a larger K moves more
    assert rows[-1][3] <= 1e-9


def test_rank_breaking_lists_every_implied_pair_and_is_tabled(run):
    pairs = rank_break(np.array([[2, 0, 1]]))
    assert pairs.tolist() == [[2, 0], [2, 1], [0, 1]]
    config, summary, tracker = run
    _, rows = tracker.tables["preferences/rank-breaking"]
    k = config.ranking_size
    assert [row[2] for row in rows] == [config.rb_rankings * (k - 1),
                                        config.rb_rankings * k * (k - 1) // 2]
    assert summary["rankbreak.pairs_per_ranking"] == k * (k - 1) // 2
    assert all(0 <= row[7] <= 1 for row in rows)
