"""Weeks 4, 6 and 7's registered experiments run end to end on the smoke profile, and every
profile of every experiment builds its algorithms' configs."""

import pytest

from algorithms.experiment import PROFILES, experiments_for
from recording_tracker import week_smoke_runs
from test_policy_helpers import check_run

WEEKS = (4, 6, 7)
EXPERIMENTS = {(week, name): exp for week in WEEKS for name, exp in experiments_for(week).items()}
# experiments that train no algorithm of algorithms.policy: a tabular MDP sampled, and week 4's
# language-model half (algorithms.preference's trainers)
NO_ALGORITHM = {(4, "off-policy-corrections"), (4, "grpo"), (4, "preference-optimization")}


@pytest.mark.parametrize("week, name", sorted(EXPERIMENTS))
def test_smoke_run_logs_curves_figures_and_flat_float_summaries(week, name):
    summary, tracker = week_smoke_runs(week)[name]
    check_run(summary, tracker)
    assert EXPERIMENTS[(week, name)].seeded
    assert EXPERIMENTS[(week, name)].config.for_profile("gpu").profile == "gpu"


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("week, name", sorted(EXPERIMENTS))
def test_every_profile_builds_the_algorithm_configs(week, name, profile):
    config = EXPERIMENTS[(week, name)].config.for_profile(profile, seed=3)
    if (week, name) in NO_ALGORITHM:
        assert not hasattr(config, "algorithm_configs")
        return
    built = config.algorithm_configs()  # raises on a field the algorithm's dataclass lacks
    assert built and all(algo.seed == 3 for algo in built.values())


def test_single_run_configs_pass_the_rl_zoo_settings_through_and_merge_profiles():
    from algorithms.policy import ppo

    config = experiments_for(7)["ppo-cartpole"].config
    cpu = config.for_profile("cpu").algorithm_configs()["ppo"]
    smoke = config.for_profile("smoke").algorithm_configs()["ppo"]
    assert isinstance(cpu, ppo.PPOConfig)
    assert (cpu.total_timesteps, cpu.n_epochs, cpu.gamma, cpu.gae_lambda) == \
        (100_000, 20, 0.98, 0.8)
    # the smoke profile names only what it changes; the rest of algo stays
    assert (smoke.total_timesteps, smoke.n_epochs, smoke.gamma) == (512, 2, 0.98)


def test_an_unknown_algorithm_field_is_a_clear_error():
    config = experiments_for(7)["ppo-cartpole"].config.for_profile("cpu", algo={"n_epoch": 3})
    with pytest.raises(ValueError, match="PPOConfig has no field n_epoch"):
        config.algorithm_configs()
    study = experiments_for(7)["clip-sweep"].config.for_profile("cpu", algo={"clip_coef": 0.5})
    with pytest.raises(ValueError, match="clip_coef is set by the experiment"):
        study.algorithm_configs()


def test_evaluating_a_policy_trained_on_normalised_observations_is_refused():
    from algorithms.weeks.rl_common import single_run
    from recording_tracker import RecordingTracker

    config = experiments_for(7)["ppo-pendulum"].config.for_profile(
        "smoke", algo={"normalize_env": True})
    with pytest.raises(ValueError, match="normalised"):
        single_run(RecordingTracker(), config, "PPO")
