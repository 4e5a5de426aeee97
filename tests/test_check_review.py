"""``forge check`` catches what a reviewer caught (issue 12, point 4): near-identical posts, a
brief's unmet requirements, template stubs left in the notes, figures and tables the text never
mentions, and symbols in a manager edition. Each post here is a small fixture in a tmp project."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from forge_cli.check import check_text, check_week
from forge_cli.check_notes import stub_lines
from forge_cli.check_review import BRIEF_RULES, manager_symbols, unmet_brief, unreferenced
from forge_cli.config import load_settings
from forge_cli.curriculum import load_curriculum
from forge_cli.errors import ForgeError
from forge_cli.notes import create_notes
from forge_cli.posts import post_file_name
from forge_cli.review import approve_posts

REPO = Path(__file__).resolve().parents[1]
BODY_LINE = 8
"""The line of a fixture post's file where its body starts (after 7 lines of front matter)."""

SHARED = """\
## How value iteration works

Value iteration sweeps every state of the grid and replaces its value with the best one-step
lookahead: the reward for a move plus the discounted value of wherever the move lands. Good
values spread outwards from the goal like ripples on a pond, one sweep at a time, and the
greedy policy read off the values stops changing long before the values themselves do. Policy
iteration instead fixes a plan, works out exactly how good that plan is, and then repairs its
worst choices; it needs few improvement steps, but each one hides a full evaluation of the plan.
"""
OTHER = """\
## Why the discount matters

A discount close to one makes the agent patient: a reward far in the future is worth almost as
much as one today, so the values take many sweeps to settle and the plan looks far ahead. A
small discount makes it greedy and short-sighted; the values settle quickly, but the plan may
walk straight past a large reward that sits only a few steps further away than a small one.
The experiments measure how the number of sweeps grows as the discount approaches one.
"""


def write_post(root: Path, body: str, post: int = 1, edition: str = "scientist",
               week: int = 1) -> Path:
    path = root / "blog" / "docs" / "posts" / post_file_name(week, post, edition)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\ntitle: T\ndate: 2026-01-05\ncategories: [x]\ndraft: true\n"
                    f"forge: {{week: {week}, post: {post}, edition: {edition}, text_sha256: abc, "
                    f"profile: cpu}}\n---\n{body}", encoding="utf-8")
    return path


def found(root: Path, kind: str, week: int = 1) -> list[tuple[str, str]]:
    return [(f.post, f.message) for f in check_week(load_settings(root), week) if f.kind == kind]


# ---- near-identical posts ------------------------------------------------------------------------

def test_two_posts_that_differ_by_an_intro_are_near_identical(project):
    write_post(project, "An intro for the first post.\n\n" + SHARED + OTHER, post=1)
    write_post(project, "A different opening, four lines long in the real week 1.\n\n"
               + SHARED + OTHER, post=2)
    ((post, message),) = found(project, "near-identical")
    assert post == "week01-post2-scientist.md" and "week01-post1-scientist.md" in message
    ratio = float(message.split("ratio ")[1].split()[0])
    assert 0.8 < ratio < 1 and "difflib word-sequence ratio" in message


def test_posts_with_their_own_angle_and_the_two_editions_are_not_compared_away(project):
    write_post(project, SHARED, post=1)
    write_post(project, OTHER, post=2)
    write_post(project, SHARED, post=1, edition="manager")  # same post, other edition: fine
    assert found(project, "near-identical") == []


def test_figures_tables_and_code_do_not_make_posts_differ(project):
    figure = "![A plot](figures/week01/a.png)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    write_post(project, SHARED + OTHER + "\n```python\nx = 1\n```\n", post=1)
    write_post(project, figure + SHARED + OTHER, post=2)
    assert [post for post, _ in found(project, "near-identical")] == ["week01-post2-scientist.md"]


# ---- the brief's requirements --------------------------------------------------------------------

def test_a_code_walkthrough_asked_and_no_code_block(project):
    post = write_post(project, SHARED)  # week 1 post 1: "... value iteration code walkthrough."
    ((_, message),) = found(project, "brief")
    assert "value iteration **code** walkthrough" in message and "fenced code block" in message
    post.write_text(post.read_text() + "\n```python\nv = max(q)\n```\n")
    assert found(project, "brief") == []


def test_the_manager_edition_owes_no_code(project):
    write_post(project, SHARED, edition="manager")
    assert found(project, "brief") == []


