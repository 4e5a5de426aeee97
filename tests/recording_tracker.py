"""An in-memory Tracker for experiment tests (import it: ``from recording_tracker import
RecordingTracker``)."""


import atexit
import shutil
import tempfile
from pathlib import Path

_SHARED = Path(tempfile.mkdtemp(prefix="forge-recording-"))
atexit.register(shutil.rmtree, _SHARED, True)
"""Cache and artifacts shared by every RecordingTracker of a test session: a model one smoke
experiment makes is there for the next that needs it."""


class RecordingTracker:
    """An in-memory Tracker: remembers every call, draws nothing; artifacts, checkpoints and the
    cache live in a temporary folder shared by the session."""

    def __init__(self, root: Path | None = None):
        self.logs: list[tuple[float | None, dict[str, float]]] = []
        self.axes: dict[str, str] = {}  # metric -> the name of its x-axis
        self.tables: dict[str, tuple[list[str], list[list]]] = {}
        self.figures: dict[str, str] = {}
        self.root = Path(root or _SHARED)
        self.run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=self.root))

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

    def artifact_dir(self, name):
        folder = self.root / "artifacts" / name.replace(":", "-")
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def use_artifact(self, name):
        folder = self.root / "artifacts" / name.replace(":", "-")
        assert folder.is_dir(), f"no smoke run has made {name} in this session yet"
        return folder

    def checkpoint_dir(self):
        folder = self.run_dir / "checkpoint"
        folder.mkdir(exist_ok=True)
        return folder

    def cache_dir(self):
        folder = self.root / "cache"
        folder.mkdir(exist_ok=True)
        return folder

    def data_file(self, name):
        return None

    def llm_judge(self):
        return getattr(self, "judge", None)  # a test may set one


def make_artifacts(experiment) -> None:
    """Run (at the smoke profile, once per session) the producers of the artifacts
    ``experiment`` needs that no smoke run has made yet, as ``forge run`` does."""
    from algorithms.experiment import producer_of

    for artifact in experiment.needs:
        if (_SHARED / "artifacts" / artifact.replace(":", "-")).is_dir():
            continue
        producer = producer_of(artifact)
        assert producer is not None, f"no experiment produces {artifact}"
        make_artifacts(producer)
        producer.fn(producer.config.for_profile("smoke"), RecordingTracker())


def smoke_runs(experiments) -> dict[str, tuple[dict[str, float], RecordingTracker]]:
    """Run every experiment of ``experiments`` (name → Experiment) at the smoke profile,
    producers of artifacts before the experiments that need them."""
    results = {}
    for name, exp in sorted(experiments.items(), key=lambda item: not item[1].produces):
        make_artifacts(exp)
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
