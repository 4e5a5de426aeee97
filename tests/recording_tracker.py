"""An in-memory Tracker for experiment tests (import it: ``from recording_tracker import
RecordingTracker``)."""


class RecordingTracker:
    """An in-memory Tracker: remembers every call, draws nothing."""

    def __init__(self):
        self.logs: list[tuple[float | None, dict[str, float]]] = []
        self.axes: dict[str, str] = {}  # metric -> the name of its x-axis
        self.tables: dict[str, tuple[list[str], list[list]]] = {}
        self.figures: dict[str, str] = {}

    def log(self, metrics, step=None, x="step"):
        for key in metrics:
            # a metric keeps one x-axis for the whole run
            assert self.axes.setdefault(key, x) == x, (key, self.axes[key], x)
        self.logs.append((step, dict(metrics)))

    def log_table(self, key, columns, rows):
        assert all(len(row) == len(columns) for row in rows), key
        self.tables[key] = (columns, rows)

    def log_figure(self, key, figure, caption):
        import matplotlib.pyplot as plt

        assert figure.axes, key
        plt.close(figure)
        self.figures[key] = caption

    def track(self, iterable, total=None, description=""):
        yield from iterable


def smoke_runs(experiments) -> dict[str, tuple[dict[str, float], RecordingTracker]]:
    """Run every experiment of ``experiments`` (name → Experiment) at the smoke profile."""
    results = {}
    for name, exp in experiments.items():
        tracker = RecordingTracker()
        results[name] = exp.fn(exp.config.for_profile("smoke"), tracker), tracker
    return results


_WEEK_RUNS: dict[int, dict[str, tuple[dict[str, float], RecordingTracker]]] = {}


def week_smoke_runs(week: int) -> dict[str, tuple[dict[str, float], RecordingTracker]]:
    """Every experiment of ``week`` at the smoke profile, run once per test session."""
    if week not in _WEEK_RUNS:
        from algorithms.experiment import experiments_for

        _WEEK_RUNS[week] = smoke_runs(experiments_for(week))
    return _WEEK_RUNS[week]
