"""Week 15's registered experiments run end to end on the smoke profile."""

import subprocess
import sys

import pytest

from algorithms.experiment import PROFILES, experiments_for
from recording_tracker import week_smoke_runs
from test_policy_helpers import check_run

EXPERIMENTS = experiments_for(15)


def test_week_15_registers_its_four_seeded_experiments_covering_both_plan_items():
    assert set(EXPERIMENTS) == {"dyna-maze", "changing-mazes", "prioritized-sweeping",
                                "world-model-mpc"}
    for exp in EXPERIMENTS.values():
        assert exp.seeded and exp.covers == (1, 2) and exp.description
        for profile in PROFILES:
            assert exp.config.for_profile(profile).profile == profile


def test_importing_week_15_loads_neither_matplotlib_nor_torch():
    code = ("import sys, algorithms.weeks.week15; "
            "print(any(m in sys.modules for m in ('matplotlib', 'torch', 'gymnasium', 'wandb')))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_smoke_run_logs_curves_tables_figures_and_flat_float_summaries(name):
    summary, tracker = week_smoke_runs(15)[name]
    check_run(summary, tracker)
    assert tracker.tables


def test_the_summaries_name_the_books_quantities():
    runs = week_smoke_runs(15)
    dyna_maze = runs["dyna-maze"][0]
    assert dyna_maze["shortest_path"] == 14.0
    assert {"n0.steps_episode_5", "n50.steps_episode_5"} <= set(dyna_maze)
    changing = runs["changing-mazes"][0]
    for agent in ("dyna_q", "dyna_q_plus"):
        assert 0.0 <= changing[f"{agent}.shortcut_found_fraction"] <= 1.0
        assert f"shortcut.{agent}.reward_rate_after" in changing
    sweeping = runs["prioritized-sweeping"][0]
    assert sweeping["k1.states"] == 47.0 and sweeping["k2.states"] == 188.0
    world = runs["world-model-mpc"][0]
    assert {"mpc_cem.model_error_h1", "mpc_random.model_spread_h5", "ppo.eval_return"} <= set(world)
    assert world["budget_env_steps"] == 120.0


def test_every_profile_builds_the_algorithm_configs_and_an_unknown_optimizer_is_refused():
    config = EXPERIMENTS["world-model-mpc"].config
    for profile in PROFILES:
        built = config.for_profile(profile, seed=3).algorithm_configs()
        assert set(built) >= {"ppo", "mpc_cem"} and all(c.seed == 3 for c in built.values())
        assert len({c.total_timesteps for c in built.values()}) == 1  # one budget for all
    bad = config.for_profile("smoke", optimizers=("cem", "mppi"))
    with pytest.raises(ValueError, match="unknown MPC optimizer mppi"):
        EXPERIMENTS["world-model-mpc"].fn(bad, None)
