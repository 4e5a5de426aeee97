"""The blog site: list and approve posts, build, serve and publish the MkDocs Material blog.

The blog lives in one folder (``blog/`` in a forge project) holding ``mkdocs.yml``; posts are
``docs/posts/weekNN-postP-EDITION.md`` with YAML front matter written by the drafting step::

    ---
    title: "…"
    date: 2026-11-24
    categories: [Week 1, Scientist, mdp]
    authors: [forge]
    slug: week01-post1-scientist
    draft: true
    forge: {week: 1, post: 1, edition: scientist, …}
    ---

A post is a draft until a human approves it (``draft: true`` → ``draft: false``). ``mkdocs
serve`` shows drafts, ``mkdocs build`` leaves them out unless ``FORGE_INCLUDE_DRAFTS=true``
(read by ``blog.draft`` in mkdocs.yml), and :func:`publish` refuses to ship while any post is
still a draft. MkDocs always runs as a subprocess (``python -m mkdocs``), so nothing heavy is
imported here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import yaml
from pydantic import BaseModel

from forge_cli.errors import BadInput, ForgeError

EDITIONS = ("scientist", "manager")
CONFIG_FILE = "mkdocs.yml"
POSTS_DIR = Path("docs") / "posts"
INCLUDE_DRAFTS_ENV = "FORGE_INCLUDE_DRAFTS"
SITE_URL_ENV = "FORGE_SITE_URL"
EXPORT_MARKER = ".forge-export"
BUILD_TIMEOUT_S = 600

_POST_NAME = re.compile(r"^week(\d{1,2})-post(\d+)-([a-z]+)\.md$")
# Front matter: a first line "---", then YAML, then a line "---" (or "..."), like MkDocs reads it.
_FRONT_MATTER = re.compile(rb"\A(?:\xef\xbb\xbf)?---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)",
                           re.DOTALL | re.MULTILINE)
# A top-level ``draft:`` line inside the front matter (value, optional comment, line ending).
_DRAFT_LINE = re.compile(rb"^draft[ \t]*:[ \t]*([^\r\n#]*?)[ \t]*(#[^\r\n]*)?(\r?\n|\Z)", re.MULTILINE)


class PostInfo(BaseModel):
    """One post of the blog, as its front matter describes it."""

    path: Path
    week: int
    post: int
    edition: str
    title: str
    draft: bool

    @property
    def name(self) -> str:
        return self.path.name


# ---------------------------------------------------------------------------------------------
# Posts


def posts_dir(blog_dir: Path) -> Path:
    return Path(blog_dir) / POSTS_DIR


def _front_matter_span(data: bytes, path: Path) -> tuple[int, int]:
    """Byte offsets of the YAML between the ``---`` lines; ForgeError when there is none."""
    match = _FRONT_MATTER.match(data)
    if not match:
        raise ForgeError(f"{path}: no YAML front matter (the file must start with a '---' line)")
    return match.start(1), match.end(1)


def _read_with_front_matter(path: Path) -> tuple[bytes, int, int]:
    """A post's bytes and the span of its front matter block."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ForgeError(f"cannot read {path}: {error.strerror or error}") from None
    return (data, *_front_matter_span(data, path))


