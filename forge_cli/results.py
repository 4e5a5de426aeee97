"""Summaries of a week's latest runs, aggregated over seeds (``forge results``)."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

from pydantic import BaseModel

from forge_cli.store import RunRecord


class MetricSummary(BaseModel):
    experiment: str
    metric: str
    mean: float
    std: float
    """Sample standard deviation over seeds (0 for a single run)."""
    n: int
    run_ids: list[str]


def summarize(records: list[RunRecord]) -> list[MetricSummary]:
    """One row per (experiment, numeric summary metric): mean and spread over the seeds' runs."""
    values: dict[tuple[str, str], list[tuple[float, str]]] = defaultdict(list)
    for record in records:
        for metric, value in record.summary.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                values[(record.experiment, metric)].append((float(value), record.id))
    rows = []
    for (experiment, metric), samples in sorted(values.items()):
        numbers = [value for value, _ in samples]
        finite = [x for x in numbers if math.isfinite(x)]
        rows.append(MetricSummary(
            experiment=experiment, metric=metric,
            mean=statistics.fmean(finite) if finite else math.nan,
            std=statistics.stdev(finite) if len(finite) > 1 else 0.0,
            n=len(numbers), run_ids=[run_id for _, run_id in samples]))
    return rows


def format_number(value: float) -> str:
    """Four significant digits, integers as integers, thousands separated."""
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        return f"{value:.3g}"
    digits = max(0, 3 - int(math.floor(math.log10(abs(value)))))
    return f"{value:,.{digits}f}".rstrip("0").rstrip(".")


HEADLINE_METRICS = 8
"""Metrics shown per experiment by default: the first ones its summary returns (experiments put
their headline numbers first); ``forge results --all`` shows every key."""


class ExperimentResults(BaseModel):
    """One experiment's section of ``forge results``."""

    experiment: str
    seeds: int
    rows: list[MetricSummary]
    """The rows shown, in the order the experiment's summary returns its keys."""
    total: int
    """How many metrics the experiment has (before the headline cut or ``--metric``)."""


def group_results(records: list[RunRecord], metric: str | None = None,
                  all_metrics: bool = False) -> list[ExperimentResults]:
    """Per experiment: the headline metrics, or with ``metric`` every key containing that text,
    or with ``all_metrics`` every key. Experiments with nothing to show are left out."""
    order: dict[str, dict[str, None]] = defaultdict(dict)
    for record in sorted(records, key=lambda r: r.seed):
        order[record.experiment].update(dict.fromkeys(record.summary))
    by_experiment: dict[str, dict[str, MetricSummary]] = defaultdict(dict)
    for row in summarize(records):
        by_experiment[row.experiment][row.metric] = row
    groups = []
    for experiment, rows in sorted(by_experiment.items()):
        ordered = [rows[key] for key in order[experiment] if key in rows]
        if metric is not None:
            shown = [row for row in ordered if metric in row.metric]
        else:
            shown = ordered if all_metrics else ordered[:HEADLINE_METRICS]
        if shown:
            groups.append(ExperimentResults(experiment=experiment, rows=shown, total=len(ordered),
                                            seeds=max(row.n for row in ordered)))
    return groups


def render_group(group: ExperimentResults, width: int = 80) -> list[str]:
    """A heading line, then ``key  value`` lines, keys always whole: a key too long for the
    line gets its own line and its value goes beneath it, right-aligned."""
    seeds = f"{group.seeds} seeds" if group.seeds > 1 else "1 run"
    count = (f"{len(group.rows)} of {group.total} metrics" if len(group.rows) < group.total
             else f"{group.total} metric{'s' if group.total != 1 else ''}")
    pairs = [(row.metric, _value(row, group.seeds)) for row in group.rows]
    return [f"{group.experiment} · {seeds} · {count}", *key_value_lines(pairs, width)]


def key_value_lines(pairs: list[tuple[str, str]], width: int = 80, indent: int = 2) -> list[str]:
    """``key  value`` lines within ``width``, values right-aligned, keys never cut: a key too
    long for the line has it to itself, and its value goes on the next line."""
    if not pairs:
        return []
    value_width = max(len(value) for _, value in pairs)
    key_width = max(len(key) for key, _ in pairs)
    key_width = max(1, min(key_width, width - indent - 2 - value_width))
    pad = " " * indent
    lines = []
    for key, value in pairs:
        if len(key) > key_width:
            lines += [f"{pad}{key}", f"{pad}{'':<{key_width}}  {value:>{value_width}}"]
        else:
            lines.append(f"{pad}{key:<{key_width}}  {value:>{value_width}}")
    return lines


def _value(row: MetricSummary, seeds: int) -> str:
    text = format_number(row.mean) + (f" ± {format_number(row.std)}" if row.n > 1 else "")
    return text + (f" (n={row.n})" if row.n != seeds else "")
