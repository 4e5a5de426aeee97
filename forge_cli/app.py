"""The ``forge`` command line. Commands parse and print; the work lives in the pipeline modules.

Start-up stays fast: heavy modules (torch, wandb, numpy, matplotlib) are imported inside the
commands that need them, never here.

Errors have one boundary, :func:`run_cli`: commands raise ForgeError (BadInput for bad input) and
never exit themselves; ``run_cli`` prints one line on stderr and returns the exit code (2 for bad
input and usage errors, 1 for other ForgeErrors, 130 for Ctrl-C, 143 for SIGTERM).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, NoReturn

import click
import typer
from rich.console import Console
from rich.table import Table

from forge_cli.errors import BadInput, ForgeError

try:  # typer ships its own click since 0.2x; its usage errors derive from TyperException
    from typer import TyperException as UsageProblem
except ImportError:  # pragma: no cover - older typer raises click's own
    from click import ClickException as UsageProblem

app = typer.Typer(
    help="forge: run a study week's experiments, draft its posts, publish the blog.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]})
console = Console()
errors = Console(stderr=True)

WeekArg = Annotated[str, typer.Argument(help="week1 … week16", show_default=False)]


def report(message: str, label: str = "[bold red]error:[/]") -> None:
    """``message`` as exactly one line on stderr, whatever line breaks it holds."""
    from rich.markup import escape

    # A message with detail lines ("mkdocs build failed:\n  ERROR …\n  WARNING …") keeps them,
    # joined: "failed: ERROR …; WARNING …".
    first, *details = [part.strip() for part in str(message).splitlines() if part.strip()] or [""]
    line = " ".join([first, "; ".join(details)]) if details else first
    errors.print(f"{label} {escape(line)}", highlight=False, soft_wrap=True)


def warn(message: str) -> None:
    """A one-line warning on stderr; the command goes on."""
    report(message, label="[yellow]warning:[/]")


class _PipelineWarnings(logging.Handler):
    """What the pipeline logs as a warning (a corrupt run skipped) becomes one line on stderr,
    each message once per command: drafting four posts reads the same runs four times."""

    def emit(self, record: logging.LogRecord) -> None:
        context = click.get_current_context(silent=True)
        seen = context.meta.setdefault("forge.warned", set()) if context else set()
        message = record.getMessage()
        if message not in seen:
            seen.add(message)
            warn(message)


logging.getLogger("forge_cli").addHandler(_PipelineWarnings(logging.WARNING))


def fail(error: ForgeError) -> NoReturn:
    """Raise ``error`` for :func:`run_cli` to report (kept for commands that call it)."""
    raise error


def resolve_week(ref: str) -> int:
    from forge_cli.curriculum import UnknownWeekError, parse_week

    try:
        return parse_week(ref)
    except UnknownWeekError as error:
        raise BadInput(str(error)) from None


def settings(require_project: bool = True):
    """The project's settings. Outside a project (no forge.toml, no FORGE_ROOT) commands refuse,
    so they never scatter ``runs/`` and ``wandb/`` into a random folder; ``require_project=False``
    (``forge doctor``, which writes nothing) reads the defaults for the current folder instead."""
    from forge_cli.config import NotAProject, load_settings

    try:
        return load_settings()
    except NotAProject:
        if require_project:
            raise
        return load_settings(Path.cwd())


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
    console.print(view, highlight=False)


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
        plan = RunPlan(week=number, profile=profile, seeds=parse_seeds(seeds),
                       only=names if only is not None else None)  # --only '' is an error
        plan.jobs()  # validate before any progress bar appears
    except ForgeError as error:
        fail(error)
    for notice in plan.notices():
        console.print(f"[yellow]note:[/] {notice}", highlight=False, soft_wrap=True)
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                        MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                        transient=not console.is_terminal)

    def finished(record) -> None:  # soft_wrap: the path stays whole, on the same line
        progress.console.print(f"[green]✓[/] {record.experiment} seed {record.seed} "
                               f"({record.duration_s:.1f}s) → {record.path}", highlight=False,
                               soft_wrap=True)

    try:
        with progress:
            records = run_plan(plan, cfg, progress, on_finished=finished)
    except KeyboardInterrupt:
        errors.print("[bold red]interrupted:[/] finished runs are kept; the partial run was "
                     f"moved to {cfg.path('runs') / '.failed'} and is never read as a result")
        raise typer.Exit(130) from None
    except ForgeError as error:
        fail(error)
    _print_results(number, profile, records)
    if cfg.wandb.mode == "offline":
        console.print(f"W&B offline runs: {cfg.path('wandb') / 'wandb'} "
                      "(upload later with `wandb sync <dir>`)", highlight=False, soft_wrap=True)


ProfileOption = Annotated[str | None, typer.Option(
    help="smoke | cpu | gpu (default: the most complete one with runs: gpu, then cpu, then smoke)",
    show_default=False)]


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
        console.print(f"week {number} ({latest.profile}): the runs have no numeric results")
    if latest.other_profiles:
        console.print(f"also stored: {', '.join(latest.other_profiles)} runs "
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
    console.print(f"pulled {len(pulled)} new run(s) for week {number}")
    for record in pulled:
        console.print(f"  {record.experiment} seed {record.seed} → {record.path}", highlight=False)


@app.command()
def facts(week: WeekArg, profile: ProfileOption = None) -> None:
    """List the week's facts (one profile's runs): the keys posts cite, values, spread."""
    from forge_cli.facts import build_facts
    from forge_cli.results import key_value_lines
    from forge_cli.store import RunStore

    number = resolve_week(week)
    latest = RunStore(settings().path("runs")).latest(number, profile)
    if not latest.records:
        raise ForgeError(latest.why_empty())
    console.print(f"week {number} facts · profile {latest.profile} · cite as "
                  "{{ fact:KEY }}", style="bold", highlight=False)
    pairs = [(fact.key, fact.formatted() + (f" (n={fact.n})" if fact.n > 1 else ""))
             for fact in build_facts(number, latest.records).facts.values()]
    for line in key_value_lines(pairs, width=console.width):  # keys whole: they are cited
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    if latest.other_profiles:
        console.print(f"also stored: {', '.join(latest.other_profiles)} runs "
                      f"(choose with --profile)", highlight=False)


@app.command()
def notes(week: WeekArg) -> None:
    """Start the week's study notes from templates/notes.md.j2 (never overwrites)."""
    from forge_cli.notes import create_notes

    path = create_notes(settings(), resolve_week(week))
    console.print(f"created {path}", highlight=False)