def read_front_matter(path: Path) -> dict:
    """The front matter of a post as a dict (``yaml.safe_load``)."""
    data, start, end = _read_with_front_matter(Path(path))
    try:
        meta = yaml.safe_load(data[start:end].decode("utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ForgeError(f"{path}: front matter is not valid YAML ({first})") from None
    if not isinstance(meta, dict):
        raise ForgeError(f"{path}: front matter is not a YAML mapping")
    return meta


def _is_draft(meta: dict) -> bool:
    return meta.get("draft") is True


def _post_info(path: Path) -> PostInfo | None:
    """PostInfo for a forge post (``forge:`` front matter or a weekNN-postP-EDITION.md name)."""
    meta = read_front_matter(path)
    forge = meta.get("forge") if isinstance(meta.get("forge"), dict) else {}
    named = _POST_NAME.match(path.name)
    week = forge.get("week", int(named.group(1)) if named else None)
    post = forge.get("post", int(named.group(2)) if named else None)
    edition = forge.get("edition", named.group(3) if named else None)
    if week is None or post is None or edition is None:
        return None
    try:
        return PostInfo(path=path, week=int(week), post=int(post), edition=str(edition),
                        title=str(meta.get("title") or path.stem), draft=_is_draft(meta))
    except (TypeError, ValueError):
        raise ForgeError(f"{path}: front matter 'forge' has a bad week/post/edition") from None


def _post_files(blog_dir: Path) -> list[Path]:
    folder = posts_dir(blog_dir)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*.md") if p.is_file())


def list_posts(blog_dir: Path) -> list[PostInfo]:
    """The forge posts under ``docs/posts``, by week, post and edition (scientist first)."""
    infos = [info for path in _post_files(blog_dir) if (info := _post_info(path)) is not None]
    order = {edition: i for i, edition in enumerate(EDITIONS)}
    return sorted(infos, key=lambda p: (p.week, p.post, order.get(p.edition, len(order)), p.edition))


def draft_posts(blog_dir: Path) -> list[Path]:
    """Every post under ``docs/posts`` (forge's or hand-written) still marked ``draft: true``."""
    return [path for path in _post_files(blog_dir) if _is_draft(read_front_matter(path))]


def set_draft(path: Path, draft: bool) -> bool:
    """Set ``draft:`` in a post's front matter, changing only that line. True if the file changed.

    Every other byte (key order, quoting, comments, line endings, the body) is kept. A post with
    no ``draft:`` line is already published; marking it a draft adds the line at the end of the
    front matter.
    """
    path = Path(path)
    data, start, end = _read_with_front_matter(path)
    block = data[start:end]
    value = b"true" if draft else b"false"
    lines = list(_DRAFT_LINE.finditer(block))
    if len(lines) > 1:
        raise ForgeError(f"{path}: front matter has {len(lines)} 'draft:' lines")
    if lines:
        line = lines[0]
        if line.group(1).strip().lower() == value:
            return False
        new_block = block[:line.start(1)] + value + block[line.end(1):]
    elif not draft:
        return False  # no draft key: the post is not a draft
    else:
        newline = b"\r\n" if b"\r\n" in block else b"\n"
        separator = b"" if block.endswith(b"\n") or not block else newline
        new_block = block + separator + b"draft: true" + newline
    new_data = data[:start] + new_block + data[end:]
    try:
        meta = yaml.safe_load(new_block.decode("utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError):
        meta = {}
    if not isinstance(meta, dict) or meta.get("draft") is not draft:
        raise ForgeError(f"{path}: could not set 'draft: {value.decode()}' in the front matter")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(new_data)
    os.replace(tmp, path)
    return True


def find_post(blog_dir: Path, week: int, post: int, edition: str) -> PostInfo:
    if edition not in EDITIONS:
        raise BadInput(f"unknown edition {edition!r}: expected one of {', '.join(EDITIONS)}")
    for info in list_posts(blog_dir):
        if (info.week, info.post, info.edition) == (week, post, edition):
            return info
    raise ForgeError(f"no post week {week} post {post} ({edition} edition) in {posts_dir(blog_dir)}; "
                     f"draft it first with `forge draft week{week}`")


def approve(blog_dir: Path, week: int, post: int, edition: str) -> PostInfo:
    """Mark one post as approved (``draft: false``) so builds and publishing include it."""
    info = find_post(blog_dir, week, post, edition)
    set_draft(info.path, False)
    return info.model_copy(update={"draft": False})


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
    (canonical links, RSS); default ``$FORGE_SITE_URL`` or ``http://127.0.0.1:8000/``. Any
    MkDocs warning fails the build (ForgeError with its lines).
    """
    config = _config_file(blog_dir)
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
    """The argv for ``mkdocs serve`` of this blog; it shows drafts (``draft_on_serve``)."""
    config = _config_file(blog_dir)
    return [sys.executable, "-m", "mkdocs", "serve", "--config-file", str(config),
            "--dev-addr", dev_addr]


# ---------------------------------------------------------------------------------------------
# Publish


def _git(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                              env=env, timeout=timeout)
    except FileNotFoundError:
        raise ForgeError("git is not installed; it is needed to publish to a remote") from None
    except subprocess.TimeoutExpired:
        raise ForgeError(f"git {args[0]} took longer than {timeout:.0f} s; gave up") from None


def source_revision(blog_dir: Path) -> str:
    """The git commit the blog was built from (short sha, ``+dirty`` with local changes)."""
    head = _git(["rev-parse", "--short=12", "HEAD"], Path(blog_dir), timeout=20)
    if head.returncode != 0:
        return "an unversioned checkout"
    status = _git(["status", "--porcelain", "--", "."], Path(blog_dir), timeout=60)
    dirty = "+dirty" if status.returncode == 0 and status.stdout.strip() else ""
    return head.stdout.strip() + dirty


def _git_failure(what: str, result: subprocess.CompletedProcess) -> ForgeError:
    lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    return ForgeError(_redact(f"{what} failed: " + " | ".join(lines[-4:]) if lines else f"{what} failed"))


def _redact(text: str) -> str:
    """Hide credentials in remote URLs (https://user:token@host/…) before showing them."""
    return re.sub(r"(\w+://)[^/@\s]+@", r"\1***@", text)


def _push_gh_pages(site: Path, remote: str, revision: str) -> str:
    """Commit ``site`` in a fresh repository and force-push it as ``gh-pages``; the commit id."""
    (site / ".nojekyll").touch()
    if Path(remote).exists():  # a local path: make it absolute, git runs inside the site folder
        remote = str(Path(remote).resolve())
    identity = []
    if _git(["config", "--get", "user.email"], site, timeout=20).stdout.strip() == "":
        identity = ["-c", "user.name=forge", "-c", "user.email=forge@localhost"]
    steps = [
        ["init", "--quiet", "--initial-branch=gh-pages"],
        ["add", "--all", "--force", "."],
        [*identity, "-c", "commit.gpgsign=false", "commit", "--quiet", "--no-verify",
         "-m", f"Publish the forge blog built from {revision}"],
    ]
    for step in steps:
        result = _git(step, site)
        if result.returncode != 0:
            raise _git_failure("git " + next(arg for arg in step if arg in ("init", "add", "commit")),
                               result)
    result = _git(["push", "--force", "--quiet", remote, "HEAD:refs/heads/gh-pages"], site)
    if result.returncode != 0:
        raise _git_failure(f"git push to {_redact(remote)}", result)
    return _git(["rev-parse", "--short=12", "HEAD"], site, timeout=20).stdout.strip()


def _export(site: Path, to: Path) -> Path:
    """Copy the built site into ``to``: a new or empty folder, or one forge exported to before."""
    to = Path(to).resolve()
    if to.exists() and not to.is_dir():
        raise ForgeError(f"cannot export to {to}: it is a file")
    if to.is_dir() and any(to.iterdir()):
        if not (to / EXPORT_MARKER).is_file():
            raise ForgeError(f"{to} is not empty and forge did not export to it before; "
                             "pick an empty or new folder")
        for child in to.iterdir():  # replace the previous export, so removed pages disappear
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    shutil.copytree(site, to, dirs_exist_ok=True)
    return to


def publish(blog_dir: Path, remote: str | None = None, to: Path | None = None,
            allow_drafts: bool = False, site_url: str | None = None) -> str:
    """Build the approved posts and ship them: export to a folder and/or push to ``gh-pages``.

    Refuses while any post is still a draft, unless ``allow_drafts`` (drafts are then left out
    of the site, never published). Returns one line saying what went where.
    """
    if remote is None and to is None:
        raise BadInput("publish needs a destination: a git remote (for gh-pages) or a folder")
    blog_dir = Path(blog_dir)
    _config_file(blog_dir)
    drafts = draft_posts(blog_dir)
    if drafts and not allow_drafts:
        names = ", ".join(path.name for path in drafts)
        raise ForgeError(f"{len(drafts)} post(s) not approved yet: {names}; approve them "
                         "(forge approve) or publish without them (allow drafts)")
    published = len(_post_files(blog_dir)) - len(drafts)
    revision = source_revision(blog_dir)
    with tempfile.TemporaryDirectory(prefix="forge-site-") as tmp:
        site = build_site(blog_dir, Path(tmp) / "site", include_drafts=False, site_url=site_url)
        (site / ".nojekyll").touch()
        where = []
        if to is not None:
            target = _export(site, to)
            (target / EXPORT_MARKER).write_text(
                f"forge blog built from {revision} at {datetime.now(UTC).isoformat(timespec='seconds')}\n")
            where.append(f"to {target}")
        if remote is not None:
            commit = _push_gh_pages(site, remote, revision)
            where.append(f"to the gh-pages branch of {_redact(remote)} (commit {commit})")
    left_out = f", {len(drafts)} draft(s) left out" if drafts else ""
    return (f"published {published} post(s){left_out}, built from {revision}, "
            + " and ".join(where))
