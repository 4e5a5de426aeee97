"""MkDocs hooks for the forge blog (loaded through ``hooks:`` in mkdocs.yml).

* The RSS plugin wants an absolute URL for the feed's image, and the site's address is only
  known at build time (``FORGE_SITE_URL``), so it is filled in here from ``site_url``.
* The RSS plugin's HTTP cache folder is kept next to mkdocs.yml (it defaults to the cwd).
* Every post ends with series navigation: the previous and next post of the same edition, in
  week order, so a reader can follow the sixteen weeks from start to end.
* A published post may link to its companion edition while that one is still a draft. Drafts
  are left out of ``mkdocs build``, so such links are turned into plain text marked "not
  published yet" instead of pointing at a missing page.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from urllib.parse import urljoin

from mkdocs.plugins import event_priority

FEED_IMAGE = "assets/forge-logo.png"

_unpublished: set[str] = set()
_POST = re.compile(r"^week(\d{2})-post(\d+)-(\w+)\.md$")
_TITLE = re.compile(r"^title:\s*(.+?)\s*$", re.MULTILINE)
_ANCHOR = re.compile(r'<a\b[^>]*?\shref="(?P<href>[^"#]*)(?:#[^"]*)?"[^>]*>(?P<text>.*?)</a>', re.DOTALL)
_EXTERNAL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|/)")


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
    # By now the blog plugin has decided which posts are drafts left out of this build.
    _unpublished.clear()
    excluded = files.documentation_pages(inclusion=lambda level: level.is_excluded())
    _unpublished.update(file.url.strip("/") for file in excluded)
    return env


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
    match = _POST.match(name)
    if not match:
        return markdown
    edition = match.group(3)
    series = sorted((int(m.group(1)), int(m.group(2)), f) for f in files.documentation_pages()
                    if (m := _POST.match(posixpath.basename(f.src_uri))) and m.group(3) == edition)
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


def _series_link(entry) -> str:
    week, post, file = entry
    found = _TITLE.search(Path(file.abs_src_path).read_text(encoding="utf-8"))
    title = found.group(1).strip("'\"") if found else file.src_uri
    return f"[Week {week}, post {post}: {title}]({posixpath.basename(file.src_uri)})"
