"""Artifacts one run makes for another, and resuming an interrupted run from its checkpoint."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import ClassVar

import pytest
from forge_cli_harness import forge

from algorithms.experiment import ExperimentConfig
from forge_cli import runner
from forge_cli.config import load_settings
from forge_cli.errors import BadInput
from forge_cli.store import RunStore

WEEK = 90  # outside the plan: throwaway experiments only


class ToyConfig(ExperimentConfig):
    steps: int = 6
    width: int = 3
    profiles: ClassVar = {"smoke": {"steps": 4}}


def _register(registry, interrupt_at: list[int]):
    @registry.experiment(week=WEEK, name="make-model", config=ToyConfig, covers=(1,),
                         produces=("toy:model",))
    def make_model(config, tracker):
        """Writes a model file."""
        (tracker.artifact_dir("toy:model") / "weights.txt").write_text(f"width={config.width}")
        return {"made": 1.0}

    @registry.experiment(week=WEEK, name="use-model", config=ToyConfig, covers=(1,),
                         needs=("toy:model",))
    def use_model(config, tracker):
        """Reads the model file."""
        text = (tracker.use_artifact("toy:model") / "weights.txt").read_text()
        return {"width_seen": float(text.split("=")[1])}

    @registry.experiment(week=WEEK, name="train", config=ToyConfig, covers=(1,), resumable=True)
    def train(config, tracker):
        """Counts steps, checkpointing each one."""
        state_file = tracker.checkpoint_dir() / "state.json"
        state = json.loads(state_file.read_text()) if state_file.exists() else {"step": 0,
                                                                               "total": 0}
        for step in range(state["step"], config.steps):
            if interrupt_at and step == interrupt_at[0]:
                interrupt_at.clear()
                raise KeyboardInterrupt
            state = {"step": step + 1, "total": state["total"] + step}
            tracker.log({"train/total": state["total"]}, step=step + 1, x="train_step")
            state_file.write_text(json.dumps(state))
        return {"total": float(state["total"]), "resumed_from": 0.0}


def _tree_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def test_a_needed_artifact_is_made_first_and_loaded_by_name(project, registry):
    _register(registry, [])
    experiments = registry.experiments_for(WEEK)
    notes: list[str] = []
    record = runner.run_one(experiments["use-model"], 0, "smoke", load_settings(project),
                            notify=notes.append)
    assert record.summary == {"width_seen": 3.0}
    assert len(notes) == 1 and "make-model first" in notes[0] and "toy:model" in notes[0]
    (made,) = RunStore(project / "runs").runs(WEEK, "make-model")
    assert made.artifacts == {"toy:model": "artifacts/toy-model"}
    assert (made.path / "artifacts/toy-model/weights.txt").read_text() == "width=3"
    # made once: the second consumer finds it
    runner.run_one(experiments["use-model"], 1, "smoke", load_settings(project),
                   notify=notes.append)
    assert len(notes) == 1 and len(RunStore(project / "runs").runs(WEEK, "make-model")) == 1
    # another profile has its own artifacts
    runner.run_one(experiments["use-model"], 0, "cpu", load_settings(project),
                   notify=notes.append)
    assert len(notes) == 2


def test_an_undeclared_artifact_is_refused(project, registry):
    @registry.experiment(week=WEEK, name="sneaky", config=ToyConfig, covers=(1,))
    def sneaky(config, tracker):
        """Writes an artifact it did not declare."""
        tracker.artifact_dir("toy:model")
        return {}

    with pytest.raises(ValueError, match="produces"):
        runner.run_one(registry.experiments_for(WEEK)["sneaky"], 0, "smoke",
                       load_settings(project))


def _interrupted(project, registry) -> tuple[str, Path]:
    _register(registry, [2])
    with pytest.raises(KeyboardInterrupt):
        runner.run_one(registry.experiments_for(WEEK)["train"], 0, "smoke",
                       load_settings(project))
    (failed,) = (project / "runs" / ".failed").iterdir()
    return failed.name, failed


def test_resume_continues_from_the_checkpoint_and_keeps_the_interrupted_run(project, registry):
    run_id, failed = _interrupted(project, registry)
    before = _tree_hash(failed)
    plan = runner.RunPlan(week=WEEK, profile="smoke", only=["train"], resume=run_id)
    (record,) = runner.run_plan(plan, load_settings(project))
    straight = runner.run_one(registry.experiments_for(WEEK)["train"], 0, "smoke",
                              load_settings(project))
    assert record.summary == straight.summary == {"total": 6.0, "resumed_from": 0.0}
    steps = [row["step"] for row in record.history()]
    assert steps == [3, 4]  # only what was left; the first two are in the interrupted run
    assert _tree_hash(failed) == before
    assert not (record.path / "checkpoint").exists()  # a finished run keeps no optimizer state
    start = json.loads((record.path / "start.json").read_text())
    assert start["resumes"] == run_id


@pytest.mark.parametrize("change, message", [
    ({"profile": "cpu"}, "profile 'smoke', not 'cpu'"),
    ({"only": ["use-model"]}, "does not checkpoint"),
    ({"seeds": [3]}, "seed 0, not 3"),
    ({"only": ["train", "use-model"]}, "continues one run"),
])
def test_resume_of_another_run_is_refused_before_any_file_changes(project, registry, change,
                                                                  message):
    run_id, _ = _interrupted(project, registry)
    runs = project / "runs"
    before = _tree_hash(runs)
    plan = runner.RunPlan(**{"week": WEEK, "profile": "smoke", "only": ["train"],
                             "resume": run_id, **change})
    with pytest.raises(BadInput, match=message.replace("(", r"\(")):
        runner.run_plan(plan, load_settings(project))
    assert _tree_hash(runs) == before


def test_resume_with_another_config_names_the_field(project, registry):
    run_id, failed = _interrupted(project, registry)
    start = json.loads((failed / "start.json").read_text())
    start["config"]["width"] = 5
    (failed / "start.json").write_text(json.dumps(start))
    plan = runner.RunPlan(week=WEEK, profile="smoke", only=["train"], resume=run_id)
    with pytest.raises(BadInput, match="width = 5 there, 3 here"):
        plan.check(load_settings(project))


def test_resume_of_unknown_finished_or_checkpointless_runs(project, registry):
    _register(registry, [])
    settings = load_settings(project)
    finished = runner.run_one(registry.experiments_for(WEEK)["train"], 0, "smoke", settings)
    for run_id, message in [("nope", "no interrupted run nope"),
                            (finished.id, "finished: there is nothing to resume"),
                            ("../x", "bad --resume")]:
        plan = runner.RunPlan(week=WEEK, profile="smoke", only=["train"], resume=run_id)
        with pytest.raises(BadInput, match=message):
            plan.check(settings)
    empty = project / "runs" / ".failed" / "20260101-000000-abcdef"
    (empty / "checkpoint").mkdir(parents=True)
    (empty / "start.json").write_text(json.dumps({"config": {}}))
    plan = runner.RunPlan(week=WEEK, profile="smoke", only=["train"], resume=empty.name)
    with pytest.raises(BadInput, match="before its first checkpoint"):
        plan.check(settings)


def test_cli_resume_errors_are_one_line_exit_2(project):
    result = forge("run", "week1", "--resume", "nope", "--profile", "smoke")
    assert result.code == 2
    assert len(result.error_lines) == 1 and "--only" in result.error_lines[0]
    result = forge("run", "week1", "--only", "pi-vs-vi", "--resume", "nope")
    assert result.code == 2 and "no interrupted run nope" in result.error_lines[0]


def test_a_configured_corpus_that_is_missing_is_bad_input(project):
    (project / "forge.toml").write_text('[wandb]\nmode = "disabled"\n[data]\n'
                                        'tinystories = "missing.txt"\n')
    result = forge("run", "week1", "--profile", "smoke")
    assert result.code == 2 and len(result.error_lines) == 1
    assert "[data] tinystories" in result.stderr and "no such file" in result.stderr
    assert not (project / "runs").exists()
