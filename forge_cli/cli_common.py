"""What every forge command shares: the Typer app, the two consoles, one-line errors and
warnings, the week argument and the project's settings. Commands live in ``cli_experiments``,
``cli_blog`` and ``cli_upkeep``; the error boundary in ``app``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, NoReturn

import click
import typer
from rich.console import Console

from forge_cli.errors import BadInput, ForgeError

app = typer.Typer(
    help="forge: run a study week's experiments, draft its posts, publish the blog.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]})

console = Console()

errors = Console(stderr=True)

WeekArg = Annotated[str, typer.Argument(help="week1 … week16", show_default=False)]

ProfileOption = Annotated[str | None, typer.Option(
    help="smoke | cpu | gpu (default: the most complete one with runs: gpu, then cpu, then smoke)",
    show_default=False)]


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
