"""Cross-week facts: week 16's notes cite another week's measured number as
``{{ fact:week8/lm-base.test_perplexity }}``. It is read from week 8's runs at the post's own
profile, substituted like an own fact, counted as sourced by ``forge check``, fingerprinted so
a re-run of week 8 makes the post stale, and a key that cannot be read is one line, exit 2."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from forge_cli.check import check_week
from forge_cli.check_review import REVIEW_KINDS
from forge_cli.config import load_settings
from forge_cli.draft_context import build_context
from forge_cli.facts import other_week, week_facts
from forge_cli.posts import split_front_matter
from forge_cli.store import RunRecord, RunStore, now_iso
from forge_cli_harness import assert_one_line_error, forge, tree_fingerprint

REPO = Path(__file__).resolve().parents[1]
KEY = "week8/lm-base.test_perplexity"
POST = "week16-post1-scientist.md"
DRAFT = ("draft", "week16", "--post", "1", "--provider", "offline")  # both editions


def store_run(root: Path, week: int, experiment: str, summary: dict, seed: int = 0,
              profile: str = "cpu") -> RunRecord:
    """A finished run in the project's store, made without running anything."""
    writer = RunStore(root / "runs").writer()
    return writer.finish(RunRecord(
        id=writer.run_id, week=week, experiment=experiment, seed=seed, profile=profile,
        started_at=now_iso(), finished_at=now_iso(), duration_s=0.1, config={},
        summary=summary))


def notes(key: str = KEY, label: str = "week 8's test perplexity") -> str:
    return (f"---\nposts:\n  1:\n    angle: The series in one post.\n"
            f"    facts: [synthesis.score, {{{key}: {label}}}]\n---\n"
            "# Week 16\n\n## Key ideas\n\n"
            f"Week 8's language model reached a test perplexity of {{{{ fact:{key} }}}}, and "
            "this week's synthesis scored {{ fact:synthesis.score }}.\n")


@pytest.fixture
def series(project):
    """Week 16 with cpu runs and notes citing week 8, whose cpu runs give a perplexity of 38 ±
    0.7071 (two seeds); a newer smoke run of week 8 says 999, which a cpu post never reads."""
    shutil.copytree(REPO / "blog", project / "blog",
                    ignore=shutil.ignore_patterns("site", ".cache", "posts", "revisions", "backups"))
    (project / "notes").mkdir()
    (project / "notes" / "week16.md").write_text(notes(), encoding="utf-8")
    store_run(project, 16, "synthesis", {"score": 91.25})
    for seed, value in ((0, 37.5), (1, 38.5)):
        store_run(project, 8, "lm-base", {"test_perplexity": value}, seed=seed)
    store_run(project, 8, "lm-base", {"test_perplexity": 999.0}, profile="smoke")
    return project


def post_body(root: Path) -> tuple[dict, str]:
    return split_front_matter((root / "blog/docs/posts" / POST).read_text(encoding="utf-8"))


def pipeline_findings(root: Path) -> list:
    """check's findings besides the reviewer's (check_review), which offline drafts have."""
    return [(f.kind, f.message) for f in check_week(load_settings(root), 16)
            if f.kind not in REVIEW_KINDS]


def test_a_week_16_post_states_week_8s_number_and_passes_check(series):
    drafted = forge(*DRAFT)
    assert drafted.code == 0, drafted.stderr
    meta, body = post_body(series)
    assert "38 ± 0.7071" in body and "999" not in body and "{{" not in body
    assert "week 8's test perplexity" in body  # the notes' label
    assert KEY in meta["forge"]["facts"] and "synthesis.score" in meta["forge"]["facts"]
    assert meta["forge"]["profile"] == "cpu"
    week8 = {record.id for record in RunStore(series / "runs").latest(8, "cpu").records}
    assert week8 <= set(meta["forge"]["run_ids"])  # the runs the post's numbers come from
    # the Reproduce box makes week 8's runs first, at the post's profile
    upstream = "forge run week8 --profile cpu --only lm-base"
    assert upstream in body and body.index(upstream) < body.index("forge run week16")
    assert pipeline_findings(series) == []


def test_a_newer_run_of_week_8_makes_the_post_stale(series):
    assert forge(*DRAFT).code == 0
    store_run(series, 8, "lm-base", {"test_perplexity": 5.0}, profile="smoke")
    assert pipeline_findings(series) == []  # another profile's run changes nothing
    store_run(series, 8, "lm-base", {"test_perplexity": 36.0})
    stale = [finding for finding in pipeline_findings(series) if finding[0] == "stale fact"]
    assert stale == [("stale fact", f"fact '{KEY}' comes from newer runs than the draft: "
                                    "re-draft")] * 2  # both editions cite it
    checked = forge("check", "week16", env={"COLUMNS": "250"})
    assert checked.code == 1 and "stale fact" in checked.stdout and KEY in checked.stdout


