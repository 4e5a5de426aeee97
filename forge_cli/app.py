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
    from rich.markup import escape

    errors.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
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
def results(
    week: WeekArg,
    only: Annotated[list[str] | None, typer.Option(help="only this experiment (repeatable)")] = None,
    metric: Annotated[str | None, typer.Option(help="only metrics containing this text")] = None,
) -> None:
    """Print the summary table of the week's latest runs (mean ± std over seeds)."""
    from forge_cli.store import RunStore

    number = resolve_week(week)
    records = RunStore(settings().path("runs")).latest(number)
    if not records:
        fail(ForgeError(f"no runs for week {number} yet: run `forge run week{number}` first"))
    if only:
        records = [record for record in records if record.experiment in only]
        if not records:
            fail(BadInput(f"no runs of {', '.join(only)} in week {number}"))
    _print_summary(number, records, metric)


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
def facts(week: WeekArg) -> None:
    """List the week's facts: the keys posts cite, with values and spread over seeds."""
    from forge_cli.facts import build_facts
    from forge_cli.store import RunStore

    number = resolve_week(week)
    records = RunStore(settings().path("runs")).latest(number)
    if not records:
        fail(ForgeError(f"no runs for week {number} yet: run `forge run week{number}` first"))
    table = Table(title=f"week {number} facts (cite as {{{{ fact:KEY }}}})", title_justify="left")
    table.add_column("key", overflow="fold")
    table.add_column("value", justify="right")
    table.add_column("seeds", justify="right")
    for fact in build_facts(number, records).facts.values():
        table.add_row(fact.key, fact.formatted(), str(fact.n))
    console.print(table)


@app.command()
def notes(week: WeekArg) -> None:
    """Start the week's study notes from templates/notes.md.j2 (never overwrites)."""
    from forge_cli.notes import create_notes

    number = resolve_week(week)
    try:
        path = create_notes(settings(), number)
    except ForgeError as error:
        fail(error)
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
        help="overwrite posts edited by hand (a backup is saved first)")] = False,
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
                                  on_text=on_text, on_retry=on_retry, on_estimate=on_estimate)
    except ForgeError as error:
        fail(error)
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
            "forced": f"[yellow]overwrote[/] {result.path} (your edited version: {result.backup})",
        }
        console.print(f"{label}: {messages[result.action]} "
                      + escape(f"[{outcome.provider}{cost}]"), highlight=False)
        if result.unknown_placeholders:
            failed = True
            errors.print(f"[red]unknown placeholders[/] in {label}: "
                         f"{', '.join(result.unknown_placeholders)}", highlight=False)
    if failed:
        raise typer.Exit(1)


@app.command()
def check(week: WeekArg) -> None:
    """Flag unsourced numbers, stale facts, broken links, bad math and front matter in drafts."""
    from forge_cli.check import check_week

    number = resolve_week(week)
    findings = check_week(settings(), number)
    if not findings:
        console.print(f"week {number}: no problems found")
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
    from forge_cli.site import list_posts

    posts = list_posts(settings().path("blog"))
    table = Table(title="posts", title_justify="left")
    for column in ("week", "post", "edition", "title", "status", "file"):
        table.add_column(column, overflow="fold")
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
) -> None:
    """Mark reviewed posts ready to publish (draft: false)."""
    from forge_cli.curriculum import load_curriculum
    from forge_cli.drafting import plan_jobs
    from forge_cli.site import approve as approve_post
    from forge_cli.site import find_post

    number = resolve_week(week)
    blog = settings().path("blog")
    try:
        jobs = plan_jobs(load_curriculum().week(number), post, edition)
        for job in jobs:  # every post must exist before any is approved
            find_post(blog, number, job.post, job.edition)
        approved = [approve_post(blog, number, job.post, job.edition) for job in jobs]
    except ForgeError as error:
        fail(error)
    for info in approved:
        console.print(f"approved {info.path.name}: {info.title}", highlight=False)


@app.command()
def build(
    drafts: Annotated[bool, typer.Option(help="include posts still awaiting review")] = False,
) -> None:
    """Build the blog with `mkdocs build --strict` (offline: no CDN, no web fonts)."""
    from forge_cli.site import build_site

    cfg = settings()
    try:
        site = build_site(cfg.path("blog"), include_drafts=drafts, site_url=cfg.site.url)
    except ForgeError as error:
        fail(error)
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
    allow_drafts: Annotated[bool, typer.Option(
        help="publish even while some posts await review (they stay out of the site)")] = False,
) -> None:
    """Deploy the built blog to a gh-pages branch, or export it to a folder."""
    from pathlib import Path

    from forge_cli.site import publish as publish_site

    cfg = settings()
    try:
        message = publish_site(cfg.path("blog"), remote=remote or (None if to else cfg.site.remote),
                               to=Path(to) if to else None, allow_drafts=allow_drafts,
                               site_url=cfg.site.url)
    except ForgeError as error:
        fail(error)
    console.print(message, highlight=False)


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


def _print_summary(week: int, records, metric: str | None = None) -> None:
    from forge_cli.results import format_number, summarize

    table = Table(title=f"week {week} results (latest run per seed)", title_justify="left")
    for column in ("experiment", "metric", "mean", "± std", "seeds"):
        table.add_column(column, justify="right" if column in ("mean", "± std", "seeds") else "left")
    for row in summarize(records):
        if metric and metric not in row.metric:
            continue
        table.add_row(row.experiment, row.metric, format_number(row.mean),
                      format_number(row.std) if row.n > 1 else "", str(row.n))
    console.print(table)


def _interrupt(signum, frame) -> NoReturn:
    raise KeyboardInterrupt


def main() -> None:
    try:
        app()
    except ForgeError as error:  # anything a command did not catch itself
        from rich.markup import escape

        errors.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
