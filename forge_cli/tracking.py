"""The one tracker: every scalar, table and figure goes to the local run store and to W&B.

The local store is written first and is the source of truth; W&B (offline by default) is a
mirror for its dashboards. wandb is imported only when a run actually starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from forge_cli.store import RunWriter

if TYPE_CHECKING:
    from rich.progress import Progress

    from forge_cli.config import WandbSettings


class RunTracker:
    """Implements :class:`algorithms.experiment.Tracker` for one run."""

    def __init__(self, writer: RunWriter, wandb_run: Any = None, progress: Progress | None = None):
        self.writer = writer
        self.wandb_run = wandb_run
        self.progress = progress
        self._last_step = -1

    def log(self, metrics: dict[str, float], step: int | None = None) -> None:
        # W&B needs steps that never decrease; experiments that restart a curve per environment
        # (step = sweep) are kept whole in the local history and logged to W&B with the step as
        # a field, so its charts can still use it as the x-axis.
        values = {key: _scalar(value) for key, value in metrics.items()}
        self.writer.append_history({"step": step, **values} if step is not None else values)
        if self.wandb_run is not None:
            if step is not None and step >= self._last_step:
                self._last_step = step
                self.wandb_run.log(values, step=step)
            else:
                self.wandb_run.log({**values, "step": step} if step is not None else values)

    def log_table(self, key: str, columns: list[str], rows: list[list[Any]]) -> None:
        self.writer.write_table(key, columns, rows)
        if self.wandb_run is not None:
            import wandb

            data = [[_cell(value) for value in row] for row in rows]
            self._log_at_current_step({key: wandb.Table(columns=columns, data=data)})

    def log_figure(self, key: str, figure: Any, caption: str) -> None:
        import matplotlib.pyplot as plt

        png = self.writer.figure_file(key, caption)
        figure.savefig(png, dpi=150, bbox_inches="tight")
        plt.close(figure)
        if self.wandb_run is not None:
            import wandb

            self._log_at_current_step({key: wandb.Image(str(png), caption=caption)})

    def _log_at_current_step(self, values: dict[str, Any]) -> None:
        # without a step W&B would advance its own counter past the experiment's, and the
        # experiment's next log at its current step would then be refused as going backwards
        self._last_step = max(self._last_step, 0)
        self.wandb_run.log(values, step=self._last_step)

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
