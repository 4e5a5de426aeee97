"""Nothing the experiments send is lost on the way to W&B (issue 11, point 1).

Every registered experiment of every week runs once at the smoke profile through the real
``run_one`` with W&B offline; a spy on the tracker records what the experiment sent, and the
offline run's transaction log, read back (``wandb_offline``), must hold every scalar (each
value, against its own x-axis), every table and every figure, with no W&B warning printed.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import sys
import tempfile
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from algorithms.experiment import experiments_for
from forge_cli import runner
from forge_cli.artifacts import wandb_artifact_name
from forge_cli.config import load_settings
from forge_cli.store import RunStore
from forge_cli.tracking import FIGURES, RESERVED_SECTIONS, TABLES, RunTracker, axis_metric
from wandb_offline import OfflineRun, read_run

WEEKS = range(1, 17)


def _registered() -> list[Any]:
    """One pytest param per experiment; a week that fails to import is one failing param."""
    params = []
    for week in WEEKS:
        try:
            names = list(experiments_for(week))
        except Exception as error:  # noqa: BLE001 - reported by the test, not at collection
            params.append(pytest.param(week, None, error, id=f"week{week:02d}-import"))
            continue
        params += [pytest.param(week, name, None, id=f"week{week:02d}-{name}") for name in names]
    return params


EXPERIMENTS = _registered()


@dataclass
class Sent:
    """What an experiment handed its tracker."""

    scalars: dict[str, list[tuple[Any, float]]] = field(default_factory=lambda: defaultdict(list))
    """metric -> [(step, value), ...] in logging order"""
    axes: dict[str, str] = field(default_factory=dict)
    tables: dict[str, tuple[list[str], list[list[Any]]]] = field(default_factory=dict)
    figures: dict[str, str] = field(default_factory=dict)


class SpyTracker(RunTracker):
    """The real tracker, noting every call on its way through."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.sent = Sent()

    def log(self, metrics, step=None, x="step"):
        super().log(metrics, step, x)
        for key, value in metrics.items():
            self.sent.scalars[key].append((step, float(value)))
            if step is not None:
                self.sent.axes[key] = x

    def log_table(self, key, columns, rows):
        super().log_table(key, columns, rows)
        self.sent.tables[key] = (list(columns), [list(row) for row in rows])

    def log_figure(self, key, figure, caption):
        super().log_figure(key, figure, caption)
        self.sent.figures[key] = caption


@dataclass
class SmokeRun:
    sent: Sent
    summary: dict[str, Any]
    """What the experiment returned."""
    wandb_dir: Path
    wandb: OfflineRun
    output: str
    """Everything printed or logged (WARNING and up) while it ran."""


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """``smoke_run(week, name)``: that experiment run once, through ``run_one``, W&B offline."""
    root = tmp_path_factory.mktemp("wandb-project")
    (root / "forge.toml").write_text('[wandb]\nmode = "offline"\nproject = "forge-test"\n')
    cache: dict[tuple[int, str], SmokeRun | Exception] = {}

    def run(week: int, name: str) -> SmokeRun:
        if (week, name) not in cache:
            try:
                cache[week, name] = _run(experiments_for(week)[name], root)
            except Exception as error:  # noqa: BLE001 - a broken experiment runs once, not 3 times
                cache[week, name] = error
        if isinstance(cache[week, name], Exception):
            pytest.fail(f"{name} failed: {cache[week, name]!r}")
        return cache[week, name]

    return run


def _run(experiment: Any, root: Path) -> SmokeRun:
    spies: list[SpyTracker] = []

    def spy(*args: Any, **kwargs: Any) -> SpyTracker:
        spies.append(SpyTracker(*args, **kwargs))
        return spies[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "RunTracker", spy)
        # faster offline runs: no system-metrics sampler, no host/git probe (forge records its own)
        for setting in ("STATS", "META", "MACHINE_INFO"):
            patch.setenv(f"WANDB__DISABLE_{setting}", "true")
        with _captured_output() as output:
            record = runner.run_one(experiment, 0, "smoke", load_settings(root))
    wandb_dir = Path(record.wandb["dir"])
    spied = spies[-1]  # the ones before it made the artifacts it needs
    log_file = wandb_dir / "logs" / "debug-internal.log"
    core_warnings = [line for line in log_file.read_text().splitlines()
                     if '"level":"WARN"' in line or '"level":"ERROR"' in line]
    return SmokeRun(spied.sent, record.summary, wandb_dir, read_run(wandb_dir),
                    output.getvalue() + "\n".join(core_warnings))


@contextlib.contextmanager
def _captured_output():
    """Capture stdout/stderr at the file-descriptor level too (W&B's core is another process
    writing to the inherited descriptors) and WARNING+ log records."""
    text = io.StringIO()
    handler = logging.StreamHandler(text)
    handler.setLevel(logging.WARNING)
    loggers = [logging.getLogger(), logging.getLogger("wandb")]
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    sys.stdout.flush(), sys.stderr.flush()
    with tempfile.TemporaryFile(mode="w+b") as raw:
        for fd in saved:
            os.dup2(raw.fileno(), fd)
        for logger in loggers:
            logger.addHandler(handler)
        try:
            with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
                yield text
        finally:
            for logger in loggers:
                logger.removeHandler(handler)
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            raw.seek(0)
            text.write(raw.read().decode(errors="replace"))


