"""Human edits and approvals survive ``forge draft`` (issue 11, point 4), and every stage reads a
post's front matter the same tolerant way (issue 10, point 5).

The project has week 1's notes, the blog skeleton and two stored runs made without running
anything, so each test drafts offline in well under a second.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from forge_cli import posts
from forge_cli.check import check_week
from forge_cli.config import load_settings
from forge_cli.drafting import DraftJob, draft_week
from forge_cli.errors import ForgeError
from forge_cli.review import approve_posts
from forge_cli.store import RunRecord, RunStore, now_iso
from forge_cli_harness import forge

REPO = Path(__file__).resolve().parents[1]
SCIENTIST = [DraftJob(post=1, edition="scientist")]
NEW_SENTENCE = "A sentence the author added to the notes after the first draft."


@pytest.fixture
def week1(project):
    shutil.copytree(REPO / "notes", project / "notes")
    shutil.copytree(REPO / "blog", project / "blog",
                    ignore=shutil.ignore_patterns("site", ".cache", "posts"))
    for seed in (0, 1):
        writer = RunStore(project / "runs").writer()
        writer.write_table("results/values", ["state", "value"], [["s0", 1.5], ["s1", 2.5]])
        writer.finish(RunRecord(
            id=writer.run_id, week=1, experiment="pi-vs-vi", seed=seed, profile="cpu",
            started_at=now_iso(), finished_at=now_iso(), duration_s=0.1, config={"gamma": 0.9},
            summary={"gridworld.vi.sweeps": 7.0 + seed}))
    return project


def post_path(root: Path, post: int = 1, edition: str = "scientist") -> Path:
    return root / "blog" / "docs" / "posts" / posts.post_file_name(1, post, edition)


def change_notes(root: Path) -> None:
    notes = root / "notes" / "week01.md"
    text = notes.read_text()
    notes.write_text(text.replace("## Key ideas\n", f"## Key ideas\n\n{NEW_SENTENCE}\n", 1))


def revisions(root: Path) -> list[Path]:
    return sorted((root / "blog" / "revisions").glob("*.md"))


# ---- edits: anything forge wrote ---------------------------------------------------------------

@pytest.mark.parametrize("edit", [
    lambda text: text.replace("title: ", "title: My own title, not ", 1),
    lambda text: text.replace("- Week 1\n", "- Week 1\n- Reading notes\n", 1),
    lambda text: text.replace("authors:", "description: What this post is about.\nauthors:", 1),
    lambda text: text.replace("draft: true", "draft: true  # check the figures first", 1),
], ids=["title", "category", "description", "comment"])
def test_a_front_matter_edit_is_kept_and_the_new_draft_goes_to_revisions(week1, edit):
    settings = load_settings()
    assert draft_week(settings, 1, SCIENTIST)[0].result.action == "created"
    post = post_path(week1)
    edited = edit(post.read_text())
    post.write_text(edited)
    assert posts.human_edited(edited)
    change_notes(week1)
    (outcome,) = draft_week(settings, 1, SCIENTIST)
    assert outcome.result.action == "revision"
    assert post.read_text() == edited
    (revision,) = revisions(week1)
    assert outcome.result.path == revision and NEW_SENTENCE in revision.read_text()


def test_a_post_exactly_as_drafted_is_updated_and_an_unchanged_one_left_alone(week1):
    settings = load_settings()
    draft_week(settings, 1, SCIENTIST)
    assert draft_week(settings, 1, SCIENTIST)[0].result.action == "unchanged"
    change_notes(week1)
    assert draft_week(settings, 1, SCIENTIST)[0].result.action == "updated"
    assert NEW_SENTENCE in post_path(week1).read_text() and not revisions(week1)


# ---- approvals ---------------------------------------------------------------------------------

def test_an_approved_post_is_never_redrafted(week1):
    settings = load_settings()
    draft_week(settings, 1, SCIENTIST)
    post = post_path(week1)
    approve_posts(settings, 1, [(1, "scientist")], force=True)
    approved = post.read_bytes()
    assert draft_week(settings, 1, SCIENTIST)[0].result.action == "unchanged"
    change_notes(week1)
    (outcome,) = draft_week(settings, 1, SCIENTIST, force=True)  # not even with --force
    assert outcome.result.action == "approved" and post.read_bytes() == approved
    assert NEW_SENTENCE in outcome.result.path.read_text()
    shown = forge("draft", "week1", "--post", "1", "--edition", "scientist",
                  "--provider", "offline")
    assert shown.code == 0, shown.stderr
    assert "left the approved post as it is" in shown.stdout and "revisions" in shown.stdout
    assert post.read_bytes() == approved and len(revisions(week1)) == 2


def test_approve_refuses_the_offline_draft_and_a_post_that_fails_check(week1):
    settings = load_settings()
    draft_week(settings, 1, [DraftJob(post=1, edition=e) for e in posts.EDITIONS])
    post = post_path(week1)
    drafted = post.read_bytes()
    with pytest.raises(ForgeError, match="still the offline draft") as refused:
        approve_posts(settings, 1, [(1, "scientist")])
    assert "\n" not in str(refused.value) and post.read_bytes() == drafted

    rewritten = "\n".join(line for line in post.read_text().splitlines()
                          if "Offline draft" not in line and not line.startswith("    "))
    rewritten += "\n\n```python\nv = max(q)\n```\n"  # the brief asks for a code walkthrough
    post.write_text(rewritten.replace("## Key ideas", "## Key ideas\n\nIt took 4817 sweeps.", 1))
    with pytest.raises(ForgeError, match="unsourced number: '4817'"):
        approve_posts(settings, 1, [(1, "scientist"), (1, "manager")])
    assert posts.draft_posts(week1 / "blog")  # all or nothing: the manager was not approved either
    post.write_text(rewritten)
    (approved,) = approve_posts(settings, 1, [(1, "scientist")])
    assert approved.draft is False and "draft: false" in post.read_text()

    cli = forge("approve", "week1", "--post", "1", "--edition", "manager")
    assert cli.code == 1 and len(cli.error_lines) == 1 and "--force" in cli.stderr
    forced = forge("approve", "week1", "--post", "1", "--edition", "manager", "--force")
    assert forced.code == 0 and "approved week01-post1-manager.md" in forced.stdout


# ---- backups and revisions never collide ------------------------------------------------------

class FrozenClock(datetime):
    @classmethod
    def now(cls, tz=None):
        return datetime(2026, 11, 24, 9, 0, 0, tzinfo=UTC)


def test_backups_and_revisions_made_in_the_same_second_never_collide(week1, monkeypatch):
    monkeypatch.setattr(posts, "datetime", FrozenClock)
    settings = load_settings()
    draft_week(settings, 1, SCIENTIST)
    post = post_path(week1)
    edits = []
    for n in (1, 2):
        edits.append(post.read_text() + f"\nMy edit number {n}.\n")
        post.write_text(edits[-1])
        draft_week(settings, 1, SCIENTIST)  # a revision each time
        assert draft_week(settings, 1, SCIENTIST, force=True)[0].result.action == "forced"
    backups = sorted((week1 / "blog" / "backups").glob("*.md"))
    assert [p.name for p in backups] == ["week01-post1-scientist.20261124-090000-2.md",
                                         "week01-post1-scientist.20261124-090000.md"]
    assert {p.read_text() for p in backups} == set(edits)
    assert len(revisions(week1)) == 2


# ---- one front-matter reader ---------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "---\ntitle: t\n---\nbody\n",
    "\ufeff---\ntitle: t\n---\nbody\n",
    "---\r\ntitle: t\r\n---\r\nbody\n",
    "---\ntitle: t\n...\nbody\n",
    "---  \ntitle: t\n---\t\nbody\n",
])
def test_front_matter_is_read_with_bom_crlf_and_dots(text):
    assert posts.split_front_matter(text) == ({"title": "t"}, "body\n")


def test_front_matter_that_is_not_there_or_not_a_mapping():
    assert posts.split_front_matter("no front matter\n") == (None, "no front matter\n")
    assert posts.split_front_matter("---\n- a list\n---\nbody") == (None, "body")
    assert posts.split_front_matter("---\ntitle: [open\n---\nbody") == (None, "body")


def test_check_reads_a_post_saved_by_a_windows_editor(week1):
    settings = load_settings()
    draft_week(settings, 1, SCIENTIST)
    post = post_path(week1)
    before = {(f.kind, f.message) for f in check_week(settings, 1)}
    post.write_bytes(b"\xef\xbb\xbf" + post.read_bytes().replace(b"\n", b"\r\n"))  # BOM, CRLF
    assert {(f.kind, f.message) for f in check_week(settings, 1)} == before
