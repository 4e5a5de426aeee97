"""The ``forge`` command line. Commands parse and print; the work lives in the pipeline modules.

Start-up stays fast: heavy modules (torch, wandb, numpy, matplotlib) are imported inside the
commands that need them, never at module level.

Errors have one boundary, :func:`run_cli`: commands raise ForgeError (BadInput for bad input) and
never exit themselves; ``run_cli`` prints one line on stderr and returns the exit code (2 for bad
input and usage errors, 1 for other ForgeErrors, 130 for Ctrl-C, 143 for SIGTERM).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn

import typer

# importing the command modules registers their commands, in the order `forge --help` lists them
from forge_cli import cli_experiments  # noqa: F401, I001
from forge_cli import cli_sweeps  # noqa: F401
from forge_cli import cli_blog  # noqa: F401
from forge_cli import cli_upkeep  # noqa: F401
from forge_cli.cli_common import app, report, warn
from forge_cli.errors import ForgeError

try:  # typer ships its own click since 0.2x; its usage errors derive from TyperException
    from typer import TyperException as UsageProblem
except ImportError:  # pragma: no cover - older typer raises click's own
    from click import ClickException as UsageProblem


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
