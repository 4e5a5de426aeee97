"""Running forge in-process through its one error boundary, and fingerprinting a project tree.

``CliRunner.invoke`` would call the Typer app directly and bypass ``run_cli``, where errors become
one line and an exit code; so the tests call ``run_cli`` inside CliRunner's isolation, which
captures stdout and stderr apart and sets environment variables for the one call.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from forge_cli.app import run_cli


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return self.stderr.strip().splitlines()


def forge(*args: str, env: dict[str, str | None] | None = None) -> Outcome:
    """``forge ARGS`` in this process; ``env`` sets (or, with None, removes) variables."""
    with CliRunner().isolation(env=env) as (stdout, stderr, _):
        code = run_cli(list(args))
        sys.stdout.flush()
        sys.stderr.flush()
        return Outcome(code, stdout.getvalue().decode("utf-8", "replace"),
                       stderr.getvalue().decode("utf-8", "replace"))


def tree_fingerprint(root: Path) -> dict[str, str]:
    """Every folder and file under ``root`` with a hash of its bytes: equal before and after a
    command means the command created, changed and removed nothing."""
    fingerprint = {}
    for path in sorted(root.rglob("*")):
        key = path.relative_to(root).as_posix()
        fingerprint[key] = (hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file()
                            else "folder")
    return fingerprint


def assert_one_line_error(outcome: Outcome, *needles: str, code: int = 2) -> None:
    assert outcome.code == code, (outcome.code, outcome.stderr)
    assert len(outcome.error_lines) == 1, outcome.stderr
    assert "Traceback" not in outcome.stderr
    for needle in needles:
        assert needle in outcome.stderr, outcome.stderr
