"""Per-post picks (issue 12, point 1): the notes say, per post, its angle and which facts, figures,
tables and code it uses; bad picks are one line and write nothing; week 1's two posts are two
posts, each built from its own picks; the manager edition speaks plainly, states its limitation
and links its references."""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from pathlib import Path

import pytest

from forge_cli.config import load_settings
from forge_cli.curriculum import load_curriculum
from forge_cli.draft_context import build_context, notes_sections
from forge_cli.drafting import DraftJob, draft_week
from forge_cli.errors import BadInput
from forge_cli.facts import FactsTable
from forge_cli.notes import notes_picks
from forge_cli.post_picks import Section, check_post_picks, plan_post
from forge_cli.posts import split_front_matter
from forge_cli.templating import render
from forge_cli_harness import assert_one_line_error, forge, tree_fingerprint

REPO = Path(__file__).resolve().parents[1]
ALL_JOBS = [DraftJob(post=p, edition=e) for p in (1, 2) for e in ("scientist", "manager")]
VALUE_ITERATION = "algorithms/mdp/dynamic_programming.py::value_iteration"



def bodies(project: Path) -> dict[str, str]:
    return {path.name: split_front_matter(path.read_text())[1]
            for path in sorted((project / "blog/docs/posts").glob("*.md"))}


def with_front_matter(project: Path, front_matter: str) -> None:
    """The week-1 notes with ``front_matter`` in place of theirs."""
    notes = project / "notes" / "week01.md"
    body = split_front_matter(notes.read_text(encoding="utf-8"))[1]
    notes.write_text(f"---\n{front_matter}\n---\n{body}", encoding="utf-8")


# ---- the schema -----------------------------------------------------------------------------

@pytest.mark.parametrize("front_matter, needles", [
    ("posts: {1: {figurs: []}}", ("posts.1", "figurs", "figures")),
    ("posts: {1: {facts: 5}}", ("'posts.1.facts' must be a list of fact keys", "not 5")),
    ("posts: {1: 'value iteration'}", ("'posts.1' must be a map of picks",)),
    ("posts: one", ("'posts' must be a map of post numbers",)),
    ("posts: {3: {angle: x}}", ("post 3", "week 1 has posts 1, 2")),
    ("posts: {1: {sections: [Nowhere]}}", ("posts.1.sections", "no '## Nowhere' section")),
    ("posts: {1: {code: ['value_iteration']}}", ("posts.1.code", "PATH.py::SYMBOL")),
    ("posts: {1: {facts: [a], plain_facts: [b]}}", ("posts.1.plain_facts", "'b'")),
    ("posts: {2: {angle: [1, 2]}}", ("'posts.2.angle' must be text",)),
    ("plain_labels: [a, b]", ("'plain_labels' must be a map of fact keys to labels",)),
    ("references: [{title: S&B, url: 'ftp://x', why: y}]", ("references", "http(s)")),
    ("references: [{title: S&B, url: 'https://x'}]", ("'references.0' lacks 'why'",)),
    ("headline_facts: 5", ("headline_facts", "must be a list")),
    ("posts: [unclosed", ("not a YAML mapping",)),
])
def test_bad_picks_are_one_line_and_write_nothing(week1, front_matter, needles):
    with_front_matter(week1, front_matter)
    with pytest.raises(BadInput) as caught:
        draft_week(load_settings(), 1, ALL_JOBS)
    assert "\n" not in str(caught.value)
    assert not (week1 / "blog/docs/posts").exists() or not bodies(week1)
    before = tree_fingerprint(week1)
    outcome = forge("draft", "week1", "--provider", "offline")
    assert_one_line_error(outcome, "week01.md", *needles)
    assert tree_fingerprint(week1) == before


def test_the_notes_template_has_every_slot_and_marks_its_stubs(project):
    """`forge notes` writes picks that validate as they stand (drafting from them works and
    `forge check` lists the stubs); every stub value starts with "TODO:"."""
    settings = load_settings()
    for week in load_curriculum().weeks:
        text = render(settings, "notes.md.j2", week=week)
        meta = split_front_matter(text)[0]
        picks = notes_picks(meta, Path("notes.md"))
        sections = notes_sections(text)
        check_post_picks(picks, week, {name: s.title for name, s in sections.items()},
                         Path("notes.md"))
        assert sorted(picks.posts) == [post.number for post in week.posts]
        for number, post in picks.posts.items():
            assert all(value.startswith("TODO:") for value in
                       (post.angle, post.tldr, post.plain_tldr, post.limitation))
            assert post.facts and all(item.startswith("TODO:") for item in post.facts)
            assert post.sections and post.plain_sections and post.code == []
            assert sections[f"post {number}"].text.startswith("TODO:")
        assert picks.references[0].title.startswith("TODO:")
        assert "TODO" in picks.plain_labels


