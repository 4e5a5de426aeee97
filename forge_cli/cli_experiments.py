"""Commands about experiments and their runs: ``weeks``, ``run``, ``results``, ``pull``,
``facts``. They parse and print; the work lives in the pipeline modules."""

from __future__ import annotations

from typing import Annotated

import typer

from forge_cli import cli_common as ui
from forge_cli.cli_common import ProfileOption, WeekArg, app, fail, resolve_week, settings, warn
from forge_cli.errors import BadInput, ForgeError

@app.command()
def weeks(
    week: Annotated[str | None, typer.Argument(
        help="show one week in detail: which planned experiment is covered by what",
        show_default=False)] = None,
) -> None:
    """Show all 16 weeks: study-plan experiments covered, runs, drafts, approved posts."""
    from forge_cli.status import week_statuses
    from forge_cli.status_views import week_detail, weeks_table

    problems: list[str] = []  # posts that cannot be read: left out of the counts, named
    if week is not None:
        (status,) = week_statuses(settings(), only=resolve_week(week), problems=problems)
        view = week_detail(status)
    else:
        view = weeks_table(week_statuses(settings(), problems=problems))
    for problem in problems:
        warn(f"{problem} (not counted)")
    ui.console.print(view, highlight=False)

@app.command()
def run(
    week: WeekArg,
    profile: Annotated[str, typer.Option(help="smoke (seconds) | cpu (minutes) | gpu")] = "cpu",
    seeds: Annotated[str, typer.Option(help="seeds, e.g. 0,1,2 or 0-4")] = "0",
    only: Annotated[list[str] | None, typer.Option(help="run only this experiment (repeatable)")] = None,
    resume: Annotated[str | None, typer.Option(
        help="continue the interrupted run of this id (from runs/.failed or runs/.incomplete) "
             "from its last checkpoint; needs --only")] = None,
    jobs: Annotated[int, typer.Option(
        help="run up to N (experiment, seed) jobs at once, a process each")] = 1,
) -> None:
    """Run the week's experiments, tracked in W&B and stored in the local run store."""
    from rich.markup import escape
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn,
                               TextColumn, TimeElapsedColumn)

    from forge_cli.jobs import JobsFailed
    from forge_cli.runner import RunPlan, parse_seeds, run_plan

    number = resolve_week(week)
    cfg = settings()
    names = [name.strip() for item in only or [] for name in item.split(",") if name.strip()]
    try:
        plan = RunPlan(week=number, profile=profile, seeds=parse_seeds(seeds),
                       only=names if only is not None else None,  # --only '' is an error
                       resume=resume, workers=jobs)
        plan.check(cfg)  # validate before any progress bar appears
    except ForgeError as error:
        fail(error)
    for notice in plan.notices():
        ui.console.print(f"[yellow]note:[/] {notice}", highlight=False, soft_wrap=True)
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                        MofNCompleteColumn(), TimeElapsedColumn(), console=ui.console,
                        transient=not ui.console.is_terminal)

    def finished(record) -> None:  # soft_wrap: the path stays whole, on the same line
        progress.console.print(f"[green]✓[/] {record.experiment} seed {record.seed} "
                               f"({record.duration_s:.1f}s) → {record.path}", highlight=False,
                               soft_wrap=True)

    def failed(failure) -> None:
        progress.console.print(f"[red]✗[/] {escape(failure.line())}", highlight=False,
                               soft_wrap=True)

    try:
        with progress:
            records = run_plan(plan, cfg, progress, on_finished=finished, on_failed=failed,
                               notify=lambda line: progress.console.print(
                                   f"[yellow]note:[/] {line}", highlight=False, soft_wrap=True))
    except KeyboardInterrupt:
        partial = "partial runs were" if plan.workers > 1 else "partial run was"
        ui.errors.print(f"[bold red]interrupted:[/] finished runs are kept; the {partial} "
                     f"moved to {cfg.path('runs') / '.failed'}, never read as results")
        raise typer.Exit(130) from None
    except JobsFailed as error:  # the runs that finished are results all the same
        if error.records:
            _print_results(number, profile, error.records)
        fail(error)
    except ForgeError as error:
        fail(error)
    _print_results(number, profile, records)
    if cfg.wandb.mode == "offline":
        ui.console.print(f"W&B offline runs: {cfg.path('wandb') / 'wandb'} "
                      "(upload later with `wandb sync <dir>`)", highlight=False, soft_wrap=True)

