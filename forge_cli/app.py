"""The ``forge`` command line. Commands parse and print; the work lives in the pipeline modules.

Start-up stays fast: heavy modules (torch, wandb, numpy, matplotlib) are imported inside the
commands that need them, never here.
"""

from __future__ import annotations

import signal
import sys
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from forge_cli.errors import BadInput, ForgeError

app = typer.Typer(
    help="forge: run a study week's experiments, draft its posts, publish the blog.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]})
console = Console()
errors = Console(stderr=True)

WeekArg = Annotated[str, typer.Argument(help="week1 … week16", show_default=False)]


def fail(error: ForgeError) -> NoReturn:
    errors.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
    raise typer.Exit(error.exit_code)


def resolve_week(ref: str) -> int:
    from forge_cli.curriculum import UnknownWeekError, parse_week

    try:
        return parse_week(ref)
    except UnknownWeekError as error:
        fail(BadInput(str(error)))


def settings():
    from forge_cli.config import load_settings

    try:
        return load_settings()
    except ForgeError as error:
        fail(error)


@app.command()
def weeks() -> None:
    """Show all 16 weeks with their status: experiments, runs, drafts, approved posts."""
    from forge_cli.status import week_statuses

    cfg = settings()
    table = Table(title="forge curriculum", title_justify="left",
                  caption="experiments: implemented / named in the plan")
    table.add_column("week", justify="right", no_wrap=True, min_width=4)
    table.add_column("title", overflow="ellipsis", no_wrap=True, max_width=22)
    for column in ("posts", "experiments", "runs", "drafts", "approved"):
        table.add_column(column, justify="right", no_wrap=True, min_width=len(column))
    for status in week_statuses(cfg):
        table.add_row(str(status.week), status.title, str(status.posts),
                      f"{status.implemented} / {status.planned}", str(status.runs),
                      str(status.drafts), str(status.approved))
    console.print(table)


@app.command()
def run(
    week: WeekArg,
    profile: Annotated[str, typer.Option(help="smoke (seconds) | cpu (minutes) | gpu")] = "cpu",
    seeds: Annotated[str, typer.Option(help="seeds, e.g. 0,1,2 or 0-4")] = "0",
    only: Annotated[list[str] | None, typer.Option(help="run only this experiment (repeatable)")] = None,
) -> None:
    """Run the week's experiments, tracked in W&B and stored in the local run store."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn,
                               TextColumn, TimeElapsedColumn)

    from forge_cli.runner import RunPlan, parse_seeds, run_plan

    number = resolve_week(week)
    cfg = settings()
    names = [name.strip() for item in only or [] for name in item.split(",") if name.strip()]
    try:
        plan = RunPlan(week=number, profile=profile, seeds=parse_seeds(seeds), only=names or None)
        plan.jobs()  # validate before any progress bar appears
    except ForgeError as error:
        fail(error)
    signal.signal(signal.SIGTERM, _interrupt)
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                        MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                        transient=not console.is_terminal)

    def finished(record) -> None:
        progress.console.print(f"[green]✓[/] {record.experiment} seed {record.seed} "
                               f"({record.duration_s:.1f}s) → {record.path}", highlight=False)

    try:
        with progress:
            records = run_plan(plan, cfg, progress, on_finished=finished)
    except KeyboardInterrupt:
        errors.print("[bold red]interrupted:[/] finished runs are kept; the partial run was "
                     f"moved to {cfg.path('runs') / '.failed'} and is never read as a result")
        raise typer.Exit(130) from None
    except ForgeError as error:
        fail(error)
    _print_summary(number, records)
    if cfg.wandb.mode == "offline":
        console.print(f"W&B offline runs: {cfg.path('wandb') / 'wandb'} "
                      "(upload later with `wandb sync <dir>`)", highlight=False)


@app.command()
def results(week: WeekArg) -> None:
    """Print the summary table of the week's latest runs (mean ± std over seeds)."""
    from forge_cli.store import RunStore

    number = resolve_week(week)
    records = RunStore(settings().path("runs")).latest(number)
    if not records:
        fail(ForgeError(f"no runs for week {number} yet: run `forge run week{number}` first"))
    _print_summary(number, records)


@app.command()
def pull(week: WeekArg) -> None:
    """Fetch the week's runs from the W&B API into the local run store (online mode only)."""
    from forge_cli.pull import pull_week

    number = resolve_week(week)
    try:
        pulled = pull_week(number, settings())
    except ForgeError as error:
        fail(error)
    console.print(f"pulled {len(pulled)} new run(s) for week {number}")
    for record in pulled:
        console.print(f"  {record.experiment} seed {record.seed} → {record.path}", highlight=False)


@app.command()
def doctor() -> None:
    """Report what is configured and what is missing (never prints secrets)."""
    from forge_cli.status import doctor_checks

    table = Table(title="forge doctor", title_justify="left")
    for column in ("check", "status", "detail"):
        table.add_column(column)
    marks = {"ok": "[green]ok[/]", "missing": "[yellow]missing[/]", "error": "[red]error[/]"}
    for check in doctor_checks(settings()):
        table.add_row(check.name, marks[check.state], check.detail)
    console.print(table)


def _print_summary(week: int, records) -> None:
    from forge_cli.results import format_value, summarize

    table = Table(title=f"week {week} results (latest run per seed)", title_justify="left")
    for column in ("experiment", "metric", "mean", "± std", "seeds"):
        table.add_column(column, justify="right" if column in ("mean", "± std", "seeds") else "left")
    for row in summarize(records):
        table.add_row(row.experiment, row.metric, format_value(row.mean),
                      format_value(row.std) if row.n > 1 else "", str(row.n))
    console.print(table)


def _interrupt(signum, frame) -> NoReturn:
    raise KeyboardInterrupt


def main() -> None:
    try:
        app()
    except ForgeError as error:  # anything a command did not catch itself
        errors.print(f"[bold red]error:[/] {error}", highlight=False)
        sys.exit(error.exit_code)
