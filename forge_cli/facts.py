"""The facts table: every number a post states, taken from the run store, never typed by a model.

Prompts show the model each fact's key and value and ask it to write placeholders instead of
numbers: ``{{ fact:pi-vs-vi.frozenlake8x8.vi.sweeps }}``. After generation forge replaces each
placeholder with the stored value (mean ± spread over seeds, unit), so both editions of a post
state the same numbers from the same runs. Tables and figures are cited the same way:
``{{ table:book-examples/values/gridworld_4x4 }}`` and ``{{ figure:heatmaps/heatmaps/cliff }}``.

A post may cite another week's measured number by prefixing its key with that week:
``{{ fact:week8/lm-base.test_perplexity }}``. :func:`week_facts` is the one place that builds
what a week's posts may cite: its own facts plus the other weeks' facts its notes name, read
from those weeks' runs at the same profile as the post's own.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection

from pydantic import BaseModel

from algorithms.experiment import experiments_for
from forge_cli.curriculum import FIRST_WEEK, LAST_WEEK
from forge_cli.errors import BadInput
from forge_cli.results import format_number, summarize
from forge_cli.store import RunRecord, RunStore

PLACEHOLDER = re.compile(r"\{\{\s*(fact|table|figure):([A-Za-z0-9_.\-/]+)\s*\}\}")
_WEEK_PREFIX = re.compile(r"week([1-9]\d*)")


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
    week: int | None = None
    """The week whose runs it comes from (another week's, for a ``weekN/`` key)."""

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
                          seeds_in_run=seeds_in_run.get(row.experiment, 1), week=week)
    return FactsTable(week=week, facts=facts)


def other_week(key: str) -> tuple[int, str] | None:
    """``(N, experiment.metric)`` of a key naming another week (``week8/lm-base.test_perplexity``),
    None for an ordinary key (whose first ``/``, if any, comes after the experiment's ``.``).
    ValueError, its message one line, when the week part is malformed (``week0/``, ``week08/``,
    ``weekX/``) or nothing but a week follows."""
    prefix, slash, rest = key.partition("/")
    if not slash or "." in prefix or not prefix.startswith("week"):
        return None
    match = _WEEK_PREFIX.fullmatch(prefix)
    if not match or not FIRST_WEEK <= int(match.group(1)) <= LAST_WEEK or "." not in rest:
        raise ValueError(f"fact {key!r} does not name another week's fact: expected "
                         f"weekN/experiment.metric, N from {FIRST_WEEK} to {LAST_WEEK} without "
                         "a leading zero (e.g. week8/lm-base.test_perplexity)")
    return int(match.group(1)), rest


def week_facts(store: RunStore, week: int, profile: str | None, records: list[RunRecord],
               wanted: Collection[str], *, strict: bool = True, where: str = "") -> FactsTable:
    """What ``week``'s posts may cite: its own facts (``records``, its runs at ``profile``) and
    the other weeks' facts that ``wanted`` names (``weekN/`` keys; other keys are ignored), each
    read from ``store.latest(N, profile)``: the same profile as the post's own, never a mix.
    Only the weeks named are loaded.

    ``strict``: a key that is malformed, names ``week`` itself, or that week's runs at
    ``profile`` lack is a one-line BadInput (prefixed with ``where``, the file naming it) saying
    what to run. Otherwise such a key is left out, and a post citing it is a stale fact."""
    table = build_facts(week, records)
    named: dict[int, list[str]] = {}
    for key in dict.fromkeys(wanted):
        try:
            parsed = other_week(key)
            if parsed is not None and parsed[0] == week:
                raise ValueError(f"fact {key!r} names week {week} itself: cite it as "
                                 f"{parsed[1]!r}")
        except ValueError as error:
            if strict:
                raise BadInput(f"{where}{error}") from None
            continue
        if parsed is not None:
            named.setdefault(parsed[0], []).append(key)
    facts = dict(table.facts)
    for number, keys in sorted(named.items()):
        runs = _latest_records(store, number, profile)
        found = build_facts(number, runs).facts
        for key in keys:
            fact = found.get(key.partition("/")[2])
            if fact is not None:
                facts[key] = fact.model_copy(update={"key": key})
            elif strict:
                raise BadInput(where + _missing(key, number, profile, runs))
    return FactsTable(week=week, facts=facts)


def _latest_records(store: RunStore, week: int, profile: str | None) -> list[RunRecord]:
    if profile is None:  # the post's own week has no runs: no profile to read another at
        return []
    try:
        return store.latest(week, profile).records
    except BadInput:  # a profile forge does not know, which that week has no runs of
        return []


def _missing(key: str, week: int, profile: str | None, runs: list[RunRecord]) -> str:
    """The one-line error for another week's fact that its runs at ``profile`` lack."""
    run = f"forge run week{week} --profile {profile}"
    if profile is None:
        return f"fact {key!r}: this week has no runs yet, so no profile to read week {week} at"
    if not runs:
        return f"fact {key!r}: no {profile} runs for week {week}: run `{run}` first"
    experiment = key.partition("/")[2].split(".", 1)[0]
    if experiment in experiments_for(week) and not any(
            record.experiment == experiment for record in runs):
        return (f"fact {key!r}: week {week} has no {profile} runs of {experiment}: run "
                f"`{run} --only {experiment}` first")
    return (f"fact {key!r}: week {week}'s {profile} runs have no fact "
            f"{key.partition('/')[2]!r} (`forge facts week{week} --profile {profile}` lists them)")


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def _runs_hash(run_ids: list[str]) -> str:
    return hashlib.sha256(",".join(sorted(run_ids)).encode()).hexdigest()[:12]