def test_the_prompt_and_forge_facts_list_the_other_weeks_fact(series):
    context = build_context(load_settings(series), 16, 1, "scientist")
    fact = context.facts.facts[KEY]
    assert (fact.week, fact.experiment, fact.value) == (8, "lm-base", 38.0)
    assert [pick.key for pick in context.plan.facts] == ["synthesis.score", KEY]
    from forge_cli.drafting import prompt_for
    assert f"`{KEY}`" in prompt_for(load_settings(series), context).shared_context
    listed = forge("facts", "week16")
    assert listed.code == 0, listed.stderr
    assert "from week 8 (cpu runs)" in listed.stdout
    assert KEY in listed.stdout and "38 ± 0.7071 (n=2)" in listed.stdout
    assert listed.stdout.index("synthesis.score") < listed.stdout.index(KEY)


def test_a_cpu_post_never_reads_the_other_weeks_smoke_runs(project):
    store_run(project, 16, "synthesis", {"score": 91.25})
    store_run(project, 8, "lm-base", {"test_perplexity": 999.0}, profile="smoke")
    store = RunStore(project / "runs")
    records = store.latest(16, "cpu").records
    with pytest.raises(Exception, match=r"no cpu runs for week 8: run `forge run week8 "
                                        r"--profile cpu` first"):
        week_facts(store, 16, "cpu", records, [KEY])
    assert KEY not in week_facts(store, 16, "cpu", records, [KEY], strict=False).facts
    smoke = week_facts(store, 16, "smoke", [], [KEY]).facts[KEY]
    assert smoke.value == 999.0  # a smoke post reads the smoke runs, and only those


@pytest.mark.parametrize("key, needles", [
    (KEY, ("no cpu runs for week 8", "forge run week8 --profile cpu")),  # no week-8 runs
    ("week8/lm-base.train_loss", ("week 8's cpu runs have no fact 'lm-base.train_loss'",
                                  "forge facts week8 --profile cpu")),
    ("week8/lm-big.test_perplexity", ("week 8's cpu runs have no fact",)),
    ("week8/exposure-bias.gap", ("week 8 has no cpu runs of exposure-bias",
                                 "forge run week8 --profile cpu --only exposure-bias")),
    ("week0/x.y", ("'week0/x.y'", "weekN/experiment.metric")),
    ("week17/x.y", ("'week17/x.y'", "N from 1 to 16")),
    ("weekX/x.y", ("'weekX/x.y'", "weekN/experiment.metric")),
    ("week08/lm-base.test_perplexity", ("without a leading zero",)),
    ("week8/perplexity", ("'week8/perplexity'", "weekN/experiment.metric")),
    ("week16/synthesis.score", ("names week 16 itself", "'synthesis.score'")),
])
def test_a_key_that_cannot_be_read_is_one_line_and_writes_nothing(series, key, needles):
    (series / "notes" / "week16.md").write_text(notes(key), encoding="utf-8")
    if key == KEY:
        shutil.rmtree(series / "runs" / "week08")
        store_run(series, 8, "lm-base", {"test_perplexity": 1.0}, profile="smoke")
    before = tree_fingerprint(series)
    outcome = forge(*DRAFT)
    assert_one_line_error(outcome, "week16.md", *needles)
    assert tree_fingerprint(series) == before
    assert_one_line_error(forge("facts", "week16"), *needles)


def test_a_key_named_only_in_the_notes_body_is_checked_too(series):
    text = notes().replace("facts: [synthesis.score, {week8/lm-base.test_perplexity: "
                           "week 8's test perplexity}]", "facts: [synthesis.score]")
    (series / "notes" / "week16.md").write_text(
        text.replace(KEY, "week8/lm-base.missing"), encoding="utf-8")
    assert_one_line_error(forge(*DRAFT), "'week8/lm-base.missing'")


@pytest.mark.parametrize("key, parsed", [
    ("week8/lm-base.test_perplexity", (8, "lm-base.test_perplexity")),
    ("week14/dqn.charts/episodic_return", (14, "dqn.charts/episodic_return")),
    ("dqn.charts/episodic_return", None),  # an own key whose metric has a slash
    ("synthesis.score", None),
])
def test_which_keys_name_another_week(key, parsed):
    assert other_week(key) == parsed


def test_the_agents_check_counts_the_cited_weeks_numbers_as_sourced(series):
    from forge_cli.check import check_text
    settings = load_settings(series)
    body = "Week 8 reached 38 ± 0.7071; the smoke run said 999.\n"
    unsourced = [f.message for f in check_text(settings, 16, body, profile="cpu")
                 if f.kind == "unsourced number"]
    assert unsourced == ["'999' matches no fact, run result or note"]
