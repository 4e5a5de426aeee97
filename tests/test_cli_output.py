"""What the terminal shows at 80 and 60 columns, one corrupt run, and profiles that never mix
(issue 11, points 2, 3 and 7), through the one error boundary ``run_cli``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

import pytest
from rich.console import Console

import forge_cli.cli_common as cli_common
from algorithms.experiment import ExperimentConfig
from forge_cli.check import check_week
from forge_cli.config import load_settings
from forge_cli.draft_context import build_context
from forge_cli.drafting import draft_provenance
from forge_cli.posts import HASH_KEY
from forge_cli.results import HEADLINE_METRICS
from forge_cli.store import RunRecord, RunStore, now_iso
from forge_cli_harness import forge

LONG_KEY = "gridworld4x4.modified_policy_iteration_with_five_sweeps.in_place_backups.per_state"
ALPHA_KEYS = [f"env{i}.value_iteration.sweeps_to_tolerance" for i in range(11)] + [LONG_KEY]


@pytest.fixture
def terminal(project, monkeypatch):
    """``forge ARGS`` at a given width, with consoles sized the way a real terminal sizes them
    (COLUMNS), not pinned to whatever width the test process started with."""
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr(cli_common, "console", Console())
    monkeypatch.setattr(cli_common, "errors", Console(stderr=True))

    def run(*args: str, width: int = 80):
        return forge(*args, env={"COLUMNS": str(width), "TERM": "xterm"})

    return run


def store_run(root: Path, experiment: str, summary: dict[str, float], seed: int = 0,
              profile: str = "cpu", week: int = 1) -> RunRecord:
    writer = RunStore(root / "runs").writer()
    return writer.finish(RunRecord(
        id=writer.run_id, week=week, experiment=experiment, seed=seed, profile=profile,
        started_at=now_iso(), finished_at=now_iso(), duration_s=0.1, config={}, summary=summary))


def alpha_and_beta(root: Path, profile: str = "cpu", value: float = 1.0) -> None:
    for seed in (0, 1):
        store_run(root, "alpha", {key: value + i + seed for i, key in enumerate(ALPHA_KEYS)},
                  seed=seed, profile=profile)
    store_run(root, "beta", {"loss": value, "accuracy": 0.5}, profile=profile)


def assert_fits(text: str, width: int, whole: list[str] = ()) -> None:
    """No line wider than the terminal, except one that is nothing but a key printed whole."""
    for line in text.splitlines():
        assert len(line) <= width or line.strip() in whole, line
    assert "…" not in text


@pytest.mark.parametrize("width", [80, 60])
def test_results_are_grouped_by_experiment_with_whole_keys(terminal, project, width):
    alpha_and_beta(project)
    shown = terminal("results", "week1", width=width)
    assert shown.code == 0, shown.stderr
    assert_fits(shown.stdout, width, ALPHA_KEYS)
    assert f"alpha · 2 seeds · {HEADLINE_METRICS} of 12 metrics" in shown.stdout
    assert "beta · 1 run · 2 metrics" in shown.stdout
    keys = {line.split()[0] for line in shown.stdout.splitlines() if line.startswith("  ")}
    assert set(ALPHA_KEYS[:HEADLINE_METRICS]) <= keys and LONG_KEY not in keys
    assert "--all" in shown.stdout

    every = terminal("results", "week1", "--all", width=width)
    assert_fits(every.stdout, width, ALPHA_KEYS)
    assert LONG_KEY in every.stdout.split() and f"alpha · 2 seeds · 12 metrics" in every.stdout
    # the key as printed is what --metric takes
    one = terminal("results", "week1", "--metric", LONG_KEY, width=width)
    assert one.code == 0 and "alpha · 2 seeds · 1 of 12 metrics" in one.stdout
    assert "12.5 ± 0.7071" in one.stdout  # 1 + 11 + seed, over seeds 0 and 1


def test_facts_print_keys_whole(terminal, project):
    alpha_and_beta(project)
    shown = terminal("facts", "week1", width=60)
    assert shown.code == 0, shown.stderr
    assert f"alpha.{LONG_KEY}" in shown.stdout.split()
    assert_fits(shown.stdout, 60, [f"alpha.{key}" for key in ALPHA_KEYS])


def test_results_facts_and_drafts_read_one_profile_and_say_which(terminal, project):
    alpha_and_beta(project, profile="cpu", value=100.0)
    alpha_and_beta(project, profile="smoke", value=1.0)  # newer, but smoke
    results = terminal("results", "week1", "--only", "beta")
    assert "profile cpu" in results.stdout and "also stored: smoke" in results.stdout
    assert re.search(r"loss\s+100\n", results.stdout)
    smoke = terminal("results", "week1", "--only", "beta", "--profile", "smoke")
    assert "profile smoke" in smoke.stdout and re.search(r"loss\s+1\n", smoke.stdout)
    facts = terminal("facts", "week1")
    assert "profile cpu" in facts.stdout and re.search(r"beta\.loss\s+100\n", facts.stdout)
    missing = terminal("results", "week1", "--profile", "gpu")
    assert missing.code == 1 and "no gpu runs" in missing.stderr

    (project / "notes").mkdir()
    (project / "notes" / "week01.md").write_text("# Week 1\n\n## Key ideas\n\nIdeas.\n")
    settings = load_settings()
    context = build_context(settings, 1, 1, "scientist")
    assert context.profile == "cpu" and context.facts.facts["beta.loss"].value == 100.0
    assert draft_provenance(settings, context, "offline", None, {}, [])["profile"] == "cpu"
    assert build_context(settings, 1, 1, "scientist", "smoke").facts.facts["beta.loss"].value == 1


def test_check_flags_a_post_drafted_from_smoke_runs(project):
    post = project / "blog" / "docs" / "posts" / "week01-post1-scientist.md"
    post.parent.mkdir(parents=True)
    for profile, flagged in (("cpu", False), ("smoke", True)):
        post.write_text(f"---\ntitle: T\ndate: 2026-01-05\ncategories: [x]\ndraft: true\n"
                        f"forge: {{week: 1, post: 1, edition: scientist, {HASH_KEY}: abc, "
                        f"profile: {profile}}}\n---\nBody.\n")
        kinds = [finding.kind for finding in check_week(load_settings(), 1)]
        assert ("smoke profile" in kinds) is flagged, kinds


def test_one_corrupt_run_breaks_nothing(terminal, project):
    alpha_and_beta(project)
    broken = store_run(project, "gamma", {"x": 1.0})
    run_json = broken.path / "run.json"
    run_json.write_bytes(run_json.read_bytes()[:300])  # head -c 300 run.json > run.json
    for args in (("results", "week1"), ("weeks",), ("facts", "week1")):
        shown = terminal(*args)
        assert shown.code == 0, (args, shown.stderr)
        (warning,) = shown.error_lines
        assert warning.startswith("warning:") and str(run_json) in warning, warning
    assert "gamma" not in terminal("results", "week1").stdout
    (project / "notes").mkdir()
    (project / "notes" / "week01.md").write_text("# Week 1\n\n## Key ideas\n\nIdeas.\n")
    context = build_context(load_settings(), 1, 1, "scientist")  # what `forge draft` reads
    assert broken.id not in context.run_ids and "beta.loss" in context.facts.facts

    doctor = terminal("doctor", width=60)
    assert f"run store: corrupt {run_json}: Invalid JSON" in doctor.stdout
    cleaned = terminal("runs", "clean", width=60)
    assert cleaned.code == 0 and f"moved corrupt {broken.path} → " in cleaned.stdout
    assert not broken.path.exists() and terminal("results", "week1").stderr == ""
    assert "nothing to clean" in terminal("runs", "clean").stdout


@pytest.mark.parametrize("width", [80, 60])
def test_weeks_fits_the_terminal_and_shows_plan_coverage(terminal, width):
    shown = terminal("weeks", width=width)
    assert shown.code == 0, shown.stderr
    assert_fits(shown.stdout, width)
    header = next(line for line in shown.stdout.splitlines() if line.startswith("week "))
    assert header.split() == ["week", "title", "plan", "missing", "runs", "drafts", "approved"]
    rows = {int(line.split()[0]): line for line in shown.stdout.splitlines()
            if re.match(r"\s*\d+\s", line)}
    assert sorted(rows) == list(range(1, 17))
    assert re.search(r" 2/2\s+0\s+0\s+0$", rows[1]) and re.search(r" 4/4\s+0\s", rows[5])
    assert re.search(r" 4/4\s+0\s", rows[4])
    assert re.search(r" 4/4\s", rows[11]) and re.search(r" 2/2\s", rows[12])


def test_weeks_detail_says_which_experiment_covers_what(terminal):
    shown = terminal("weeks", "week4", width=60)
    assert shown.code == 0, shown.stderr
    assert_fits(shown.stdout, 60)
    assert "4 of 4 experiments covered" in shown.stdout
    lines = shown.stdout.splitlines()
    row = {int(line.split()[0]): line for line in lines if re.match(r"\s*\d\s", line)}
    assert row[1].rstrip().endswith("grpo")
    assert row[4].rstrip().endswith("preference-optimization")
    assert row[2].rstrip().endswith("comparative-study")
    assert "off-policy-corrections" in shown.stdout  # registered, beyond the plan


class TinyConfig(ExperimentConfig):
    profiles: ClassVar = {}


def tiny(config: TinyConfig, tracker) -> dict[str, float]:
    """Returns one number."""
    return {"answer": 42.0}


def test_run_prints_each_path_whole_on_its_own_result_line(terminal, project, registry):
    registry.experiment(week=16, name="a-rather-long-experiment-name", covers=(1,),
                        config=TinyConfig)(tiny)
    shown = terminal("run", "week16", "--profile", "smoke", "--only",
                     "a-rather-long-experiment-name", width=60)
    assert shown.code == 0, shown.stderr
    (record,) = RunStore(project / "runs").runs(16)
    (line,) = [line for line in shown.stdout.splitlines() if line.startswith("✓")]
    assert line.endswith(f"→ {record.path}")
    assert "a-rather-long-experiment-name · 1 run · 1 metric" in shown.stdout
