"""``forge run weekN --jobs N``: a plan's (experiment, seed) jobs in up to N worker processes.

Each job is one ``python -m forge_cli.jobs SPEC`` process that calls :func:`runner.run_one`, the
code path of ``--jobs 1``, so each job is a normal run in the store (same ``run.json``, same
metrics, its own W&B run). A process per job, not a ``ProcessPoolExecutor``: a job that dies hard
(a segfault, the OOM killer) fails that job alone instead of breaking the pool and every job
queued on it; the parent owns each process, so Ctrl-C and SIGTERM stop exactly those; and every
job starts in a fresh interpreter, with nothing (torch's thread pool, a W&B run, imported
weeks) carried over from the job before.

Order: a job whose experiment produces an artifact that another job of the plan needs runs in
an earlier stage than that job (producers first, then the rest, all in parallel within a stage);
an artifact needed that no run has and no job makes gets its producer added as a job (seed 0),
as ``run_one`` would run it first. A job whose artifact is still missing when its stage comes
(its producer failed) is not started and counts as failed.

Threads: each worker gets ``OMP_NUM_THREADS`` (and MKL's, OpenBLAS's) = usable cores // N
(N: the workers of its stage, at most ``--jobs``; at least 1 thread) in its environment, set
before the interpreter starts, so torch's intra-op pool and numpy's BLAS do not oversubscribe
the cores without forcing a torch import on numpy-only weeks; a value the user set is kept.
A worker reads the project's settings afresh: the same ``forge.toml``, the same environment.

Failures: a job that fails is reported as it ends and the others go on; at the end
:class:`JobsFailed` names every failed job. Ctrl-C or SIGTERM stops the workers: each moves its
partial run to ``runs/.failed`` (a worker that does not stop within :data:`STOP_GRACE_S` is
killed and leaves its run in ``runs/.incomplete``, stale, for ``forge runs clean``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

from algorithms.experiment import Experiment, experiments_for
from forge_cli import artifacts
from forge_cli.errors import ForgeError
from forge_cli.store import FAILED, WRITER_FILE, RunRecord, RunStore, load_run

if TYPE_CHECKING:
    from rich.progress import Progress

    from forge_cli.config import Settings
    from forge_cli.runner import RunPlan

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
POLL_S = 0.1
STOP_GRACE_S = 30.0
"""How long stopped workers get to move their partial runs aside before they are killed."""

Job = tuple[Experiment, int]


@dataclass(frozen=True)
class JobFailure:
    experiment: str
    seed: int
    message: str
    exit_code: int = 1

    def line(self) -> str:
        return f"{self.experiment} seed {self.seed}: {self.message}"


class JobsFailed(ForgeError):
    """Some jobs failed; ``records`` holds the runs that finished."""

    def __init__(self, failures: list[JobFailure], records: list[RunRecord]):
        total = len(failures) + len(records)
        super().__init__(f"{len(failures)} of {total} jobs failed: "
                         + "; ".join(failure.line() for failure in failures),
                         exit_code=2 if all(f.exit_code == 2 for f in failures) else 1)
        self.failures, self.records = failures, records


def threads_per_worker(workers: int) -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // workers)


def stages(jobs: list[Job], store: RunStore, profile: str,
           notify: Callable[[str], None] | None = None) -> list[list[Job]]:
    """The jobs grouped in the order the stages run: no job needs what a job of its own or a
    later stage makes. Producers of needed artifacts that no run has and no job makes are added
    (seed 0), saying so through ``notify``."""
    jobs = list(jobs)
    planned = {(experiment.week, experiment.name) for experiment, _ in jobs}
    index = 0
    while index < len(jobs):  # grows as producers are added; their own needs are checked too
        experiment = jobs[index][0]
        for made_by in artifacts.missing_artifacts(experiment, store, profile):
            if (made_by.week, made_by.name) not in planned:
                planned.add((made_by.week, made_by.name))
                jobs.append((made_by, 0))
                if notify is not None:
                    notify(f"{experiment.name} needs {', '.join(experiment.needs)}, which no "
                           f"{profile} run has made: running week {made_by.week} {made_by.name} "
                           "first")
        index += 1
    experiments = {(experiment.week, experiment.name): experiment for experiment, _ in jobs}
    depths: dict[tuple[int, str], int] = {}

    def depth(key: tuple[int, str], path: tuple[tuple[int, str], ...] = ()) -> int:
        if key in path:
            raise ForgeError(f"the artifacts of {', '.join(name for _, name in path)} need "
                             "each other: no order can make them")
        if key not in depths:
            makers = [other for other, candidate in experiments.items()
                      if set(candidate.produces) & set(experiments[key].needs)]
            depths[key] = 1 + max((depth(other, (*path, key)) for other in makers), default=-1)
        return depths[key]

    grouped: dict[int, list[Job]] = {}
    for job in jobs:
        grouped.setdefault(depth((job[0].week, job[0].name)), []).append(job)
    return [grouped[level] for level in sorted(grouped)]


@dataclass
class _Worker:
    """One job's process, the file it writes its outcome to and its captured output."""

    experiment: Experiment
    seed: int
    process: subprocess.Popen
    result: Path
    output: IO[bytes]
    started: float = field(default_factory=time.perf_counter)

    def outcome(self, store: RunStore) -> RunRecord | JobFailure:
        self.output.seek(0)
        tail = [line for line in self.output.read().decode("utf-8", "replace").splitlines()
                if line.strip()][-1:]
        self.output.close()
        try:
            result = json.loads(self.result.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            code = self.process.returncode
            why = (f"killed by signal {-code}" if code < 0 else f"exit status {code}")
            return self._failure(f"the worker process died ({why})"
                                 + (f": {tail[0].strip()}" if tail else ""))
        if "path" in result:
            try:
                return load_run(Path(result["path"]))
            except ForgeError as error:
                return self._failure(str(error))
        return self._failure(result.get("error", "failed"), result.get("exit_code", 1))

    def _failure(self, message: str, exit_code: int = 1) -> JobFailure:
        return JobFailure(self.experiment.name, self.seed, " ".join(message.split()), exit_code)


def run_parallel(plan: RunPlan, settings: Settings, progress: Progress | None = None,
                 on_finished: Callable[[RunRecord], None] | None = None,
                 notify: Callable[[str], None] | None = None,
                 on_failed: Callable[[JobFailure], None] | None = None) -> list[RunRecord]:
    """Run the checked ``plan``'s jobs in up to ``plan.workers`` processes (see the module
    docstring); the finished runs, or :class:`JobsFailed` once every job has ended."""
    store = RunStore(settings.path("runs"))
    levels = stages(plan.jobs(), store, plan.profile, notify)
    total = sum(len(level) for level in levels)
    overall = progress.add_task(f"week {plan.week}", total=total) if progress else None
    records: list[RunRecord] = []
    failures: list[JobFailure] = []

    def ended(outcome: RunRecord | JobFailure) -> None:
        if isinstance(outcome, JobFailure):
            failures.append(outcome)
            if on_failed is not None:
                on_failed(outcome)
        else:
            records.append(outcome)
            if on_finished is not None:
                on_finished(outcome)
        if progress is not None:
            progress.advance(overall)

    with tempfile.TemporaryDirectory(prefix="forge-jobs-") as scratch:
        for level in levels:
            queue: list[Job] = []
            for experiment, seed in level:
                missing = [name for name in experiment.needs
                           if artifacts.find_artifact(store, name, plan.profile) is None]
                if missing:
                    ended(JobFailure(experiment.name, seed, f"not started: no run made "
                                     f"{', '.join(missing)} (its producer failed)"))
                else:
                    queue.append((experiment, seed))
            running: list[_Worker] = []
            workers = min(plan.workers, len(queue))
            try:
                while queue or running:
                    while queue and len(running) < workers:
                        experiment, seed = queue.pop(0)
                        _start(experiment, seed, plan, settings, Path(scratch),
                               threads_per_worker(workers), running)
                    if progress is not None:
                        names = (", ".join(f"{w.experiment.name} seed {w.seed}" for w in running)
                                 if len(running) <= 2 else f"{len(running)} jobs running")
                        progress.update(overall, description=f"week {plan.week} · {names}")
                    time.sleep(POLL_S)
                    for worker in [w for w in running if w.process.poll() is not None]:
                        running.remove(worker)
                        ended(worker.outcome(store))
            except BaseException:  # Ctrl-C, SIGTERM (run_cli makes it a KeyboardInterrupt)
                _stop(running)
                raise
    if failures:
        raise JobsFailed(failures, records)
    return records


def _start(experiment: Experiment, seed: int, plan: RunPlan, settings: Settings, scratch: Path,
           threads: int, running: list[_Worker]) -> None:
    """Start the job's process and add it to ``running`` at once, so a Ctrl-C that comes
    right after still finds it to stop."""
    result = scratch / f"{experiment.week}-{experiment.name}-{seed}.json"
    spec = {"root": str(settings.root), "week": experiment.week, "experiment": experiment.name,
            "seed": seed, "profile": plan.profile, "result": str(result)}
    env = dict(os.environ)
    for name in THREAD_VARIABLES:
        env.setdefault(name, str(threads))
    # the worker imports the forge that this process runs, wherever that was imported from
    package_root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    output = tempfile.TemporaryFile(dir=scratch)
    try:
        process = subprocess.Popen([sys.executable, "-m", "forge_cli.jobs", json.dumps(spec)],
                                   stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=subprocess.STDOUT, env=env)
    except OSError as error:
        output.close()
        raise ForgeError(f"cannot start a worker process: {error.strerror or error}") from None
    running.append(_Worker(experiment, seed, process, result, output))


def _stop(running: list[_Worker]) -> None:
    """SIGTERM every worker (each moves its partial run to ``.failed``), wait for them up to
    :data:`STOP_GRACE_S`, then kill what is left; a second Ctrl-C stops the waiting."""
    for worker in running:
        if worker.process.poll() is None:
            try:
                worker.process.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + STOP_GRACE_S
    try:
        for worker in running:
            try:
                worker.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
    except KeyboardInterrupt:
        pass
    finally:
        for worker in running:
            if worker.process.poll() is None:
                worker.process.kill()
                worker.process.wait()
            worker.output.close()


# ----------------------------------------------------------------------------- the worker

def _stop_handler(signum, frame):
    """Ctrl-C and SIGTERM unwind the run as in ``forge run``, once: a second signal (the
    terminal's SIGINT and the parent's SIGTERM both arrive) must not cut the cleanup short."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def worker_main(argv: list[str]) -> int:
    """One job: ``python -m forge_cli.jobs SPEC``; the outcome goes to ``SPEC["result"]``."""
    signal.signal(signal.SIGINT, _stop_handler)
    signal.signal(signal.SIGTERM, _stop_handler)
    spec = json.loads(argv[0])
    result, started, runs = Path(spec["result"]), time.time(), None
    try:
        from forge_cli.config import load_settings
        from forge_cli.runner import run_one

        settings = load_settings(Path(spec["root"]))
        runs = settings.path("runs")
        experiment = experiments_for(spec["week"]).get(spec["experiment"])
        if experiment is None:
            raise ForgeError(f"week {spec['week']} has no experiment {spec['experiment']!r} "
                             "in a fresh process (registered at run time?)")
        record = run_one(experiment, spec["seed"], spec["profile"], settings)
        outcome: dict[str, object] = {"path": str(record.path)}
    except KeyboardInterrupt:
        outcome = {"error": "interrupted", "exit_code": 130}
    except ForgeError as error:
        outcome = {"error": str(error), "exit_code": error.exit_code}
    except Exception as error:  # a bug or a crash in the experiment: its traceback is kept
        traceback.print_exc()
        where = _failed_run(runs, started) if runs is not None else None
        outcome = {"error": f"{type(error).__name__}: {error}"
                   + (f" (traceback in {where / 'error.txt'})" if where else ""), "exit_code": 1}
    result.write_text(json.dumps(outcome), encoding="utf-8")
    return 0 if "path" in outcome else int(outcome["exit_code"])


def _failed_run(runs: Path, since: float) -> Path | None:
    """The run this process moved to ``.failed``: its ``writer.json`` names this pid (run ids
    start with their UTC start time, so older ones are not read)."""
    oldest = datetime.fromtimestamp(since - 2, UTC).strftime("%Y%m%d-%H%M%S")
    for folder in sorted((runs / FAILED).glob("*"), reverse=True):
        if folder.name < oldest:
            break
        try:
            if json.loads((folder / WRITER_FILE).read_text()).get("pid") == os.getpid():
                return folder
        except (OSError, ValueError, AttributeError):
            continue
    return None


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
