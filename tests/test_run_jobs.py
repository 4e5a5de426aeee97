"""``forge run weekN --jobs N``: the plan's jobs in worker processes, each a normal run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from forge_cli_harness import assert_one_line_error, forge, tree_fingerprint
from wandb_offline import read_run

from algorithms.experiment import ExperimentConfig
from forge_cli.jobs import stages
from forge_cli.runner import RunPlan
from forge_cli.store import RunStore

WEEK, EXPERIMENT = 7, "ppo-cartpole"  # seeded, and about a second a run at the smoke profile
TIMING = {"wall_s", "sps"}
"""Summary values that measure the machine, not the experiment."""
FREE_WEEK = 16  # no experiments of its own: the tests register theirs there


def _runs(project: Path) -> dict[str, dict]:
    return {path.parent.name: json.loads(path.read_text())
            for path in (project / "runs").glob(f"week{WEEK:02d}/{EXPERIMENT}/*/run.json")}


def test_jobs_2_makes_the_runs_jobs_1_makes(project, monkeypatch):
    args = ("run", f"week{WEEK}", "--profile", "smoke", "--seeds", "0,1", "--only", EXPERIMENT)
    serial = forge(*args)
    assert serial.code == 0, serial.stderr
    before = _runs(project)
    (project / "forge.toml").write_text('[wandb]\nmode = "offline"\n')
    for setting in ("STATS", "META", "MACHINE_INFO"):  # faster offline runs
        monkeypatch.setenv(f"WANDB__DISABLE_{setting}", "true")
    parallel = forge(*args, "--jobs", "2")
    assert parallel.code == 0, parallel.stderr
    assert parallel.stdout.count("✓") == 2 and "results" in parallel.stdout
    after = {run_id: run for run_id, run in _runs(project).items() if run_id not in before}

    assert sorted(run["seed"] for run in before.values()) == [0, 1]
    assert sorted(run["seed"] for run in after.values()) == [0, 1]
    by_seed = {run["seed"]: run for run in before.values()}
    for run in after.values():
        expected = by_seed[run["seed"]]
        assert run.keys() == expected.keys() and run["config"] == expected["config"]
        assert ({key: value for key, value in run["summary"].items() if key not in TIMING}
                == {key: value for key, value in expected["summary"].items()
                    if key not in TIMING})
        assert run["wandb"]["mode"] == "offline" and run["wandb"]["id"] == run["id"]
        assert read_run(Path(run["wandb"]["dir"])).summary.items() >= run["summary"].items()
    store = RunStore(project / "runs")
    assert len(store.runs(WEEK, EXPERIMENT)) == 4  # every one complete and readable
    assert not store.incomplete() and not (project / "runs" / ".failed").exists()


@pytest.mark.parametrize("jobs", ["0", "-1"])
def test_jobs_below_one_is_bad_input_and_changes_nothing(project, jobs):
    before = tree_fingerprint(project)
    outcome = forge("run", f"week{WEEK}", "--profile", "smoke", "--jobs", jobs)
    assert_one_line_error(outcome, "--jobs")
    assert tree_fingerprint(project) == before


def test_resume_is_refused_with_more_than_one_job(project):
    before = tree_fingerprint(project)
    outcome = forge("run", f"week{WEEK}", "--only", EXPERIMENT, "--resume",
                    "20261202-101500-a1b2c3", "--jobs", "2")
    assert_one_line_error(outcome, "--resume", "--jobs")
    assert tree_fingerprint(project) == before


class TinyConfig(ExperimentConfig):
    pass


def test_producers_run_in_a_stage_before_the_jobs_that_need_them(project, registry):
    def register(name, **kwargs):
        registry.experiment(week=FREE_WEEK, name=name, covers=(1,), config=TinyConfig,
                            **kwargs)(lambda config, tracker: {})

    register("maker", produces=("thing:made",))
    register("user", needs=("thing:made",))
    register("plain")
    store, notes = RunStore(project / "runs"), []

    def names(levels):
        return [[(experiment.name, seed) for experiment, seed in level] for level in levels]

    plan = RunPlan(week=FREE_WEEK, seeds=[0, 1], workers=2)
    assert names(stages(plan.jobs(), store, "smoke", notes.append)) == [
        [("maker", 0), ("maker", 1), ("plain", 0), ("plain", 1)], [("user", 0), ("user", 1)]]
    assert notes == []  # the plan makes what it needs
    only = RunPlan(week=FREE_WEEK, seeds=[0, 1], only=["user"], workers=2)
    assert names(stages(only.jobs(), store, "smoke", notes.append)) == [
        [("maker", 0)], [("user", 0), ("user", 1)]]
    (note,) = notes
    assert "thing:made" in note and "maker first" in note


SITE = textwrap.dedent(f"""
    # registers week {FREE_WEEK}'s test experiments in every process, workers included
    import time

    from algorithms.experiment import ExperimentConfig, experiment


    class Config(ExperimentConfig):
        pass


    @experiment(week={FREE_WEEK}, name="flaky", covers=(1,), config=Config)
    def flaky(config, tracker):
        if config.seed == 1:
            raise RuntimeError("seed one breaks")
        tracker.log({{"value": float(config.seed)}}, step=0)
        return {{"value": float(config.seed)}}


    @experiment(week={FREE_WEEK}, name="slow", covers=(1,), config=Config)
    def slow(config, tracker):
        for _ in tracker.track(range(100_000)):
            time.sleep(0.05)
        return {{}}
""")


def _start_forge(tmp_path: Path, *args: str) -> subprocess.Popen:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(SITE)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("FORGE_")}
    environment.update({"FORGE_ROOT": str(tmp_path), "FORGE_WANDB__MODE": "disabled",
                        "PYTHONPATH": str(tmp_path / "site")})
    return subprocess.Popen([sys.executable, "-m", "forge_cli", "run", f"week{FREE_WEEK}",
                             "--profile", "smoke", *args], cwd=tmp_path, env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)


def default_sigint() -> None:
    """A test run from a background shell job inherits SIGINT ignored, and Python then keeps
    it ignored: give forge the default disposition, as a terminal would."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_a_failed_job_leaves_the_others_running_and_is_reported(tmp_path):
    process = _start_forge(tmp_path, "--only", "flaky", "--seeds", "0-2", "--jobs", "2")
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stderr
    (line,) = stderr.strip().splitlines()
    assert "1 of 3 jobs failed: flaky seed 1: RuntimeError: seed one breaks" in line
    assert stdout.count("✓") == 2 and "✗ flaky seed 1" in stdout, stdout
    store = RunStore(tmp_path / "runs")
    assert sorted(record.seed for record in store.runs(FREE_WEEK, "flaky")) == [0, 2]
    (failed,) = (tmp_path / "runs" / ".failed").iterdir()
    assert "seed one breaks" in (failed / "error.txt").read_text()
    assert str(failed / "error.txt") in line  # the one line says where the traceback is
    assert not store.incomplete()


def test_ctrl_c_stops_every_worker_and_keeps_no_partial_run(tmp_path):
    process = _start_forge(tmp_path, "--only", "slow", "--seeds", "0,1", "--jobs", "2")
    incomplete = tmp_path / "runs" / ".incomplete"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None and len(
            list(incomplete.glob("*/start.json"))) < 2:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)  # the parent alone: it has to stop its workers
    _, stderr = process.communicate(timeout=90)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert len(list((tmp_path / "runs" / ".failed").iterdir())) == 2
    assert not any(incomplete.iterdir())
    assert not list((tmp_path / "runs").glob(f"week{FREE_WEEK}/*/*"))
