"""Week 14's registered experiments run end to end on the smoke profile, every profile builds
its DQN (and PPO / A2C) configs, and importing the week stays light."""

import subprocess
import sys

import pytest

from algorithms.experiment import PROFILES, experiments_for
from recording_tracker import week_smoke_runs
from test_policy_helpers import check_run

EXPERIMENTS = experiments_for(14)


def test_week_14_registers_its_experiments_and_covers_both_plan_items():
    assert set(EXPERIMENTS) == {"dqn-cartpole", "value-vs-policy", "rainbow-ablation",
                                "overestimation", "dqn-atari"}
    covered = {i for exp in EXPERIMENTS.values() for i in exp.covers}
    assert covered == {1, 2}
    assert all(exp.seeded and exp.description for exp in EXPERIMENTS.values())


def test_importing_week_14_loads_neither_torch_nor_matplotlib():
    code = ("import sys, algorithms.weeks.week14; "
            "print(any(m in sys.modules for m in ('matplotlib', 'torch', 'gymnasium', 'wandb')))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_smoke_run_logs_curves_figures_and_flat_float_summaries(name):
    summary, tracker = week_smoke_runs(14)[name]
    check_run(summary, tracker)


def test_smoke_summaries_name_what_each_experiment_measures():
    runs = week_smoke_runs(14)
    single, _ = runs["dqn-cartpole"]
    assert {"final_return", "eval_return", "target", "sps"} <= set(single)
    compare, tracker = runs["value-vs-policy"]
    assert {f"{env}.{m}.{s}" for env in ("cartpole", "minatar") for m in ("dqn", "ppo", "a2c")
            for s in ("final_return", "eval_return", "auc", "seeds_reaching")} <= set(compare)
    assert {"compare/steps_to_reach", "compare/eval_return"} <= set(tracker.tables)
    assert {"compare/cartpole/episodic_return", "compare/minatar/episodic_return"} \
        <= set(tracker.figures)
    ablation, tracker = runs["rainbow-ablation"]
    assert {f"{env}.{v}.eval_return" for env in ("cartpole", "minatar")
            for v in ("dqn", "double", "dueling", "per", "nstep", "all")} <= set(ablation)
    assert {"ablation/cartpole/episodic_return", "ablation/minatar/episodic_return",
            "ablation/auc_by_variant"} <= set(tracker.figures)
    values, tracker = runs["overestimation"]
    assert {f"{m}.{s}" for m in ("dqn", "double")
            for s in ("final_q_s0", "final_return_s0", "mean_gap", "max_gap")} <= set(values)
    assert "overestimation/value_estimates" in tracker.figures


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_every_profile_builds_the_algorithm_configs(name, profile):
    from algorithms.value.dqn import DQNConfig

    built = EXPERIMENTS[name].config.for_profile(profile, seed=3).algorithm_configs()
    assert built and all(algo.seed == 3 for algo in built.values())
    assert any(isinstance(algo, DQNConfig) for algo in built.values())


def test_dqn_cartpole_passes_rl_zoo_settings_through_and_rejects_unknown_fields():
    config = EXPERIMENTS["dqn-cartpole"].config
    (cpu,) = config.for_profile("cpu").algorithm_configs().values()
    assert (cpu.learning_rate, cpu.batch_size, cpu.buffer_size, cpu.learning_starts,
            cpu.train_freq, cpu.gradient_steps, cpu.exploration_fraction,
            cpu.exploration_final_eps, cpu.hidden, cpu.total_timesteps) == \
        (2.3e-3, 64, 100_000, 1_000, 256, 128, 0.16, 0.04, (256, 256), 50_000)
    with pytest.raises(ValueError, match="DQNConfig has no field gradient_step"):
        config.for_profile("cpu", algo={"gradient_step": 3}).algorithm_configs()
    ablation = EXPERIMENTS["rainbow-ablation"].config.for_profile("cpu").algorithm_configs()
    combined = ablation["cartpole/all"]
    assert (combined.double, combined.dueling, combined.prioritized, combined.n_step) == \
        (True, True, True, 3)
    assert not any((ablation["minatar/dqn"].double, ablation["minatar/dqn"].dueling,
                    ablation["minatar/dqn"].prioritized, ablation["minatar/dqn"].n_step > 1))


def test_value_vs_policy_gives_each_env_one_budget_and_rejects_unknown_env_fields():
    config = EXPERIMENTS["value-vs-policy"].config
    built = config.for_profile("cpu").algorithm_configs()
    for env, env_id, budget in (("cartpole", "CartPole-v1", 50_000),
                                ("minatar", "MinAtar-Breakout", 100_000)):
        assert {(built[f"{env}/{m}"].env_id, built[f"{env}/{m}"].total_timesteps)
                for m in ("dqn", "ppo", "a2c")} == {(env_id, budget)}
    # MinAtar: weeks 6 and 7's own A2C and PPO, not CartPole's
    assert (built["minatar/a2c"].n_envs, built["minatar/a2c"].optimizer) == (16, "rmsprop")
    assert (built["minatar/ppo"].n_steps, built["minatar/ppo"].clip_coef) == (128, 0.1)
    assert built["minatar/dqn"].buffer_size == 100_000
    with pytest.raises(ValueError, match="envs.minatar has no field reach_at"):
        config.for_profile("cpu", envs={"minatar": {"reach_at": 2.0}}).algorithm_configs()
