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
