"""Shared fixtures: every test runs in its own project folder, offline, with no keys."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from algorithms import experiment as experiment_module


@pytest.fixture(autouse=True)
def offline_environment(monkeypatch):
    for name in ("ANTHROPIC_API_KEY", "WANDB_API_KEY", "FORGE_ROOT", "WANDB_MODE"):
        monkeypatch.delenv(name, raising=False)
    for name in list(__import__("os").environ):
        if name.startswith("FORGE_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("MPLBACKEND", "Agg")


@pytest.fixture
def project(tmp_path, monkeypatch):
    """An empty forge project (W&B disabled unless a test turns it on)."""
    (tmp_path / "forge.toml").write_text('[wandb]\nmode = "disabled"\n')
    monkeypatch.setenv("FORGE_ROOT", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


FREE_WEEK = 16


@pytest.fixture
def registry():
    """Register throwaway experiments; the real registry is restored afterwards. Week 16's own
    experiments are set aside meanwhile: tests that need a week of nothing but their own
    (``FREE_WEEK``) register theirs there."""
    for week in range(1, 17):  # imported first: a week imported later would vanish at restore
        experiment_module.experiments_for(week)
    saved = {week: dict(entries) for week, entries in experiment_module._REGISTRY.items()}
    experiment_module._REGISTRY[FREE_WEEK] = {}
    yield experiment_module
    experiment_module._REGISTRY.clear()
    experiment_module._REGISTRY.update(saved)


REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def week1_smoke_runs(tmp_path_factory):
    """Week 1's smoke runs, made once per test session; tests copy them into their project."""
    from forge_cli.config import load_settings
    from forge_cli.runner import RunPlan, run_plan

    root = tmp_path_factory.mktemp("week1")
    (root / "forge.toml").write_text('[wandb]\nmode = "disabled"\n')
    run_plan(RunPlan(week=1, profile="smoke"), load_settings(root))
    return root / "runs"


@pytest.fixture
def week1(project, week1_smoke_runs):
    """A project with week 1's smoke runs and the repository's notes, templates and blog."""
    shutil.copytree(week1_smoke_runs, project / "runs")
    for folder in ("notes", "templates"):
        shutil.copytree(REPO / folder, project / folder)
    shutil.copytree(REPO / "blog", project / "blog", ignore=shutil.ignore_patterns(
        "site", ".cache", "posts", "revisions", "backups"))
    return project
