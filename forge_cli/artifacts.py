"""Artifacts and resumption: what one run makes for another to load, and continuing a run that
was interrupted.

An **artifact** is a folder a run writes (``tracker.artifact_dir(name)``), stored with the run
under ``artifacts/`` and mirrored to W&B as an artifact of type ``model``. Experiments declare
the artifacts they make (``produces``) and load (``needs``); a later run loads the newest
finished run's copy at its own profile (``tracker.use_artifact(name)``), and when there is none
the runner first runs the experiment that produces it, saying so. Artifacts live in the run
store, never in git.

**Resuming** (``forge run weekN --only NAME --resume RUN_ID``) continues an interrupted run of a
resumable experiment: the runs in ``runs/.failed/`` and stale ones in ``runs/.incomplete/`` keep
their ``start.json`` and ``checkpoint/``. The new run starts from a copy of that checkpoint in its
own folder; the interrupted run is never modified, and a run of another experiment, seed,
profile or config is refused before any file is touched.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from algorithms.experiment import Experiment, producer_of
from forge_cli.errors import BadInput, ForgeError
from forge_cli.store import CHECKPOINT, FAILED, INCOMPLETE, START_FILE, RunStore


def wandb_artifact_name(name: str) -> str:
    """W&B names allow letters, digits, ``-``, ``_`` and ``.``; ``:`` separates a version."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)


def producer(name: str) -> Experiment:
    found = producer_of(name)
    if found is None:
        raise ForgeError(f"no experiment produces the artifact {name!r}")
    return found


def find_artifact(store: RunStore, name: str, profile: str) -> Path | None:
    """The folder of ``name`` in the newest finished run at ``profile`` that made it."""
    made_by = producer(name)
    for record in reversed(store.runs(made_by.week, made_by.name)):
        if record.profile == profile and name in record.artifacts and record.path is not None:
            folder = record.path / record.artifacts[name]
            if folder.is_dir():
                return folder
    return None


def missing_artifacts(experiment: Experiment, store: RunStore, profile: str) -> list[Experiment]:
    """The producers to run first, one per artifact ``experiment`` needs and no run has."""
    producers: dict[str, Experiment] = {}
    for name in experiment.needs:
        if find_artifact(store, name, profile) is None:
            made_by = producer(name)
            producers[f"{made_by.week}/{made_by.name}"] = made_by
    return list(producers.values())


def log_to_wandb(wandb_run: Any, run_dir: Path, folders: dict[str, str], profile: str) -> None:
    """Each of the run's artifacts (name -> folder in ``run_dir``) as a W&B artifact of type
    ``model``; logged before the run is published, so a failure fails the run."""
    if wandb_run is None or not folders:
        return
    import wandb

    for name, folder in folders.items():
        artifact = wandb.Artifact(wandb_artifact_name(name), type="model",
                                  metadata={"forge_name": name, "profile": profile,
                                            "run": wandb_run.id})
        artifact.add_dir(str(run_dir / folder))
        wandb_run.log_artifact(artifact)


# ----------------------------------------------------------------------------- resuming

def interrupted_run(store: RunStore, run_id: str) -> tuple[Path, dict[str, Any]]:
    """The folder and ``start.json`` of the interrupted run ``run_id``; BadInput when there is
    none, when it is still being written, or when it has no checkpoint to continue from."""
    from forge_cli.store_health import inspect_incomplete

    if any(not c.isalnum() and c not in "-_" for c in run_id) or not run_id:
        raise BadInput(f"bad --resume {run_id!r}: expected a run id like 20261202-101500-a1b2c3")
    failed, incomplete = store.root / FAILED / run_id, store.root / INCOMPLETE / run_id
    if failed.is_dir():
        folder = failed
    elif incomplete.is_dir():
        state = inspect_incomplete(incomplete)
        if not state.stale:
            raise BadInput(f"run {run_id} is still being written ({state.why}): nothing to resume")
        folder = incomplete
    elif any(store.root.glob(f"week[0-9][0-9]/*/{run_id}/run.json")):
        raise BadInput(f"run {run_id} finished: there is nothing to resume")
    else:
        raise BadInput(f"no interrupted run {run_id} in {store.root / FAILED} or "
                       f"{store.root / INCOMPLETE}")
    try:
        start = json.loads((folder / START_FILE).read_text(encoding="utf-8"))
        if not isinstance(start, dict) or not isinstance(start.get("config"), dict):
            raise ValueError
    except (OSError, ValueError):
        raise BadInput(f"run {run_id} has no readable {START_FILE}: it cannot be resumed") from None
    if not (folder / CHECKPOINT).is_dir() or not any((folder / CHECKPOINT).iterdir()):
        raise BadInput(f"run {run_id} stopped before its first checkpoint: run it afresh")
    return folder, start


def check_resumable(start: dict[str, Any], experiment: Experiment, profile: str,
                    config: dict[str, Any], run_id: str) -> None:
    """BadInput naming the first difference between the interrupted run and this one."""
    if not experiment.resumable:
        raise BadInput(f"{experiment.name} does not checkpoint, so it cannot be resumed")
    wanted = {"week": experiment.week, "experiment": experiment.name, "profile": profile}
    for key, value in wanted.items():
        if start.get(key) != value:
            raise BadInput(f"run {run_id} is {key} {start.get(key)!r}, not {value!r}: "
                           "--resume continues a run of the same experiment and profile")
    for key in sorted(set(config) | set(start["config"])):
        if config.get(key) != start["config"].get(key):
            raise BadInput(f"run {run_id} was made with another config: {key} = "
                           f"{_short(start['config'].get(key))} there, {_short(config.get(key))} "
                           "here")


def seed_checkpoint(source: Path, run_dir: Path) -> Path:
    """Copy the interrupted run's checkpoint into the new run's folder; the source is kept."""
    target = run_dir / CHECKPOINT
    shutil.copytree(source / CHECKPOINT, target, dirs_exist_ok=False)
    return target


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
