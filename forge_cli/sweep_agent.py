"""``forge agent SWEEP_ID``: run a W&B sweep's trials on this machine, each a normal forge run.

``wandb.agent`` asks the sweep for a trial, sets ``WANDB_RUN_ID`` and ``WANDB_SWEEP_ID`` and
calls the trial function (in a thread of this process). The trial's ``wandb.init`` (no id: inside
a sweep W&B takes the id, project and entity from the agent) is the run W&B started for the
trial, so the trial logs into it, and never starts a second one. Its ``wandb.config`` holds the
trial's parameters; :func:`run_trial` maps them onto the experiment's config
(:func:`forge_cli.sweeps.params_to_overrides`) and runs the experiment as ``runner.run_one``
does: the same run layout, tracker, atomic publication, ``.failed`` on a crash, summary to W&B.

Where trials go. Each trial is a normal run in the sweep's own store, ``runs/sweeps/<id>/``,
under the trial's W&B id, and its W&B run is grouped ``weekNN-sweep-<id>``, not ``weekNN``:
results, facts and drafts read the newest run per (experiment, seed) of ``runs/``, and
``forge pull`` fetches the ``weekNN`` group, so a trial must not land among a week's runs, where
one point of a search would replace the week's result. The artifacts a trial loads
(``needs``) come from ``runs/`` all the same; any that no run has are made there first, by
normal runs, before the agent starts.

A trial that fails is one line (its run moves to the sweep's ``.failed``, with the
traceback, and W&B marks the trial failed) and the agent goes on to the next; one that W&B
stops (from its UI) is one line too, and no failure.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from algorithms.experiment import Experiment, experiments_for
from forge_cli import artifacts
from forge_cli.config import Settings
from forge_cli.errors import BadInput, ForgeError
from forge_cli.runner import execute, run_one
from forge_cli.store import RunRecord, RunStore, new_run_id
from forge_cli.sweeps import (FIXED, SweepPath, SweepTarget, params_to_overrides, sweep_store,
                              target_from_sweep_config, trial_config)
from forge_cli.tracking import RunTracker


@dataclass
class AgentReport:
    records: list[RunRecord] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    """Trials W&B stopped (from its UI, or Ctrl-C here): moved to ``.failed``, not failures."""
    interrupted: bool = False


class TrialTracker(RunTracker):
    """A trial's tracker: its run is in the sweep's store, the artifacts it loads are in
    ``runs/``, where ``forge run`` makes them."""

    def __init__(self, *args: Any, artifacts_from: RunStore, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.artifacts_from = artifacts_from

    def use_artifact(self, name: str) -> Path:
        if name not in self.resources.needs:
            raise ValueError(f"artifact {name!r} is not among the experiment's needs="
                             f"{self.resources.needs}")
        folder = artifacts.find_artifact(self.artifacts_from, name, self.resources.profile)
        if folder is None:  # forge agent makes what the trials need before the first one
            raise ForgeError(f"no {self.resources.profile} run has made {name} yet")
        return folder


def swept(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters a trial varies: its ``wandb.config`` less the fixed and W&B's keys."""
    return {key: value for key, value in params.items()
            if key not in FIXED and not key.startswith("_")}


def run_trial(experiment: Experiment, profile: str, params: Mapping[str, Any],
              settings: Settings, wandb_run: Any = None, sweep: str = "local") -> RunRecord:
    """One trial: ``experiment`` at ``profile`` with ``params`` (a ``wandb.config``) applied,
    stored in the sweep's store and tracked in ``wandb_run``, the trial's W&B run (None: no
    W&B), which it finishes."""
    try:
        config = trial_config(experiment, profile, params)
    except BadInput:
        if wandb_run is not None:
            wandb_run.finish(exit_code=2)
        raise
    config_values = config.model_dump(mode="json")
    store, main = sweep_store(settings, sweep), RunStore(settings.path("runs"))

    def open_wandb():
        if wandb_run is not None:  # what the sweep set is locked in W&B's config: not resent
            wandb_run.config.update({"week": experiment.week, "experiment": experiment.name,
                                     **{key: value for key, value in config_values.items()
                                        if key not in params}}, allow_val_change=True)
        return wandb_run

    return execute(experiment, config, profile, settings, store,
                   wandb_run.id if wandb_run is not None else new_run_id(),
                   start={"seed": config.seed, "sweep": sweep, "params": swept(params)},
                   open_wandb=open_wandb,
                   make_tracker=lambda writer, run, resources: TrialTracker(
                       writer, run, None, resources, artifacts_from=main),
                   wandb_extra={"sweep": sweep})


# ----------------------------------------------------------------------------- the agent

