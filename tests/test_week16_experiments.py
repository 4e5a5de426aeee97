"""Week 16's registered experiments run end to end on the smoke profile."""

import subprocess
import sys

import pytest

from algorithms.experiment import PROFILES, experiments_for
from recording_tracker import week_smoke_runs
from test_policy_helpers import check_run

EXPERIMENTS = experiments_for(16)


def test_week_16_registers_its_experiments_and_their_plan_coverage():
    assert set(EXPERIMENTS) == {"maml-sinusoid", "meta-rl", "matrix-games"}
    assert EXPERIMENTS["maml-sinusoid"].covers == EXPERIMENTS["meta-rl"].covers == (1,)
    assert EXPERIMENTS["matrix-games"].covers == (2,)
    for exp in EXPERIMENTS.values():
        assert exp.seeded and exp.description
        for profile in PROFILES:
            assert exp.config.for_profile(profile).profile == profile
    assert EXPERIMENTS["maml-sinusoid"].config.for_profile("cpu").n_seeds >= 3


def test_importing_week_16_loads_neither_matplotlib_nor_torch():
    code = ("import sys, algorithms.weeks.week16; "
            "print(any(m in sys.modules for m in ('matplotlib', 'torch', 'gymnasium', 'wandb')))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_smoke_run_logs_curves_tables_figures_and_flat_float_summaries(name):
    summary, tracker = week_smoke_runs(16)[name]
    check_run(summary, tracker)
    assert tracker.tables


def test_the_summaries_name_the_compared_quantities():
    runs = week_smoke_runs(16)
    sinusoid = runs["maml-sinusoid"][0]
    for k in (5, 10):
        for method in ("maml", "fomaml", "reptile", "pretrained"):
            assert {f"k{k}.{method}.mse_step{s}" for s in (0, 1, 10)} <= set(sinusoid)
            assert f"k{k}.{method}.mse_step1_ci" in sinusoid
    rl = runs["meta-rl"][0]
    assert {f"{m}.return_step{s}" for m in ("maml", "pretrained", "scratch")
            for s in (0, 1)} <= set(rl)
    games = runs["matrix-games"][0]
    assert "rps.fictitious_play.exploitability_final" in games
    assert "rps.hedge.slope" in games and "prisoners_dilemma.hedge.slope" not in games


def test_an_unknown_game_is_refused():
    bad = EXPERIMENTS["matrix-games"].config.for_profile("smoke", games=("rps", "chess"))
    with pytest.raises(ValueError, match="unknown game chess"):
        EXPERIMENTS["matrix-games"].fn(bad, None)
