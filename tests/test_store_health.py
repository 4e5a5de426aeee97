"""``forge doctor`` and ``forge runs clean``: corrupt finished runs and stale incomplete runs are
found, fixed when it is safe, and a run still being written is never touched."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from forge_cli.config import load_settings
from forge_cli.status import run_store_check
from forge_cli.store import FAILED, WRITER_FILE, RunRecord, RunStore
from forge_cli.store_health import NO_WRITER_GRACE_S, clean, corrupt_runs, incomplete_runs


def finished_run(store: RunStore, experiment: str = "exp", week: int = 1) -> RunRecord:
    writer = store.writer()
    writer.write_table("final", ["a"], [[1]])
    return writer.finish(RunRecord(
        id=writer.run_id, week=week, experiment=experiment, seed=0, profile="cpu",
        started_at="2026-01-01T00:00:00", finished_at="2026-01-01T00:00:01", duration_s=1.0,
        config={}, summary={"x": 1.0}))


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def incomplete_run(store: RunStore, pid: int | None, host: str | None = None) -> Path:
    writer = store.writer()
    writer.append_history({"step": 0, "x": 1.0})
    writer._history.close()
    if pid is None:
        (writer.dir / WRITER_FILE).unlink()
    else:
        (writer.dir / WRITER_FILE).write_text(json.dumps(
            {"pid": pid, "host": host or socket.gethostname()}))
    return writer.dir


def test_stale_incomplete_runs_are_removed_and_live_ones_left_alone(project):
    store = RunStore(project / "runs")
    stale = incomplete_run(store, dead_pid())
    mine = incomplete_run(store, os.getpid())  # this very process: a run in progress
    elsewhere = incomplete_run(store, dead_pid(), host="another-machine")
    found = {run.path: run for run in incomplete_runs(store)}
    assert [found[path].stale for path in (stale, mine, elsewhere)] == [True, False, False]
    assert "is gone" in found[stale].why and "another-machine" in found[elsewhere].why

    report = clean(store)
    assert [run.path for run in report.removed] == [stale]
    assert {run.path for run in report.kept} == {mine, elsewhere}
    assert not stale.exists() and mine.is_dir() and elsewhere.is_dir()


def test_an_incomplete_run_without_a_writer_file_is_stale_only_once_old(project):
    store = RunStore(project / "runs")
    folder = incomplete_run(store, pid=None)
    assert not incomplete_runs(store)[0].stale
    old = time.time() - NO_WRITER_GRACE_S - 60
    for path in (folder, *folder.rglob("*")):
        os.utime(path, (old, old))
    assert incomplete_runs(store)[0].stale


def test_corrupt_finished_runs_move_to_failed_with_the_reason(project):
    store = RunStore(project / "runs")
    good = finished_run(store, "good")
    bad_json = finished_run(store, "bad-json")
    bad_table = finished_run(store, "bad-table")
    (bad_json.path / "run.json").write_text((bad_json.path / "run.json").read_text()[:300])
    (bad_table.path / bad_table.tables[0].file).write_text("{")
    assert {run.path for run in corrupt_runs(store)} == {bad_json.path, bad_table.path}

    dry = clean(store, dry_run=True)
    assert len(dry.moved) == 2 and bad_json.path.is_dir()  # a dry run changes nothing

    report = clean(store)
    assert {run.path for run, _ in report.moved} == {bad_json.path, bad_table.path}
    for run, target in report.moved:
        assert target.parent == project / "runs" / FAILED and not run.path.exists()
        assert str(run.file) in (target / "error.txt").read_text()
    assert [r.id for r in store.runs(1)] == [good.id] and corrupt_runs(store) == []
    assert clean(store).moved == []


def test_doctor_lists_corrupt_and_stale_runs(project):
    store = RunStore(load_settings().path("runs"))
    assert run_store_check(store).state == "ok"
    bad = finished_run(store)
    (bad.path / "run.json").write_text("{")
    stale = incomplete_run(store, dead_pid())
    check = run_store_check(store)
    assert check.state == "error" and "1 corrupt, 1 stale" in check.detail
    assert any(str(bad.path / "run.json") in item for item in check.items)
    assert any(str(stale) in item and item.startswith("stale") for item in check.items)
