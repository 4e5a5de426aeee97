"""The blog site: strict offline builds, drafts and approval, RSS, publishing (approved posts and
only the figures they show, swapped in whole), and math that really renders (headless Chromium
on the built site)."""

from __future__ import annotations

import functools
import html
import http.server
import os
import re
import shutil
import struct
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from forge_cli import posts as post_files
from forge_cli import site
from forge_cli.errors import BadInput, ForgeError

BLOG = Path(__file__).resolve().parents[1] / "blog"
ALGORITHMS_SOURCE = BLOG.parent  # the folder holding algorithms/, for code excerpts
VALUE_ITERATION = BLOG.parent / "algorithms" / "mdp" / "dynamic_programming.py"
URL = "https://blog.example.org/forge/"

SCIENTIST = """\
---
title: "Decision Making 101: How AI Learns to Choose"
date: 2026-11-24
categories: [Week 1, Scientist, mdp]
authors: [forge]
slug: week01-post1-scientist
draft: true   # flipped by forge approve
forge: {week: 1, post: 1, edition: scientist, companion: week01-post1-manager.md, run_ids: [r-0001, r-0002], git_sha: 0123abcd, template_hash: feedbeef, provider: offline, model: null, usage: {input_tokens: 0, output_tokens: 0}, text_sha256: "00ff", drafted_at: "2026-11-24T09:00:00Z"}
---

!!! abstract "What to know"
    - **sweeps value iteration needs:** 87
    - **sweeps policy iteration needs:** 4

<!-- more -->

# Decision Making 101: How AI Learns to Choose

A Markov decision process is a tuple $(\\mathcal{S}, \\mathcal{A}, P, R, \\gamma)$, and the value
of a policy satisfies the Bellman equation. THE-BODY-STARTS-HERE.

## The Bellman equation

$$
V^\\pi(s) = \\sum_{a} \\pi(a \\mid s) \\sum_{s'} P(s' \\mid s, a)\\,\\bigl[R(s, a, s') + \\gamma V^\\pi(s')\\bigr]
$$

Value iteration stops once $\\|V_{k+1} - V_k\\|_\\infty < \\epsilon$. A run costs $5 on a laptop.

{{ code:algorithms/mdp/dynamic_programming.py::value_iteration }}

| method | iterations | final error |
|---|---:|---:|
| value iteration | 87 | 1e-8 |
| policy iteration | 4 | 0 |

![Value iteration converges geometrically](figures/week01/convergence.png)

Figure 1 and Table 1 show it again, as forge writes them:

<figure class="forge-figure" markdown="span">
![Figure 1: Error against sweeps](figures/week01/convergence.png){ loading=lazy }
<figcaption>Figure 1: Error against sweeps</figcaption>
</figure>

<div class="forge-table" markdown>

**Table 1:** Cost to converge (deterministic, one run)

| env | gamma | algorithm | update | sweeps_to_eps | backups_to_eps | ms_to_eps | improvements | sweeps_total | final_error |
|---|---|---|---|---|---|---|---|---|---|
| gridworld4x4 | 0.9 | MPI k=5 | synchronous | 16 | 392 | 0.51 | 5 | 18 | 0 |

</div>

Read the [manager edition](week01-post1-manager.md) for the takeaways.

!!! info "Reproduce"
    ```bash
    forge run week1 --profile cpu --seeds 0
    ```
"""

MANAGER = """\
---
title: "Decision Making 101: What It Means for Your Team"
date: 2026-11-24
categories: [Week 1, Manager, mdp]
authors: [forge]
slug: week01-post1-manager
draft: false
forge: {week: 1, post: 1, edition: manager, companion: week01-post1-scientist.md, provider: offline, model: null}
---

# Decision Making 101: What It Means for Your Team

An agent that plans ahead beats one that grabs the nearest reward. The
[scientist edition](week01-post1-scientist.md) has the maths.
"""

