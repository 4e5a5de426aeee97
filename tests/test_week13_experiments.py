"""Week 13 (scaling laws and emergence) at the smoke profile: every experiment runs and reports
its fits, tables and figures."""

from __future__ import annotations

import math

import pytest
from recording_tracker import week_smoke_runs


@pytest.fixture(scope="module")
def runs():
    return week_smoke_runs(13)


def test_every_experiment_reports_numbers_tables_and_figures(runs):
    for name, (summary, tracker) in runs.items():
        assert summary and tracker.tables and tracker.figures, name
        assert all(math.isfinite(v) for v in summary.values()), name


def test_the_family_is_an_isoflop_grid_and_every_law_is_tabled(runs):
    summary, tracker = runs["scaling-family"]
    _, rows = tracker.tables["family/runs"]
    assert len(rows) == 6 * 3 and summary["family.n_runs"] == 18
    budgets = {row[1] for row in rows}
    assert len(budgets) == 3
    for budget in budgets:  # C = 6ND: at one budget, tokens fall as parameters grow
        group = sorted((row[2], row[4]) for row in rows if row[1] == budget)
        assert [t for _, t in group] == sorted((t for _, t in group), reverse=True)
    _, exponents = tracker.tables["fits/exponents"]
    assert [row[0].split(":")[0] for row in exponents][:4] == [
        "Kaplan α_N (L(N), non-embedding N)", "Kaplan α_D (L(D), largest model)",
        "Kaplan α_C (L(C_min), least loss per budget)", "approach 2"]
    # a percentile interval of bootstrap refits (it need not contain the point fit on the
    # smoke profile's noise)
    assert summary["chinchilla.alpha_lo"] <= summary["chinchilla.alpha_hi"]


def test_grokking_runs_the_weight_decay_arm_and_its_control(runs):
    summary, tracker = runs["grokking"]
    _, rows = tracker.tables["grokking/milestones"]
    assert [row[0] for row in rows] == ["weight decay 1", "weight decay 0 (control)"]
    assert {"grokking/accuracy", "grokking/progress"} <= set(tracker.figures)
    assert 0 <= summary["wd.final_test_acc"] <= 1


def test_emergence_scores_every_size_at_every_width_four_ways(runs):
    summary, tracker = runs["emergence"]
    _, rows = tracker.tables["emergence/scores"]
    config_sizes, widths = 3, 2  # the smoke profile's
    assert len(rows) == config_sizes * widths
    params = [row[1] for row in rows if row[2] == 1]
    assert params == sorted(params)  # ordered by size
    for row in rows:
        assert 0 <= row[4] <= 1 and row[9] <= 0 and row[10] >= 0
    _, thresholds = tracker.tables["emergence/thresholds"]
    assert [row[0] for row in thresholds] == [1, 2]
    assert {"emergence/two-pictures", "emergence/training"} <= set(tracker.figures)
    assert summary["emergence.n_seeds"] == 2
