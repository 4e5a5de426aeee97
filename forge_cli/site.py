"""The blog site: build, serve and publish the MkDocs Material blog.

The blog lives in one folder (``blog/`` in a forge project) holding ``mkdocs.yml``; its posts and
their format are :mod:`forge_cli.posts`. ``mkdocs serve`` shows drafts; ``mkdocs build`` leaves
them out unless ``FORGE_INCLUDE_DRAFTS=true`` (read by ``blog.draft`` in mkdocs.yml), and a post's
figures ship only with a page that shows them (``blog/hooks/forge_hooks.py``). :func:`publish`
ships the approved posts and holds drafts back. MkDocs always runs as a subprocess (``python -m
mkdocs``), so nothing heavy is imported here.
"""

from __future__ import annotations

import glob
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from forge_cli.errors import BadInput, ForgeError
from forge_cli.posts import draft_posts, post_files, read_posts
from forge_cli.provenance import run_git, source_revision

CONFIG_FILE = "mkdocs.yml"
INCLUDE_DRAFTS_ENV = "FORGE_INCLUDE_DRAFTS"
SITE_URL_ENV = "FORGE_SITE_URL"
EXPORT_MARKER = ".forge-export"
BUILD_TIMEOUT_S = 600
NO_SITE_URL = ("site.url is not set: publishing needs the address the blog will be read at "
               "(canonical and RSS links); add [site] url = \"https://you.github.io/blog/\" to "
               "forge.toml, or set FORGE_SITE__URL")


# ---------------------------------------------------------------------------------------------
# Build and serve


def _config_file(blog_dir: Path) -> Path:
    config = Path(blog_dir).resolve() / CONFIG_FILE
    if not config.is_file():
        raise ForgeError(f"no blog at {blog_dir}: {CONFIG_FILE} is missing")
    return config


def _mkdocs_env(include_drafts: bool, site_url: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env[INCLUDE_DRAFTS_ENV] = "true" if include_drafts else "false"
    if site_url:
        env[SITE_URL_ENV] = site_url if site_url.endswith("/") else site_url + "/"
    env.setdefault("PYTHONIOENCODING", "utf-8")
    env["NO_MKDOCS_2_WARNING"] = "1"  # silence Material's notice about MkDocs 2.0
    return env


def _error_lines(output: str) -> list[str]:
    keep = [line.strip() for line in output.splitlines()
            if re.match(r"\s*(ERROR|WARNING|CRITICAL)\b", line) or "Aborted" in line
            or re.match(r"\s*\w*(Error|Exception):", line)]
    if not keep:  # no log lines: show the end of whatever mkdocs printed
        keep = [line.strip() for line in output.splitlines() if line.strip()][-8:]
    return keep


def build_site(blog_dir: Path, site_dir: Path | None = None, include_drafts: bool = False,
               site_url: str | None = None) -> Path:
    """Build the static site with ``mkdocs build --strict``; returns the site folder.

    ``site_dir`` defaults to ``<blog_dir>/site`` and is emptied first. Drafts are left out
    unless ``include_drafts``. ``site_url`` is the address the site will be served from
    (canonical links, RSS); for a local preview it defaults to ``$FORGE_SITE_URL`` or
    ``http://127.0.0.1:8000/``. Any MkDocs warning fails the build (ForgeError with its lines);
    a post that cannot be read is BadInput before anything is built.
    """
    config = _config_file(blog_dir)
    read_posts(blog_dir)
    site = Path(site_dir).resolve() if site_dir is not None else config.parent / "site"
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--clean",
               "--config-file", str(config), "--site-dir", str(site)]
    try:
        result = subprocess.run(command, cwd=config.parent, env=_mkdocs_env(include_drafts, site_url),
                                capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ForgeError(f"mkdocs build took longer than {BUILD_TIMEOUT_S} s; gave up") from None
    if result.returncode != 0:
        lines = _error_lines(result.stderr + "\n" + result.stdout)
        raise ForgeError("mkdocs build --strict failed:\n  " + "\n  ".join(lines))
    if not (site / "index.html").is_file():
        raise ForgeError(f"mkdocs build finished but wrote no index.html to {site}")
    return site


def serve_command(blog_dir: Path, dev_addr: str = "127.0.0.1:8000") -> list[str]:
    """The argv for ``mkdocs serve`` of this blog; it shows drafts (``draft_on_serve``).
    ``dev_addr`` is ``host:port``, checked here so a bad one is one line, not a server crash."""
    host, _, port = dev_addr.rpartition(":")
    if not host or re.search(r"\s", host) or not re.fullmatch(r"[0-9]{1,5}", port) \
            or not 1 <= int(port) <= 65535:
        raise BadInput(f"bad --address {dev_addr!r}: expected host:port, e.g. 127.0.0.1:8000")
    config = _config_file(blog_dir)
    return [sys.executable, "-m", "mkdocs", "serve", "--config-file", str(config),
            "--dev-addr", dev_addr]


# ---------------------------------------------------------------------------------------------
# Publish


def _git_failure(what: str, result: subprocess.CompletedProcess) -> ForgeError:
    lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    return ForgeError(_redact(f"{what} failed: " + " | ".join(lines[-4:]) if lines else f"{what} failed"))


def _redact(text: str) -> str:
    """Hide credentials in remote URLs (https://user:token@host/…) before showing them."""
    return re.sub(r"(\w+://)[^/@\s]+@", r"\1***@", text)


def _push_gh_pages(site: Path, remote: str, revision: str) -> str:
    """Commit ``site`` in a fresh repository and force-push it as ``gh-pages``; the commit id."""
    if Path(remote).exists():  # a local path: make it absolute, git runs inside the site folder
        remote = str(Path(remote).resolve())
    identity = []
    if run_git(["config", "--get", "user.email"], site, timeout=20).stdout.strip() == "":
        identity = ["-c", "user.name=forge", "-c", "user.email=forge@localhost"]
    steps = [
        ["init", "--quiet", "--initial-branch=gh-pages"],
        ["add", "--all", "--force", "."],
        [*identity, "-c", "commit.gpgsign=false", "commit", "--quiet", "--no-verify",
         "-m", f"Publish the forge blog built from {revision}"],
    ]
    for step in steps:
        result = run_git(step, site)
        if result.returncode != 0:
            raise _git_failure("git " + next(arg for arg in step if arg in ("init", "add", "commit")),
                               result)
    result = run_git(["push", "--force", "--quiet", remote, "HEAD:refs/heads/gh-pages"], site)
    if result.returncode != 0:
        raise _git_failure(f"git push to {_redact(remote)}", result)
    return run_git(["rev-parse", "--short=12", "HEAD"], site, timeout=20).stdout.strip()


def _export_target(to: Path) -> Path:
    """``to``, checked before anything is built: a new or empty folder, or a previous export."""
    to = Path(to).resolve()
    if to.exists() and not to.is_dir():
        raise BadInput(f"cannot export to {to}: it is a file")
    if to.is_dir() and any(to.iterdir()) and not (to / EXPORT_MARKER).is_file():
        raise BadInput(f"{to} is not empty and forge did not export to it before; "
                       "pick an empty or new folder")
    return to


def _export(site: Path, to: Path, revision: str) -> None:
    """Replace the folder ``to`` with a copy of ``site``, never leaving half of either.

    The copy is made in a hidden folder next to ``to`` (same file system), then swapped in by
    two renames: the old export is moved aside only once the new one is complete, and removed
    only once the new one is in place. Folders a killed publish left behind are removed after a
    successful one.
    """
    parent = to.parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".{to.name}.forge-new-"))
    old: Path | None = None
    try:
        shutil.copytree(site, staging, dirs_exist_ok=True)
        built_at = datetime.now(UTC).isoformat(timespec="seconds")
        (staging / EXPORT_MARKER).write_text(f"forge blog built from {revision} at {built_at}\n",
                                             encoding="utf-8")
        staging.chmod(0o755)  # mkdtemp makes it private; an export is read by a web server
        if to.exists():
            old = parent / f".{to.name}.forge-old-{secrets.token_hex(4)}"
            os.rename(to, old)
        os.rename(staging, to)
    except BaseException as error:
        if old is not None and not to.exists():
            os.rename(old, to)  # put the previous export back
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(error, OSError):
            raise ForgeError(f"cannot export to {to}: {error.strerror or error}") from None
        raise
    for leftover in parent.glob(glob.escape(f".{to.name}.forge-") + "*"):
        shutil.rmtree(leftover, ignore_errors=True)


