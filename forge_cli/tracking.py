"""The one tracker: every scalar, table and figure goes to the local run store and to W&B.

The local store is written first and is the source of truth; W&B (offline by default) is a
mirror for its dashboards. wandb is imported only when a run actually starts.

How a run is laid out in W&B. W&B keeps one step counter per run and drops any
``log(..., step=s)`` with ``s`` below it (one warning line, easy to miss), so an experiment's
own steps are never passed as W&B's step: every ``wandb.log`` lets the counter advance by one,
and nothing is ever dropped. Instead each series carries its own x-axis:

- a scalar ``key`` logged with ``step=s, x=name`` is sent together with its axis metric
  ``axes/<name>/<key>`` (value ``s``) in the same ``wandb.log`` call, and
  ``define_metric(key, step_metric="axes/<name>/<key>")`` (once per metric) makes W&B chart it
  against that axis. One axis metric per series means no two series ever share an axis, so an
  axis runs backwards only where its own series does (``compare/gridworld4x4/vi/sweeps``
  against ``axes/gamma/compare/gridworld4x4/vi/sweeps``);
- tables go to ``tables/<key>`` and figures to ``figures/<key>``, so a table and a figure
  sharing a key (a result table beside the plot of it) are two W&B entries, not one;
- ``axes/``, ``tables/`` and ``figures/`` are reserved sections: a scalar logged under one is
  refused, so no scalar can collide with an axis, a table or a figure.

The local history keeps the experiment's own terms: one row per ``log`` call,
``{"step": s, "x": name, "<metric>": value, ...}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forge_cli.errors import ForgeError
from forge_cli.store import CHECKPOINT, RunWriter

if TYPE_CHECKING:
    from rich.progress import Progress

    from forge_cli.config import WandbSettings

AXES, TABLES, FIGURES = "axes/", "tables/", "figures/"
RESERVED_SECTIONS = (AXES, TABLES, FIGURES)


def axis_metric(key: str, x: str) -> str:
    """The W&B metric that holds the x values of series ``key`` (see the module docstring)."""
    return f"{AXES}{x}/{key}"


@dataclass(frozen=True)
class RunResources:
    """What a run may load and where it keeps derived data (see ``forge_cli.artifacts``)."""

    cache: Path
    profile: str = "cpu"
    data: dict[str, Path] = field(default_factory=dict)
    produces: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    settings: Any = None
    """The project's settings, for ``llm_judge`` (None: no LLM, as in tests' trackers)."""


class RunTracker:
    """Implements :class:`algorithms.experiment.Tracker` for one run."""

    def __init__(self, writer: RunWriter, wandb_run: Any = None, progress: Progress | None = None,
                 resources: RunResources | None = None):
        self.writer = writer
        self.wandb_run = wandb_run
        self.progress = progress
        self._resources = resources
        self._axes: dict[str, str] = {}  # metric -> the x it was first logged against

    def log(self, metrics: dict[str, float], step: float | None = None, x: str = "step") -> None:
        values = {key: _scalar(value) for key, value in metrics.items()}
        if reserved := [key for key in values if key.startswith(RESERVED_SECTIONS)]:
            raise ValueError(f"metric {reserved[0]!r}: the sections {', '.join(RESERVED_SECTIONS)}"
                             " hold axes, tables and figures in W&B; choose another section")
        if step is None:
            self.writer.append_history(values)
            if self.wandb_run is not None:
                self.wandb_run.log(values)
            return
        step = _scalar(step)
        self._check_axes(values, x)
        self.writer.append_history({"step": step, "x": x, **values})
        if self.wandb_run is not None:
            axes = {axis_metric(key, x): step for key in values}
            self.wandb_run.log({**values, **axes})

    def _check_axes(self, values: dict[str, Any], x: str) -> None:
        """Refuse a metric changing axis; give each new series its axis, once."""
        if not x or "/" in x:
            raise ValueError(f"x must be a name without '/' (sweep, env_step, gamma), got {x!r}")
        for key in values:
            if self._axes.get(key, x) != x:
                raise ValueError(f"metric {key!r} logged against x={x!r}, earlier against "
                                 f"x={self._axes[key]!r}: a metric keeps one x-axis for the run")
        for key in values:
            if key not in self._axes:
                self._axes[key] = x
                if self.wandb_run is not None:
                    axis = axis_metric(key, x)
                    self.wandb_run.define_metric(axis, hidden=True)  # no chart of its own
                    self.wandb_run.define_metric(key, step_metric=axis)

    def log_table(self, key: str, columns: list[str], rows: list[list[Any]]) -> None:
        self.writer.write_table(key, columns, rows)
        if self.wandb_run is not None:
            import wandb

            data = [[_cell(value) for value in row] for row in rows]
            # result tables mix types in a column (a number, or "" where there is none), which
            # W&B's type inference would refuse, failing the run over its mirror
            table = wandb.Table(columns=columns, data=data, allow_mixed_types=True)
            self.wandb_run.log({TABLES + key: table})

    def log_figure(self, key: str, figure: Any, caption: str) -> None:
        import matplotlib.pyplot as plt

        png = self.writer.figure_file(key, caption)
        figure.savefig(png, dpi=150, bbox_inches="tight")
        plt.close(figure)
        if self.wandb_run is not None:
            import wandb

            self.wandb_run.log({FIGURES + key: wandb.Image(str(png), caption=caption)})

    def track(self, iterable: Iterable[Any], total: int | None = None,
              description: str = "") -> Iterator[Any]:
        if self.progress is None:
            yield from iterable
            return
        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        task = self.progress.add_task(f"  {description}", total=total)
        try:
            for item in iterable:
                yield item
                self.progress.advance(task)
        finally:
            self.progress.remove_task(task)


    @property
    def resources(self) -> RunResources:
        """What ``run_one`` set up; a bare tracker (a test's) caches beside its store."""
        if self._resources is None:
            self._resources = RunResources(cache=self.writer.store.root / ".cache")
        return self._resources

    def artifact_dir(self, name: str) -> Path:
        if name not in self.resources.produces:
            raise ValueError(f"artifact {name!r} is not among the experiment's produces="
                             f"{self.resources.produces}")
        return self.writer.artifact_dir(name)

    def use_artifact(self, name: str) -> Path:
        from forge_cli.artifacts import find_artifact

        if name not in self.resources.needs:
            raise ValueError(f"artifact {name!r} is not among the experiment's needs="
                             f"{self.resources.needs}")
        folder = find_artifact(self.writer.store, name, self.resources.profile)
        if folder is None:  # the runner makes what a run needs before it starts
            raise ForgeError(f"no {self.resources.profile} run has made {name} yet")
        return folder

    def checkpoint_dir(self) -> Path:
        folder = self.writer.dir / CHECKPOINT
        folder.mkdir(exist_ok=True)
        return folder

    def cache_dir(self) -> Path:
        self.resources.cache.mkdir(parents=True, exist_ok=True)
        return self.resources.cache

    def llm_judge(self) -> Any:
        """The configured LLM as a judge function, made on first use (None when no provider
        is configured: the experiment uses its offline stand-in)."""
        if not hasattr(self, "_judge"):
            settings = self._resources.settings if self._resources is not None else None
            if settings is None:
                self._judge = None
            else:
                from forge_cli.llm_judge import judge_function

                self._judge = judge_function(settings)
        return self._judge

    def data_file(self, name: str) -> Path | None:
        return self.resources.data.get(name)


def start_wandb_run(settings: WandbSettings, directory: str, run_id: str, week: int,
                    experiment: str, seed: int, config: dict[str, Any]) -> Any:
    """A W&B run for one experiment run, or None when W&B is disabled."""
    if settings.mode == "disabled":
        return None
    import wandb

    return wandb.init(
        project=settings.project, entity=settings.entity, mode=settings.mode, dir=directory,
        id=run_id, name=f"{experiment}-seed{seed}", group=f"week{week:02d}",
        job_type=experiment, config={"week": week, "experiment": experiment, **config},
        reinit="finish_previous",
        settings=wandb.Settings(silent=True, console="off", save_code=False),
    )


def _scalar(value: Any) -> float | int:
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    return float(value)  # NaN/inf kept: a diverged run must show as diverged


def _cell(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
