"""Weeks 4, 6 and 7's registered experiments run end to end on the smoke profile."""

import pytest

from algorithms.experiment import experiments_for
from recording_tracker import smoke_runs
from test_policy_helpers import check_run

EXPERIMENTS = {(week, name): exp for week in (4, 6, 7) for name, exp in experiments_for(week).items()}


@pytest.fixture(scope="module")
def runs():
    return smoke_runs({f"{week}/{name}": exp for (week, name), exp in EXPERIMENTS.items()})


@pytest.mark.parametrize("week, name", sorted(EXPERIMENTS))
def test_smoke_run_logs_curves_figures_and_flat_float_summaries(week, name, runs):
    summary, tracker = runs[f"{week}/{name}"]
    check_run(summary, tracker)
    assert EXPERIMENTS[(week, name)].seeded
    assert EXPERIMENTS[(week, name)].config.for_profile("gpu").profile == "gpu"