# ---- resolving picks --------------------------------------------------------------------------

def test_inline_placements_are_not_repeated_and_numbering_follows_them():
    week = load_curriculum().week(1)
    picks = notes_picks({"posts": {1: {
        "sections": ["walkthrough"], "figures": ["a/one", {"a/two": "the second"}, "a/gone"],
        "tables": ["a/t"], "code": [VALUE_ITERATION, "algorithms/mdp/mdp.py:1-5"]}}},
        Path("notes.md"))
    walkthrough = Section(title="Walkthrough", text=(
        "Figure 1 first.\n\n{{ figure:a/one }}\n\n{{ code:" + VALUE_ITERATION + " }}\n"))
    plan = plan_post(picks, week, 1, "scientist", FactsTable(week=1, facts={}),
                     {"a/one": "One: c.", "a/two": "Two: c."}, {"a/t": 3},
                     {"walkthrough": walkthrough})
    assert plan.placed == ["figure:a/one", f"code:{VALUE_ITERATION}"]
    assert [(p.key, p.number, p.text) for p in plan.figures] == [("a/two", 2, "the second")]
    assert [(p.key, p.number) for p in plan.tables] == [("a/t", 1)]
    assert [p.key for p in plan.code] == ["algorithms/mdp/mdp.py:1-5"]
    assert plan.all_figures == ["a/one", "a/two"] and plan.facts_table_number == 2
    # A figure the prose places but the runs lack is left out with its line, as any pick is.
    lacking = plan_post(picks, week, 1, "scientist", FactsTable(week=1, facts={}),
                        {"a/two": "Two: c."}, {}, {"walkthrough": walkthrough})
    assert "a/one" not in lacking.sections[0].text and "Figure 1 first." in lacking.sections[0].text
    assert [(p.key, p.number) for p in lacking.figures] == [("a/two", 1)]
    manager = plan_post(picks, week, 1, "manager", FactsTable(week=1, facts={}),
                        {"a/one": "One: c.", "a/two": "Two: c."}, {"a/t": 3},
                        {"walkthrough": walkthrough})
    assert manager.code == [] and manager.tables == []


def test_the_older_headline_picks_are_every_posts_default(week1):
    with_front_matter(week1, "headline_facts:\n  - book-examples.gambler.v50: the gambler\n"
                             "headline_figures: [book-examples/book/gambler]\nheadline_tables: []")
    settings = load_settings()
    for post in (1, 2):
        plan = build_context(settings, 1, post, "scientist").plan
        assert [(p.key, p.text) for p in plan.facts] == [("book-examples.gambler.v50",
                                                          "the gambler")]
        # (the default sections still place what their prose places)
        assert [pick.key for pick in plan.figures] == ["book-examples/book/gambler"]
        assert plan.tables == []


# ---- week 1's posts -------------------------------------------------------------------------

def test_week1_posts_have_their_own_bodies_and_picks(week1):
    outcomes = draft_week(load_settings(), 1, ALL_JOBS)
    assert [o.result.action for o in outcomes] == ["created"] * 4
    written = bodies(week1)
    for edition in ("scientist", "manager"):
        one, two = (written[f"week01-post{p}-{edition}.md"] for p in (1, 2))
        assert SequenceMatcher(None, one, two, autojunk=False).ratio() < 0.6, edition
    post1, post2 = written["week01-post1-scientist.md"], written["week01-post2-scientist.md"]
    # Post 1 walks through value iteration's code and shows it sweep by sweep.
    assert "def value_iteration(" in post1 or f"{{{{ code:{VALUE_ITERATION} }}}}" in post1
    assert "book-examples__book__gridworld4x4_random_policy" in post1
    assert "def policy_iteration(" not in post1 and "compare__ms_to_eps" not in post1
    # Post 2 compares value and policy iteration, in code and in wall time.
    assert "compare__ms_to_eps" in post2 and "Figure 3" in post2
    assert "def policy_iteration(" in post2 or "policy_iteration }}" in post2
    assert "def value_iteration(" not in post2
    cited = {name: split_front_matter((week1 / "blog/docs/posts" / name).read_text())[0]
             ["forge"]["facts"] for name in written}
    assert all(key.startswith("book-examples.") for key in cited["week01-post1-scientist.md"])
    assert all(key.startswith(("pi-vs-vi.", "convergence."))
               for key in cited["week01-post2-scientist.md"])
    for post in (1, 2):
        assert cited[f"week01-post{post}-manager.md"]
        assert set(cited[f"week01-post{post}-manager.md"]) <= set(
            cited[f"week01-post{post}-scientist.md"])


