"""Provenance: which code and libraries produced a run, a post or a published site.

One git helper for all of forge: :func:`run_git` (no prompts, C locale, a timeout). On top of it
:func:`git_sha` and :func:`git_dirty` read the commit and whether tracked files changed since
(untracked files are not counted: they are not part of any commit a reader could check out);
:func:`environment` adds the Python, machine and library versions a run records, and
:func:`source_revision` the one-word form a gh-pages commit message names.
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from forge_cli.errors import ForgeError

TRACKED_PACKAGES = ("forge", "numpy", "torch", "gymnasium", "wandb", "matplotlib")
"""The libraries whose versions a run records."""
QUERY_TIMEOUT_S = 20.0
"""For read-only git queries (a sha, a status); pushes get longer."""


def run_git(args: list[str], cwd: Path, timeout: float = 300.0) -> subprocess.CompletedProcess:
    """``git ARGS`` in ``cwd``, output captured; ForgeError when git is missing or hangs."""
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env,
                              timeout=timeout)
    except FileNotFoundError:
        raise ForgeError("git is not installed") from None
    except subprocess.TimeoutExpired:
        raise ForgeError(f"git {args[0]} took longer than {timeout:.0f} s; gave up") from None


def _query(path: Path, *args: str) -> str | None:
    """stdout of a read-only git query, or None outside a repository or without git."""
    try:
        result = run_git(list(args), Path(path), timeout=QUERY_TIMEOUT_S)
    except (ForgeError, OSError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def git_sha(path: Path) -> str | None:
    """The commit checked out at ``path`` (full sha), None when it is not in a git repository."""
    return _query(path, "rev-parse", "HEAD")


def git_dirty(path: Path) -> bool:
    """True when tracked files under ``path`` differ from the commit."""
    return bool(_query(path, "status", "--porcelain", "--untracked-files=no", "--", "."))


def source_revision(path: Path) -> str:
    """The commit ``path`` was built from: a short sha, ``+dirty`` with local changes."""
    sha = git_sha(path)
    if sha is None:
        return "an unversioned checkout"
    return sha[:12] + ("+dirty" if git_dirty(path) else "")


def environment(root: Path) -> dict[str, object]:
    """What a reader needs to reproduce a run: code version, library versions, machine."""
    versions = {}
    for package in TRACKED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return {"git_sha": git_sha(root), "git_dirty": git_dirty(root),
            "python": platform.python_version(), "platform": platform.platform(),
            "machine": platform.machine(), "packages": versions}
