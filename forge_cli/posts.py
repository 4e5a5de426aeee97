"""The post format: where posts live, what they are called, and how their front matter is read.

A post is ``blog/docs/posts/weekNN-postP-EDITION.md`` with YAML front matter that the drafting
step writes::

    ---
    title: "…"
    date: 2026-11-24
    categories: [Week 1, Scientist, mdp]
    authors: [forge]
    slug: week01-post1-scientist
    draft: true
    forge: {week: 1, post: 1, edition: scientist, …, text_sha256: '…'}
    ---

``forge.text_sha256`` is a hash of the whole file as forge wrote it, front matter included,
so any human change (a title, a category, a sentence) is detected. Only the ``draft:`` value,
which ``forge approve`` owns, and the hash itself are left out of it. A post is a draft while
``draft: true``; approving it changes that one line and nothing else.

The body forge writes is framed (:mod:`forge_cli.post_frame`): a "What to know" box, the
excerpt break ``<!-- more -->``, the body, a "Reproduce" box. Each edition has its own title
(:func:`edition_title`).

Drafting, checking, the site build and its MkDocs hooks all read posts through this module.
"""

from __future__ import annotations

import hashlib
import itertools
import posixpath
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from forge_cli.errors import BadInput, ForgeError
from forge_cli.store import write_text_atomic

Edition = Literal["scientist", "manager"]
EDITIONS: tuple[Edition, ...] = ("scientist", "manager")
POSTS_DIR = Path("docs/posts")
"""Relative to the blog folder (the one holding mkdocs.yml)."""
REVISIONS_DIR = Path("revisions")
"""New drafts of posts a human has edited or approved; outside ``docs/``, so never published."""
BACKUPS_DIR = Path("backups")
"""Edited posts saved before ``forge draft --force`` overwrote them."""
HASH_KEY = "text_sha256"
OFFLINE_BANNER = '!!! note "Offline draft"'
"""The first line of an offline draft (templates/offline/*.j2): a post still carrying it has not
been rewritten by its author."""
EXCERPT_BREAK = "<!-- more -->"
"""Where a post's excerpt on the blog index ends (after the "What to know" box)."""
EDITION_TITLE_SUFFIX = {"scientist": "", "manager": " (manager edition)"}
"""What tells the editions of a post apart on the index: the plan's title is the scientist's."""

_POST_NAME = re.compile(r"^week(\d{2})-post(\d+)-([a-z]+)\.md$")
# A first line "---" (after an optional BOM), then YAML, then a line "---" or "...".
_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)",
                           re.DOTALL | re.MULTILINE)
# A top-level ``draft:`` line: value, optional comment, line ending.
_DRAFT_LINE = re.compile(r"^draft[ \t]*:[ \t]*([^\r\n#]*?)[ \t]*(#[^\r\n]*)?(\r?\n|\Z)", re.MULTILINE)
_HASH_LINE = re.compile(rf"^([ \t]*{HASH_KEY}[ \t]*:).*$", re.MULTILINE)
UNKNOWN_MARKER = re.compile(r"\*\*\[unknown (\w+): ([^\]]+)\]\*\*")
"""What a placeholder naming no stored result becomes: visible, and flagged by ``forge check``."""
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
"""A Markdown link or image; group 1 is its target."""
_HTML_REF = re.compile(r"<(?:img|a|source|video|audio)\b[^>]*?\s(?:src|href)=\"([^\"]+)\"",
                       re.IGNORECASE)
_EXTERNAL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|/|#)")


# ---- names and places ------------------------------------------------------------------------

def post_file_name(week: int, post: int, edition: str) -> str:
    return f"week{week:02d}-post{post}-{edition}.md"


def edition_title(title: str, edition: str) -> str:
    """A post's title in one edition: distinct per edition, so the index never lists one title
    twice."""
    return title + EDITION_TITLE_SUFFIX.get(edition, f" ({edition} edition)")


def parse_post_name(name: str) -> tuple[int, int, str] | None:
    """(week, post, edition) of a ``weekNN-postP-EDITION.md`` file name, else None."""
    match = _POST_NAME.match(name)
    return (int(match.group(1)), int(match.group(2)), match.group(3)) if match else None


def posts_dir(blog_dir: Path) -> Path:
    return Path(blog_dir) / POSTS_DIR


def unknown_marker(kind: str, key: str) -> str:
    return f"**[unknown {kind}: {key}]**"


def has_offline_banner(body: str) -> bool:
    return any(line.strip() == OFFLINE_BANNER for line in body.splitlines())