def test_a_comparison_and_performance_metrics_asked(project):
    code = "```python\nv = max(q)\n```\n"
    post = write_post(project, SHARED + code, post=2)  # "code comparing ... performance metrics"
    messages = [message for _, message in found(project, "brief")]
    assert len(messages) == 2
    assert "**comparing**" in messages[0] and "comparison table" in messages[0]
    assert "**performance metrics**" in messages[1] and "a time" in messages[1]
    post.write_text(post.read_text() + "\n| method | sweeps |\n|---|---|\n| VI | 3 |\n| PI | 2 |\n")
    assert [m for _, m in found(project, "brief")] == [messages[1]]  # a table: compared
    post.write_text(post.read_text() + "\nTable 1 shows that value iteration took 3.2 ms.\n")
    assert found(project, "brief") == []


@pytest.mark.parametrize("shown", [
    "It took 41 s of wall time.", "Each sweep takes 12 µs.",
    "![Wall time](figures/week01/pi-vs-vi__compare__ms_to_eps.0123456789.png)",
    "| algorithm | wall time |\n|---|---|\n| VI | fast |",
])
def test_what_counts_as_a_time(shown):
    brief = "Show speed trade-offs."
    assert [m for m in unmet_brief("No numbers here.", "scientist", brief)
            if "a time" in m]
    assert not [m for m in unmet_brief(shown, "scientist", brief) if "a time" in m]


def test_each_rule_says_what_it_needs_and_for_which_edition():
    for rule in BRIEF_RULES:
        assert rule.needs and set(rule.editions) <= {"scientist", "manager"}
    assert unmet_brief("Prose only.", "scientist", "Start with everyday examples.") == []


# ---- template stubs left in the notes ------------------------------------------------------------

def test_notes_still_holding_the_template_are_flagged_on_every_post(project):
    settings = load_settings(project)
    create_notes(settings, 3)
    for edition in ("scientist", "manager"):
        write_post(project, "Attention, explained.\n", week=3, edition=edition)
    stubs = found(project, "notes stub", week=3)
    assert [post for post, _ in stubs] == ["week03-post1-manager.md", "week03-post1-scientist.md"]
    message = stubs[0][1]
    assert "notes/week03.md" in message and "template stub(s)" in message
    assert ", +" in message and "more)" in message  # 14 topics and more: not all listed
    lines = [text for _, text in stub_lines(settings, 3)]
    assert {f"- {topic}:" for topic in load_curriculum().week(3).topics} <= set(lines)  # 14
    assert any(text.startswith("<!--") for text in lines)  # the template's instructions


def test_filled_notes_are_not_flagged_but_a_todo_is(project):
    shutil.copytree(REPO / "notes", project / "notes")
    write_post(project, SHARED)
    assert found(project, "notes stub") == []
    notes = project / "notes" / "week01.md"
    notes.write_text(notes.read_text() + "\nTODO: rerun the lakes\n")
    ((_, message),) = found(project, "notes stub")
    assert "'TODO: rerun the lakes'" in message and "1 template stub(s) or TODO(s)" in message


def test_a_stub_item_given_text_below_it_is_filled(project):
    settings = load_settings(project)
    notes = create_notes(settings, 1)
    text = notes.read_text()
    for topic in ("Markov Decision Processes (states, actions, rewards, transitions)",
                  "Bellman equations and dynamic programming"):
        text = text.replace(f"- {topic}:\n", f"- {topic}:\n  my own words on it\n")
    text = text.replace("- Value iteration and policy iteration:\n",
                        "- Value iteration and policy iteration: two ends of one dial\n")
    notes.write_text(text)
    stubs = [text for _, text in stub_lines(settings, 1)]
    assert "- Sutton & Barto Ch 3-4:" in stubs and any(text.startswith("<!--") for text in stubs)
    filled = ("- Markov", "- Bellman", "- Value iteration and policy iteration")
    assert not [text for text in stubs if text.startswith(filled)]


# ---- figures and tables the text never mentions --------------------------------------------------

FIGURES = ("![Gambler's problem (Example 4.3), p = 0.4](figures/week01/book__gambler.0123456789.png)"
           "\n\n![Backups to reach epsilon](figures/week01/pi-vs-vi__compare__backups_to_eps.png)\n"
           "\n| result | value |\n|---|---|\n| sweeps | 7 |\n")


