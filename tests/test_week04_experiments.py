"""Week 4's registered experiments run end to end on the smoke profile."""

import math

import pytest

from forge_cli.experiment import experiments_for
from recording_tracker import RecordingTracker
from test_policy_helpers import check_run

EXPERIMENTS = experiments_for(4)


@pytest.fixture(scope="module")
def runs():
    results = {}
    for name, exp in EXPERIMENTS.items():
        tracker = RecordingTracker()
        results[name] = exp.fn(exp.config.for_profile("smoke"), tracker), tracker
    return results


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_smoke_run_logs_curves_figures_and_flat_float_summaries(name, runs):
    summary, tracker = runs[name]
    check_run(summary, tracker)
    assert EXPERIMENTS[name].seeded
    assert EXPERIMENTS[name].config.for_profile("gpu").profile == "gpu"