@app.command()
def draft(
    week: WeekArg,
    post: Annotated[str, typer.Option(help="1 | 2 | all")] = "all",
    edition: Annotated[str, typer.Option(help="scientist | manager | all")] = "all",
    provider: Annotated[str | None, typer.Option(
        help="anthropic | offline | openai (default: forge.toml; anthropic when a key is set)")] = None,
    model: Annotated[str | None, typer.Option(help="model name (default: forge.toml)")] = None,
    force: Annotated[bool, typer.Option(
        help="overwrite posts edited by hand (a backup is saved first; approved posts never)")] = False,
    profile: ProfileOption = None,
) -> None:
    """Draft the week's posts from notes + results into the blog (draft: true)."""
    from rich.live import Live
    from rich.markup import escape

    from forge_cli.curriculum import load_curriculum
    from forge_cli.drafting import draft_week, plan_jobs

    number = resolve_week(week)
    cfg = settings()
    streamed: dict[str, int] = {}

    def render_live() -> Table:
        table = Table(title=f"drafting week {number}", title_justify="left")
        table.add_column("draft")
        table.add_column("characters", justify="right")
        for label, count in streamed.items():
            table.add_row(label, f"{count:,}")
        return table

    try:
        jobs = plan_jobs(load_curriculum().week(number), post, edition)
        with Live(render_live(), console=console, transient=True,
                  auto_refresh=console.is_terminal) as live:
            def on_text(job, delta):
                streamed[job.label] = streamed.get(job.label, 0) + len(delta)
                live.update(render_live())

            def on_retry(job, attempt, reason, wait):
                streamed[job.label] = 0  # a retried request streams its text again from the start
                live.console.print(f"[yellow]retry[/] {job.label}: {reason}; attempt {attempt} "
                                   f"in {wait:.1f}s", highlight=False)

            def on_estimate(job, tokens, cost):
                live.console.print(
                    f"{job.label}: about {tokens:,} input tokens"
                    + (f", at most ${cost:.4f} (cap ${cfg.llm.max_cost_usd:.2f})"
                       if cost is not None else " (no price configured for this model)"),
                    highlight=False)

            outcomes = draft_week(cfg, number, jobs, provider=provider, model=model, force=force,
                                  on_text=on_text, on_retry=on_retry, on_estimate=on_estimate,
                                  profile=profile)
    except KeyboardInterrupt:
        errors.print("[bold red]interrupted:[/] every post on disk is either untouched or a "
                     "complete new draft (posts are written only once their draft is complete)")
        raise typer.Exit(130) from None
    failed = False
    for outcome in outcomes:
        label = outcome.job.label
        if outcome.error:
            failed = True
            errors.print(f"[bold red]failed[/] {label}: {escape(outcome.error)} "
                         "(existing post untouched)", highlight=False)
            continue
        result = outcome.result
        usage = outcome.usage
        cost = (f" · {usage.get('input_tokens', 0):,} in / {usage.get('output_tokens', 0):,} out"
                + (f" · ${usage['cost_usd']:.4f}" if usage.get("cost_usd") is not None else "")
                if usage else "")
        messages = {
            "created": f"[green]created[/] {result.path}",
            "updated": f"[green]updated[/] {result.path}",
            "unchanged": f"unchanged {result.path}",
            "revision": f"[yellow]kept your edits[/] in the post; new draft written to {result.path}",
            "approved": f"[yellow]left the approved post as it is[/]; new draft written to {result.path}",
            "forced": f"[yellow]overwrote[/] {result.path} (your edited version: {result.backup})",
        }
        console.print(f"{label}: {messages[result.action]} "
                      + escape(f"[{outcome.provider}{cost}]"), highlight=False,
                      soft_wrap=True)  # paths whole, on the same line
        if result.unknown_placeholders:
            failed = True
            errors.print(f"[red]unknown placeholders[/] in {label}: "
                         f"{', '.join(result.unknown_placeholders)}", highlight=False)
    if failed:
        raise typer.Exit(1)


