"""The local run store: the source of truth every later step (results, facts, drafts) reads.

Layout::

    runs/week01/<experiment>/<run-id>/
        run.json           the record: config, summary, environment, W&B ids, figure and table index
        history.jsonl      one line per tracker.log call: {"step": …, "x": "<axis>", "<metric>": …}
        tables/<key>.json  {"columns": […], "rows": […]}
        figures/<key>.png
        artifacts/<name>/  what the run made for later runs to load (a model: weights, config,
                           tokenizer); indexed by name in run.json
        checkpoint/        training checkpoints of a resumable experiment, while it runs (an
                           interrupted run keeps them in .failed/ for ``--resume``)
        start.json         experiment, seed, profile and config, written when the run starts
                           (what ``forge run --resume`` checks an interrupted run against)
    runs/.incomplete/<run-id>/   runs being written (or killed mid-way): never read as results;
                                 writer.json names the process writing it (pid, host)
    runs/.failed/<run-id>/       runs that raised or were interrupted, with error.txt

A run is written inside ``.incomplete`` and renamed into place in one ``os.rename`` once
``run.json`` is complete, so a reader sees either a finished run or nothing. Finished runs are
never modified. A finished run whose ``run.json`` cannot be read (a disk error, a stray edit) is
skipped with a logged warning naming the file, never fatal: one bad file must not hide a week.
Readers see one profile at a time (:meth:`RunStore.latest`): smoke numbers never mix with cpu.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from algorithms.experiment import PROFILES, experiments_for
from forge_cli.errors import BadInput

INCOMPLETE = ".incomplete"
FAILED = ".failed"
WRITER_FILE = "writer.json"
START_FILE = "start.json"
ARTIFACTS = "artifacts"
CHECKPOINT = "checkpoint"
"""In an incomplete run: the pid and host of the process writing it (stale once that is gone)."""
PROFILE_RANK = ("gpu", "cpu", "smoke")
"""Most complete first: a week's results default to the first of these that has runs."""

log = logging.getLogger(__name__)


