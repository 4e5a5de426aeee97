"""MkDocs hooks for the forge blog (loaded through ``hooks:`` in mkdocs.yml).

* The RSS plugin wants an absolute URL for the feed's image, and the site's address is only
  known at build time (``FORGE_SITE_URL``), so it is filled in here from ``site_url``.
* The RSS plugin's HTTP cache folder is kept next to mkdocs.yml (it defaults to the cwd).
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