def local_targets(markdown: str) -> list[str]:
    """The files a post's Markdown (and inline HTML) links to, relative to the post, without
    anchors; web addresses and in-page anchors are left out."""
    targets = LINK.findall(markdown) + _HTML_REF.findall(markdown)
    return [posixpath.normpath(target.split("#")[0]) for target in targets
            if not _EXTERNAL.match(target)]


# ---- front matter ------------------------------------------------------------------------------

def front_matter_span(text: str) -> tuple[int, int, int] | None:
    """(start, end) of the YAML between the ``---`` lines and where the body starts, or None."""
    match = _FRONT_MATTER.match(text)
    return (match.start(1), match.end(1), match.end()) if match else None


def split_front_matter(text: str) -> tuple[dict[str, Any] | None, str]:
    """(front matter, body). The front matter is None when missing, not YAML or not a mapping;
    the body is exactly what follows the closing line (the whole text when there is none)."""
    import yaml

    span = front_matter_span(text)
    if span is None:
        return None, text
    try:
        meta = yaml.safe_load(text[span[0]:span[1]])
    except yaml.YAMLError:
        meta = None
    return (meta if isinstance(meta, dict) else None), text[span[2]:]


def read_post_text(path: Path) -> str:
    """A post's text exactly as stored (no newline translation); BadInput when unreadable."""
    try:
        return Path(path).read_bytes().decode("utf-8")
    except OSError as error:
        raise ForgeError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise BadInput(f"{path}: not UTF-8 text (byte {error.start})") from None


def read_front_matter(path: Path) -> dict[str, Any]:
    """A post's front matter; BadInput (one line) when it has none or it is not a YAML mapping."""
    import yaml

    text = read_post_text(path)
    span = front_matter_span(text)
    if span is None:
        raise BadInput(f"{path}: no YAML front matter (the file must start with a '---' line)")
    try:
        meta = yaml.safe_load(text[span[0]:span[1]]) or {}
    except yaml.YAMLError as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise BadInput(f"{path}: front matter is not valid YAML ({first})") from None
    if not isinstance(meta, dict):
        raise BadInput(f"{path}: front matter is not a YAML mapping")
    return meta


def is_draft(meta: dict[str, Any]) -> bool:
    """A post is a draft only while ``draft: true`` (what MkDocs Material leaves out)."""
    return meta.get("draft") is True


def read_post_meta(path: Path) -> dict[str, Any]:
    """:func:`read_front_matter`, and ``draft:`` (when there) must be true or false: a quoted
    "true" would pass review as a draft and then break the build."""
    meta = read_front_matter(path)
    if "draft" in meta and not isinstance(meta["draft"], bool):
        raise BadInput(f"{path}: draft must be true or false, not {meta['draft']!r}")
    return meta


# ---- what forge wrote --------------------------------------------------------------------------

def _edit_front_matter(text: str, edit) -> str:
    span = front_matter_span(text)
    if span is None:
        return text
    return text[:span[0]] + edit(text[span[0]:span[1]]) + text[span[1]:]


def content_hash(text: str) -> str:
    """sha256 of a post's text, with the ``draft:`` value and this hash's own value blanked."""
    def blank(block: str) -> str:
        block = _HASH_LINE.sub(r"\1", block)
        return _DRAFT_LINE.sub(lambda m: block[m.start():m.start(1)] + block[m.end(1):m.end()],
                               block)

    return hashlib.sha256(_edit_front_matter(text, blank).encode("utf-8")).hexdigest()


def render_post(meta: dict[str, Any], body: str) -> str:
    """A post's text: ``meta`` as YAML front matter (its ``forge`` mapping gains the content
    hash), then ``body``."""
    import yaml

    meta = {**meta, "forge": {**meta["forge"], HASH_KEY: ""}}
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=100)
    text = f"---\n{front}---\n{body}"
    digest = content_hash(text)  # quoted: an all-digit sha would otherwise read back as a number
    return _edit_front_matter(text, lambda block: _HASH_LINE.sub(
        lambda line: f"{line.group(1)} '{digest}'", block, count=1))


def human_edited(text: str) -> bool:
    """True when ``text`` is not exactly what forge wrote (approval aside)."""
    meta, _ = split_front_matter(text)
    forge = (meta or {}).get("forge")
    recorded = forge.get(HASH_KEY) if isinstance(forge, dict) else None
    return recorded != content_hash(text)


def write_new(folder: Path, name: str, data: bytes) -> Path:
    """Write ``data`` to a new file ``folder/<stem>.<UTC time>.md`` (a counter is added when that
    exists): created exclusively, so two saves in the same second never overwrite each other."""
    folder.mkdir(parents=True, exist_ok=True)
    stem, suffix = Path(name).stem, Path(name).suffix
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    for count in itertools.count(1):
        path = folder / f"{stem}.{stamp}{'' if count == 1 else f'-{count}'}{suffix}"
        try:
            with open(path, "xb") as file:
                file.write(data)
            return path
        except FileExistsError:
            continue


