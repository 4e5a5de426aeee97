"""The CLI through a real ``forge`` process: start-up cost, bad input, and week 1 end to end."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from forge_cli.check_review import REVIEW_KINDS

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "wandb", "numpy", "matplotlib", "gymnasium", "anthropic")


def forge(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300):
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("FORGE_", "WANDB_", "ANTHROPIC_"))}
    environment.update({"FORGE_ROOT": str(cwd), "WANDB_SILENT": "true", "COLUMNS": "200"}
                       | (env or {}))
    return subprocess.run([sys.executable, "-m", "forge_cli", *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=timeout)


def test_help_lists_commands_without_heavy_imports(tmp_path):
    code = ("import sys; from forge_cli.app import app; from typer.main import get_command;"
            "import click; ctx = click.Context(get_command(app)); "
            "print(sorted(get_command(app).list_commands(ctx))); "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    commands, heavy = out.stdout.strip().splitlines()
    assert {"run", "weeks", "results", "pull", "doctor"} <= set(eval(commands))
    assert heavy == "[]"
    assert "run" in forge("--help", cwd=tmp_path).stdout


@pytest.mark.parametrize("week", ["week99", "banana", "week0", ""])
def test_unknown_week_is_one_line_and_exit_2(tmp_path, week):
    result = forge("run", week, cwd=tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "unknown week" in result.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("args, message", [
    (["--profile", "huge"], "unknown profile"),
    (["--seeds", "x"], "bad --seeds"),
    (["--only", "nope"], "no experiment 'nope'"),
])
def test_bad_run_options_are_one_line_and_exit_2(tmp_path, args, message):
    result = forge("run", "week1", *args, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_bad_config_is_reported_in_one_line(tmp_path):
    (tmp_path / "forge.toml").write_text('[wandb]\nmode = "sideways"\n')
    result = forge("results", "week1", cwd=tmp_path)
    assert result.returncode == 2 and "wandb.mode" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_week1_smoke_end_to_end_offline(tmp_path):
    result = forge("run", "week1", "--profile", "smoke", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    runs = sorted((tmp_path / "runs" / "week01").glob("*/*/run.json"))
    experiments = {path.parent.parent.name for path in runs}
    assert {"book-examples", "pi-vs-vi", "convergence", "heatmaps"} <= experiments
    for path in runs:
        record = json.loads(path.read_text())
        assert record["status"] == "finished" and record["wandb"]["mode"] == "offline"
        assert list((tmp_path / "wandb").glob(f"offline-run-*-{record['id']}"))
        for figure in record["figures"]:
            assert (path.parent / figure["file"]).is_file() and figure["caption"]
    results = forge("results", "week1", cwd=tmp_path)
    assert results.returncode == 0 and "book-examples" in results.stdout
    weeks = forge("weeks", cwd=tmp_path)
    assert weeks.returncode == 0 and "RL & MDP Fundamentals" in weeks.stdout

    # ... and on to the blog: draft → check → build → approve → build → publish.
    shutil.copytree(REPO / "notes", tmp_path / "notes")
    shutil.copytree(REPO / "blog", tmp_path / "blog",
                    ignore=shutil.ignore_patterns("site", ".cache", "posts"))
    draft = forge("draft", "week1", cwd=tmp_path)
    assert draft.returncode == 0, draft.stderr
    assert draft.stdout.count("created") == 4 and "[offline]" in draft.stdout
    checked = forge("check", "week1", cwd=tmp_path)  # smoke numbers and the reviewer's findings
    assert checked.returncode == 1 and checked.stdout.count("smoke profile") == 4, checked.stdout
    kinds = {row.split("│")[2].strip() for row in checked.stdout.splitlines()
             if row.startswith("│ week01-")}
    assert kinds <= {"smoke profile", *REVIEW_KINDS}, checked.stdout
    site = tmp_path / "blog" / "site" / "blog"
    assert forge("build", cwd=tmp_path).returncode == 0
    assert not (site / "week01-post1-scientist").exists()  # drafts stay out until approved
    assert "awaiting review" in forge("review", cwd=tmp_path).stdout
    public, url = tmp_path / "public", {"FORGE_SITE__URL": "https://blog.example.org/"}
    refused = forge("publish", "--to", str(public), cwd=tmp_path)  # links would be 127.0.0.1
    assert refused.returncode == 1 and "site.url is not set" in refused.stderr
    refused = forge("publish", "--to", str(public), cwd=tmp_path, env=url)
    assert refused.returncode == 1 and "nothing to publish" in refused.stderr
    assert forge("approve", "week1", "--post", "3", cwd=tmp_path).returncode == 2
    refused = forge("approve", "week1", cwd=tmp_path)  # offline drafts, smoke numbers
    assert refused.returncode == 1 and "still the offline draft" in refused.stderr
    approved = forge("approve", "week1", "--post", "2", "--force", cwd=tmp_path)
    assert approved.returncode == 0 and approved.stdout.count("approved") == 2
    assert forge("build", cwd=tmp_path).returncode == 0
    page = (site / "week01-post2-scientist" / "index.html").read_text()
    assert "arithmatex" in page and "figures/week01/" in page
    published = forge("publish", "--to", str(public), cwd=tmp_path, env=url)
    assert published.returncode == 0, published.stderr
    assert "published 2 post(s), 2 draft(s) held back" in published.stdout
    assert (public / "blog" / "week01-post2-manager" / "index.html").is_file()
    assert not (public / "blog" / "week01-post1-manager").exists()
    shipped = {path.name for path in public.rglob("*.png") if "figures" in path.parts}
    shown = {name for post in ("scientist", "manager") for name in re.findall(
        r"figures/week01/([\w.-]+\.png)", (tmp_path / "blog/docs/posts" /
                                        f"week01-post2-{post}.md").read_text())}
    assert shipped == shown  # only what the approved posts show


def test_notes_are_started_once_and_never_overwritten(tmp_path):
    first = forge("notes", "week2", cwd=tmp_path)
    assert first.returncode == 0
    notes = tmp_path / "notes" / "week02.md"
    text = notes.read_text()
    assert "# Week 2: Tokenization Deep Dive" in text and "## Derivations" in text
    notes.write_text(text + "\nmy own words\n")
    again = forge("notes", "week2", cwd=tmp_path)
    assert again.returncode == 1 and "never overwrites" in again.stderr
    assert notes.read_text().endswith("my own words\n")


def default_sigint() -> None:
    """SIGINT's default for the child: from a background shell job it inherits it ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_mid_run_leaves_no_finished_run_behind(tmp_path):
    environment = {key: value for key, value in os.environ.items() if not key.startswith("FORGE_")}
    environment.update({"FORGE_ROOT": str(tmp_path), "FORGE_WANDB__MODE": "disabled"})
    process = subprocess.Popen([sys.executable, "-m", "forge_cli", "run", "week1"], cwd=tmp_path,
                               env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, preexec_fn=default_sigint)
    incomplete = tmp_path / "runs" / ".incomplete"
    deadline = time.monotonic() + 60
    while not (incomplete.is_dir() and any(incomplete.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr
    for run_dir in (tmp_path / "runs" / "week01").glob("*/*"):
        assert (run_dir / "run.json").is_file()  # whatever is there is finished and whole
    assert list((tmp_path / "runs" / ".failed").iterdir())
    assert not any(incomplete.iterdir())


def test_pull_offline_says_why(tmp_path):
    result = forge("pull", "week1", cwd=tmp_path)
    assert result.returncode == 1
    assert "offline mode" in result.stderr and "WANDB_API_KEY" in result.stderr
    assert "[wandb] mode" in result.stderr


def test_doctor_never_prints_secrets(tmp_path):
    secret = "sk-ant-very-secret-value"
    result = forge("doctor", cwd=tmp_path, env={"ANTHROPIC_API_KEY": secret})
    assert result.returncode == 0
    assert secret not in result.stdout + result.stderr
    assert "ANTHROPIC_API_KEY" in result.stdout and "offline" in result.stdout
