"""The runner and the run store: what finishes is complete, what fails is never read as a result."""

from __future__ import annotations

import json
import logging
import os
import socket
from typing import ClassVar

import pytest

from forge_cli.config import load_settings
from forge_cli.errors import BadInput, ForgeError
from algorithms.experiment import ExperimentConfig
from forge_cli.results import summarize
from forge_cli.runner import RunPlan, parse_seeds, run_plan
from forge_cli.store import (FAILED, INCOMPLETE, WRITER_FILE, CorruptRunError, RunStore,
                             load_run)

WEEK = 16


class CountingConfig(ExperimentConfig):
    steps: int = 5
    fail_at: int = -1
    interrupt_at: int = -1
    profiles: ClassVar = {"smoke": {"steps": 3}}


def counting(config: CountingConfig, tracker) -> dict[str, float]:
    """Counts up; logs a curve, a table and a figure."""
    import matplotlib.pyplot as plt

    total = 0.0
    for step in tracker.track(range(config.steps), description="counting"):
        if step == config.fail_at:
            raise RuntimeError("boom")
        if step == config.interrupt_at:
            raise KeyboardInterrupt
        total += step + config.seed
        tracker.log({"charts/total": total}, step=step)
    tracker.log_table("results/final", ["seed", "total"], [[config.seed, total]])
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, total])
    tracker.log_figure("figures/total", fig, caption="Total against step.")
    return {"total": total}


@pytest.fixture
def counting_experiment(registry):
    registry.experiment(week=WEEK, name="counting", covers=(1,), config=CountingConfig)(counting)
    return registry


def test_finished_runs_are_complete_and_readable(project, counting_experiment):
    settings = load_settings()
    records = run_plan(RunPlan(week=WEEK, profile="smoke", seeds=[0, 1]), settings)
    assert [r.seed for r in records] == [0, 1]
    store = RunStore(settings.path("runs"))
    latest = store.latest(WEEK).records
    assert [r.summary["total"] for r in latest] == [3.0, 6.0]  # 0+1+2, then +1 each step
    run = latest[1]
    assert run.config["steps"] == 3 and run.profile == "smoke"
    assert [row["charts/total"] for row in run.history()] == [1.0, 3.0, 6.0]
    assert run.table("results/final") ["rows"] == [[1, 6.0]]
    assert run.figure_path("figures/total").stat().st_size > 1000
    assert run.figures[0].caption == "Total against step."
    assert run.environment["packages"]["numpy"]
    assert not store.incomplete() and not (run.path / WRITER_FILE).exists()


def test_summary_aggregates_over_seeds(project, counting_experiment):
    records = run_plan(RunPlan(week=WEEK, profile="smoke", seeds=[0, 1, 2]), load_settings())
    (row,) = summarize(records)
    assert (row.mean, row.std, row.n) == (6.0, 3.0, 3)


def test_latest_run_wins_per_seed(project, counting_experiment):
    settings = load_settings()
    run_plan(RunPlan(week=WEEK, profile="smoke"), settings)
    second = run_plan(RunPlan(week=WEEK, profile="smoke"), settings)
    store = RunStore(settings.path("runs"))
    assert len(store.runs(WEEK)) == 2
    assert [r.id for r in store.latest(WEEK).records] == [second[0].id]


def test_profiles_never_mix(project, counting_experiment):
    """A quick smoke run after a cpu run must not replace the week's cpu numbers."""
    settings = load_settings()
    cpu = run_plan(RunPlan(week=WEEK, profile="cpu", seeds=[0, 1]), settings)
    smoke = run_plan(RunPlan(week=WEEK, profile="smoke", seeds=[0]), settings)
    store = RunStore(settings.path("runs"))
    latest = store.latest(WEEK)
    assert latest.profile == "cpu" and latest.other_profiles == ["smoke"]
    assert [r.id for r in latest.records] == [r.id for r in cpu]
    chosen = store.latest(WEEK, "smoke")
    assert (chosen.profile, [r.id for r in chosen.records]) == ("smoke", [smoke[0].id])
    gpu = store.latest(WEEK, "gpu")
    assert gpu.records == [] and "--profile cpu or smoke" in gpu.why_empty()
    with pytest.raises(BadInput, match="unknown profile 'huge'"):
        store.latest(WEEK, "huge")
    assert store.latest(1).profile is None  # week 1: experiments, but no runs here
    assert "run `forge run week1` first" in store.latest(1).why_empty()


