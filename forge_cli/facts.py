"""The facts table: every number a post states, taken from the run store, never typed by a model.

Prompts show the model each fact's key and value and ask it to write placeholders instead of
numbers: ``{{ fact:pi-vs-vi.frozenlake8x8.vi.sweeps }}``. After generation forge replaces each
placeholder with the stored value (mean ± spread over seeds, unit), so both editions of a post
state the same numbers from the same runs. Tables and figures are cited the same way:
``{{ table:book-examples/values/gridworld_4x4 }}`` and ``{{ figure:heatmaps/heatmaps/cliff }}``.
"""

from __future__ import annotations

import hashlib
import re

from pydantic import BaseModel

from algorithms.experiment import experiments_for
from forge_cli.results import format_number, summarize
from forge_cli.store import RunRecord

PLACEHOLDER = re.compile(r"\{\{\s*(fact|table|figure):([A-Za-z0-9_.\-/]+)\s*\}\}")


class Fact(BaseModel):
    key: str
    value: float
    """Mean over the seeds' latest runs."""
    spread: float
    """Sample standard deviation over seeds; 0 for a single (or deterministic) run."""
    n: int
    unit: str
    experiment: str
    metric: str
    run_ids: list[str]
    seeds_in_run: int = 1
    """Seeds a seed study ran inside each run (its config's ``n_seeds``): the value is already a
    mean over them, with no spread shown."""

    def formatted(self) -> str:
        text = format_number(self.value)
        if self.n > 1:
            text += f" ± {format_number(self.spread)}"
        if self.unit in ("×", "%"):
            return text + self.unit
        return f"{text} {self.unit}".strip()


class FactsTable(BaseModel):
    week: int
    facts: dict[str, Fact]

    def fingerprint(self, keys: list[str]) -> dict[str, str]:
        """Per fact, a hash of the runs it came from: a later change means the post is stale."""
        return {key: _runs_hash(self.facts[key].run_ids) for key in keys if key in self.facts}


def build_facts(week: int, records: list[RunRecord]) -> FactsTable:
    experiments = experiments_for(week)
    seeds_in_run = {record.experiment: max(1, _int(record.config.get("n_seeds")))
                    for record in records}
    facts = {}
    for row in summarize(records):
        experiment = experiments.get(row.experiment)
        key = f"{row.experiment}.{row.metric}"
        facts[key] = Fact(key=key, value=row.mean, spread=row.std, n=row.n,
                          unit=experiment.unit(row.metric) if experiment else "",
                          experiment=row.experiment, metric=row.metric, run_ids=row.run_ids,
                          seeds_in_run=seeds_in_run.get(row.experiment, 1))
    return FactsTable(week=week, facts=facts)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def _runs_hash(run_ids: list[str]) -> str:
    return hashlib.sha256(",".join(sorted(run_ids)).encode()).hexdigest()[:12]
