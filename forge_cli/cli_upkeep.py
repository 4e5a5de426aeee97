"""Commands that look after the project: ``doctor`` and ``runs clean``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from forge_cli import cli_common as ui
from forge_cli.cli_common import app, settings

@app.command()
def doctor() -> None:
    """Report what is configured and what is missing (never prints secrets)."""
    from forge_cli.status import doctor_checks

    table = Table(title="forge doctor", title_justify="left")
    for column in ("check", "status", "detail"):
        table.add_column(column)
    marks = {"ok": "[green]ok[/]", "missing": "[yellow]missing[/]", "error": "[red]error[/]"}
    checks = doctor_checks(settings(require_project=False))  # it writes nothing
    for check in checks:
        table.add_row(check.name, marks[check.state], check.detail)
    ui.console.print(table)
    for check in checks:
        for item in check.items:
            ui.console.print(f"{check.name}: {item}", markup=False, highlight=False, soft_wrap=True)


runs_app = typer.Typer(help="Look after the local run store.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")


@runs_app.command("clean")
def runs_clean(
    dry_run: Annotated[bool, typer.Option(help="only say what would be done")] = False,
) -> None:
    """Remove stale incomplete runs and move corrupt ones to runs/.failed.

    An incomplete run is stale once the process that wrote it is gone; one still being written
    is never touched. Corrupt runs are moved, not deleted."""
    from forge_cli.store import RunStore
    from forge_cli.store_health import clean

    done = clean(RunStore(settings().path("runs")), dry_run=dry_run)
    removed, moved = ("would remove", "would move") if dry_run else ("removed", "moved")
    lines = [f"{removed} stale {run.path} ({run.why})" for run in done.removed]
    lines += [f"{moved} corrupt {run.path} → {target} ({run.file.name}: {run.reason})"
              for run, target in done.moved]
    lines += [f"left alone {run.path} ({run.why})" for run in done.kept]
    for line in lines or ["nothing to clean: no stale or corrupt runs"]:
        ui.console.print(line, markup=False, highlight=False, soft_wrap=True)
