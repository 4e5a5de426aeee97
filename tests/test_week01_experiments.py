"""Week 1's registered experiments run end to end on the smoke profile."""

import math
import subprocess
import sys

import pytest

from algorithms.experiment import experiments_for
from algorithms.weeks.week01.contenders import contenders, label
from recording_tracker import RecordingTracker, week_smoke_runs

EXPERIMENTS = experiments_for(1)


@pytest.fixture(scope="module")
def runs() -> dict[str, tuple[dict[str, float], RecordingTracker]]:
    return week_smoke_runs(1)


def test_week_1_registers_its_four_deterministic_experiments():
    assert set(EXPERIMENTS) == {"book-examples", "pi-vs-vi", "convergence", "heatmaps"}
    assert not any(exp.seeded for exp in EXPERIMENTS.values())
    for exp in EXPERIMENTS.values():
        assert exp.description and exp.config.for_profile("gpu").profile == "gpu"


def test_importing_week_1_loads_neither_matplotlib_nor_torch():
    code = ("import sys, algorithms.weeks.week01; "
            "print(any(m in sys.modules for m in ('matplotlib', 'torch', 'wandb')))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_contenders_run_from_value_iteration_to_policy_iteration():
    names = list(contenders((2, 5), theta=1e-8))
    assert names == ["vi", "mpi2", "mpi5", "pi", "vi_inplace", "mpi2_inplace", "mpi5_inplace",
                     "pi_inplace"]
    assert [label(n) for n in ("vi", "mpi5", "pi_inplace")] == ["VI", "MPI k=5", "PI (in-place)"]


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_summaries_are_flat_floats_and_figures_have_captions(name, runs):
    summary, tracker = runs[name]
    assert summary and all(isinstance(v, float) for v in summary.values())
    assert tracker.figures and all(len(caption) > 40 for caption in tracker.figures.values())
    for key in [*tracker.figures, *tracker.tables, *(k for _, m in tracker.logs for k in m)]:
        section, _, rest = key.partition("/")
        assert section and rest and key == key.lower().replace(" ", "_"), key
    assert len(tracker.logs) < 1000
    assert not set(tracker.tables) & set(tracker.figures)  # a key names one thing
    # every series says what its steps count (sweeps, discounts), none is a bare "step"
    assert "step" not in tracker.axes.values()


def test_book_examples_reproduce_the_printed_numbers(runs):
    summary, tracker = runs["book-examples"]
    assert summary["book.max_abs_dev"] < 0.05
    assert summary["gridworld5x5.optimal_policy_matches_book"] == 1.0
    assert summary["gambler.v50"] == pytest.approx(0.4)
    assert summary["gambler.stake50"] == 50.0
    assert summary["cliffwalking.optimal_path_length"] == 13.0
    # Figure 4.1 prints -1.7 for k = 2 where the exact value is -1.75
    assert summary["gridworld4x4.random_k1_2_3_10.max_print_dev"] == pytest.approx(0.05)
    assert {"book/gridworld4x4_random_policy", "book/gridworld5x5", "book/gambler",
            "book/cliffwalking_optimal_path"} <= set(tracker.figures)
    columns, rows = tracker.tables["book/cliffwalking_path_cells"]
    assert len(rows) == 14 and rows[0][1:] == [3, 0] and rows[-1][1:] == [3, 11]  # S to G
    assert tracker.axes["book/gambler_delta"] == "sweep"


def test_every_algorithm_reaches_epsilon(runs):
    summary, tracker = runs["pi-vs-vi"]
    assert summary["reached_eps_fraction"] == 1.0
    columns, rows = tracker.tables["compare/cost_to_eps"]
    backups = columns.index("backups_to_eps")
    assert rows and all(math.isfinite(row[backups]) and row[backups] > 0 for row in rows)
    # VI is MPI with k = 1; every algorithm is run synchronously and in place
    assert {row[columns.index("update")] for row in rows} == {"synchronous", "in-place"}
    assert summary["gridworld4x4.vi.backups"] < summary["gridworld4x4.pi.backups"]
    assert tracker.axes["compare/gridworld4x4/vi/backups_to_eps"] == "gamma"
    assert {step for step, _ in tracker.logs} == {0.9, 1.0}  # the smoke γ and the episodic γ = 1


def test_convergence_logs_value_error_curves(runs):
    summary, tracker = runs["convergence"]
    logged = {key for _, metrics in tracker.logs for key in metrics}
    assert "convergence/gridworld5x5/vi/value_error" in logged
    assert summary["gridworld5x5.vi.empirical_rate"] <= 0.9 + 1e-6  # γ-contraction, γ = 0.9
    assert {"convergence/error_vs_sweeps", "convergence/error_vs_backups"} <= set(tracker.figures)


def test_heatmaps_draw_each_environment(runs):
    summary, tracker = runs["heatmaps"]
    config = EXPERIMENTS["heatmaps"].config.for_profile("smoke")
    assert set(tracker.figures) == {f"heatmaps/{env}" for env in config.environments}
    assert summary["frozenlake4x4.v_start"] == pytest.approx(0.542, abs=1e-3)