# ---- the posts of a blog -----------------------------------------------------------------------

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


def post_files(blog_dir: Path) -> list[Path]:
    """Every Markdown file under the posts folder, forge's or hand-written."""
    folder = posts_dir(blog_dir)
    return sorted(p for p in folder.rglob("*.md") if p.is_file()) if folder.is_dir() else []


def read_posts(blog_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Every post file with its front matter; BadInput naming the first one that is unreadable."""
    return [(path, read_post_meta(path)) for path in post_files(blog_dir)]


def _post_info(path: Path) -> PostInfo | None:
    """PostInfo for a forge post (``forge:`` front matter or a weekNN-postP-EDITION.md name)."""
    meta = read_post_meta(path)
    forge = meta.get("forge") if isinstance(meta.get("forge"), dict) else {}
    named = dict(zip(("week", "post", "edition"), parse_post_name(path.name) or (None,) * 3))
    week, post, edition = (forge.get(key, value) for key, value in named.items())
    if week is None or post is None or edition is None:
        return None
    try:
        return PostInfo(path=path, week=int(week), post=int(post), edition=str(edition),
                        title=str(meta.get("title") or path.stem), draft=is_draft(meta))
    except (TypeError, ValueError):
        raise BadInput(f"{path}: front matter 'forge' has a bad week/post/edition") from None


def list_posts(blog_dir: Path, problems: list[str] | None = None) -> list[PostInfo]:
    """The forge posts of the blog, by week, post and edition (scientist first). A post that
    cannot be read is left out, so one bad file hides no other; its one-line problem is added
    to ``problems`` when given."""
    infos = []
    for path in post_files(blog_dir):
        try:
            info = _post_info(path)
        except ForgeError as error:
            if problems is not None:
                problems.append(str(error))
            continue
        if info is not None:
            infos.append(info)
    order = {edition: i for i, edition in enumerate(EDITIONS)}
    return sorted(infos, key=lambda p: (p.week, p.post, order.get(p.edition, len(order)), p.edition))


def draft_posts(blog_dir: Path) -> list[Path]:
    """Every post (forge's or hand-written) still marked ``draft: true``; BadInput when one
    cannot be read."""
    return [path for path, meta in read_posts(blog_dir) if is_draft(meta)]


def find_post(blog_dir: Path, week: int, post: int, edition: str) -> PostInfo:
    if edition not in EDITIONS:
        raise BadInput(f"unknown edition {edition!r}: expected one of {', '.join(EDITIONS)}")
    for info in list_posts(blog_dir):
        if (info.week, info.post, info.edition) == (week, post, edition):
            return info
    raise ForgeError(f"no post week {week} post {post} ({edition} edition) in {posts_dir(blog_dir)}; "
                     f"draft it first with `forge draft week{week}`")


def set_draft(path: Path, draft: bool) -> bool:
    """Set ``draft:`` in a post's front matter, changing only that line. True if the file changed.

    Every other character (key order, quoting, comments, line endings, the body) is kept. A post
    with no ``draft:`` line is already published; marking it a draft adds the line at the end of
    the front matter.
    """
    import yaml

    path = Path(path)
    text = read_post_text(path)
    span = front_matter_span(text)
    if span is None:
        raise BadInput(f"{path}: no YAML front matter (the file must start with a '---' line)")
    block = text[span[0]:span[1]]
    value = "true" if draft else "false"
    lines = list(_DRAFT_LINE.finditer(block))
    if len(lines) > 1:
        raise BadInput(f"{path}: front matter has {len(lines)} 'draft:' lines")
    if lines:
        line = lines[0]
        if line.group(1).strip().lower() == value:
            return False
        new_block = block[:line.start(1)] + value + block[line.end(1):]
    elif not draft:
        return False  # no draft key: the post is not a draft
    else:
        newline = "\r\n" if "\r\n" in block else "\n"
        separator = "" if block.endswith("\n") or not block else newline
        new_block = block + separator + "draft: true" + newline
    try:
        meta = yaml.safe_load(new_block) or {}
    except yaml.YAMLError:
        meta = {}
    if not isinstance(meta, dict) or meta.get("draft") is not draft:
        raise BadInput(f"{path}: could not set 'draft: {value}' in the front matter")
    write_text_atomic(path, text[:span[0]] + new_block + text[span[1]:])
    return True
