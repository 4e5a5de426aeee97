"""Bad input gets one line on stderr, exit 2 and no file changed (issue 11, point 6), through the
one error boundary ``forge_cli.app.run_cli``; one test per case the issue lists."""

from __future__ import annotations

import os
import shutil
import signal
import stat
from pathlib import Path
from typing import ClassVar

import pytest

from algorithms.experiment import ExperimentConfig
from forge_cli.config import load_settings, unknown_environment
from forge_cli.errors import BadInput
from forge_cli.runner import MAX_SEEDS, RunPlan, parse_seeds
from forge_cli.store import RunRecord, RunStore, now_iso, write_text_atomic
from conftest import FREE_WEEK
from forge_cli_harness import assert_one_line_error, forge, tree_fingerprint

REPO = Path(__file__).resolve().parents[1]
WEEK = 16  # no experiments of its own: throwaway ones are registered per test


class TinyConfig(ExperimentConfig):
    profiles: ClassVar = {}


def store_run(root: Path, experiment: str = "pi-vs-vi", seed: int = 0, week: int = 1) -> RunRecord:
    """A finished run in the project's store, made without running anything."""
    writer = RunStore(root / "runs").writer()
    writer.write_table("results/values", ["state", "value"], [["s0", 1.5]])
    return writer.finish(RunRecord(
        id=writer.run_id, week=week, experiment=experiment, seed=seed, profile="cpu",
        started_at=now_iso(), finished_at=now_iso(), duration_s=0.1, config={},
        summary={"gridworld.vi.sweeps": 7.0}))


@pytest.fixture
def week1(project):
    """A project with week 1's notes, the blog skeleton and one stored run."""
    shutil.copytree(REPO / "notes", project / "notes")
    shutil.copytree(REPO / "blog", project / "blog",
                    ignore=shutil.ignore_patterns("site", ".cache", "posts"))
    store_run(project)
    return project


def post_text(week: int = 1, post: int = 1, edition: str = "scientist", draft: str = "true",
              body: str = "Body.\n") -> str:
    return (f"---\ntitle: Week {week} post {post}\ndate: 2026-01-05\ncategories: [x]\n"
            f"draft: {draft}\nforge: {{week: {week}, post: {post}, edition: {edition}, "
            f"text_sha256: abc}}\n---\n{body}")


def write_post(root: Path, name: str, content: str | bytes) -> Path:
    path = root / "blog" / "docs" / "posts" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def bad_input(root: Path, *args: str, needles: tuple[str, ...] = (), env=None) -> None:
    before = tree_fingerprint(root)
    assert_one_line_error(forge(*args, env=env), *needles)
    assert tree_fingerprint(root) == before


# ---- configuration --------------------------------------------------------------------------

def test_a_non_utf8_forge_toml_is_one_line(project):
    (project / "forge.toml").write_bytes(b"\xff")
    bad_input(project, "doctor", needles=("forge.toml", "not UTF-8"))


def test_a_forge_variable_that_is_not_json_is_one_line(project):
    bad_input(project, "doctor", env={"FORGE_LLM": "{bad"}, needles=("FORGE_LLM", "JSON"))


def test_config_errors_exit_2(project):
    (project / "forge.toml").write_text('[wandb]\nmode = "sideways"\n')
    bad_input(project, "results", "week1", needles=("wandb.mode",))


@pytest.mark.parametrize("key, value", [("max_retries", "-1"), ("max_cost_usd", "-0.5"),
                                        ("timeout_s", "0"), ("max_tokens", "0")])
def test_llm_limits_are_checked(project, key, value):
    (project / "forge.toml").write_text(f"[llm]\n{key} = {value}\n")
    bad_input(project, "doctor", needles=(f"llm.{key}",))


def test_a_misspelled_forge_variable_is_a_warning_naming_the_right_one(project):
    outcome = forge("doctor", env={"FORGE_WANDB_MODE": "online"})
    assert outcome.code == 0
    (warning,) = outcome.error_lines
    assert "FORGE_WANDB_MODE" in warning and "FORGE_WANDB__MODE" in warning
    assert unknown_environment({"FORGE_LLM__MODEL": "m", "FORGE_ROOT": ".",
                                "FORGE_LLM__PRICES__MINE__INPUT": "1"}) == []


def test_outside_a_project_commands_refuse_and_create_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad_input(tmp_path, "run", "week1", "--profile", "smoke",
              needles=("not a forge project", "FORGE_ROOT"))
    assert not (tmp_path / "runs").exists() and not (tmp_path / "wandb").exists()
    assert forge("doctor").code == 0  # doctor writes nothing and says what is missing


# ---- run options ------------------------------------------------------------------------------

@pytest.mark.parametrize("seeds, message", [("99999999999999999999999", "seeds are integers"),
                                            ("0-1000000000", f"at most {MAX_SEEDS} seeds"),
                                            ("-1", "seeds are integers"), ("3-1", "bad --seeds")])
def test_seeds_out_of_range_are_one_line(project, seeds, message):
    bad_input(project, "run", "week1", "--seeds", seeds, needles=(message,))
    with pytest.raises(BadInput):
        parse_seeds(seeds)


def test_an_empty_only_is_an_error_not_the_whole_week(project):
    bad_input(project, "run", "week1", "--only", "", needles=("--only needs an experiment",))
    with pytest.raises(BadInput, match="--only needs"):
        RunPlan(week=1, only=[]).jobs()