@pytest.mark.parametrize("field, error", [("fail_at", RuntimeError),
                                          ("interrupt_at", KeyboardInterrupt)])
def test_a_run_that_dies_midway_leaves_no_result(project, counting_experiment, field, error):
    settings = load_settings()
    run_plan(RunPlan(week=WEEK, profile="smoke", seeds=[0]), settings)

    class Dying(CountingConfig):
        profiles: ClassVar = {"smoke": {"steps": 3, field: 1}}

    counting_experiment.experiment(week=WEEK, name="dying", covers=(1,), config=Dying)(counting)
    with pytest.raises(error):
        run_plan(RunPlan(week=WEEK, profile="smoke", seeds=[0], only=["dying"]), settings)
    store = RunStore(settings.path("runs"))
    assert [r.experiment for r in store.runs(WEEK)] == ["counting"]  # the earlier run is intact
    assert not (store.week_dir(WEEK) / "dying").exists()
    (failed,) = (settings.path("runs") / FAILED).iterdir()
    assert ("boom" if error is RuntimeError else "KeyboardInterrupt") in (failed / "error.txt").read_text()


def test_killed_writer_is_invisible(project):
    """A process killed mid-run leaves its folder in .incomplete, which readers never list."""
    store = RunStore(project / "runs")
    writer = store.writer()
    writer.append_history({"step": 0, "x": 1.0})
    assert store.runs(WEEK) == [] and store.incomplete() == [project / "runs" / INCOMPLETE / writer.run_id]
    owner = json.loads((writer.dir / WRITER_FILE).read_text())
    assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname()


def test_a_corrupt_run_is_skipped_with_a_warning_naming_the_file(project, counting_experiment,
                                                                 caplog):
    """`head -c 300 run.json > run.json` in one run folder hides that run, nothing else."""
    settings = load_settings()
    broken, intact = run_plan(RunPlan(week=WEEK, profile="smoke", seeds=[0, 1]), settings)
    run_json = broken.path / "run.json"
    run_json.write_bytes(run_json.read_bytes()[:300])
    store = RunStore(settings.path("runs"))
    with caplog.at_level(logging.WARNING, logger="forge_cli"):
        assert [r.id for r in store.latest(WEEK).records] == [intact.id]
    (warning,) = caplog.messages
    assert str(run_json) in warning and "Invalid JSON" in warning and "\n" not in warning
    assert not store.has_run(WEEK, "nope")


@pytest.mark.parametrize("damage", ["not json", b"\xff\xfe", '{"id": "x"}', "wrong place"])
def test_every_kind_of_unreadable_run_json_is_one_corrupt_run_error(project, counting_experiment,
                                                                    damage):
    settings = load_settings()
    (record,) = run_plan(RunPlan(week=WEEK, profile="smoke"), settings)
    run_json = record.path / "run.json"
    if damage == "wrong place":  # a valid record copied into another run's folder
        text = run_json.read_text().replace(record.id, "20990101-000000-000000")
        run_json.write_text(text)
    else:
        run_json.write_bytes(damage if isinstance(damage, bytes) else damage.encode())
    with pytest.raises(CorruptRunError) as error:
        load_run(record.path)
    assert str(run_json) in str(error.value) and "\n" not in str(error.value)
    assert error.value.exit_code == 2