class CorruptRunError(BadInput):
    """A file of a finished run that cannot be read; the message names the file."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"corrupt run file {path}: {reason}")
        self.path, self.reason = path, reason


class FigureEntry(BaseModel):
    key: str
    file: str
    caption: str


class TableEntry(BaseModel):
    key: str
    file: str
    n_rows: int


class RunRecord(BaseModel):
    """Everything needed to rebuild a run's charts and a post's tables without W&B."""

    model_config = ConfigDict(extra="forbid")

    id: str
    week: int
    experiment: str
    seed: int
    profile: str
    status: str = "finished"
    source: str = "local"
    """local: made by ``forge run`` here; wandb: fetched by ``forge pull``."""
    started_at: str
    finished_at: str
    duration_s: float
    config: dict[str, Any]
    summary: dict[str, Any]
    environment: dict[str, Any] = {}
    wandb: dict[str, Any] = {}
    figures: list[FigureEntry] = []
    tables: list[TableEntry] = []
    artifacts: dict[str, str] = {}
    """Artifact name (``lm:tinystories-base``) -> its folder inside the run."""

    # Set when loaded from disk; not part of the stored record.
    path: Path | None = None

    def history(self) -> list[dict[str, Any]]:
        if self.path is None:
            return []
        path = self.path / "history.jsonl"
        rows = [_read_json(path, line) for line in _read(path).splitlines() if line]
        if not all(isinstance(row, dict) for row in rows):
            raise CorruptRunError(path, "a line is not a JSON object")
        return rows

    def table(self, key: str) -> dict[str, Any]:
        entry = next(t for t in self.tables if t.key == key)
        path = self.path / entry.file
        table = _read_json(path, _read(path))
        if not (isinstance(table, dict) and isinstance(table.get("columns"), list)
                and isinstance(table.get("rows"), list)):
            raise CorruptRunError(path, 'not a table: expected {"columns": [...], "rows": [...]}')
        return table

    def figure_path(self, key: str) -> Path:
        entry = next(f for f in self.figures if f.key == key)
        return self.path / entry.file


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def new_run_id() -> str:
    """Sortable by start time, unique across machines; also used as the W&B run id."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def safe_key(key: str) -> str:
    """A metric key as a file name: ``value/heatmap 4x4`` -> ``value__heatmap_4x4``."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in key.replace("/", "__"))


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp, whose files are 0600: mode 0644 lets the umask decide, as for any other file.
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class RunWriter:
    """Writes one run into ``.incomplete`` and publishes it atomically with :meth:`finish`."""

    def __init__(self, store: RunStore, run_id: str):
        self.store = store
        self.run_id = run_id
        self.dir = store.root / INCOMPLETE / run_id
        self.dir.mkdir(parents=True)
        try:
            # Written first, so `forge runs clean` can tell a run in progress from one whose
            # process was killed; a folder without it is treated as stale only once it is old
            # (see forge_cli.store_health).
            write_text_atomic(self.dir / WRITER_FILE, json.dumps(
                {"pid": os.getpid(), "host": socket.gethostname(), "started_at": now_iso()}))
            self._history = open(self.dir / "history.jsonl", "a", encoding="utf-8")
        except BaseException:  # Ctrl-C as the run starts: it goes where interrupted runs go
            failed = self.store.root / FAILED / self.run_id
            failed.parent.mkdir(parents=True, exist_ok=True)
            os.rename(self.dir, failed)
            raise
        self.figures: list[FigureEntry] = []
        self.tables: list[TableEntry] = []
        self.artifacts: dict[str, str] = {}

    def write_start(self, start: dict[str, Any]) -> None:
        """What the run is (experiment, seed, profile, config), readable before it finishes."""
        write_text_atomic(self.dir / START_FILE, json.dumps(start, indent=2))

    def artifact_dir(self, name: str) -> Path:
        """The folder the run writes artifact ``name`` into; recorded in the run's index."""
        file = f"{ARTIFACTS}/{safe_key(name.replace(':', '-'))}"
        (self.dir / file).mkdir(parents=True, exist_ok=True)
        self.artifacts[name] = file
        return self.dir / file

    def append_history(self, row: dict[str, Any]) -> None:
        self._history.write(json.dumps(row, default=float) + "\n")
        self._history.flush()

    def write_table(self, key: str, columns: list[str], rows: list[list[Any]]) -> Path:
        file = f"tables/{safe_key(key)}.json"
        write_text_atomic(self.dir / file, json.dumps({"key": key, "columns": columns,
                                                      "rows": rows}, default=_jsonable))
        self.tables = [t for t in self.tables if t.key != key]
        self.tables.append(TableEntry(key=key, file=file, n_rows=len(rows)))
        return self.dir / file

    def figure_file(self, key: str, caption: str) -> Path:
        """Where to save the PNG of figure ``key``; records it in the run's index."""
        file = f"figures/{safe_key(key)}.png"
        (self.dir / "figures").mkdir(exist_ok=True)
        self.figures = [f for f in self.figures if f.key != key]
        self.figures.append(FigureEntry(key=key, file=file, caption=caption))
        return self.dir / file

    def finish(self, record: RunRecord) -> RunRecord:
        self._history.close()
        # training checkpoints exist to resume an interrupted run; a finished one keeps its
        # results and artifacts, not the optimizer state
        shutil.rmtree(self.dir / CHECKPOINT, ignore_errors=True)
        record = record.model_copy(update={"figures": self.figures, "tables": self.tables,
                                           "artifacts": self.artifacts})
        write_text_atomic(self.dir / "run.json", record.model_dump_json(indent=2,
                                                                         exclude={"path"}))
        final = self.store.run_dir(record.week, record.experiment, record.id)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.rename(self.dir, final)  # the commit point: atomic on one filesystem
        (final / WRITER_FILE).unlink(missing_ok=True)  # only meaningful while incomplete
        return record.model_copy(update={"path": final})

    def discard(self) -> None:
        """Remove the partial run: it was refused for its input and holds nothing to keep."""
        self._history.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def fail(self, reason: str) -> Path:
        """Move the partial run aside (never read as a result) and say why."""
        self._history.close()
        (self.dir / "error.txt").write_text(reason)
        failed = self.store.root / FAILED / self.run_id
        failed.parent.mkdir(parents=True, exist_ok=True)
        os.rename(self.dir, failed)
        return failed


class RunStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def week_dir(self, week: int) -> Path:
        return self.root / f"week{week:02d}"

    def run_dir(self, week: int, experiment: str, run_id: str) -> Path:
        return self.week_dir(week) / experiment / run_id

    def writer(self, run_id: str | None = None) -> RunWriter:
        return RunWriter(self, run_id or new_run_id())

    def runs(self, week: int, experiment: str | None = None) -> list[RunRecord]:
        """Finished runs of a week, oldest first. A corrupt one is skipped with a warning."""
        pattern = f"{experiment or '*'}/*/run.json"
        records = []
        for path in sorted(self.week_dir(week).glob(pattern)):
            try:
                records.append(load_run(path.parent))
            except CorruptRunError as error:
                log.warning("skipped %s (`forge runs clean` moves it to %s)", error,
                            self.root / FAILED)
        return sorted(records, key=lambda r: (r.started_at, r.id))

    def has_run(self, week: int, run_id: str) -> bool:
        return any(self.week_dir(week).glob(f"*/{run_id}/run.json"))

    def latest(self, week: int, profile: str | None = None) -> LatestRuns:
        """The newest finished run of each (experiment, seed) of one profile: what results,
        facts and drafts read. ``profile`` None: the most complete profile that has runs
        (gpu > cpu > smoke), so a quick smoke run never replaces a week's cpu numbers."""
        runs = self.runs(week)
        stored = rank_profiles({record.profile for record in runs})
        if profile is None:
            profile = stored[0] if stored else None
        elif profile not in PROFILES and profile not in stored:
            raise BadInput(f"unknown profile {profile!r}: expected one of "
                           f"{', '.join(dict.fromkeys([*PROFILES, *stored]))}")
        newest: dict[tuple[str, int], RunRecord] = {}
        for record in runs:
            if record.profile == profile:
                newest[(record.experiment, record.seed)] = record
        return LatestRuns(week=week, profile=profile, stored_profiles=stored,
                          records=sorted(newest.values(), key=lambda r: (r.experiment, r.seed)))

    def incomplete(self) -> list[Path]:
        """Folders of runs being written, or left by a killed process (see store_health)."""
        folder = self.root / INCOMPLETE
        return sorted(path for path in folder.iterdir() if path.is_dir()) if folder.is_dir() else []

    def import_run(self, record: RunRecord, history: list[dict[str, Any]],
                   tables: dict[str, dict[str, Any]], figures: dict[str, tuple[Path, str]]) -> RunRecord:
        """Store a run made elsewhere (``forge pull``) with the same atomic guarantees."""
        writer = self.writer(record.id)
        try:
            for row in history:
                writer.append_history(row)
            for key, table in tables.items():
                writer.write_table(key, table["columns"], table["rows"])
            for key, (png, caption) in figures.items():
                shutil.copyfile(png, writer.figure_file(key, caption))
            return writer.finish(record)
        except BaseException as error:
            writer.fail(f"import failed: {error!r}")
            raise


@dataclass(frozen=True)
class LatestRuns:
    """What :meth:`RunStore.latest` selected: one profile's newest run per (experiment, seed)."""

    week: int
    profile: str | None
    """None when the week has no runs at all."""
    records: list[RunRecord]
    stored_profiles: tuple[str, ...]
    """Every profile the week has runs of, most complete first."""

    @property
    def other_profiles(self) -> list[str]:
        return [name for name in self.stored_profiles if name != self.profile]

    def why_empty(self) -> str:
        """The one-line error when :attr:`records` is empty: what to run or choose instead."""
        slug = f"week{self.week}"
        if not self.stored_profiles and not experiments_for(self.week):
            return f"week {self.week} has no experiments yet, so no runs or results to show"
        if not self.stored_profiles:
            return f"no runs for week {self.week} yet: run `forge run {slug}` first"
        return (f"no {self.profile} runs for week {self.week}: run `forge run {slug} --profile "
                f"{self.profile}`, or choose --profile {' or '.join(self.stored_profiles)}")


def rank_profiles(profiles: set[str]) -> tuple[str, ...]:
    """Most complete first (gpu, cpu, smoke); a profile forge does not know (a run pulled from
    W&B without one) comes last."""
    known = [name for name in PROFILE_RANK if name in profiles]
    return (*known, *sorted(profiles - set(PROFILE_RANK)))


def load_run(run_dir: Path) -> RunRecord:
    """The finished run in ``run_dir``; CorruptRunError naming the file when it is unreadable,
    invalid, or describes a run other than the folder it lies in."""
    path = run_dir / "run.json"
    try:
        record = RunRecord.model_validate_json(path.read_bytes())
    except OSError as error:
        raise CorruptRunError(path, error.strerror or str(error)) from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        reason = f"{where}: {first['msg']}" if where else first["msg"]
        raise CorruptRunError(path, " ".join(reason.split())) from None
    if (record.id, record.experiment, record.week) != (
            run_dir.name, run_dir.parent.name, _week_of(run_dir.parent.parent)):
        raise CorruptRunError(path, f"it describes week {record.week} {record.experiment} "
                                    f"{record.id}, not the folder it lies in")
    return record.model_copy(update={"path": run_dir})


def _week_of(week_dir: Path) -> int | None:
    name = week_dir.name
    return int(name[4:]) if name.startswith("week") and name[4:].isdigit() else None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise CorruptRunError(path, error.strerror or str(error)) from None
    except UnicodeDecodeError:
        raise CorruptRunError(path, "not UTF-8 text") from None


def _read_json(path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CorruptRunError(path, f"invalid JSON ({error.msg} at line {error.lineno})") from None


def _jsonable(value: Any) -> Any:
    """numpy scalars and arrays inside tables."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
