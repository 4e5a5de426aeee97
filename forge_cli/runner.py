"""``forge run``: run a week's registered experiments over seeds, tracked and stored atomically."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from algorithms.experiment import PROFILES, Experiment, InputError, experiments_for
from forge_cli import artifacts
from forge_cli.config import Settings
from forge_cli.errors import BadInput, ForgeError
from forge_cli.provenance import environment
from forge_cli.store import RunRecord, RunStore, new_run_id, now_iso
from forge_cli.tracking import RunResources, RunTracker, start_wandb_run

if TYPE_CHECKING:
    from rich.progress import Progress


MAX_SEED = 2**31 - 1
"""numpy's legacy seeding refuses 2**32 and above; experiments add small offsets to the seed
(``seed + env index``, ``seed + k`` in seed studies), so user seeds stop well below it."""
MAX_SEEDS = 1000
"""More seeds than this in one ``forge run`` is a typo (``0-1000000000``), not a study."""


@dataclass
class RunPlan:
    week: int
    profile: str = "cpu"
    seeds: list[int] = field(default_factory=lambda: [0])
    only: list[str] | None = None
    """None: every experiment of the week; a list (``--only``) must name at least one."""
    resume: str | None = None
    """``--resume``: the id of an interrupted run of the one experiment ``--only`` names."""
    workers: int = 1
    """``--jobs``: how many (experiment, seed) jobs run at once, each in its own process
    (``forge_cli.jobs``); 1 runs them one after another in this process."""

    def experiments(self) -> list[Experiment]:
        """The experiments to run, checked against the week's registry."""
        if self.profile not in PROFILES:
            raise BadInput(f"unknown profile {self.profile!r}: expected one of "
                           f"{', '.join(PROFILES)}")
        registered = experiments_for(self.week)
        if not registered:
            raise ForgeError(f"week {self.week} has no experiments implemented yet")
        if self.only is not None and not self.only:
            raise BadInput(f"--only needs an experiment name: choose from {', '.join(registered)}")
        names = list(registered) if self.only is None else list(dict.fromkeys(self.only))
        unknown = [name for name in names if name not in registered]
        if unknown:
            raise BadInput(f"week {self.week} has no experiment {unknown[0]!r}: "
                           f"choose from {', '.join(registered)}")
        return [registered[name] for name in names]

    def jobs(self) -> list[tuple[Experiment, int]]:
        """(experiment, seed) pairs to run; deterministic experiments run once, with seed 0."""
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise BadInput(f"bad --jobs {self.workers!r}: the number of jobs to run at once "
                           "is 1 or more")
        if self.resume is not None and self.workers > 1:
            raise BadInput("--resume continues one run in this process: leave out --jobs")
        if self.resume is not None:
            if self.only is None or len(self.experiments()) != 1:
                raise BadInput("--resume continues one run: name its experiment with --only")
            if len(self.seeds) != 1:
                raise BadInput("--resume continues one run: give at most one --seeds")
        return [(experiment, seed) for experiment in self.experiments()
                for seed in (self.seeds if experiment.seeded else [0])]

    def check(self, settings: Settings) -> None:
        """Everything that can be refused before a file changes: experiments, data, resume."""
        jobs = self.jobs()
        settings.data_files()
        if self.resume is not None:
            (experiment, seed), = jobs
            _, start = artifacts.interrupted_run(RunStore(settings.path("runs")), self.resume)
            config = _config(experiment, self.profile, start.get("seed", seed))
            if start.get("seed") != seed and self.seeds != [0]:
                raise BadInput(f"run {self.resume} is seed {start.get('seed')}, not {seed}")
            artifacts.check_resumable(start, experiment, self.profile,
                                      config.model_dump(mode="json"), self.resume)

    def notices(self) -> list[str]:
        """One line per deterministic experiment that will not run the seeds asked for."""
        if self.seeds == [0]:
            return []
        return [f"{experiment.name} is deterministic: it runs once (seed 0), whatever --seeds says"
                for experiment in self.experiments() if not experiment.seeded]


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` or a range ``"0-4"``: distinct seeds in 0 … MAX_SEED, at most MAX_SEEDS."""
    usage = f"bad --seeds {text!r}: expected a list like 0,1,2 or a range like 0-4"
    try:
        if "-" in text.strip().strip("-") and "," not in text:
            low, high = (int(part) for part in text.split("-"))
            if high - low + 1 > MAX_SEEDS:
                raise BadInput(f"bad --seeds {text!r}: at most {MAX_SEEDS} seeds per run")
            seeds = list(range(low, high + 1))
        else:
            seeds = list(dict.fromkeys(int(part) for part in text.split(",") if part.strip()))
    except ValueError:
        raise BadInput(usage) from None
    if not seeds:
        raise BadInput(usage)
    if any(not 0 <= seed <= MAX_SEED for seed in seeds):
        raise BadInput(f"bad --seeds {text!r}: seeds are integers from 0 to {MAX_SEED}")
    if len(seeds) > MAX_SEEDS:
        raise BadInput(f"bad --seeds {text!r}: at most {MAX_SEEDS} seeds per run")
    return seeds


def _config(experiment: Experiment, profile: str, seed: int):
    try:
        return experiment.config.for_profile(profile, seed=seed)
    except ValidationError as error:
        raise ForgeError(f"{experiment.name}: bad {profile} profile: {error.errors()[0]['msg']}") from None


def run_one(experiment: Experiment, seed: int, profile: str, settings: Settings,
            progress: Progress | None = None, resume: str | None = None,
            notify: Callable[[str], None] | None = None) -> RunRecord:
    """One run of ``experiment``; the artifacts it needs are made first when no run has them
    (``notify`` says so), ``resume`` continues the interrupted run of that id."""
    store = RunStore(settings.path("runs"))
    source = None
    if resume is not None:
        source, start = artifacts.interrupted_run(store, resume)
        seed = start.get("seed", seed)
    config = _config(experiment, profile, seed)
    config_values = config.model_dump(mode="json")
    if resume is not None:
        artifacts.check_resumable(start, experiment, profile, config_values, resume)
    for producer in artifacts.missing_artifacts(experiment, store, profile):
        if notify is not None:
            notify(f"{experiment.name} needs {', '.join(experiment.needs)}, which no {profile} "
                   f"run has made: running week {producer.week} {producer.name} first")
        run_one(producer, 0, profile, settings, progress, notify=notify)
    run_id = new_run_id()

    def open_wandb():
        wandb_dir = settings.path("wandb")
        wandb_dir.mkdir(parents=True, exist_ok=True)
        return start_wandb_run(settings.wandb, str(wandb_dir), run_id, experiment.week,
                               experiment.name, seed, config_values)

    return execute(experiment, config, profile, settings, store, run_id,
                   start={"seed": seed, "resumes": resume}, open_wandb=open_wandb,
                   make_tracker=lambda writer, run, resources: RunTracker(
                       writer, run, progress, resources),
                   source=source)


def execute(experiment: Experiment, config, profile: str, settings: Settings, store: RunStore,
            run_id: str, start: dict, open_wandb: Callable[[], object],
            make_tracker: Callable[..., object], source: Path | None = None,
            wandb_extra: dict | None = None) -> RunRecord:
    """Run ``experiment`` with ``config`` as run ``run_id`` of ``store``: start.json, the W&B
    run ``open_wandb()`` returns (None: no W&B), the tracker ``make_tracker(writer, wandb_run,
    resources)``, the record published atomically. The one code path of every run (``forge
    run``, a sweep's trials): bad input discards the run (exit 2), any other exit, Ctrl-C
    included, moves it to ``.failed``."""
    config_values = config.model_dump(mode="json")
    wandb_run = None
    started, clock = now_iso(), time.perf_counter()
    writer = store.writer(run_id)
    try:  # from the moment the run's folder exists: a Ctrl-C anywhere moves it to .failed
        writer.write_start({"week": experiment.week, "experiment": experiment.name,
                            "profile": profile, "config": config_values, **start})
        if source is not None:
            artifacts.seed_checkpoint(source, writer.dir)
        wandb_run = open_wandb()
        resources = RunResources(cache=settings.path("cache"), profile=profile,
                                 data=settings.data_files(), produces=experiment.produces,
                                 needs=experiment.needs, settings=settings)
        summary = experiment.fn(config, make_tracker(writer, wandb_run, resources))
        if wandb_run is not None:
            wandb_run.summary.update(summary)
        record = RunRecord(
            id=run_id, week=experiment.week, experiment=experiment.name, seed=config.seed,
            profile=profile, started_at=started, finished_at=now_iso(),
            duration_s=round(time.perf_counter() - clock, 3), config=config_values,
            summary=summary, environment=environment(settings.root),
            wandb={**_wandb_info(wandb_run, settings), **(wandb_extra or {})})
        artifacts.log_to_wandb(wandb_run, writer.dir, writer.artifacts, profile)
        finished = writer.finish(record)
    except InputError as error:  # refused for what it was given: nothing of it is kept
        writer.discard()
        if wandb_run is not None:
            wandb_run.finish(exit_code=2)
        raise BadInput(f"{experiment.name}: {error}") from None
    except BaseException as error:  # Ctrl-C and SIGTERM too: never leave a run that looks finished
        writer.fail("".join(traceback.format_exception(error)))
        if wandb_run is not None:
            wandb_run.finish(exit_code=1)
        raise
    if wandb_run is not None:
        wandb_run.finish()
    return finished


def run_plan(plan: RunPlan, settings: Settings, progress: Progress | None = None,
             on_finished: Callable[[RunRecord], None] | None = None,
             notify: Callable[[str], None] | None = None,
             on_failed: Callable[..., None] | None = None) -> list[RunRecord]:
    """Every job of ``plan``, one after another, or with ``plan.workers`` > 1 in parallel
    processes (``forge_cli.jobs.run_parallel``, which calls ``on_failed`` for each job that
    fails and raises ``JobsFailed`` at the end)."""
    plan.check(settings)
    if plan.workers > 1:
        from forge_cli.jobs import run_parallel

        return run_parallel(plan, settings, progress, on_finished, notify, on_failed)
    jobs = plan.jobs()
    overall = progress.add_task(f"week {plan.week}", total=len(jobs)) if progress else None
    records = []
    for experiment, seed in jobs:
        if progress is not None:
            progress.update(overall, description=f"week {plan.week} · {experiment.name} · seed {seed}")
        record = run_one(experiment, seed, plan.profile, settings, progress, plan.resume,
                         notify)
        records.append(record)
        if on_finished:
            on_finished(record)
        if progress is not None:
            progress.advance(overall)
    return records


def _wandb_info(wandb_run, settings: Settings) -> dict[str, object]:
    if wandb_run is None:
        return {"mode": "disabled"}
    return {"id": wandb_run.id, "mode": settings.wandb.mode, "project": settings.wandb.project,
            "entity": settings.wandb.entity, "dir": str(Path(wandb_run.dir).parent),
            "url": wandb_run.url if settings.wandb.mode == "online" else None}