def test_a_corrupt_table_or_history_is_a_one_line_error_naming_the_file(project,
                                                                        counting_experiment):
    (record,) = run_plan(RunPlan(week=WEEK, profile="smoke"), load_settings())
    table = record.path / record.tables[0].file
    table.write_text('{"columns": ["a"]')
    with pytest.raises(CorruptRunError, match=f"{table}: invalid JSON"):
        record.table("results/final")
    table.write_text('[1, 2]')
    with pytest.raises(CorruptRunError, match="not a table"):
        record.table("results/final")
    (record.path / "history.jsonl").write_bytes(b"\xff\n")
    with pytest.raises(CorruptRunError, match="history.jsonl: not UTF-8"):
        record.history()


def test_bad_plans_are_rejected_before_running(project, counting_experiment, monkeypatch):
    with pytest.raises(BadInput, match="no experiment 'nope'.*choose from counting"):
        RunPlan(week=WEEK, only=["nope"]).jobs()
    with pytest.raises(BadInput, match="unknown profile"):
        RunPlan(week=WEEK, profile="huge").jobs()
    from algorithms import experiment

    experiment.experiments_for(15)
    monkeypatch.setitem(experiment._REGISTRY, 15, {})  # a week of the plan with none written yet
    with pytest.raises(ForgeError, match="no experiments implemented"):
        RunPlan(week=15).jobs()


def test_deterministic_experiments_run_once(project, registry):
    registry.experiment(week=WEEK, name="exact", covers=(1,), config=CountingConfig, seeded=False)(counting)
    assert [seed for _, seed in RunPlan(week=WEEK, seeds=[0, 1, 2]).jobs()] == [0]


@pytest.mark.parametrize("text, seeds", [("0", [0]), ("0,1,2", [0, 1, 2]), ("1-3", [1, 2, 3])])
def test_parse_seeds(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["", "a", "1,x", "-1", "3-1x"])
def test_parse_seeds_rejects_junk(text):
    with pytest.raises(BadInput):
        parse_seeds(text)


def test_wandb_offline_run_mirrors_the_store(project, counting_experiment):
    (project / "forge.toml").write_text('[wandb]\nmode = "offline"\nproject = "forge-test"\n')
    settings = load_settings()
    (record,) = run_plan(RunPlan(week=WEEK, profile="smoke"), settings)
    assert record.wandb["mode"] == "offline" and record.wandb["id"] == record.id
    (run_dir,) = (project / "wandb").glob(f"offline-run-*-{record.id}")
    assert list(run_dir.glob("*.wandb"))  # the binary log `wandb sync` uploads
    stored = json.loads((record.path / "run.json").read_text())
    assert stored["wandb"]["id"] == record.id


def test_tables_and_figures_do_not_move_wandbs_step_past_the_experiments(tmp_path):
    """W&B refuses a step below its own counter, and a log without a step advances that counter:
    a figure logged mid-run must not make the experiment's next point (same step) go missing."""
    import matplotlib.pyplot as plt

    from forge_cli.tracking import RunTracker

    class StrictWandbRun:  # W&B's rule: an explicit step below the current one is dropped
        def __init__(self) -> None:
            self.step, self.dropped = 0, []

        def log(self, values, step=None):
            if step is None:
                self.step += 1
            elif step < self.step:
                self.dropped.append(values)
            else:
                self.step = step

        def define_metric(self, name, step_metric=None, **options):
            pass

    class Writer:
        def append_history(self, row):
            pass

        def write_table(self, key, columns, rows):
            pass

        def figure_file(self, key, caption):
            return tmp_path / f"{key}.png"

    wandb_run = StrictWandbRun()
    tracker = RunTracker(Writer(), wandb_run)
    tracker.log({"return": 1.0}, step=100)
    tracker.log_figure("curve", plt.figure(), "a curve")
    tracker.log_table("final", ["a"], [[1]])
    tracker.log({"eval_return": 2.0}, step=100)
    assert wandb_run.dropped == []
