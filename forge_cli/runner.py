"""``forge run``: run a week's registered experiments over seeds, tracked and stored atomically."""

from __future__ import annotations

import platform
import subprocess
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from forge_cli.config import Settings
from forge_cli.errors import BadInput, ForgeError
from algorithms.experiment import PROFILES, Experiment, experiments_for
from forge_cli.store import RunRecord, RunStore, new_run_id, now_iso
from forge_cli.tracking import RunTracker, start_wandb_run

if TYPE_CHECKING:
    from rich.progress import Progress

TRACKED_PACKAGES = ("forge", "numpy", "torch", "gymnasium", "wandb", "matplotlib")


@dataclass
class RunPlan:
    week: int
    profile: str = "cpu"
    seeds: list[int] = field(default_factory=lambda: [0])
    only: list[str] | None = None

    def jobs(self) -> list[tuple[Experiment, int]]:
        """(experiment, seed) pairs to run; deterministic experiments run once."""
        if self.profile not in PROFILES:
            raise BadInput(f"unknown profile {self.profile!r}: expected one of "
                           f"{', '.join(PROFILES)}")
        registered = experiments_for(self.week)
        if not registered:
            raise ForgeError(f"week {self.week} has no experiments implemented yet")
        names = self.only or list(registered)
        unknown = [name for name in names if name not in registered]
        if unknown:
            raise BadInput(f"week {self.week} has no experiment {unknown[0]!r}: "
                           f"choose from {', '.join(registered)}")
        return [(registered[name], seed) for name in names
                for seed in (self.seeds if registered[name].seeded else [0])]


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` or a range ``"0-4"``."""
    try:
        if "-" in text.strip("-") and "," not in text:
            low, high = (int(part) for part in text.split("-"))
            seeds = list(range(low, high + 1))
        else:
            seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise BadInput(f"bad --seeds {text!r}: expected a list like 0,1,2 or a range like 0-4") from None
    if not seeds or any(seed < 0 for seed in seeds):
        raise BadInput(f"bad --seeds {text!r}: expected non-negative integers like 0,1,2")
    return seeds


def run_one(experiment: Experiment, seed: int, profile: str, settings: Settings,
            progress: Progress | None = None) -> RunRecord:
    try:
        config = experiment.config.for_profile(profile, seed=seed)
    except ValidationError as error:
        raise ForgeError(f"{experiment.name}: bad {profile} profile: {error.errors()[0]['msg']}") from None
    store = RunStore(settings.path("runs"))
    run_id = new_run_id()
    writer = store.writer(run_id)
    config_values = config.model_dump(mode="json")
    wandb_run = None
    started, clock = now_iso(), time.perf_counter()
    try:
        wandb_dir = settings.path("wandb")
        wandb_dir.mkdir(parents=True, exist_ok=True)
        wandb_run = start_wandb_run(settings.wandb, str(wandb_dir), run_id, experiment.week,
                                    experiment.name, seed, config_values)
        tracker = RunTracker(writer, wandb_run, progress)
        summary = experiment.fn(config, tracker)
        if wandb_run is not None:
            wandb_run.summary.update(summary)
        record = RunRecord(
            id=run_id, week=experiment.week, experiment=experiment.name, seed=seed,
            profile=profile, started_at=started, finished_at=now_iso(),
            duration_s=round(time.perf_counter() - clock, 3), config=config_values,
            summary=summary, environment=environment(settings.root),
            wandb=_wandb_info(wandb_run, settings))
        finished = writer.finish(record)
    except BaseException as error:  # Ctrl-C and SIGTERM too: never leave a run that looks finished
        writer.fail("".join(traceback.format_exception(error)))
        if wandb_run is not None:
            wandb_run.finish(exit_code=1)
        raise
    if wandb_run is not None:
        wandb_run.finish()
    return finished


def run_plan(plan: RunPlan, settings: Settings, progress: Progress | None = None,
             on_finished: Callable[[RunRecord], None] | None = None) -> list[RunRecord]:
    jobs = plan.jobs()
    overall = progress.add_task(f"week {plan.week}", total=len(jobs)) if progress else None
    records = []
    for experiment, seed in jobs:
        if progress is not None:
            progress.update(overall, description=f"week {plan.week} · {experiment.name} · seed {seed}")
        record = run_one(experiment, seed, plan.profile, settings, progress)
        records.append(record)
        if on_finished:
            on_finished(record)
        if progress is not None:
            progress.advance(overall)
    return records


def environment(root: Path) -> dict[str, object]:
    """What a reader needs to reproduce a run: code version, library versions, machine."""
    versions = {}
    for package in TRACKED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return {"git_sha": _git(root, "rev-parse", "HEAD"),
            "git_dirty": bool(_git(root, "status", "--porcelain", "--untracked-files=no")),
            "python": platform.python_version(), "platform": platform.platform(),
            "machine": platform.machine(), "packages": versions}


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _wandb_info(wandb_run, settings: Settings) -> dict[str, object]:
    if wandb_run is None:
        return {"mode": "disabled"}
    return {"id": wandb_run.id, "mode": settings.wandb.mode, "project": settings.wandb.project,
            "entity": settings.wandb.entity, "dir": str(Path(wandb_run.dir).parent),
            "url": wandb_run.url if settings.wandb.mode == "online" else None}