@app.command()
def check(week: WeekArg) -> None:
    """Flag unsourced numbers, stale facts, broken links, bad math and front matter in drafts."""
    from forge_cli.check import check_week, week_posts

    number = resolve_week(week)
    cfg = settings()
    posts = week_posts(cfg, number)
    if not posts:
        raise BadInput(f"week {number} has no posts to check yet: `forge draft week{number}` "
                       "writes them")
    findings = check_week(cfg, number)
    if not findings:
        console.print(f"week {number}: no problems found in {len(posts)} post(s)")
        return
    table = Table(title=f"week {number}: {len(findings)} problem(s)", title_justify="left")
    for column in ("post", "problem", "detail"):
        table.add_column(column, overflow="fold")
    for finding in findings:
        table.add_row(finding.post, finding.kind, finding.message)
    console.print(table)
    raise typer.Exit(1)


@app.command()
def review() -> None:
    """List the posts awaiting review (draft: true) and the approved ones."""
    from forge_cli.posts import list_posts

    problems: list[str] = []
    posts = list_posts(settings().path("blog"), problems)
    for problem in problems:
        warn(f"{problem} (left out)")
    table = Table(title="posts", title_justify="left")
    for column in ("week", "post", "edition"):
        table.add_column(column, no_wrap=True)
    table.add_column("title", ratio=1, overflow="fold")
    table.add_column("status", no_wrap=True)
    # File names are what `forge approve` and an editor are given: never split.
    table.add_column("file", no_wrap=True, min_width=max((len(p.name) for p in posts), default=4))
    for post in posts:
        table.add_row(str(post.week), str(post.post), post.edition, post.title,
                      "[yellow]awaiting review[/]" if post.draft else "[green]approved[/]",
                      post.path.name)
    console.print(table if posts else "no posts yet: `forge draft weekN` writes them")


@app.command()
def approve(
    week: WeekArg,
    post: Annotated[str, typer.Option(help="1 | 2 | all")] = "all",
    edition: Annotated[str, typer.Option(help="scientist | manager | all")] = "all",
    force: Annotated[bool, typer.Option(
        help="approve even when `forge check` finds problems or it is still the offline draft")] = False,
) -> None:
    """Mark reviewed posts ready to publish (draft: false); refuses posts `forge check` faults."""
    from forge_cli.curriculum import load_curriculum
    from forge_cli.drafting import plan_jobs
    from forge_cli.review import approve_posts

    number = resolve_week(week)
    cfg = settings()
    jobs = plan_jobs(load_curriculum().week(number), post, edition)
    approved = approve_posts(cfg, number, [(job.post, job.edition) for job in jobs], force=force)
    for info in approved:
        console.print(f"approved {info.path.name}: {info.title}", highlight=False)


@app.command()
def build(
    drafts: Annotated[bool, typer.Option(help="include posts still awaiting review")] = False,
) -> None:
    """Build the blog with `mkdocs build --strict` (offline: no CDN, no web fonts)."""
    from forge_cli.site import build_site

    cfg = settings()
    site = build_site(cfg.path("blog"), include_drafts=drafts, site_url=cfg.site.url)
    console.print(f"built {site}" + (" (drafts included)" if drafts else ""), highlight=False)