def _same(a: Any, b: Any) -> bool:
    """Equal, NaN included (a diverged run logs NaN, and must show it)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _plain(row: list[Any]) -> list[Any]:
    """A table row as JSON holds it (numpy scalars as Python numbers, tuples as lists)."""
    return json.loads(json.dumps(row, default=lambda value: value.tolist()))


def _experiment(smoke_run, week, name, import_error) -> SmokeRun:
    if import_error is not None:
        pytest.fail(f"week {week} does not import: {import_error!r}")
    run = smoke_run(week, name)
    assert run.wandb.exit_code == 0, f"{run.wandb_dir}: no exit record, the log is incomplete"
    return run


@pytest.mark.parametrize("week, name, import_error", EXPERIMENTS)
def test_every_scalar_reaches_wandb_against_its_axis(smoke_run, week, name, import_error):
    run = _experiment(smoke_run, week, name, import_error)
    received: dict[str, list[tuple[Any, float]]] = defaultdict(list)
    for row in run.wandb.history:
        for key, value in row.items():
            if not key.startswith(("_", *RESERVED_SECTIONS)):
                axis = run.sent.axes.get(key)
                received[key].append((row.get(axis_metric(key, axis)) if axis else None, value))
    assert set(received) == set(run.sent.scalars)
    for key, sent in run.sent.scalars.items():
        got = received[key]
        assert len(got) == len(sent), f"{key}: {len(sent)} values sent, {len(got)} in W&B"
        for (step, value), (wandb_step, wandb_value) in zip(sent, got):
            assert _same(value, float(wandb_value)), f"{key}: sent {value}, W&B has {wandb_value}"
            assert (wandb_step is None if step is None else _same(float(step), wandb_step)), (
                f"{key}: sent at x={step}, W&B has x={wandb_step}")
        if key in run.sent.axes:
            assert run.wandb.metrics[key].step_metric == axis_metric(key, run.sent.axes[key])


@pytest.mark.parametrize("week, name, import_error", EXPERIMENTS)
def test_every_table_and_figure_reaches_wandb(smoke_run, week, name, import_error):
    run = _experiment(smoke_run, week, name, import_error)
    media = {key: value for row in run.wandb.history for key, value in row.items()
             if key.startswith((TABLES, FIGURES))}
    assert set(media) == ({TABLES + key for key in run.sent.tables}
                          | {FIGURES + key for key in run.sent.figures})
    for key, (columns, rows) in run.sent.tables.items():
        entry = media[TABLES + key]
        assert entry["_type"] == "table-file" and entry["nrows"] == len(rows), key
        stored = json.loads((run.wandb_dir / "files" / entry["path"]).read_text())
        assert stored["columns"] == columns, key
        assert all(_same(a, b) for sent_row, row in zip(rows, stored["data"], strict=True)
                   for a, b in zip(_plain(sent_row), row, strict=True)), key
    for key, caption in run.sent.figures.items():
        entry = media[FIGURES + key]
        assert entry["_type"] == "image-file" and entry["caption"] == caption, key
        assert (run.wandb_dir / "files" / entry["path"]).stat().st_size > 0, key


@pytest.mark.parametrize("week, name, import_error", EXPERIMENTS)
def test_the_summary_reaches_wandb(smoke_run, week, name, import_error):
    run = _experiment(smoke_run, week, name, import_error)
    missing = {key: value for key, value in run.summary.items()
               if not _same(run.wandb.summary.get(key), value)}
    assert not missing, f"summary values W&B lacks or holds otherwise: {missing}"


@pytest.mark.parametrize("week, name, import_error", EXPERIMENTS)
def test_wandb_warns_about_nothing(smoke_run, week, name, import_error):
    run = _experiment(smoke_run, week, name, import_error)
    for sign in ("wandb: WARNING", "wandb: ERROR", "Tried to log to step", '"level":"WARN"',
                 '"level":"ERROR"'):
        assert sign not in run.output, run.output
    # an axis that runs backwards loses nothing, but W&B draws it as a zigzag: the fix belongs
    # in the week's code, so it is reported here rather than failed
    backwards = [key for key, points in run.sent.scalars.items()
                 if key in run.sent.axes and any(b[0] < a[0] for a, b in zip(points, points[1:]))]
    if backwards:
        warnings.warn(f"{name}: x runs backwards in {', '.join(sorted(backwards))}", stacklevel=1)


@pytest.mark.parametrize("week, name, import_error", EXPERIMENTS)
def test_every_artifact_reaches_wandb(smoke_run, week, name, import_error):
    run = _experiment(smoke_run, week, name, import_error)
    made = experiments_for(week)[name].produces
    logged = {artifact.name: artifact for artifact in run.wandb.artifacts
              if artifact.type == "model"}  # W&B stores each table as an artifact too
    assert set(logged) == {wandb_artifact_name(artifact) for artifact in made}
    for artifact in logged.values():
        assert artifact.manifest.contents, f"{artifact.name}: no files"


# The axis scheme itself, against a stand-in for W&B that applies W&B's step rule ----------------


class StrictWandbRun:
    """W&B's rule: a log with a step below the run's step counter is dropped, one with a
    later step moves the counter there; a log without a step is written at the counter, which
    then moves on by one."""

    def __init__(self) -> None:
        self.step = 0
        self.kept: list[dict[str, Any]] = []
        self.dropped: list[dict[str, Any]] = []
        self.defined: list[tuple[str, str | None]] = []

    def log(self, values: dict[str, Any], step: int | None = None) -> None:
        if step is not None and step < self.step:
            self.dropped.append(values)
            return
        self.kept.append(dict(values))
        self.step = self.step + 1 if step is None else step

    def define_metric(self, name: str, step_metric: str | None = None, **_: Any) -> None:
        self.defined.append((name, step_metric))


@pytest.fixture
def strict(tmp_path):
    wandb_run, writer = StrictWandbRun(), RunStore(tmp_path).writer()
    yield RunTracker(writer, wandb_run), wandb_run
    writer.fail("end of test")  # closes the history file


def test_series_that_restart_or_run_backwards_lose_nothing(strict):
    import matplotlib.pyplot as plt

    tracker, wandb_run = strict
    for env in ("gridworld", "frozenlake"):  # each series restarts at sweep 1
        for sweep in range(1, 4):
            tracker.log({f"convergence/{env}/delta": 1.0 / sweep}, step=sweep, x="sweep")
    for gamma in (0.99, 0.9, 0.5):  # x going down
        tracker.log({"compare/vi/sweeps": 10 * gamma}, step=gamma, x="gamma")
    # below W&B's counter (pushed on by the series above if they moved it) but not below any
    # earlier step of this series: W&B would refuse this point if it were W&B's own step
    tracker.log({"charts/return": 1.0}, step=5, x="env_step")
    tracker.log_table("book/gambler", ["state", "value"], [[1, 0.5]])
    tracker.log_figure("book/gambler", plt.figure(), "the gambler's values")
    tracker.log({"charts/return": 2.0}, step=5, x="env_step")

    assert wandb_run.dropped == []
    kept = {key: [] for key in ("convergence/gridworld/delta", "convergence/frozenlake/delta",
                                "compare/vi/sweeps", "charts/return")}
    for row in wandb_run.kept:
        for key in kept.keys() & row.keys():
            kept[key].append(row[key])
    assert kept == {"convergence/gridworld/delta": [1.0, 0.5, 1 / 3],
                    "convergence/frozenlake/delta": [1.0, 0.5, 1 / 3],
                    "compare/vi/sweeps": [9.9, 9.0, 5.0], "charts/return": [1.0, 2.0]}
    gammas = [row[axis_metric("compare/vi/sweeps", "gamma")] for row in wandb_run.kept
              if "compare/vi/sweeps" in row]
    assert gammas == [0.99, 0.9, 0.5]
    media = [key for row in wandb_run.kept for key in row if key.startswith((TABLES, FIGURES))]
    assert media == ["tables/book/gambler", "figures/book/gambler"]


def test_each_series_gets_its_own_axis_defined_once(strict):
    tracker, wandb_run = strict
    for step in range(3):
        tracker.log({"losses/a": 1.0, "losses/b": 2.0}, step=step, x="update")
    tracker.log({"losses/c": 3.0}, step=0, x="update")
    series = [(name, axis) for name, axis in wandb_run.defined if axis is not None]
    assert series == [(key, axis_metric(key, "update"))
                      for key in ("losses/a", "losses/b", "losses/c")]
    axes = [name for name, axis in wandb_run.defined if axis is None]
    assert len(set(axes)) == len(axes) == 3  # hidden axis metrics, one per series, never shared
    assert all(axis.startswith("axes/") for axis in axes)


def test_history_rows_name_their_axis(strict):
    tracker, _ = strict
    tracker.log({"charts/v": 1.5}, step=3, x="sweep")
    tracker.log({"charts/w": 2.0})
    history = (tracker.writer.dir / "history.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in history] == [{"step": 3, "x": "sweep", "charts/v": 1.5},
                                                      {"charts/w": 2.0}]


@pytest.mark.parametrize("call, message", [
    (lambda t: (t.log({"a/b": 1}, step=0, x="sweep"), t.log({"a/b": 2}, step=1, x="gamma")),
     "keeps one x-axis"),
    (lambda t: t.log({"figures/b": 1}, step=0), "hold axes, tables and figures"),
    (lambda t: t.log({"a/b": 1}, step=0, x="env/step"), "without '/'"),
])
def test_what_wandb_could_not_keep_apart_is_refused(strict, call, message):
    tracker, _ = strict
    with pytest.raises(ValueError, match=message):
        call(tracker)
