"""W&B sweeps: search spaces declared by experiments, ``forge sweep`` and ``forge agent``.

No network: the sweep configs are checked against forge's copy of W&B's sweep-config format,
and the agent's W&B calls (reading the sweep, ``wandb.agent``, the trial's ``wandb.init``) are
replaced by offline ones where a test runs trials.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from algorithms.experiment import ExperimentConfig, experiments_for
from forge_cli import sweep_agent
from forge_cli.config import load_settings
from forge_cli.errors import BadInput
from forge_cli.store import RunStore, load_run
from forge_cli.sweep_schema import sweep_violations
from forge_cli.sweeps import (FIXED, build_sweep_config, params_to_overrides,
                              target_from_sweep_config, trial_config)
from forge_cli_harness import assert_one_line_error, forge, tree_fingerprint
from wandb_offline import read_run

SMOKE_KEYS = json.loads((Path(__file__).parent / "data" / "smoke_summary_keys.json").read_text())
TOY_SPACE = {"lr": {"values": [0.1, 0.2]}, "opt.momentum": {"min": 0.5, "max": 0.99},
             "seed": {"values": [0, 1]}}


class ToyConfig(ExperimentConfig):
    lr: float = 0.1
    steps: int = 3
    opt: dict[str, Any] = {"momentum": 0.9, "nesterov": False}
    profiles: ClassVar[dict[str, dict[str, Any]]] = {"smoke": {"steps": 2}}


def toy(config: ToyConfig, tracker) -> dict[str, float]:
    """A toy: its loss is lr × steps."""
    for step in range(config.steps):
        tracker.log({"train/loss": config.lr * (step + 1)}, step=step)
    return {"loss": config.lr * config.steps, "momentum": config.opt["momentum"]}


@pytest.fixture
def toy_experiment(registry):
    registry.experiment(week=16, name="toy", config=ToyConfig, covers=(), search_space=TOY_SPACE,
                        search_metric=("loss", "minimize"))(toy)
    registry.experiment(week=16, name="plain", config=ToyConfig, covers=())(toy)
    return registry.experiments_for(16)["toy"]


@pytest.fixture
def offline(project):
    (project / "forge.toml").write_text('[wandb]\nmode = "offline"\n')
    return project


def _declared() -> list[Any]:
    return [pytest.param(found, id=f"week{week}-{name}") for week in range(1, 17)
            for name, found in experiments_for(week).items() if found.search_space]


# ----------------------------------------------------------------------------- search spaces

def test_some_experiments_declare_a_search_space():
    assert {(7, "ppo-cartpole"), (6, "a2c-cartpole")} <= {
        (p.values[0].week, p.values[0].name) for p in _declared()}


@pytest.mark.parametrize("experiment", _declared())
def test_declared_search_spaces_make_valid_sweep_configs(experiment):
    metric, goal = experiment.search_metric
    assert goal in ("minimize", "maximize")
    recorded = SMOKE_KEYS.get(f"week{experiment.week:02d}/{experiment.name}")
    if recorded is not None:  # the metric is a key the experiment's summary really has
        assert metric in recorded, (metric, sorted(recorded))
    discrete = all({"values", "value"} & set(spec) for spec in experiment.search_space.values())
    for method in ("random", "bayes", *(["grid"] if discrete else [])):
        for profile in ("smoke", "cpu", "gpu"):
            config = build_sweep_config(experiment, profile, method, count=4)
            assert sweep_violations(config) == []
            target = target_from_sweep_config(config, "x")
            assert (target.week, target.experiment, target.profile) == (
                experiment.week, experiment.name, profile)
            assert config["metric"] == {"name": metric, "goal": goal}
            assert config["run_cap"] == 4 and config["method"] == method


@pytest.mark.parametrize("space, metric, needle", [
    ({"lrr": {"values": [1]}}, ("loss", "minimize"), "'lrr'"),
    ({"lr.x": {"values": [1]}}, ("loss", "minimize"), "'lr.x'"),        # lr is no dict
    ({"opt.a.b": {"values": [1]}}, ("loss", "minimize"), "'opt.a.b'"),  # one level only
    ({"profile": {"values": ["cpu"]}}, ("loss", "minimize"), "'profile'"),
    ({"lr": [0.1, 0.2]}, ("loss", "minimize"), "'lr'"),                 # not a parameter dict
    ({"lr": {"values": [1]}}, None, "search_metric"),
    ({"lr": {"values": [1]}}, ("loss", "lowest"), "search_metric"),
    ({}, ("loss", "minimize"), "non-empty"),
])
def test_a_bad_search_space_fails_at_registration(registry, space, metric, needle):
    with pytest.raises(ValueError, match="toy2") as error:
        registry.experiment(week=16, name="toy2", config=ToyConfig, covers=(),
                            search_space=space, search_metric=metric)(toy)
    assert needle in str(error.value)
    assert "toy2" not in registry.experiments_for(16)


def test_a_metric_without_a_search_space_fails_at_registration(registry):
    with pytest.raises(ValueError, match="search_metric without a search_space"):
        registry.experiment(week=16, name="toy2", config=ToyConfig, covers=(),
                            search_metric=("loss", "minimize"))(toy)


def test_a_value_the_config_refuses_is_bad_input_before_any_sweep(registry):
    registry.experiment(week=16, name="toy2", config=ToyConfig, covers=(),
                        search_space={"steps": {"min": 1.0, "max": 4.0}},  # floats: 2.5 is no int
                        search_metric=("loss", "minimize"))(toy)
    with pytest.raises(BadInput, match="steps = 2.5 is refused"):
        build_sweep_config(registry.experiments_for(16)["toy2"], "cpu")


# ----------------------------------------------------------------------------- the schema

@pytest.mark.parametrize("change, needle", [
    ({"method": "anneal"}, "method 'anneal'"),
    ({"extra": 1}, "unknown key 'extra'"),
    ({"run_cap": 0}, "run_cap"),
    ({"metric": {"name": "loss", "goal": "lowest"}}, "metric.goal"),
    ({"parameters": {}}, "at least one parameter"),
    ({"parameters": {"lr": {"distribution": "log_uniform_values", "min": 0, "max": 1}}},
     "parameters.lr.min"),
    ({"parameters": {"lr": {"distribution": "log_uniform", "min": -9, "max": -2}}}, "deprecated"),
    ({"parameters": {"lr": {"min": 0.5, "max": 0.1}}}, "not less than max"),
    ({"parameters": {"lr": {"valuse": [1]}}}, "not a W&B parameter"),
    ({"parameters": {"lr": {"values": [1, 2], "probabilities": [0.5, 0.6]}}}, "sum to 1"),
    ({"method": "grid", "parameters": {"lr": {"min": 0.1, "max": 0.5}}}, "grid search"),
])
def test_the_schema_refuses_what_w_and_b_refuses(change, needle):
    config = {"method": "random", "metric": {"name": "loss", "goal": "minimize"},
              "parameters": {"lr": {"values": [0.1]}}, **change}
    violations = sweep_violations(config)
    assert violations and any(needle in line for line in violations), violations


def test_the_schema_accepts_w_and_b_distributions():
    parameters = {
        "a": {"values": [1, 2]}, "b": {"value": "x"}, "c": {"min": 1, "max": 5},
        "d": {"min": 0.1, "max": 0.5}, "e": {"distribution": "q_uniform", "min": 0, "max": 8,
                                             "q": 2},
        "f": {"distribution": "inv_log_uniform_values", "min": 1e-3, "max": 1.0},
        "g": {"distribution": "normal", "mu": 0, "sigma": 1}, "h": {"distribution": "beta"},
        "i": {"values": [1, 2], "probabilities": [0.25, 0.75]},
        "j": {"parameters": {"k": {"values": [True, False]}}}}
    assert sweep_violations({"method": "bayes", "metric": {"name": "m"},
                             "parameters": parameters, "run_cap": 3}) == []
    assert any("bayes search needs a metric" in v
               for v in sweep_violations({"method": "bayes", "parameters": parameters}))


# ----------------------------------------------------------------------------- trial parameters

def test_trial_parameters_map_onto_config_overrides(toy_experiment):
    params = {"forge_week": 16, "forge_experiment": "toy", "forge_profile": "cpu",
              "_wandb": {"x": 1}, "lr": 0.2, "opt.momentum": 0.5, "seed": 3.0}
    assert params_to_overrides(toy_experiment, params) == (3, {"lr": 0.2,
                                                               "opt": {"momentum": 0.5}})
    config = trial_config(toy_experiment, "smoke", params)
    assert (config.lr, config.seed, config.steps, config.profile) == (0.2, 3, 2, "smoke")
    assert config.opt == {"momentum": 0.5, "nesterov": False}  # merged, not replaced
    nested = params_to_overrides(toy_experiment, {"opt": {"nesterov": True}, "opt.momentum": 0.6})
    assert nested == (None, {"opt": {"nesterov": True, "momentum": 0.6}})


@pytest.mark.parametrize("params, needle", [
    ({"lrr": 0.1}, "'lrr' is not a field of ToyConfig"),
    ({"lr.x": 0.1}, "not a dict-valued field"),
    ({"profile": "gpu"}, "'profile' is not a field"),
    ({"seed": -1}, "seed = -1"),
    ({"seed": 1.5}, "seed = 1.5"),
    ({"lr": 0.1, "lr.x": 2}, "lr.x"),
])
def test_unknown_trial_parameters_are_refused(toy_experiment, params, needle):
    with pytest.raises(BadInput, match="toy") as error:
        params_to_overrides(toy_experiment, params)
    assert needle in str(error.value)


def test_a_trial_value_the_config_refuses_is_bad_input(toy_experiment):
    with pytest.raises(BadInput, match="toy: lr"):
        trial_config(toy_experiment, "cpu", {"lr": "fast"})


# ----------------------------------------------------------------------------- forge sweep

def test_sweep_offline_prints_the_config_and_says_sweeps_need_w_and_b_online(offline):
    before = tree_fingerprint(offline)
    out = forge("sweep", "week7", "--only", "ppo-cartpole", "--print")
    assert out.code == 0, out.stderr
    config = yaml.safe_load(out.stdout)
    assert sweep_violations(config) == []
    assert config == build_sweep_config(experiments_for(7)["ppo-cartpole"], "cpu")
    assert {key: config["parameters"][key] for key in FIXED} == {
        "forge_week": {"value": 7}, "forge_experiment": {"value": "ppo-cartpole"},
        "forge_profile": {"value": "cpu"}}
    (note,) = out.error_lines
    assert "W&B online" in note and "WANDB_API_KEY" in note and "--jobs" in note
    assert tree_fingerprint(offline) == before


@pytest.mark.parametrize("name, load", [("sweep.yaml", yaml.safe_load), ("sweep.json", json.loads)])
def test_sweep_offline_writes_the_config_with_out(offline, name, load):
    out = forge("sweep", "week6", "--only", "a2c-cartpole", "--method", "grid", "--profile",
                "smoke", "--count", "9", "--out", name)
    assert out.code == 0, out.stderr
    config = load((offline / name).read_text())
    assert sweep_violations(config) == [] and config["method"] == "grid"
    assert config["run_cap"] == 9 and config["parameters"]["forge_profile"] == {"value": "smoke"}
    assert "W&B online" in out.stderr


def test_sweep_offline_without_print_or_out_is_one_line_exit_2(offline):
    before = tree_fingerprint(offline)
    out = forge("sweep", "week7", "--only", "ppo-cartpole")
    assert_one_line_error(out, "W&B online", "--print", "--out", "forge run week7 --only "
                          "ppo-cartpole", "--jobs")
    assert tree_fingerprint(offline) == before


@pytest.mark.parametrize("args, needles", [
    (["week7", "--only", "ppo-acrobot"], ["ppo-acrobot declares no search space", "ppo-cartpole"]),
    (["week7"], ["--only", "ppo-cartpole"]),
    (["week7", "--only", "nope"], ["no experiment 'nope'", "ppo-cartpole"]),
    (["week1", "--only", "pi-vs-vi"], ["week7 ppo-cartpole"]),
    (["week7", "--only", "ppo-cartpole", "--method", "grid"], ["grid search", "--method random"]),
    (["week7", "--only", "ppo-cartpole", "--profile", "huge"], ["unknown profile"]),
    (["week7", "--only", "ppo-cartpole", "--count", "0"], ["--count"]),
    (["week7", "--only", "ppo-cartpole", "--out", "missing/sweep.yaml"], ["no folder"]),
])
def test_bad_sweep_input_is_one_line_exit_2_and_changes_nothing(offline, args, needles):
    before = tree_fingerprint(offline)
    out = forge("sweep", *args, "--print")
    assert_one_line_error(out, *needles)
    assert out.stdout == ""
    assert tree_fingerprint(offline) == before


def test_sweep_online_creates_it_in_forges_project(offline, monkeypatch):
    import wandb

    created = []

    def fake_sweep(config, entity=None, project=None):
        created.append((config, entity, project))
        return "abc123de"

    monkeypatch.setattr(wandb, "sweep", fake_sweep)
    (offline / "forge.toml").write_text('[wandb]\nmode = "online"\nentity = "team"\n')
    out = forge("sweep", "week7", "--only", "ppo-cartpole", "--count", "5",
                env={"WANDB_API_KEY": "x" * 40})
    assert out.code == 0, out.stderr
    (config, entity, project), = created
    assert (entity, project) == ("team", "forge") and sweep_violations(config) == []
    assert "forge agent team/forge/abc123de" in out.stdout


# ----------------------------------------------------------------------------- forge agent

@pytest.mark.parametrize("args, needles", [
    (["abc123de"], ["W&B online", "WANDB_API_KEY"]),
    (["a b"], ["bad sweep id"]),
    (["abc123de", "--count", "0"], ["--count"]),
])
def test_agent_offline_or_bad_input_is_one_line_exit_2(offline, args, needles):
    before = tree_fingerprint(offline)
    assert_one_line_error(forge("agent", *args), *needles)
    assert tree_fingerprint(offline) == before


def test_a_trial_with_an_offline_w_and_b_run_is_a_normal_run_in_the_sweeps_store(
        offline, toy_experiment):
    import wandb

    settings = load_settings(offline)
    params = {"forge_week": 16, "forge_experiment": "toy", "forge_profile": "smoke", "lr": 0.2,
              "opt.momentum": 0.5}
    (offline / "wandb").mkdir()
    run = wandb.init(mode="offline", dir=str(offline / "wandb"), project="forge", config=params,
                     settings=wandb.Settings(silent=True, console="off", save_code=False))
    record = sweep_agent.run_trial(toy_experiment, "smoke", dict(run.config), settings, run,
                                   "swp1")
    assert record.path == offline / "runs/sweeps/swp1/week16/toy" / run.id
    stored = load_run(record.path)
    assert stored.id == run.id and stored.wandb["sweep"] == "swp1"
    assert stored.config["lr"] == 0.2 and stored.config["opt"] == {"momentum": 0.5,
                                                                    "nesterov": False}
    assert stored.summary == {"loss": pytest.approx(0.4), "momentum": 0.5}
    assert len(stored.history()) == 2
    assert read_run(Path(stored.wandb["dir"])).summary["loss"] == pytest.approx(0.4)
    assert RunStore(offline / "runs").latest(16).records == []  # not among the week's results


def test_forge_agent_runs_each_trial_through_the_runner_path(offline, toy_experiment,
                                                             monkeypatch):
    import wandb

    sweep = build_sweep_config(toy_experiment, "smoke")
    fixed = {key: spec["value"] for key, spec in sweep["parameters"].items() if key in FIXED}
    trials = [{**fixed, "lr": 0.1, "opt.momentum": 0.6, "seed": 1},
              {**fixed, "lr": "fast", "opt.momentum": 0.7, "seed": 0},  # refused by the config
              {**fixed, "lr": 0.2, "opt.momentum": 0.8, "seed": 0}]
    current: list[dict[str, Any]] = []

    def fake_agent(path, function, count):
        assert (path.entity, path.project, path.id, count) == (None, "forge", "swp2", 3)
        for params in trials[:count]:
            current.append(params)
            function()

    def offline_trial_run(settings, target, path):
        assert (target.week, target.experiment, target.profile) == (16, "toy", "smoke")
        return wandb.init(mode="offline", dir=str(settings.path("wandb")), config=current[-1],
                          settings=wandb.Settings(silent=True, console="off", save_code=False))

    monkeypatch.setattr(sweep_agent, "_sweep_config", lambda path: sweep)
    monkeypatch.setattr(sweep_agent, "_wandb_agent", fake_agent)
    monkeypatch.setattr(sweep_agent, "start_trial_run", offline_trial_run)
    (offline / "forge.toml").write_text('[wandb]\nmode = "online"\n')
    out = forge("agent", "swp2", "--count", "3", env={"WANDB_API_KEY": "x" * 40})
    assert_one_line_error(out, "1 of 3 trials failed", "toy: lr", code=1)
    assert out.stdout.count("✓ trial") == 2 and "loss=0.2" in out.stdout
    records = RunStore(offline / "runs/sweeps/swp2").runs(16, "toy")
    assert sorted((r.seed, r.config["lr"], r.config["opt"]["momentum"]) for r in records) == [
        (0, 0.2, 0.8), (1, 0.1, 0.6)]
    assert not (offline / "runs/week16").exists()


def test_agent_refuses_a_sweep_forge_did_not_make(offline, toy_experiment, monkeypatch):
    monkeypatch.setattr(sweep_agent, "_sweep_config",
                        lambda path: {"method": "random", "parameters": {"lr": {"values": [1]}}})
    (offline / "forge.toml").write_text('[wandb]\nmode = "online"\n')
    assert_one_line_error(forge("agent", "swp3", env={"WANDB_API_KEY": "x" * 40}),
                          "not made by `forge sweep`", "forge_week")


def test_a_trial_w_and_b_stops_is_no_failure(offline, toy_experiment, monkeypatch):
    sweep = build_sweep_config(toy_experiment, "smoke")

    def stopped_by_w_and_b(settings, target, path):
        raise Exception  # what wandb.agent raises into a trial's thread to stop it

    monkeypatch.setattr(sweep_agent, "_sweep_config", lambda path: sweep)
    monkeypatch.setattr(sweep_agent, "_wandb_agent", lambda path, function, count: function())
    monkeypatch.setattr(sweep_agent, "start_trial_run", stopped_by_w_and_b)
    (offline / "forge.toml").write_text('[wandb]\nmode = "online"\n')
    out = forge("agent", "swp4", env={"WANDB_API_KEY": "x" * 40})
    assert out.code == 0, out.stderr
    assert "✗ trial ?: stopped" in out.stdout and "1 trial(s) of sweep forge/swp4" in out.stdout


@pytest.mark.parametrize("week, name, params, needle", [
    (4, "preference-optimization", {"runs": [["dpo", 0.0]]}, "beta must be a finite number > 0"),
    (4, "preference-optimization", {"runs": [["ipo", -0.1]]}, "beta must be a finite number > 0"),
    (4, "grpo", {"sentiment.group_size": 1}, "group_size"),
    (10, "reward-kl-frontier", {"offline_betas": [0.0]}, "beta"),
    (10, "reward-kl-frontier", {"ppo_betas": [-1.0]}, "must be"),
])
def test_a_user_override_of_beta_or_group_size_is_one_line_bad_input(week, name, params, needle):
    """β ≤ 0 or a group of one, set by the user (a sweep trial's parameters), is BadInput of one
    line naming the problem, before anything runs."""
    experiment = experiments_for(week)[name]
    with pytest.raises(BadInput, match=needle) as error:
        trial_config(experiment, "cpu", params)
    assert "\n" not in str(error.value)