# Material's own JavaScript bundle names two lazy loaders that never run here: mermaid (only
# for ```mermaid diagrams with a custom fence, which this blog does not configure) and a
# ResizeObserver polyfill (only in browsers without ResizeObserver).
MATERIAL_LAZY_LOADERS = {"https://unpkg.com/mermaid", "https://unpkg.com/resize-observer-polyfill"}
# GLightbox's bundle names the Plyr video player's CDN files, loaded only for a video slide; every
# lightbox link forge's site has is an image (data-type="image", checked below).
GLIGHTBOX_LAZY_LOADERS = {"https://cdn.plyr.io/"}
CDN = re.compile(r"[\w.-]*(?:cdn\.|cdnjs|fonts\.googleapis|fonts\.gstatic|jsdelivr|unpkg)[^\s\"'`)<>]*")


def with_code(post: str) -> str:
    """The post with its code placeholder filled as ``forge draft`` fills it: the real source."""
    from forge_cli.code_refs import CodeSource, fill_code

    key = "algorithms/mdp/dynamic_programming.py::value_iteration"
    return post.replace("{{ code:%s }}" % key,
                        fill_code(key, CodeSource(root=ALGORITHMS_SOURCE, commit="0123abcd")))


def make_blog(root: Path) -> Path:
    """A copy of the real blog configuration with the two fixture posts and a figure."""
    blog = root / "blog"
    shutil.copytree(BLOG, blog, ignore=shutil.ignore_patterns("site", ".cache", "__pycache__"))
    posts = blog / "docs" / "posts"
    if posts.exists():
        shutil.rmtree(posts)  # the real drafts are not part of the fixture
    (posts / "figures" / "week01").mkdir(parents=True)
    (posts / "week01-post1-scientist.md").write_text(with_code(SCIENTIST))
    (posts / "week01-post1-manager.md").write_text(MANAGER)

    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    steps = np.arange(100)
    ax.plot(steps, np.exp(-steps / 15), label="value iteration")
    ax.set(xlabel="iteration", ylabel="error", yscale="log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(posts / "figures" / "week01" / "convergence.png")
    plt.close(fig)
    (posts / "figures" / "week02").mkdir()  # a figure no post shows (a week not drafted yet)
    shutil.copy(posts / "figures" / "week01" / "convergence.png",
                posts / "figures" / "week02" / "stale.png")
    return blog


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One blog, built twice: with drafts (preview) and without (what would be published)."""
    root = tmp_path_factory.mktemp("site")
    blog = make_blog(root)
    return {
        "blog": blog,
        "drafts": site.build_site(blog, root / "with-drafts", include_drafts=True),
        "public": site.build_site(blog, root / "public"),
    }


@pytest.fixture
def blog(tmp_path):
    return make_blog(tmp_path)


def git(*args: str, cwd: Path | None = None) -> str:
    out = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd,
                         capture_output=True, text=True, check=True)
    return out.stdout


# --- posts --------------------------------------------------------------------------------------


def test_list_posts_reads_front_matter(blog):
    posts = post_files.list_posts(blog)
    assert [(p.week, p.post, p.edition, p.draft) for p in posts] == [
        (1, 1, "scientist", True), (1, 1, "manager", False)]
    assert posts[0].title == "Decision Making 101: How AI Learns to Choose"
    assert posts[0].path == blog / "docs" / "posts" / "week01-post1-scientist.md"
    assert post_files.draft_posts(blog) == [posts[0].path]


def test_set_draft_changes_only_the_draft_line(tmp_path):
    post = tmp_path / "week02-post1-manager.md"
    original = SCIENTIST.replace("\n", "\r\n").encode()  # CRLF and a comment must survive
    post.write_bytes(original)
    assert post_files.set_draft(post, False) is True
    changed = post.read_bytes()
    assert changed == original.replace(b"draft: true   # flipped", b"draft: false   # flipped")
    assert post_files.set_draft(post, False) is False and post.read_bytes() == changed
    assert post_files.set_draft(post, True) is True and post.read_bytes() == original
    assert post_files.read_front_matter(post)["forge"]["run_ids"] == ["r-0001", "r-0002"]

    bare = tmp_path / "bare.md"
    bare.write_text("---\ntitle: x\n---\n\nbody draft: true\n")
    assert post_files.set_draft(bare, False) is False  # no draft key: already published
    assert post_files.set_draft(bare, True) is True
    assert bare.read_text() == "---\ntitle: x\ndraft: true\n---\n\nbody draft: true\n"


def test_finding_an_unknown_post_is_one_line_error(blog):
    with pytest.raises(ForgeError) as error:
        post_files.find_post(blog, 3, 1, "scientist")
    assert "week 3 post 1" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(BadInput):
        post_files.find_post(blog, 1, 1, "intern")


def test_serve_command_shows_drafts(blog):
    argv = site.serve_command(blog, "127.0.0.1:8123")
    assert argv[:4] == [sys.executable, "-m", "mkdocs", "serve"]
    assert argv[argv.index("--dev-addr") + 1] == "127.0.0.1:8123"
    assert argv[argv.index("--config-file") + 1] == str((blog / "mkdocs.yml").resolve())


# --- build --------------------------------------------------------------------------------------


def test_build_includes_drafts_only_when_asked(built):
    drafts, public = built["drafts"], built["public"]
    post = drafts / "blog" / "week01-post1-scientist" / "index.html"
    assert post.is_file()
    html = post.read_text()
    assert 'class="arithmatex"' in html and "highlight" in html and "<table>" in html
    assert 'src="../figures/week01/convergence.png"' in html
    assert (drafts / "blog" / "figures" / "week01" / "convergence.png").is_file()
    # A post's figures ship with a page that shows them: not a draft's, not one no post uses.
    assert not (public / "blog" / "figures" / "week01" / "convergence.png").exists()
    assert not list(drafts.rglob("stale.png")) and not list(public.rglob("stale.png"))
    assert 'href="../week01-post1-manager/"' in html  # companion link resolved to its page

    assert not (public / "blog" / "week01-post1-scientist").exists()
    assert (public / "blog" / "week01-post1-manager" / "index.html").is_file()
    assert "How AI Learns to Choose" not in (public / "blog" / "index.html").read_text()
    # The approved manager post's link to its draft companion becomes text, not a dead link.
    manager = (public / "blog" / "week01-post1-manager" / "index.html").read_text()
    assert 'href="../week01-post1-scientist/"' not in manager
    assert '<span class="forge-unpublished" title="Not published yet">scientist edition</span>' in manager
    assert 'href="../week01-post1-scientist/"' in (
        drafts / "blog" / "week01-post1-manager" / "index.html").read_text()
    assert "week01-post1-scientist" not in (public / "feed_rss_created.xml").read_text()
    assert "week01-post1-scientist" not in (public / "sitemap.xml").read_text()


# --- the post frame (issue 12, point 5) ------------------------------------------------------


def page(built, name: str, which: str = "drafts") -> str:
    return (built[which] / "blog" / name / "index.html").read_text()


def test_a_post_opens_with_what_to_know_and_the_index_shows_only_its_excerpt(built):
    html = page(built, "week01-post1-scientist")
    box = html.index('<div class="admonition abstract">')
    assert '<p class="admonition-title">What to know</p>' in html[box:]
    assert box < html.index("THE-BODY-STARTS-HERE")
    index = (built["drafts"] / "blog" / "index.html").read_text()
    assert "What to know" in index and "sweeps value iteration needs" in index
    assert "Continue reading" in index and 'href="week01-post1-scientist/"' in index
    assert "THE-BODY-STARTS-HERE" not in index and "<table>" not in index


def test_figures_are_numbered_and_zoom_in_a_lightbox_shipped_with_the_site(built):
    html = page(built, "week01-post1-scientist")
    assert re.search(r'<a class="glightbox"[^>]*href="../figures/week01/convergence.png"', html)
    assert "<figcaption>Figure 1: Error against sweeps</figcaption>" in html
    assert re.search(r'<script src="../../assets/javascripts/glightbox.min.js"', html)
    assert re.search(r'<link href="../../assets/stylesheets/glightbox.min.css"', html)
    assert 'id="init-glightbox"' in html
    assets = built["drafts"] / "assets"
    assert (assets / "javascripts" / "glightbox.min.js").stat().st_size > 10_000
    assert (assets / "stylesheets" / "glightbox.min.css").is_file()


def test_tables_are_numbered_and_scroll_sideways_on_a_phone(built):
    html = page(built, "week01-post1-scientist")
    wrapper = re.search(r'<div class="forge-table">\s*<p><strong>Table 1:</strong> Cost to '
                        r'converge \(deterministic, one run\)</p>\s*<table>', html)
    assert wrapper, "the table is not in its scrollable, captioned box"
    assert 'href="../../assets/stylesheets/post-frame.css"' in html
    css = (built["drafts"] / "assets" / "stylesheets" / "post-frame.css").read_text()
    assert re.search(r"\.forge-table \{[^}]*overflow-x: auto", css)


def test_the_reproduce_box_ends_the_post(built):
    html = page(built, "week01-post1-scientist")
    assert '<p class="admonition-title">Reproduce</p>' in html
    assert html.index("Reproduce</p>") > html.index("THE-BODY-STARTS-HERE")


def test_only_an_approved_posts_byline_claims_a_human_review(built):
    draft = page(built, "week01-post1-scientist")  # draft: true
    assert "Draft, not yet reviewed" in draft and "reviewed by a human" not in draft
    approved = page(built, "week01-post1-manager", "public")  # draft: false
    assert "reviewed by a human" in approved and "not yet reviewed" not in approved
    for path in built["public"].rglob("*.html"):  # a published site names no draft byline
        assert "not yet reviewed" not in path.read_text(), path


def test_a_lone_edition_builds_and_its_missing_companion_is_plain_text(blog, tmp_path):
    (blog / "docs" / "posts" / "week01-post1-manager.md").unlink()
    out = site.build_site(blog, tmp_path / "out", include_drafts=True)
    html = (out / "blog" / "week01-post1-scientist" / "index.html").read_text()
    assert '<span class="forge-unpublished" title="Not drafted yet">manager edition</span>' in html
    assert "week01-post1-manager" not in html


def test_built_site_references_no_cdn_or_font_host(built):
    for root in (built["drafts"], built["public"]):
        for path in root.rglob("*"):
            if path.suffix not in (".html", ".css", ".js", ".xml", ".json"):
                continue
            hits = set(CDN.findall(path.read_text(errors="replace")))
            if path.name.startswith("bundle.") and path.parent.name == "javascripts":
                lazy = tuple(url.split("//")[1] for url in MATERIAL_LAZY_LOADERS)
                hits = {hit for hit in hits if not hit.startswith(lazy)}
            if path.name == "glightbox.min.js":
                lazy = tuple(url.split("//")[1] for url in GLIGHTBOX_LAZY_LOADERS)
                hits = {hit for hit in hits if not hit.startswith(lazy)}
            assert not hits, f"{path.relative_to(root)} references {sorted(hits)}"
        for page in root.rglob("*.html"):
            html = page.read_text()
            assert not re.search(r"<(?:script|img)[^>]+src=\"https?://", html), page
            assert not re.search(r"<link[^>]+href=\"https?://(?!127\.0\.0\.1)", html), page
            for link in re.findall(r'<a class="glightbox"[^>]*>', html):
                assert 'data-type="image"' in link, (page, link)  # never Plyr's video player
    katex = built["drafts"] / "assets" / "katex"
    assert (katex / "katex.min.js").is_file() and (katex / "contrib" / "auto-render.min.js").is_file()
    assert any((katex / "fonts").glob("KaTeX_Main-Regular.woff2"))


def test_approve_publishes_the_post_and_its_feed_entry(blog, tmp_path):
    post_files.set_draft(blog / "docs" / "posts" / "week01-post1-scientist.md", False)
    assert post_files.draft_posts(blog) == []
    out = site.build_site(blog, tmp_path / "out", site_url="https://blog.example.org/forge")
    assert (out / "blog" / "week01-post1-scientist" / "index.html").is_file()
    feed = (out / "feed_rss_created.xml").read_text()
    assert "<title>Decision Making 101: How AI Learns to Choose</title>" in feed
    assert "https://blog.example.org/forge/blog/week01-post1-scientist/" in feed
    assert "Tue, 24 Nov 2026" in feed  # the front-matter date, not the git or build time
    assert "<url>https://blog.example.org/forge/assets/forge-logo.png</url>" in feed


def test_build_failure_reports_mkdocs_warnings(blog):
    post = blog / "docs" / "posts" / "week01-post1-manager.md"
    post.write_text(post.read_text() + "\nSee [the appendix](week09-appendix.md).\n")
    with pytest.raises(ForgeError) as error:
        site.build_site(blog, include_drafts=True)
    message = str(error.value)
    assert message.startswith("mkdocs build --strict failed")
    assert "WARNING" in message and "week09-appendix.md" in message


# --- publish ------------------------------------------------------------------------------------


def tree(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes()
            for path in sorted(root.rglob("*")) if path.is_file()}


def test_publish_ships_approved_posts_and_holds_drafts_back(blog, tmp_path):
    posts = blog / "docs" / "posts"
    figures = posts / "figures" / "week01"
    shutil.copy(figures / "convergence.png", figures / "used.png")
    manager = posts / "week01-post1-manager.md"
    manager.write_text(manager.read_text() + "\n![What it means](figures/week01/used.png)\n")
    out = tmp_path / "out"

    line = site.publish(blog, to=out, site_url=URL)
    assert "published 1 post(s), 1 draft(s) held back" in line and "\n" not in line
    assert (out / "blog" / "week01-post1-manager" / "index.html").is_file()
    assert not (out / "blog" / "week01-post1-scientist").exists()
    figures = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")
                     if "figures" in p.parts)
    assert figures == ["blog/figures/week01/used.png"]  # not the draft's, not the stale one
    assert URL + "blog/week01-post1-manager/" in (out / "feed_rss_created.xml").read_text()


def test_publish_needs_a_destination_and_the_site_url(blog, tmp_path):
    post_files.set_draft(blog / "docs" / "posts" / "week01-post1-scientist.md", False)
    with pytest.raises(ForgeError, match="destination"):
        site.publish(blog, site_url=URL)
    with pytest.raises(ForgeError) as error:
        site.publish(blog, to=tmp_path / "out")  # canonical and feed links would be 127.0.0.1
    assert "site.url is not set" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(BadInput, match="not an http"):
        site.publish(blog, to=tmp_path / "out", site_url="blog.example.org")
    assert not (tmp_path / "out").exists()
    post_files.set_draft(blog / "docs" / "posts" / "week01-post1-scientist.md", True)
    post_files.set_draft(blog / "docs" / "posts" / "week01-post1-manager.md", True)
    with pytest.raises(ForgeError, match="nothing to publish"):
        site.publish(blog, to=tmp_path / "out", site_url=URL)


def test_an_interrupted_export_leaves_the_previous_one_whole(blog, tmp_path, monkeypatch):
    export = tmp_path / "export"
    site.publish(blog, to=export, site_url=URL)
    before = tree(export)
    post_files.set_draft(blog / "docs" / "posts" / "week01-post1-scientist.md", False)
    copytree, copied = shutil.copytree, []

    def copy(source, target):
        if len(copied) == 3:
            raise KeyboardInterrupt
        copied.append(shutil.copy2(source, target))

    def copy_three_files_then_stop(src, dst, *args, **kwargs):
        if not args:  # the first call; copytree recurses with every argument given
            kwargs["copy_function"] = copy
        return copytree(src, dst, *args, **kwargs)

    monkeypatch.setattr(shutil, "copytree", copy_three_files_then_stop)
    with pytest.raises(KeyboardInterrupt):
        site.publish(blog, to=export, site_url=URL)
    assert tree(export) == before  # neither emptied first nor half replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blog", "export"]  # no staging left
    monkeypatch.setattr(shutil, "copytree", copytree)
    site.publish(blog, to=export, site_url=URL)
    assert (export / "blog" / "week01-post1-scientist" / "index.html").is_file()
    assert oct(export.stat().st_mode & 0o777) == oct(0o755)


def test_publish_to_gh_pages_and_folder(blog, tmp_path):
    git("init", "--quiet", cwd=blog)
    git("add", ".", cwd=blog)
    git("commit", "--quiet", "-m", "blog", cwd=blog)
    sha = git("rev-parse", "--short=12", "HEAD", cwd=blog).strip()
    remote = tmp_path / "remote.git"
    git("init", "--quiet", "--bare", str(remote))
    post_files.set_draft(blog / "docs" / "posts" / "week01-post1-scientist.md", False)
    export = tmp_path / "export"

    line = site.publish(blog, remote=str(remote), to=export, site_url=URL)
    assert "\n" not in line and str(remote) in line and str(export) in line and "2 post(s)" in line
    files = git("--git-dir", str(remote), "ls-tree", "-r", "--name-only", "gh-pages").split()
    assert {"index.html", ".nojekyll", "blog/week01-post1-scientist/index.html",
            "feed_rss_created.xml"} <= set(files)
    assert not any(name.startswith(".forge-export") for name in files)
    message = git("--git-dir", str(remote), "log", "-1", "--format=%s", "gh-pages")
    assert sha in message  # names the source commit (+dirty: approve changed a post)
    assert (export / "index.html").is_file()
    assert (export / "blog" / "week01-post1-manager" / "index.html").is_file()

    # Publishing again replaces the previous export; a folder forge did not write is refused.
    (export / "stale.html").write_text("old")
    site.publish(blog, to=export, site_url=URL)
    assert not (export / "stale.html").exists() and (export / "index.html").is_file()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(ForgeError, match="not empty"):
        site.publish(blog, to=foreign, site_url=URL)
    assert (foreign / "keep.txt").read_text() == "mine"


# --- the math really renders --------------------------------------------------------------------


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


@pytest.fixture(scope="module")
def chromium():
    path = find_chromium()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (CI installs it: apt-get install chromium)")
        pytest.skip("chromium is not installed")
    return path


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served(built):
    handler = functools.partial(QuietHandler, directory=str(built["drafts"]))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def run_chromium(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--no-first-run", "--no-default-browser-check", "--hide-scrollbars",
               f"--user-data-dir={profile}", "--virtual-time-budget=10000", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=90)


def test_post_renders_math_and_figure_in_chromium(chromium, served, tmp_path):
    url = f"{served}/blog/week01-post1-scientist/"
    dom = run_chromium(chromium, tmp_path / "profile", "--dump-dom", url).stdout
    assert "Decision Making 101" in dom, dom[-2000:]
    assert dom.count('class="katex"') >= 3  # two inline formulas and the display equation
    assert 'class="katex-display"' in dom
    assert "$$" not in dom
    assert not re.search(r'class="arithmatex">\s*\\[\[(]', dom)  # no formula left as raw TeX
    assert "A run costs $5 on a laptop." in dom  # a lone dollar sign is not math
    image = re.search(r'<img [^>]*src="([^"]*convergence\.png)"', dom)
    assert image, "figure <img> missing"
    assert "<figcaption>Value iteration converges geometrically</figcaption>" in dom
    with urllib.request.urlopen(urllib.parse.urljoin(url, image.group(1)), timeout=10) as reply:
        assert reply.read(8) == b"\x89PNG\r\n\x1a\n"
    # The frame: the "What to know" box, the figures in their (offline) lightbox links.
    assert re.search(r'<p class="admonition-title">What to know</p>', dom)
    assert re.search(r'<a class="glightbox"[^>]*href="[^"]*convergence\.png"', dom)
    lightbox = re.search(r'<script src="([^"]*glightbox\.min\.js)"', dom)
    assert lightbox, "glightbox script missing"
    with urllib.request.urlopen(urllib.parse.urljoin(url, lightbox.group(1)), timeout=10) as reply:
        assert b"GLightbox" in reply.read()
    # A code block whose every line stands in algorithms/ (the excerpt forge filled in).
    code = next((html.unescape(re.sub(r"<[^>]+>", "", block))
                 for block in re.findall(r"<pre[^>]*>(.*?)</pre>", dom, re.S)
                 if "value_iteration" in block), None)
    assert code, "no code block with value_iteration"
    source = VALUE_ITERATION.read_text()
    lines = [line.strip() for line in code.splitlines() if line.strip()]
    assert len(lines) > 5 and all(line in source for line in lines), lines
    index = run_chromium(chromium, tmp_path / "profile", "--dump-dom", f"{served}/blog/").stdout
    assert "What to know" in index and "Continue reading" in index
    assert "THE-BODY-STARTS-HERE" not in index  # the excerpt, not the whole post

    shot = tmp_path / "post.png"
    run_chromium(chromium, tmp_path / "profile", "--window-size=1280,2000", f"--screenshot={shot}", url)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", data[16:24]) == (1280, 2000)
    assert len(data) > 30_000  # a rendered page, not a blank one
    if keep := os.environ.get("KEEP_SITE_SCREENSHOT"):
        shutil.copy(shot, keep)