def publish(blog_dir: Path, remote: str | None = None, to: Path | None = None,
            site_url: str | None = None) -> str:
    """Build the approved posts and ship them: export to a folder and/or push to ``gh-pages``.

    Drafts are held back (left out of the site, and so are the figures only they show).
    ``site_url`` is required: a published site's canonical and feed links must point at where it
    lives, never at a local preview address. Returns one line saying what went where.
    """
    if remote is None and to is None:
        raise BadInput("publish needs a destination: a git remote (for gh-pages) or a folder")
    if not site_url:
        raise ForgeError(NO_SITE_URL)
    if not re.match(r"^https?://[^/\s]+", site_url):
        raise BadInput(f"site.url {site_url!r} is not an http(s) address, "
                       "e.g. https://you.github.io/blog/")
    blog_dir = Path(blog_dir)
    _config_file(blog_dir)
    held_back = len(draft_posts(blog_dir))
    published = len(post_files(blog_dir)) - held_back
    if published == 0:
        raise ForgeError(f"nothing to publish: no post is approved yet ({held_back} await "
                         "review: `forge review`, then `forge approve weekN`)")
    target = _export_target(to) if to is not None else None
    revision = source_revision(blog_dir)
    with tempfile.TemporaryDirectory(prefix="forge-site-") as tmp:
        site = build_site(blog_dir, Path(tmp) / "site", include_drafts=False, site_url=site_url)
        (site / ".nojekyll").touch()
        where = []
        if target is not None:
            _export(site, target, revision)
            where.append(f"to {target}")
        if remote is not None:
            commit = _push_gh_pages(site, remote, revision)
            where.append(f"to the gh-pages branch of {_redact(remote)} (commit {commit})")
    held = f", {held_back} draft(s) held back (awaiting review)" if held_back else ""
    return (f"published {published} post(s){held}, built from {revision}, "
            + " and ".join(where))
