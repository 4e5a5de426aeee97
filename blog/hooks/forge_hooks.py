"""MkDocs hooks for the forge blog (loaded through ``hooks:`` in mkdocs.yml).

* The RSS plugin wants an absolute URL for the feed's image, and the site's address is only
  known at build time (``FORGE_SITE_URL``), so it is filled in here from ``site_url``.
* The RSS plugin's HTTP cache folder is kept next to mkdocs.yml (it defaults to the cwd).
* Every post ends with series navigation: the previous and next post of the same edition, in
  week order, so a reader can follow the sixteen weeks from start to end.
* A published post may link to its companion edition while that one is still a draft. Drafts
  are left out of ``mkdocs build``, so such links are turned into plain text marked "not
  published yet" instead of pointing at a missing page.
* A post's figures (any file under the posts folder that is not a page) ship only with a page
  that links to them: a draft's figures, and figures no post uses any more, stay out of the site.
* A link to a post that was never drafted (one edition drafted alone, a later week) would fail
  the strict build; it becomes plain text marked "not drafted yet".
* A draft is shown under the author ``forge-draft`` ("Draft, not yet reviewed"): only an
  approved post's byline says a human reviewed it.

Post names and front matter are read through ``forge_cli.posts``, the one definition of the post
format (MkDocs runs in forge's own interpreter, so it is importable here).
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from urllib.parse import urljoin

from mkdocs.plugins import event_priority
from mkdocs.structure.files import InclusionLevel

from forge_cli.posts import POSTS_DIR, local_targets, parse_post_name, split_front_matter

FEED_IMAGE = "assets/forge-logo.png"
AUTHOR, DRAFT_AUTHOR = "forge", "forge-draft"
"""The byline of an approved post and of a draft (docs/.authors.yml)."""

_unpublished: set[str] = set()
_ANCHOR = re.compile(r'<a\b[^>]*?\shref="(?P<href>[^"#]*)(?:#[^"]*)?"[^>]*>(?P<text>.*?)</a>', re.DOTALL)
_EXTERNAL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|/)")
# A Markdown link (not an image) to a post file: [text](week01-post1-manager.md#anchor)
_POST_LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s#]*week\d{2}-post\d+-[a-z]+\.md)"
                        r"(?:#[^)\s]*)?(?:\s+\"[^\"]*\")?\)")


@event_priority(100)  # before the RSS plugin reads its configuration
def on_config(config):
    rss = config.plugins.get("rss")
    if rss is not None:
        if not rss.config.get("image") and config.site_url:
            rss.config["image"] = urljoin(config.site_url, FEED_IMAGE)
        # Its (unused: no remote images) HTTP cache goes next to mkdocs.yml, not into the cwd.
        if Path(rss.config["cache_dir"]) == (Path.cwd() / ".cache" / "plugins" / "rss"):
            rss.config["cache_dir"] = str(Path(config.config_file_path).parent / ".cache" / "plugins" / "rss")
    return config


def on_env(env, config, files):
    # By now the blog plugin has decided which posts are drafts left out of this build, and the
    # pages that are built have been read; static files are copied right after this event.
    _unpublished.clear()
    excluded = files.documentation_pages(inclusion=lambda level: level.is_excluded())
    _unpublished.update(file.url.strip("/") for file in excluded)
    _leave_out_unused_post_files(config, files)
    return env


def _leave_out_unused_post_files(config, files) -> None:
    blog_dir = Path(config.config_file_path).parent
    posts = posixpath.relpath((blog_dir / POSTS_DIR).as_posix(), Path(config.docs_dir).as_posix())
    used = set()
    for page in files.documentation_pages():  # the pages this build renders
        markdown = page.page.markdown if page.page and page.page.markdown is not None else (
            Path(page.abs_src_path).read_text(encoding="utf-8"))
        folder = posixpath.dirname(page.src_uri)
        used.update(posixpath.normpath(posixpath.join(folder, target))
                    for target in local_targets(markdown))
    for file in files:
        if (not file.is_documentation_page() and file.src_uri.startswith(posts + "/")
                and file.src_uri not in used):
            file.inclusion = InclusionLevel.EXCLUDED


def on_post_page(output, page, config):
    if not _unpublished:
        return output
    base = page.url if page.url.endswith("/") or not page.url else posixpath.dirname(page.url) + "/"

    def unlink(match: re.Match) -> str:
        href = match.group("href")
        if not href or _EXTERNAL.match(href):
            return match.group(0)
        target = posixpath.normpath(posixpath.join(base, href)).strip("/")
        target = "" if target == "." else target
        if target.removesuffix("/index.html") not in _unpublished:
            return match.group(0)
        return f'<span class="forge-unpublished" title="Not published yet">{match.group("text")}</span>'

    return _ANCHOR.sub(unlink, output)


def on_page_markdown(markdown, page, config, files):
    name = posixpath.basename(page.file.src_uri)
    parsed = parse_post_name(name)
    if parsed is None:
        return markdown
    _draft_byline(page)
    markdown = _unlink_missing_posts(markdown, page, files)
    edition = parsed[2]
    series = []
    for file in files.documentation_pages():
        found = parse_post_name(posixpath.basename(file.src_uri))
        if found and found[2] == edition:
            series.append((found[0], found[1], file))
    series.sort(key=lambda entry: entry[:2])
    names = [posixpath.basename(f.src_uri) for _, _, f in series]
    here = names.index(name)
    links = []
    if here > 0:
        links.append(f"← {_series_link(series[here - 1])}")
    if here + 1 < len(series):
        links.append(f"{_series_link(series[here + 1])} →")
    if not links:
        return markdown
    return markdown.rstrip() + (f"\n\n---\n\n**The series ({edition} edition):** "
                                + " · ".join(links) + "\n")


def _draft_byline(page) -> None:
    """Runs before the blog plugin reads the authors (its hook has priority -50)."""
    post_config = getattr(page, "config", None)
    if page.meta.get("draft") is True and post_config is not None and "authors" in post_config:
        post_config["authors"] = [DRAFT_AUTHOR if author == AUTHOR else author
                                  for author in post_config["authors"]]


def _unlink_missing_posts(markdown: str, page, files) -> str:
    folder = posixpath.dirname(page.file.src_uri)

    def unlink(match: re.Match) -> str:
        target = posixpath.normpath(posixpath.join(folder, match.group("target")))
        if _EXTERNAL.match(match.group("target")) or files.get_file_from_path(target) is not None:
            return match.group(0)
        return (f'<span class="forge-unpublished" title="Not drafted yet">'
                f'{match.group("text")}</span>')

    return _POST_LINK.sub(unlink, markdown)


def _series_link(entry) -> str:
    week, post, file = entry
    meta, _ = split_front_matter(Path(file.abs_src_path).read_text(encoding="utf-8"))
    title = str((meta or {}).get("title") or file.src_uri)
    return f"[Week {week}, post {post}: {title}]({posixpath.basename(file.src_uri)})"
