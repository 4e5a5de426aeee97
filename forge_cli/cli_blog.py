"""Commands about the blog: ``notes``, ``draft``, ``check``, ``review``, ``approve``, ``build``,
``serve``, ``publish``. They parse and print; the work lives in the pipeline modules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from forge_cli import cli_common as ui
from forge_cli.cli_common import ProfileOption, WeekArg, app, resolve_week, settings, warn
from forge_cli.errors import BadInput

@app.command()
def notes(week: WeekArg) -> None:
    """Start the week's study notes from templates/notes.md.j2 (never overwrites)."""
    from forge_cli.notes import create_notes

    path = create_notes(settings(), resolve_week(week))
    ui.console.print(f"created {path}", highlight=False)

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
        with Live(render_live(), console=ui.console, transient=True,
                  auto_refresh=ui.console.is_terminal) as live:
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

            def on_round(job, round_number, findings):
                if findings and round_number < cfg.llm.max_rounds:
                    streamed[job.label] = 0  # the revision streams the whole post again
                    live.console.print(f"{job.label}: round {round_number}: forge check found "
                                       f"{len(findings)} problem(s); the model revises",
                                       highlight=False)

            outcomes = draft_week(cfg, number, jobs, provider=provider, model=model, force=force,
                                  on_text=on_text, on_retry=on_retry, on_estimate=on_estimate,
                                  profile=profile, on_round=on_round)
    except KeyboardInterrupt:
        ui.errors.print("[bold red]interrupted:[/] every post on disk is either untouched or a "
                     "complete new draft (posts are written only once their draft is complete)")
        raise typer.Exit(130) from None
    failed = False
    for outcome in outcomes:
        label = outcome.job.label
        if outcome.waiting:
            ui.console.print(f"{label}: [yellow]not drafted[/]: it waits for "
                             f"{escape(outcome.waiting)} (the notes' posts.{outcome.job.post}."
                             "waiting)", highlight=False, soft_wrap=True)
            continue
        if outcome.error:
            failed = True
            ui.errors.print(f"[bold red]failed[/] {label}: {escape(outcome.error)} "
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
        ui.console.print(f"{label}: {messages[result.action]} "
                      + escape(f"[{outcome.provider}{cost}]"), highlight=False,
                      soft_wrap=True)  # paths whole, on the same line
        if outcome.findings:
            ui.errors.print(f"[yellow]after {usage.get('rounds')} rounds[/] {label} still has: "
                            f"{escape('; '.join(outcome.findings))} (see `forge check`)",
                            highlight=False)
        if result.unknown_placeholders:
            failed = True
            ui.errors.print(f"[red]unknown placeholders[/] in {label}: "
                         f"{', '.join(result.unknown_placeholders)}", highlight=False)
    if failed:
        raise typer.Exit(1)

@app.command()
def check(week: WeekArg) -> None:
    """Flag unsourced numbers, stale facts, broken links, bad math and front matter in drafts,
    and what a reviewer would: near-identical posts, unmet briefs, notes stubs, unreferenced
    figures and tables, symbols in a manager edition."""
    from forge_cli.check import check_week, week_posts

    number = resolve_week(week)
    cfg = settings()
    posts = week_posts(cfg, number)
    if not posts:
        raise BadInput(f"week {number} has no posts to check yet: `forge draft week{number}` "
                       "writes them")
    findings = check_week(cfg, number)
    if not findings:
        ui.console.print(f"week {number}: no problems found in {len(posts)} post(s)")
        return
    table = Table(title=f"week {number}: {len(findings)} problem(s)", title_justify="left")
    for column in ("post", "problem", "detail"):
        table.add_column(column, overflow="fold")
    for finding in findings:
        table.add_row(finding.post, finding.kind, finding.message)
    ui.console.print(table)
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
    ui.console.print(table if posts else "no posts yet: `forge draft weekN` writes them")

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
        ui.console.print(f"approved {info.path.name}: {info.title}", highlight=False)

@app.command()
def build(
    drafts: Annotated[bool, typer.Option(help="include posts still awaiting review")] = False,
) -> None:
    """Build the blog with `mkdocs build --strict` (offline: no CDN, no web fonts)."""
    from forge_cli.site import build_site

    cfg = settings()
    site = build_site(cfg.path("blog"), include_drafts=drafts, site_url=cfg.site.url)
    ui.console.print(f"built {site}" + (" (drafts included)" if drafts else ""), highlight=False)

@app.command()
def serve(
    address: Annotated[str, typer.Option(help="host:port")] = "127.0.0.1:8000",
) -> None:
    """Preview the blog live, drafts shown, rebuilt on every edit."""
    import subprocess

    from forge_cli.site import serve_command

    command = serve_command(settings().path("blog"), address)
    ui.console.print(f"serving on http://{address}/ (Ctrl-C to stop)", highlight=False)
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
    ui.console.print(message, highlight=False, soft_wrap=True)