def test_figures_and_tables_never_mentioned_are_flagged(project):
    write_post(project, "Some prose, as in the book's Figure 4.3.\n\n" + FIGURES)
    messages = [message for _, message in found(project, "unreferenced")]
    assert len(messages) == 3
    assert messages[0].startswith(f"figure 1 ('book/gambler', line {BODY_LINE + 2})")
    assert "figure 2 ('pi-vs-vi/compare/backups_to_eps'" in messages[1]
    assert messages[2].startswith("table 1 ('result | value'")


@pytest.mark.parametrize("prose", [
    "Figure 1 and Figure 2 show it; Table 1 sums it up.",
    "Figs. 1–2 show it, see Table 1.",
    "The gambler's problem bets it all; `pi-vs-vi/compare/backups_to_eps` counts; Table 1 too.",
])
def test_a_figure_is_referred_to_by_number_key_or_caption_title(prose):
    assert unreferenced(prose + "\n\n" + FIGURES) == []


def test_numbered_labels_count_and_do_not_refer_to_themselves():
    labelled = ("![Figure 1: Backups](figures/a.png)\n\n![b](figures/b.png)\n*Figure 2. Sweeps*\n\n"
                "**Table 1.** Results\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert [m.split(" (")[0] for m in unreferenced(labelled)] == ["figure 1", "figure 2", "table 1"]
    assert unreferenced("As Figure 2 shows, and Figure 1 and Table 1.\n\n" + labelled) == []


# ---- symbols in the manager edition ------------------------------------------------------------

MANAGER = """\
Think about the drive home.

The discount γ = 0.99 sets how patient the plan is, and $\\gamma^k$ shrinks every step.

```python
gamma = 0.99  # code is for the scientist edition, but a symbol in it is not prose: θ
```

- gambler's chance of reaching $100 from $50: 0.4; one sweep takes 3 μs
"""


def test_a_manager_edition_using_symbols_is_flagged_with_where(project):
    write_post(project, MANAGER, edition="manager")
    write_post(project, MANAGER, edition="scientist")
    ((post, message),) = found(project, "manager symbols")
    line = BODY_LINE + 2
    assert post == "week01-post1-manager.md"
    assert f"γ (line {line})" in message and f"math $\\gamma^k$ (line {line})" in message
    assert "θ" not in message and "$100" not in message and "μ" not in message
    assert "γ = 0.99" in message  # the place it first appears


def test_plain_words_pass_and_display_math_is_flagged():
    assert manager_symbols("Plain words only, $5 a run, 100× faster.") == []
    (message,) = manager_symbols("One.\n\n$$\nv = Tv\n$$\n\nThen Σ and ε.", first_line=10)
    assert "math $$ v = Tv $$ (line 12)" in message and "Σ (line 16)" in message


# ---- wired into the approve gate and the agent's check ---------------------------------------------

def test_approve_refuses_a_post_whose_brief_is_unmet(project):
    post = write_post(project, SHARED)
    with pytest.raises(ForgeError, match="brief: the brief asks"):
        approve_posts(load_settings(project), 1, [(1, "scientist")])
    post.write_text(post.read_text() + "\n```python\nv = max(q)\n```\n")
    (approved,) = approve_posts(load_settings(project), 1, [(1, "scientist")])
    assert approved.draft is False


def test_check_text_reports_the_brief_when_told_the_post(project):
    settings = load_settings(project)
    kinds = {f.kind for f in check_text(settings, 1, SHARED, post=1, edition="scientist")}
    assert "brief" in kinds
    assert "brief" not in {f.kind for f in check_text(settings, 1, SHARED)}


def test_line_numbers_survive_a_windows_editor(project):
    post = write_post(project, MANAGER, edition="manager")
    before = found(project, "manager symbols")
    post.write_bytes(b"\xef\xbb\xbf" + post.read_bytes().replace(b"\n", b"\r\n"))
    assert found(project, "manager symbols") == before


def test_a_link_to_another_weeks_post_by_its_title_is_not_an_unsourced_number(project):
    from forge_cli.curriculum import load_curriculum

    settings = load_settings(project)
    title = next(post.title for week in load_curriculum().weeks for post in week.posts
                 if week.number != 2 and any(ch.isdigit() for ch in post.title))
    body = f"As [{title}](week01-post1-scientist.md) showed, the loss fell by 417.93 nats.\n"
    unsourced = [f.message for f in check_text(settings, 2, body) if f.kind == "unsourced number"]
    assert unsourced == ["'417.93' matches no fact, run result or note"]