def test_seeds_given_to_a_deterministic_experiment_get_a_notice(project, registry):
    registry.experiment(week=WEEK, name="exact", covers=(1,), config=TinyConfig,
                        seeded=False)(lambda config, tracker: {"value": 1.0})
    plan = RunPlan(week=WEEK, seeds=[0, 1, 2])
    assert [seed for _, seed in plan.jobs()] == [0]
    (notice,) = plan.notices()
    assert "exact is deterministic" in notice and "runs once" in notice
    assert RunPlan(week=WEEK).notices() == []  # no --seeds given: nothing to say
    outcome = forge("run", f"week{WEEK}", "--seeds", "0-2")
    assert outcome.code == 0, outcome.stderr
    assert "exact is deterministic" in outcome.stdout + outcome.stderr


def test_sigterm_exits_143_and_ctrl_c_130(project, registry):
    def terminated(config, tracker):
        os.kill(os.getpid(), signal.SIGTERM)
        return {}

    def interrupted(config, tracker):
        raise KeyboardInterrupt

    for name, fn in (("terminated", terminated), ("interrupted", interrupted)):
        registry.experiment(week=WEEK, name=name, covers=(1,), config=TinyConfig)(fn)
    assert forge("run", f"week{WEEK}", "--only", "terminated").code == 143
    assert forge("run", f"week{WEEK}", "--only", "interrupted").code == 130
    assert not list((project / "runs").glob(f"week{WEEK}/*/*"))  # both moved to runs/.failed
    assert signal.getsignal(signal.SIGTERM) is not None  # the boundary put the handler back


def test_facts_of_a_week_without_experiments_says_so(project, registry):
    outcome = forge("facts", f"week{FREE_WEEK}")
    assert outcome.code == 1 and "no experiments" in outcome.stderr, outcome.stderr
    assert "forge run" not in outcome.stderr


# ---- notes and posts ----------------------------------------------------------------------------

def test_binary_notes_are_one_line(week1):
    (week1 / "notes" / "week01.md").write_bytes(os.urandom(3000).replace(b"\n", b"\xff"))
    bad_input(week1, "draft", "week1", "--provider", "offline",
              needles=("week01.md", "not UTF-8"))


def test_a_headline_pick_that_is_not_a_list_is_one_line(week1):
    notes = week1 / "notes" / "week01.md"
    notes.write_text("---\nheadline_facts: 5\n---\n" + notes.read_text(encoding="utf-8"),
                     encoding="utf-8")
    bad_input(week1, "draft", "week1", "--provider", "offline",
              needles=("headline_facts", "must be a list"))


@pytest.mark.parametrize("command", [("draft", "week1", "--provider", "offline"),
                                     ("check", "week1")])
def test_a_latin1_byte_in_a_post_is_one_line(week1, command):
    write_post(week1, "week01-post1-scientist.md", post_text(body="caf\xe9\n").encode("latin-1"))
    bad_input(week1, *command, needles=("week01-post1-scientist.md", "UTF-8"))


def test_a_non_utf8_template_is_one_line(project):
    (project / "templates").mkdir()
    (project / "templates" / "notes.md.j2").write_bytes(b"# Week {{ week.number }} caf\xe9\n")
    bad_input(project, "notes", "week2", needles=("notes.md.j2", "not UTF-8"))


def test_check_with_no_posts_says_there_is_nothing_to_check(project):
    outcome = forge("check", "week2")
    assert "no posts" in outcome.stdout + outcome.stderr
    assert "no problems found" not in outcome.stdout


def test_a_draft_value_that_is_not_a_boolean_is_rejected(week1):
    write_post(week1, "week01-post1-scientist.md", post_text(draft='"true"'))
    write_post(week1, "week01-post1-manager.md", post_text(edition="manager"))
    review = forge("review")
    assert review.code == 0, review.stderr
    (warning,) = review.error_lines
    assert "week01-post1-scientist.md" in warning and "draft" in warning
    assert "week01-post1-manager.md" in review.stdout
    bad_input(week1, "build", needles=("week01-post1-scientist.md", "draft"))


def test_one_bad_post_does_not_hide_the_others(week1):
    write_post(week1, "week01-post1-scientist.md", b"---\ntitle: [unclosed\n---\n")
    brief_met = ("```python\nv = max(q)\n```\n\nTable 1 compares them: 3 ms against 5 ms.\n\n"
                 "| method | ms |\n|---|---|\n| VI | 3 |\n| PI | 5 |\n")  # what post 2's brief asks
    write_post(week1, "week01-post2-scientist.md", post_text(post=2, body=brief_met))
    for command in (("review",), ("weeks",)):
        outcome = forge(*command)
        assert outcome.code == 0, outcome.stderr
        assert any("week01-post1-scientist.md" in line for line in outcome.error_lines)
    assert "week01-post2-scientist.md" in forge("review").stdout
    approved = forge("approve", "week1", "--post", "2", "--edition", "scientist")
    assert approved.code == 0, approved.stderr
    assert "draft: false" in (week1 / "blog/docs/posts/week01-post2-scientist.md").read_text()


def test_serve_checks_its_address_before_starting(week1):
    for address in ("127.0.0.1:99999", "localhost", ":8000", "127.0.0.1:http"):
        bad_input(week1, "serve", "--address", address, needles=("--address",))


# ---- files forge writes ---------------------------------------------------------------------

def test_written_files_follow_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "run.json", "{}")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "run.json").stat().st_mode) == 0o644


def test_drafted_posts_follow_the_umask(week1):
    previous = os.umask(0o022)
    try:
        outcome = forge("draft", "week1", "--post", "1", "--edition", "scientist",
                        "--provider", "offline")
    finally:
        os.umask(previous)
    assert outcome.code == 0, outcome.stderr
    post = week1 / "blog" / "docs" / "posts" / "week01-post1-scientist.md"
    assert stat.S_IMODE(post.stat().st_mode) == 0o644
    assert load_settings().root == week1
