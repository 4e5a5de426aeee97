"""Where each week stands (``forge weeks``) and what the setup lacks (``forge doctor``)."""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass

from forge_cli.config import CONFIG_FILE, Settings
from forge_cli.curriculum import load_curriculum
from algorithms.experiment import experiments_for
from forge_cli.store import RunStore



@dataclass
class WeekStatus:
    week: int
    phase: int
    title: str
    posts: int
    planned: int
    implemented: int
    runs: int
    drafts: int
    approved: int


def week_statuses(settings: Settings) -> list[WeekStatus]:
    from forge_cli.site import list_posts

    store = RunStore(settings.path("runs"))
    posts_by_week: dict[int, list] = {}
    for info in list_posts(settings.path("blog")):
        posts_by_week.setdefault(info.week, []).append(info)
    statuses = []
    for week in load_curriculum().weeks:
        posts = posts_by_week.get(week.number, [])
        drafts = sum(post.draft for post in posts)
        statuses.append(WeekStatus(
            week=week.number, phase=week.phase, title=week.title, posts=len(week.posts),
            planned=len(week.experiments), implemented=len(experiments_for(week.number)),
            runs=len(store.runs(week.number)), drafts=drafts, approved=len(posts) - drafts))
    return statuses


@dataclass
class Check:
    name: str
    state: str  # ok | missing | error
    detail: str


def doctor_checks(settings: Settings) -> list[Check]:
    from forge_cli.pull import wandb_credentials_present

    config_file = settings.root / CONFIG_FILE
    checks = [
        Check("config", "ok" if config_file.is_file() else "missing",
              str(config_file) if config_file.is_file() else
              f"no {CONFIG_FILE} at {settings.root}: using defaults"),
        Check("W&B mode", "ok", f"{settings.wandb.mode} · project {settings.wandb.project}"
              + (f" · entity {settings.wandb.entity}" if settings.wandb.entity else "")),
        Check("W&B login", "ok" if wandb_credentials_present(settings) else "missing",
              "credentials found (WANDB_API_KEY or ~/.netrc)" if wandb_credentials_present(settings)
              else "not logged in: fine offline; needed for online mode and `forge pull`"),
        Check("LLM", "ok", f"provider {settings.llm.provider} · model {settings.llm.model}"),
        Check("ANTHROPIC_API_KEY", "ok" if settings.anthropic_api_key else "missing",
              "set" if settings.anthropic_api_key else
              "not set: drafts use the offline drafter"),
    ]
    for package, why in (("torch", "experiments"), ("wandb", "tracking"),
                         ("gymnasium", "RL environments"), ("mkdocs", "building the blog")):
        found = importlib.util.find_spec(package) is not None
        checks.append(Check(package, "ok" if found else "missing",
                            f"installed ({why})" if found else f"not installed: needed for {why}"))
    git = shutil.which("git")
    checks.append(Check("git", "ok" if git else "missing",
                        git or "not found: run provenance will lack the git sha"))
    for name in ("runs", "notes", "templates", "blog"):
        path = settings.path(name)
        writable = os.access(path if path.exists() else path.parent, os.W_OK)
        checks.append(Check(f"path {name}", "ok" if writable else "error",
                            f"{path}" + ("" if path.exists() else " (created on first use)")))
    return checks