@app.command()
def serve(
    address: Annotated[str, typer.Option(help="host:port")] = "127.0.0.1:8000",
) -> None:
    """Preview the blog live, drafts shown, rebuilt on every edit."""
    import subprocess

    from forge_cli.site import serve_command

    command = serve_command(settings().path("blog"), address)
    console.print(f"serving on http://{address}/ (Ctrl-C to stop)", highlight=False)
    try:
        raise typer.Exit(subprocess.call(command))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


@app.command()
def publish(
    remote: Annotated[str | None, typer.Option(
        help="git remote URL or path; its gh-pages branch gets the site (default: forge.toml)")] = None,
    to: Annotated[str | None, typer.Option(help="export the static site to this folder instead")] = None,
) -> None:
    """Ship the approved posts (drafts are held back) to a gh-pages branch, or to a folder."""
    from forge_cli.site import publish as publish_site

    cfg = settings()
    message = publish_site(cfg.path("blog"), remote=remote or (None if to else cfg.site.remote),
                           to=Path(to) if to else None, site_url=cfg.site.url)
    console.print(message, highlight=False, soft_wrap=True)


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
    console.print(table)
    for check in checks:
        for item in check.items:
            console.print(f"{check.name}: {item}", markup=False, highlight=False, soft_wrap=True)


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
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def _print_results(week: int, profile: str | None, records, metric: str | None = None,
                   all_metrics: bool = False) -> bool:
    """One section per experiment, metric keys printed whole. False when nothing matched."""
    from forge_cli.results import HEADLINE_METRICS, group_results, render_group

    groups = group_results(records, metric=metric, all_metrics=all_metrics)
    if not groups:
        return False
    console.print(f"week {week} results · profile {profile} · latest run per seed",
                  style="bold", highlight=False)
    for group in groups:
        console.print()
        heading, *lines = render_group(group, width=console.width)
        console.print(heading, style="bold", markup=False, highlight=False, soft_wrap=True)
        for line in lines:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    if not metric and not all_metrics and any(len(g.rows) < g.total for g in groups):
        console.print(f"\nshowing each experiment's first {HEADLINE_METRICS} metrics: --all shows "
                      "every key, --metric TEXT those containing TEXT", highlight=False)
    return True


_signals_received: list[int] = []
"""Signals turned into KeyboardInterrupt during the current :func:`run_cli` call."""


def _interrupt(signum, frame) -> NoReturn:
    """SIGTERM unwinds like Ctrl-C, so every cleanup written for Ctrl-C runs (a partial run
    moves to ``runs/.failed``); :func:`run_cli` then exits 128 + 15."""
    _signals_received.append(signum)
    raise KeyboardInterrupt


def run_cli(argv: Sequence[str] | None = None) -> int:
    """Run one forge command line (default: ``sys.argv[1:]``) and return its exit code.

    The one error boundary: a ForgeError or a usage error becomes one line on stderr; Ctrl-C
    exits 130 and SIGTERM 143. Any other exception is a bug in forge and keeps its traceback.
    """
    _signals_received.clear()
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if in_main_thread else None
    try:
        _warn_about_environment()
        code = app(args=list(sys.argv[1:] if argv is None else argv), prog_name="forge",
                   standalone_mode=False)
        code = code if isinstance(code, int) else 0
    except ForgeError as error:
        report(str(error))
        code = error.exit_code
    except UsageProblem as error:  # unknown command or option, missing argument
        context = getattr(error, "ctx", None)
        if type(error).__name__ != "NoArgsIsHelpError":  # that one has printed the help
            where = f" (see `{context.command_path} --help`)" if context is not None else ""
            report(error.format_message() + where)
        code = getattr(error, "exit_code", 2)
    except typer.Abort:
        report("aborted")
        code = 1
    except KeyboardInterrupt:  # outside a command (typer turns one inside into exit 130)
        code = 130
    except SystemExit as exit_:  # a stray sys.exit in a library: still just a code
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        if in_main_thread and previous is not None:  # None: a handler not set from Python
            signal.signal(signal.SIGTERM, previous)
    if _signals_received:
        code = 128 + _signals_received[-1]
    return code


def _warn_about_environment() -> None:
    if any(name.upper().startswith("FORGE_") for name in os.environ):
        from forge_cli.config import unknown_environment

        for message in unknown_environment(os.environ):
            warn(message)


def main() -> None:
    sys.exit(run_cli())
