"""Where each week stands (``forge weeks``) and what the setup lacks (``forge doctor``)."""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass, field

from algorithms.experiment import experiments_for
from forge_cli.config import CONFIG_FILE, Settings
from forge_cli.curriculum import load_curriculum
from forge_cli.store import RunStore


@dataclass
class WeekStatus:
    week: int
    phase: int
    title: str
    posts: int
    plan: list[str]
    """The study plan's named experiments for the week, in order (numbered from 1)."""
    covered_by: dict[int, list[str]]
    """Plan position -> the registered experiments that declare they cover it."""
    unplanned: list[str]
    """Registered experiments that cover none of the plan's (extra studies)."""
    runs: int
    drafts: int
    approved: int

    @property
    def covered(self) -> list[int]:
        return sorted(self.covered_by)

    @property
    def missing(self) -> list[int]:
        return [n for n in range(1, len(self.plan) + 1) if n not in self.covered_by]


def week_statuses(settings: Settings, only: int | None = None,
                  problems: list[str] | None = None) -> list[WeekStatus]:
    """Every week of the curriculum (or only week ``only``): plan coverage, runs and posts. A
    post that cannot be read is not counted; its one-line problem goes to ``problems``."""
    from forge_cli.posts import list_posts

    store = RunStore(settings.path("runs"))
    posts_by_week: dict[int, list] = {}
    for info in list_posts(settings.path("blog"), problems):
        posts_by_week.setdefault(info.week, []).append(info)
    statuses = []
    for week in load_curriculum().weeks:
        if only is not None and week.number != only:
            continue
        covered_by: dict[int, list[str]] = {}
        unplanned = []
        for name, experiment in experiments_for(week.number).items():
            positions = [n for n in experiment.covers if 1 <= n <= len(week.experiments)]
            for n in positions:
                covered_by.setdefault(n, []).append(name)
            if not positions:
                unplanned.append(name)
        posts = posts_by_week.get(week.number, [])
        drafts = sum(post.draft for post in posts)
        statuses.append(WeekStatus(
            week=week.number, phase=week.phase, title=week.title, posts=len(week.posts),
            plan=list(week.experiments), covered_by=covered_by, unplanned=unplanned,
            runs=len(store.runs(week.number)), drafts=drafts, approved=len(posts) - drafts))
    return statuses


@dataclass
class Check:
    name: str
    state: str  # ok | missing | error
    detail: str
    items: list[str] = field(default_factory=list)
    """Paths and the like, printed whole beneath the table (a table cell would cut them)."""


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
    checks.append(run_store_check(RunStore(settings.path("runs"))))
    return checks


def run_store_check(store: RunStore) -> Check:
    """Corrupt finished runs and stale incomplete ones (what `forge runs clean` fixes)."""
    from forge_cli.store_health import corrupt_runs, incomplete_runs

    corrupt = corrupt_runs(store)
    incomplete = incomplete_runs(store)
    stale = [run for run in incomplete if run.stale]
    items = ([f"corrupt {run.file}: {run.reason}" for run in corrupt]
             + [f"stale: {run.path} ({run.why})" for run in stale]
             + [f"in progress: {run.path} ({run.why})" for run in incomplete if not run.stale])
    if not corrupt and not stale:
        return Check("run store", "ok", "no corrupt or stale runs"
                     + (f" · {len(incomplete)} in progress" if incomplete else ""), items)
    counts = ", ".join(part for part in (f"{len(corrupt)} corrupt" if corrupt else "",
                                         f"{len(stale)} stale incomplete" if stale else "") if part)
    return Check("run store", "error", f"{counts} (listed below): `forge runs clean` "
                 "fixes them", items)