def load_target(path: SweepPath) -> tuple[SweepTarget, Experiment, str | None]:
    """What sweep ``path`` runs and the metric it optimises, read from W&B, checked against
    this repository."""
    config = _sweep_config(path)
    target = target_from_sweep_config(config, str(path))
    experiment = experiments_for(target.week).get(target.experiment)
    if experiment is None:
        raise BadInput(f"sweep {path} runs week {target.week} {target.experiment}, which this "
                       "repository does not have (is it up to date?)")
    names = {name: None for name in (config.get("parameters") or {}) if name != "seed"}
    params_to_overrides(experiment, names)  # BadInput naming a parameter the config lacks
    metric = config.get("metric")
    return target, experiment, metric.get("name") if isinstance(metric, dict) else None


def run_agent(path: SweepPath, settings: Settings, count: int | None = None,
              on_finished: Callable[[RunRecord, dict[str, Any]], None] | None = None,
              on_failed: Callable[[str], None] | None = None,
              notify: Callable[[str], None] | None = None) -> AgentReport:
    """Run trials of sweep ``path`` here until the sweep has none left, or ``count`` of them.
    ``on_finished`` gets each trial's record and what to show of it: the swept parameters and
    the sweep's metric."""
    target, experiment, metric = load_target(path)
    settings.data_files()  # a configured corpus that is missing: refused before any trial
    main = RunStore(settings.path("runs"))
    for producer in artifacts.missing_artifacts(experiment, main, target.profile):
        if notify is not None:
            notify(f"{experiment.name} needs {', '.join(experiment.needs)}, which no "
                   f"{target.profile} run has made: running week {producer.week} "
                   f"{producer.name} first")
        run_one(producer, 0, target.profile, settings, notify=notify)
    report = AgentReport()

    def trial() -> None:
        run = None
        try:
            run = start_trial_run(settings, target, path)
            params = dict(run.config)
            record = run_trial(experiment, target.profile, params, settings, run, path.id)
        except Exception as error:  # one line each; the agent goes on to the next trial
            stopped = type(error) is Exception and not error.args  # how W&B stops a thread
            line = (f"trial {getattr(run, 'id', '?')}: "
                    + ("stopped" if stopped else " ".join(str(error).split()) or repr(error)))
            (report.stopped if stopped else report.failures).append(line)
            if on_failed is not None:
                on_failed(line)
            return
        report.records.append(record)
        if on_finished is not None:
            shown = {**swept(params), **({metric: record.summary[metric]}
                                         if metric in record.summary else {})}
            on_finished(record, shown)

    interrupted = threading.Event()
    in_main = threading.current_thread() is threading.main_thread()

    def on_interrupt(signum, frame):  # W&B's agent stops on Ctrl-C and returns: remember it
        interrupted.set()
        raise KeyboardInterrupt

    previous_handler = signal.signal(signal.SIGINT, on_interrupt) if in_main else None
    previous_dir = os.environ.get("WANDB_DIR")
    wandb_dir = settings.path("wandb")
    wandb_dir.mkdir(parents=True, exist_ok=True)
    os.environ["WANDB_DIR"] = str(wandb_dir)  # where the agent keeps its trials' parameters
    try:
        _wandb_agent(path, trial, count)
    except KeyboardInterrupt:
        interrupted.set()
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGINT, previous_handler)
        if previous_dir is None:
            os.environ.pop("WANDB_DIR", None)
        else:
            os.environ["WANDB_DIR"] = previous_dir
    report.interrupted = interrupted.is_set()
    return report


# W&B calls, one place each (the tests replace them)

def _sweep_config(path: SweepPath) -> dict[str, Any]:
    import wandb

    try:
        api = wandb.Api(overrides={"project": path.project,
                                   **({"entity": path.entity} if path.entity else {})},
                        timeout=30)
        config = api.sweep(str(path)).config
    except Exception as error:  # not found, no network, bad credentials
        raise ForgeError(f"cannot read sweep {path}: W&B: {' '.join(str(error).split())}"
                         ) from None
    return dict(config or {})


def _wandb_agent(path: SweepPath, function: Callable[[], None], count: int | None) -> None:
    import wandb

    try:
        wandb.agent(path.id, function=function, entity=path.entity, project=path.project,
                    count=count)
    except KeyboardInterrupt:
        raise
    except Exception as error:
        raise ForgeError(f"W&B agent for sweep {path} failed: {' '.join(str(error).split())}"
                         ) from None


def start_trial_run(settings: Settings, target: SweepTarget, path: SweepPath) -> Any:
    """The trial's W&B run: the one the agent made for it (id, project, entity from the
    agent's environment), set up as ``tracking.start_wandb_run`` sets up forge's runs."""
    import wandb

    return wandb.init(
        mode=settings.wandb.mode, dir=str(settings.path("wandb")),
        group=f"week{target.week:02d}-sweep-{path.id}", job_type=target.experiment,
        reinit="finish_previous",
        settings=wandb.Settings(silent=True, console="off", save_code=False))
