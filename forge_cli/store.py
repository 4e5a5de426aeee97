"""The local run store: the source of truth every later step (results, facts, drafts) reads.

Layout::

    runs/week01/<experiment>/<run-id>/
        run.json           the record: config, summary, environment, W&B ids, figure and table index
        history.jsonl      one line per tracker.log call: {"step": …, "<metric>": …}
        tables/<key>.json  {"columns": […], "rows": […]}
        figures/<key>.png
    runs/.incomplete/<run-id>/   runs being written (or killed mid-way): never read as results
    runs/.failed/<run-id>/       runs that raised or were interrupted, with error.txt

A run is written inside ``.incomplete`` and renamed into place in one ``os.rename`` once
``run.json`` is complete, so a reader sees either a finished run or nothing. Finished runs are
never modified.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

INCOMPLETE = ".incomplete"
FAILED = ".failed"


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

    # Set when loaded from disk; not part of the stored record.
    path: Path | None = None

    def history(self) -> list[dict[str, Any]]:
        lines = (self.path / "history.jsonl").read_text().splitlines() if self.path else []
        return [json.loads(line) for line in lines if line]

    def table(self, key: str) -> dict[str, Any]:
        entry = next(t for t in self.tables if t.key == key)
        return json.loads((self.path / entry.file).read_text())

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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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
        self._history = open(self.dir / "history.jsonl", "a", encoding="utf-8")
        self.figures: list[FigureEntry] = []
        self.tables: list[TableEntry] = []

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
        record = record.model_copy(update={"figures": self.figures, "tables": self.tables})
        write_text_atomic(self.dir / "run.json", record.model_dump_json(indent=2,
                                                                         exclude={"path"}))
        final = self.store.run_dir(record.week, record.experiment, record.id)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.rename(self.dir, final)  # the commit point: atomic on one filesystem
        return record.model_copy(update={"path": final})

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
        """Finished runs of a week, oldest first."""
        pattern = f"{experiment or '*'}/*/run.json"
        records = [load_run(path.parent) for path in self.week_dir(week).glob(pattern)]
        return sorted(records, key=lambda r: (r.started_at, r.id))

    def has_run(self, week: int, run_id: str) -> bool:
        return any(self.week_dir(week).glob(f"*/{run_id}/run.json"))

    def latest(self, week: int) -> list[RunRecord]:
        """The newest finished run of each (experiment, seed): what results and drafts use."""
        newest: dict[tuple[str, int], RunRecord] = {}
        for record in self.runs(week):
            newest[(record.experiment, record.seed)] = record
        return sorted(newest.values(), key=lambda r: (r.experiment, r.seed))

    def incomplete(self) -> list[Path]:
        folder = self.root / INCOMPLETE
        return sorted(folder.iterdir()) if folder.is_dir() else []

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


def load_run(run_dir: Path) -> RunRecord:
    record = RunRecord.model_validate_json((run_dir / "run.json").read_text())
    return record.model_copy(update={"path": run_dir})


def _jsonable(value: Any) -> Any:
    """numpy scalars and arrays inside tables."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