def test_week1_manager_editions_speak_plainly_state_a_limitation_and_link_references(week1):
    draft_week(load_settings(), 1, ALL_JOBS)
    written = bodies(week1)
    notes = split_front_matter((week1 / "notes/week01.md").read_text())[0]
    for post in (1, 2):
        manager = written[f"week01-post{post}-manager.md"]
        scientist = written[f"week01-post{post}-scientist.md"]
        for key in split_front_matter((week1 / "blog/docs/posts" / f"week01-post{post}-manager.md")
                                      .read_text())[0]["forge"]["facts"]:
            plain, label = notes["plain_labels"][key], notes["labels"][key]
            assert " ".join(plain.split()) in manager and label not in manager
            assert " ".join(label.split()) in scientist
        assert "## The limitation" in manager and "## Where it falls short" in scientist
        limitation = notes["posts"][post]["limitation"]
        assert limitation in manager and limitation in scientist
        links = re.findall(r"^- \[[^\]]+\]\((https?://[^)]+)\): \S", manager, re.MULTILINE)
        assert links == [reference["url"] for reference in notes["posts"][post]["references"]]
        assert "\n$$" not in manager and "```python" not in manager  # no equations, no code
        # figures are captioned in the notes' plain words, not the run's scientific caption
        for pick in notes["posts"][post].get("plain_figures", []):
            (key, text), = pick.items() if isinstance(pick, dict) else [(pick, "")]
            captions = re.findall(r"<figcaption>Figure \d+: ([^<]+)</figcaption>", manager)
            if text:
                plain = " ".join(text.split())[:40].lower()
                assert any(plain in caption.lower() for caption in captions), key


def test_a_post_that_waits_is_not_drafted_and_says_why(week1):
    notes = week1 / "notes/week01.md"
    text = notes.read_text().replace(
        "posts:\n  1:\n", "posts:\n  1:\n    waiting: the week-1 experiments\n", 1)
    assert "waiting:" in text
    notes.write_text(text)
    outcomes = draft_week(load_settings(), 1, ALL_JOBS)
    waiting = [o for o in outcomes if o.job.post == 1]
    assert waiting and all(o.waiting == "the week-1 experiments" and o.result is None
                           for o in waiting)
    assert not (week1 / "blog/docs/posts/week01-post1-scientist.md").exists()
    assert (week1 / "blog/docs/posts/week01-post2-scientist.md").exists()


def test_facts_of_a_seed_study_say_they_are_means_over_its_seeds():
    from forge_cli.facts import build_facts
    from forge_cli.store import RunRecord, now_iso

    def record(experiment: str, config: dict) -> RunRecord:
        return RunRecord(id=experiment, week=6, experiment=experiment, seed=0, profile="cpu",
                         started_at=now_iso(), finished_at=now_iso(), duration_s=1.0,
                         config=config, summary={"final_return": 400.0})

    facts = build_facts(6, [record("a2c-vs-reinforce", {"n_seeds": 3}),
                            record("a2c-cartpole", {"seed": 0})]).facts
    assert facts["a2c-vs-reinforce.final_return"].seeds_in_run == 3
    assert facts["a2c-cartpole.final_return"].seeds_in_run == 1


def test_a_picked_heading_written_twice_is_one_line_and_writes_nothing(week1):
    """Two posts' '## Key ideas' would leave one post drafted from the other's text."""
    notes = week1 / "notes/week01.md"
    text = notes.read_text()
    heading = next(line for line in text.splitlines() if line.startswith("## ")
                   and not line.startswith("## Post"))
    notes.write_text(f"{text}\n{heading}\n\nThe same heading again.\n")
    before = tree_fingerprint(week1)
    outcome = forge("draft", "week1", "--provider", "offline")
    assert_one_line_error(outcome, "week01.md", "more than one", heading[3:])
    assert tree_fingerprint(week1) == before


@pytest.mark.parametrize("notes", sorted((REPO / "notes").glob("week*.md")),
                         ids=lambda path: path.stem)
def test_the_shipped_notes_pick_no_repeated_heading(notes):
    from forge_cli.draft_context import repeated_headings

    text = notes.read_text(encoding="utf-8")
    week = load_curriculum().week(int(notes.stem.removeprefix("week")))
    titles = {name: section.title for name, section in notes_sections(text).items()}
    check_post_picks(notes_picks(split_front_matter(text)[0], notes), week, titles, notes,
                     repeated_headings(text))