@app.command()
def results(
    week: WeekArg,
    only: Annotated[list[str] | None, typer.Option(help="only this experiment (repeatable)")] = None,
    metric: Annotated[str | None, typer.Option(help="only metrics containing this text")] = None,
    all_metrics: Annotated[bool, typer.Option(
        "--all", help="every metric (default: each experiment's first 8)")] = False,
    profile: ProfileOption = None,
) -> None:
    """Print the week's latest runs of one profile, per experiment (mean ± std over seeds)."""
    from forge_cli.store import RunStore

    number = resolve_week(week)
    latest = RunStore(settings().path("runs")).latest(number, profile)
    if not latest.records:
        raise ForgeError(latest.why_empty())
    records = latest.records
    if only:
        records = [record for record in records if record.experiment in only]
        if not records:
            raise BadInput(f"no {latest.profile} runs of {', '.join(only)} in week {number}")
    if not _print_results(number, latest.profile, records, metric, all_metrics):
        if metric is not None:
            raise BadInput(f"no metric of week {number} ({latest.profile}) contains {metric!r}")
        ui.console.print(f"week {number} ({latest.profile}): the runs have no numeric results")
    if latest.other_profiles:
        ui.console.print(f"also stored: {', '.join(latest.other_profiles)} runs "
                      f"(choose with --profile)", highlight=False)

@app.command()
def pull(week: WeekArg) -> None:
    """Fetch the week's runs from the W&B API into the local run store (online mode only)."""
    from forge_cli.pull import pull_week

    number = resolve_week(week)
    try:
        pulled = pull_week(number, settings())
    except ForgeError as error:
        fail(error)
    ui.console.print(f"pulled {len(pulled)} new run(s) for week {number}")
    for record in pulled:
        ui.console.print(f"  {record.experiment} seed {record.seed} → {record.path}", highlight=False)

@app.command()
def facts(week: WeekArg, profile: ProfileOption = None) -> None:
    """List the week's facts (one profile's runs): the keys posts cite, values, spread; then the
    other weeks' facts its notes cite (weekN/KEY), from those weeks' runs of the same profile."""
    from forge_cli.facts import week_facts
    from forge_cli.notes import notes_path, read_notes
    from forge_cli.post_picks import notes_text_fact_keys
    from forge_cli.results import key_value_lines
    from forge_cli.store import RunStore

    number = resolve_week(week)
    cfg = settings()
    store = RunStore(cfg.path("runs"))
    latest = store.latest(number, profile)
    if not latest.records:
        raise ForgeError(latest.why_empty())
    wanted: list[str] = []
    if (notes := notes_path(cfg, number)).is_file():
        wanted = notes_text_fact_keys(read_notes(cfg, number), notes)
    table = week_facts(store, number, latest.profile, latest.records, wanted,
                       where=f"{notes}: ")
    ui.console.print(f"week {number} facts · profile {latest.profile} · cite as "
                  "{{ fact:KEY }}", style="bold", highlight=False)
    by_week: dict[int, list] = {}
    for fact in table.facts.values():
        by_week.setdefault(fact.week if fact.week is not None else number, []).append(fact)
    for other in sorted(by_week, key=lambda n: (n != number, n)):
        if other != number:  # another week's facts the notes cite
            ui.console.print(f"from week {other} ({latest.profile} runs), named by the notes:",
                             highlight=False)
        pairs = [(fact.key, fact.formatted() + (f" (n={fact.n})" if fact.n > 1 else ""))
                 for fact in by_week[other]]
        for line in key_value_lines(pairs, width=ui.console.width):  # keys whole: they are cited
            ui.console.print(line, markup=False, highlight=False, soft_wrap=True)
    if latest.other_profiles:
        ui.console.print(f"also stored: {', '.join(latest.other_profiles)} runs "
                      f"(choose with --profile)", highlight=False)

def _print_results(week: int, profile: str | None, records, metric: str | None = None,
                   all_metrics: bool = False) -> bool:
    """One section per experiment, metric keys printed whole. False when nothing matched."""
    from forge_cli.results import HEADLINE_METRICS, group_results, render_group

    groups = group_results(records, metric=metric, all_metrics=all_metrics)
    if not groups:
        return False
    ui.console.print(f"week {week} results · profile {profile} · latest run per seed",
                  style="bold", highlight=False)
    for group in groups:
        ui.console.print()
        heading, *lines = render_group(group, width=ui.console.width)
        ui.console.print(heading, style="bold", markup=False, highlight=False, soft_wrap=True)
        for line in lines:
            ui.console.print(line, markup=False, highlight=False, soft_wrap=True)
    if not metric and not all_metrics and any(len(g.rows) < g.total for g in groups):
        ui.console.print(f"\nshowing each experiment's first {HEADLINE_METRICS} metrics: --all shows "
                      "every key, --metric TEXT those containing TEXT", highlight=False)
    return True
