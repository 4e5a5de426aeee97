"""``forge pull``: fetch a week's runs made elsewhere from the W&B API into the local run store.

Runs are matched by W&B id (forge uses the run-store id as the W&B id), so pulling twice, or
pulling runs this machine made itself, stores nothing twice.
"""

from __future__ import annotations

import json
import netrc
import os
import tempfile
from pathlib import Path
from typing import Any

from forge_cli.config import Settings
from forge_cli.errors import ForgeError
from forge_cli.store import RunRecord, RunStore
from forge_cli.tracking import AXES, FIGURES, TABLES


def wandb_credentials_present(settings: Settings) -> bool:
    if settings.wandb_api_key is not None:
        return True
    try:
        hosts = netrc.netrc(os.path.expanduser("~/.netrc")).hosts
    except (FileNotFoundError, netrc.NetrcParseError):
        return False
    return any("wandb" in host for host in hosts)


def why_cannot_pull(settings: Settings) -> str | None:
    if settings.wandb.mode != "online":
        return (f"W&B is in {settings.wandb.mode} mode, so there is no server to pull from "
                "(runs made on this machine are already in the local store); to fetch runs made "
                "elsewhere set [wandb] mode = \"online\" in forge.toml and WANDB_API_KEY")
    if not wandb_credentials_present(settings):
        return "no W&B credentials: set WANDB_API_KEY or run `wandb login`"
    return None


def pull_week(week: int, settings: Settings, api: Any = None) -> list[RunRecord]:
    """Store every finished run of ``week`` that the local store lacks. ``api``: a wandb.Api."""
    if api is None:
        if reason := why_cannot_pull(settings):
            raise ForgeError(f"cannot pull week {week}: {reason}")
        import wandb

        api = wandb.Api(timeout=30)
    store = RunStore(settings.path("runs"))
    path = "/".join(part for part in (settings.wandb.entity, settings.wandb.project) if part)
    try:
        remote_runs = list(api.runs(path, filters={"group": f"week{week:02d}"}))
    except Exception as error:  # the SDK raises many types for network and auth failures
        raise ForgeError(f"cannot pull week {week}: W&B API error: {error}") from None
    pulled = []
    for run in remote_runs:
        if run.state != "finished" or store.has_run(week, run.id):
            continue
        pulled.append(_import(run, week, store))
    return pulled


def _import(run: Any, week: int, store: RunStore) -> RunRecord:
    config = {k: v for k, v in dict(run.config).items() if not k.startswith("_")}
    raw_summary = dict(run.summary)
    summary = {k: v for k, v in raw_summary.items()
               if not k.startswith("_") and isinstance(v, (int, float, str, bool))}
    rows = list(run.scan_history())
    history = [row for row in (_history_row(row) for row in rows) if len(row) > 2]
    media = {key.removeprefix(TABLES).removeprefix(FIGURES): value
             for row in rows for key, value in row.items()
             if isinstance(value, dict) and value.get("_type") in ("image-file", "table-file")}
    tables: dict[str, dict[str, Any]] = {}
    figures: dict[str, tuple[Path, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for key, value in media.items():
            local = Path(run.file(value["path"]).download(root=tmp, replace=True).name)
            if value["_type"] == "table-file":
                data = json.loads(local.read_text())
                tables[key] = {"columns": data["columns"], "rows": data["data"]}
            else:
                figures[key] = (local, value.get("caption", ""))
        record = RunRecord(
            id=run.id, week=week, experiment=run.job_type or config.get("experiment", "unknown"),
            seed=int(config.get("seed", 0)), profile=str(config.get("profile", "unknown")),
            source="wandb", started_at=str(run.created_at), finished_at=str(run.created_at),
            duration_s=float(raw_summary.get("_runtime", 0.0)),
            config={k: v for k, v in config.items() if k not in ("week", "experiment")},
            summary=summary, wandb={"id": run.id, "mode": "online", "url": run.url})
        return store.import_run(record, history, tables, figures)


def _history_row(row: dict[str, Any]) -> dict[str, Any]:
    """A W&B history row as the tracker stored it locally: the values, and the step and name of
    their x-axis (one tracker call logs its metrics against one axis: ``axes/<x>/<key>``)."""
    values = {k: v for k, v in row.items()
              if not k.startswith(("_", AXES)) and not isinstance(v, dict)}
    axis = next((k for k in row if k.startswith(AXES) and row[k] is not None), None)
    if axis is None:
        return {"step": None, "x": None, **values}
    return {"step": row[axis], "x": axis[len(AXES):].split("/", 1)[0], **values}
