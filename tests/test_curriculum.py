"""The shipped curriculum (forge_cli/data/curriculum.toml) and its models."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from forge_cli.curriculum import (
    Curriculum,
    Post,
    UnknownWeekError,
    Week,
    load_curriculum,
    parse_week,
)


@pytest.fixture(scope="module")
def curriculum() -> Curriculum:
    return load_curriculum()


def _week_data(**overrides) -> dict:
    data = dict(
        number=1, phase=1, phase_title="Core Foundations", title="RL & MDP Fundamentals",
        topic="mdp", topics=["Bellman equations"], papers=["Sutton & Barto Ch 3-4"],
        experiments=["Grid world"], wandb="Convergence curves",
        posts=[dict(number=1, title="A title", notes_for_agent="Some notes", connects_to=[])],
    )
    data.update(overrides)
    return data


# --- the shipped data ------------------------------------------------------------------------

def test_sixteen_weeks_in_order(curriculum):
    assert [w.number for w in curriculum.weeks] == list(range(1, 17))
    assert [w.slug for w in curriculum.weeks][:2] == ["week01", "week02"]
    assert curriculum.weeks[-1].slug == "week16"


def test_every_week_is_complete(curriculum):
    for week in curriculum.weeks:
        assert week.topics, week.slug
        assert week.papers, week.slug
        assert week.experiments, week.slug
        assert week.wandb, week.slug
        assert 1 <= len(week.posts) <= 2, week.slug
        assert [p.number for p in week.posts] == list(range(1, len(week.posts) + 1))
        for post in week.posts:
            assert post.title.strip() and post.notes_for_agent.strip(), (week.slug, post.number)
            assert all(n <= week.number for n in post.connects_to), (week.slug, post.number)


def test_text_is_clean(curriculum):
    """Markdown markers, title quotes and the WandB line were stripped when the data was made."""
    for week in curriculum.weeks:
        strings = [week.title, week.phase_title, week.wandb, *week.topics, *week.papers,
                   *week.experiments]
        for post in week.posts:
            strings += [post.title, post.notes_for_agent]
        for s in strings:
            assert "**" not in s and s == s.strip(), (week.slug, s)
        for s in [*week.papers, *(p.title for p in week.posts)]:
            assert not s.startswith('"') and not s.endswith('"'), (week.slug, s)
        assert not any(e.lower().startswith("wandb") for e in week.experiments), week.slug


def test_phases(curriculum):
    assert [w.phase for w in curriculum.weeks] == [1] * 4 + [2] * 4 + [3] * 4 + [4] * 4
    titles = {w.phase: w.phase_title for w in curriculum.weeks}
    assert titles == {1: "Core Foundations", 2: "Advanced Methods", 3: "RLHF & Safety",
                      4: "Advanced Topics"}


def test_topic_tags_are_unique_slugs(curriculum):
    tags = [w.topic for w in curriculum.weeks]
    assert len(set(tags)) == 16
    assert curriculum.week(1).topic == "mdp"
    assert curriculum.week(4).topic == "policy-optimization"


def test_week1_posts_skip_the_stray_blog_line(curriculum):
    week = curriculum.week(1)
    assert week.title == "RL & MDP Fundamentals"
    assert [p.title for p in week.posts] == [
        "Decision Making 101: How AI Learns to Choose",
        "The Mathematics of Optimal Decisions: Bellman Equations Explained",
    ]
    assert week.posts[0].notes_for_agent.startswith("Start with everyday decision examples")
    assert week.papers == ["Sutton & Barto Ch 3-4"]
    assert week.wandb == "Convergence curves, value function heatmaps, algorithm comparison"
    assert "Core Papers" not in " ".join(week.topics)


def test_week6_single_post_with_content_as_notes(curriculum):
    week = curriculum.week("week6")
    assert len(week.posts) == 1
    post = week.posts[0]
    assert post.title == "The Best of Both Worlds: Actor-Critic Methods"
    assert post.notes_for_agent.startswith("Reference policy gradients from Week 4")
    assert 4 in post.connects_to and 1 in post.connects_to
    assert week.connects_to == [4, 1]
    assert "Compare with REINFORCE from Week 4" in week.experiments


def test_week2_blog2_refers_to_its_blog1(curriculum):
    post = curriculum.week(2).post(2)
    assert post.title == "The Tokenization Wars: BPE vs WordPiece vs SentencePiece"
    assert post.connects_to_posts == [1]
    assert curriculum.week(2).papers == ["Sennrich BPE paper", "SentencePiece paper"]


def test_week3_topics_papers_experiments(curriculum):
    week = curriculum.week(3)
    assert "Position encoding comparison on length extrapolation tasks" in week.experiments
    assert ("Advanced Attention Variants: Multi-Query Attention (MQA), "
            "Grouped-Query Attention (GQA)") in week.topics
    assert ("Basic Attention: Scaled dot-product, additive attention, "
            "multiplicative attention") in week.topics
    # a comma inside a quoted title does not split it
    assert "Train Short, Test Long: Attention with Linear Biases (ALiBi)" in week.papers
    assert "Attention Is All You Need" in week.papers
    assert week.posts[0].connects_to == [2]


def test_week4_papers(curriculum):
    papers = curriculum.week(4).papers
    dpo = "Direct Preference Optimization: Your Language Model is Secretly a Reward Model"
    assert dpo in papers
    assert "KTO: Model Alignment as Prospect Theory" in papers
    assert "Williams REINFORCE" in papers


def test_explicit_week_references(curriculum):
    assert curriculum.week(8).posts[0].connects_to == [5, 2, 1]
    assert curriculum.week(10).posts[0].connects_to == [7, 8, 9]
    assert curriculum.week(7).posts[0].connects_to[0] == 6
    assert curriculum.week(14).posts[0].connects_to[0] == 1
    assert curriculum.week(16).posts[0].connects_to == list(range(1, 16))


def test_post_counts(curriculum):
    two = [w.number for w in curriculum.weeks if len(w.posts) == 2]
    assert two == [1, 2, 3, 4, 5, 9, 11, 13]


def test_load_is_cached():
    assert load_curriculum() is load_curriculum()


def test_models_are_frozen(curriculum):
    with pytest.raises(ValidationError):
        curriculum.week(1).title = "changed"


# --- parse_week ------------------------------------------------------------------------------

@pytest.mark.parametrize("ref, expected", [
    ("week3", 3), ("week03", 3), ("Week3", 3), ("WEEK16", 16), ("3", 3), (3, 3), ("16", 16),
    (1, 1), (" week1 ", 1), ("week1", 1),
])
def test_parse_week_accepts(ref, expected):
    assert parse_week(ref) == expected


@pytest.mark.parametrize("ref", [
    "banana", "week99", "week0", "", "0", "17", 0, 17, -1, "week", "week-3", "w3", "week 3x",
    "3.0", True, None, 3.0, "week3\nweek4",
])
def test_parse_week_rejects(ref):
    with pytest.raises(UnknownWeekError) as info:
        parse_week(ref)
    message = str(info.value)
    assert "\n" not in message
    assert repr(ref) in message
    assert "week1" in message and "week16" in message


def test_unknown_week_error_message():
    with pytest.raises(ValueError) as info:  # UnknownWeekError is a ValueError
        parse_week("week99")
    assert str(info.value) == "unknown week 'week99': expected week1 … week16 (e.g. 'week3')"


def test_curriculum_week_lookup(curriculum):
    assert curriculum.week("week05") is curriculum.week(5)
    assert curriculum.week("Week12").title == "Reward Hacking & Safety"
    with pytest.raises(UnknownWeekError):
        curriculum.week("week17")


# --- validation ------------------------------------------------------------------------------

def test_valid_week_data():
    week = Week.model_validate(_week_data())
    assert week.slug == "week01"


@pytest.mark.parametrize("overrides", [
    dict(phase=7),
    dict(phase=0),
    dict(number=17),
    dict(number=0),
    dict(posts=[]),
    dict(posts=[dict(number=n, title="t", notes_for_agent="n") for n in (1, 2, 3)]),
    dict(posts=[dict(number=2, title="t", notes_for_agent="n")]),
    dict(posts=[dict(number=1, title="t", notes_for_agent="n"),
                dict(number=1, title="u", notes_for_agent="m")]),
    dict(posts=[dict(number=1, title="t", notes_for_agent="n", connects_to_posts=[1])]),
    dict(topics=[]),
    dict(experiments=[]),
    dict(topics=["  "]),
    dict(wandb=""),
    dict(topic="Not A Slug"),
    dict(unexpected="field"),
])
def test_malformed_week_fails(overrides):
    with pytest.raises(ValidationError):
        Week.model_validate(_week_data(**overrides))


@pytest.mark.parametrize("post", [
    dict(number=0, title="t", notes_for_agent="n"),
    dict(number=1, title="", notes_for_agent="n"),
    dict(number=1, title="t", notes_for_agent="   "),
    dict(number=1, title="t", notes_for_agent="n", connects_to=[0]),
    dict(number=1, title="t", notes_for_agent="n", connects_to=[17]),
    dict(number=1, title="t", notes_for_agent="n", connects_to=[1, 1]),
    dict(number=1, title="t", notes_for_agent="n", extra="x"),
])
def test_malformed_post_fails(post):
    with pytest.raises(ValidationError):
        Post.model_validate(post)


def _all_weeks() -> list[dict]:
    return [_week_data(number=n, phase=(n - 1) // 4 + 1) for n in range(1, 17)]


def test_curriculum_needs_all_weeks_in_order():
    Curriculum.model_validate({"weeks": _all_weeks()})
    with pytest.raises(ValidationError):
        Curriculum.model_validate({"weeks": _all_weeks()[:15]})
    with pytest.raises(ValidationError):
        Curriculum.model_validate({"weeks": list(reversed(_all_weeks()))})
    weeks = _all_weeks()
    weeks[3] = weeks[2]
    with pytest.raises(ValidationError):
        Curriculum.model_validate({"weeks": weeks})


def test_curriculum_rejects_forward_references():
    weeks = _all_weeks()
    weeks[5]["posts"] = [dict(number=1, title="t", notes_for_agent="n", connects_to=[7])]
    with pytest.raises(ValidationError, match="later week"):
        Curriculum.model_validate({"weeks": weeks})
    weeks[5]["posts"] = [dict(number=1, title="t", notes_for_agent="n", connects_to=[6, 5])]
    Curriculum.model_validate({"weeks": weeks})  # same week and earlier weeks are fine


def test_module_imports_only_stdlib_and_pydantic():
    code = (
        "import sys, forge_cli.curriculum as c; c.load_curriculum();"
        "allowed = set(sys.stdlib_module_names) | {'forge_cli', 'pydantic', 'pydantic_core',"
        " 'annotated_types', 'typing_extensions', 'typing_inspection', '__main__'};"
        "bad = sorted({m.split('.')[0] for m in sys.modules} - allowed);"
        "bad = [m for m in bad if not m.startswith('_')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_registered_experiment_covers_planned_experiments_of_its_week(curriculum):
    """``covers`` are 1-based positions in the plan's list of experiments for the week; an
    experiment covering none (an extra study) declares ``covers=()``."""
    from algorithms.experiment import experiments_for

    registered = 0
    for week in curriculum.weeks:
        for name, experiment in experiments_for(week.number).items():
            registered += 1
            assert experiment.week == week.number, name
            assert all(1 <= n <= len(week.experiments) for n in experiment.covers), (
                week.slug, name, experiment.covers, len(week.experiments))
            assert len(set(experiment.covers)) == len(experiment.covers), (week.slug, name)
    assert registered >= 27
