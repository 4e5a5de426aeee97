"""What is wrong in the run store, and ``forge runs clean``, which fixes what is safe to fix.

Two things go wrong on disk:

- a **corrupt finished run**: a ``run.json``, table or history line that cannot be read (a disk
  error, a stray edit). Readers already skip it with a warning; cleaning moves it to
  ``runs/.failed/`` with an ``error.txt`` saying why, so nothing is deleted and the warning stops.
- a **stale incomplete run**: a folder in ``runs/.incomplete/`` whose writer was killed (SIGKILL,
  a power cut) before it could move the run to ``.failed``. Its ``writer.json`` names the
  writer's pid and host; the run is stale once that process is gone. Cleaning removes it: a
  half-written run is never a result. A run whose writer is alive, or runs on another host, is
  never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from forge_cli.store import FAILED, WRITER_FILE, CorruptRunError, RunStore, load_run

NO_WRITER_GRACE_S = 600
"""An incomplete run without a readable writer.json (made by a forge before it wrote one, or a
process killed as it started) counts as stale once it has not changed for this long."""


@dataclass(frozen=True)
class CorruptRun:
    path: Path
    """The run's folder."""
    file: Path
    """The file that cannot be read."""
    reason: str
    """What is wrong with it, in one line."""


@dataclass(frozen=True)
class IncompleteRun:
    path: Path
    stale: bool
    why: str
    """Who is (or was) writing it, in words: ``pid 4242 on this host is gone``."""


@dataclass
class CleanReport:
    removed: list[IncompleteRun] = field(default_factory=list)
    moved: list[tuple[CorruptRun, Path]] = field(default_factory=list)
    """(corrupt run, where it went in runs/.failed)."""
    kept: list[IncompleteRun] = field(default_factory=list)
    """Incomplete runs still being written (or on another host): left alone."""


def corrupt_runs(store: RunStore) -> list[CorruptRun]:
    """Every finished run with a file that cannot be read: run.json, tables, history, figures."""
    found = []
    for run_dir in sorted(store.root.glob("week[0-9][0-9]/*/*")):
        if not run_dir.is_dir():
            continue
        try:
            record = load_run(run_dir)
            record.history()
            for entry in record.tables:
                record.table(entry.key)
            for figure in record.figures:
                if not (run_dir / figure.file).is_file():
                    raise CorruptRunError(run_dir / figure.file, "missing")
        except CorruptRunError as error:
            found.append(CorruptRun(path=run_dir, file=error.path, reason=error.reason))
    return found


def incomplete_runs(store: RunStore) -> list[IncompleteRun]:
    return [inspect_incomplete(path) for path in store.incomplete()]


def clean(store: RunStore, dry_run: bool = False) -> CleanReport:
    """Remove stale incomplete runs and move corrupt finished runs to ``runs/.failed/``.
    ``dry_run``: report what would be done and change nothing."""
    report = CleanReport()
    for run in incomplete_runs(store):
        if not run.stale:
            report.kept.append(run)
            continue
        if not dry_run:
            shutil.rmtree(run.path)
        report.removed.append(run)
    for run in corrupt_runs(store):
        target = _free_name(store.root / FAILED / run.path.name)
        if not dry_run:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(run.path, target)
            (target / "error.txt").write_text(f"corrupt: {run.file}: {run.reason}\nmoved here "
                                              f"by `forge runs clean` from {run.path}\n",
                                              encoding="utf-8")
        report.moved.append((run, target))
    return report


def inspect_incomplete(path: Path) -> IncompleteRun:
    try:
        writer = json.loads((path / WRITER_FILE).read_text(encoding="utf-8"))
        pid, host = int(writer["pid"]), str(writer["host"])
    except (OSError, ValueError, TypeError, KeyError):
        age = time.time() - _last_change(path)
        stale = age > NO_WRITER_GRACE_S
        return IncompleteRun(path, stale, f"no {WRITER_FILE}, unchanged for {age / 60:.0f} min"
                             + ("" if stale else ": left alone for now"))
    if host != socket.gethostname():
        return IncompleteRun(path, False, f"written on host {host}: cannot tell from here")
    if _alive(pid):
        return IncompleteRun(path, False, f"pid {pid} is still running")
    return IncompleteRun(path, True, f"pid {pid} on this host is gone")


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists. A reused pid reads as alive: the safe mistake (a stale
    run is listed as in progress, never a live one removed)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except OSError:
        return False
    return True


def _last_change(path: Path) -> float:
    times = []
    for item in (path, *path.rglob("*")):
        try:
            times.append(item.stat().st_mtime)
        except OSError:  # removed while we looked: its writer is busy right now
            times.append(time.time())
    return max(times)


def _free_name(path: Path) -> Path:
    """``path``, or ``path-2``, ``path-3``… when a failed run of that name is already there."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate
