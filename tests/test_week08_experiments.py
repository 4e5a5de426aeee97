"""Week 8 (language modelling) at the smoke profile: every experiment, the base model stored and
loaded by name, a resumed run equal to an uninterrupted one, bad checkpoints refused."""

from __future__ import annotations

import json
import math

import pytest
from forge_cli_harness import forge, tree_fingerprint
from recording_tracker import week_smoke_runs

from forge_cli import runner
from forge_cli.config import load_settings
from forge_cli.store import RunStore
from forge_cli.tracking import RunTracker


@pytest.fixture(scope="module")
def runs():
    return week_smoke_runs(8)


def test_every_experiment_reports_finite_numbers_tables_and_figures(runs):
    assert set(runs) == {"lm-base", "perplexity-vs-size", "generation-quality", "exposure-bias"}
    for name, (summary, tracker) in runs.items():
        assert summary and tracker.tables and tracker.figures, name
        assert all(math.isfinite(v) for k, v in summary.items() if "ratio" not in k), name


def test_the_base_model_reports_size_perplexity_and_samples(runs):
    summary, tracker = runs["lm-base"]
    assert summary["base.val_ppl"] == pytest.approx(math.exp(summary["base.val_loss"]), rel=1e-3)
    assert summary["base.n_params_non_embedding"] < summary["base.n_params"]
    columns, rows = tracker.tables["samples/base"]
    assert columns == ["prompt", "decoding", "sample"] and len(rows) == 10


def test_the_size_study_fits_a_power_law_over_every_size(runs):
    summary, tracker = runs["perplexity-vs-size"]
    columns, rows = tracker.tables["sizes/val_loss"]
    assert len(rows) == 3 and columns[1] == "non-embedding params"
    sizes = [row[1] for row in rows]
    assert sizes == sorted(sizes)
    assert summary["fit.alpha_lo"] <= summary["fit.alpha"] <= summary["fit.alpha_hi"]


def test_generation_rows_cover_every_model_and_decoding_with_a_human_reference(runs):
    summary, tracker = runs["generation-quality"]
    columns, rows = tracker.tables["generation/metrics"]
    assert len(rows) == 4 * 4 + 1 and rows[-1][0] == "held-out text"
    assert summary["judge.n_params"] == max(row[1] for row in rows[:-1])


def test_exposure_bias_measures_both_regimes_for_both_budgets(runs):
    summary, tracker = runs["exposure-bias"]
    for budget in ("brief", "long"):
        assert summary[f"{budget}.kl_tf_mean"] >= 0 and summary[f"{budget}.kl_fr_mean"] >= 0
    assert len(tracker.tables["exposure/kl"][1]) == 2


def _interrupt_at(monkeypatch, metric: str, step: int) -> None:
    original = RunTracker.log

    def log(self, metrics, step=None, x="step", _at=step):
        if metric in metrics and step == _at:
            raise KeyboardInterrupt  # as Ctrl-C would, between two steps
        return original(self, metrics, step, x)

    monkeypatch.setattr(RunTracker, "log", log)


def test_a_killed_base_run_resumes_to_the_uninterrupted_result(project, monkeypatch):
    settings = load_settings(project)
    base = runner.RunPlan(week=8, profile="smoke", only=["lm-base"]).experiments()[0]
    straight = runner.run_one(base, 0, "smoke", settings)
    with monkeypatch.context() as patch:
        _interrupt_at(patch, "base/train_loss", 3)  # after the checkpoint at step 2
        with pytest.raises(KeyboardInterrupt):
            runner.run_one(base, 0, "smoke", settings)
    (failed,) = (project / "runs" / ".failed").iterdir()
    plan = runner.RunPlan(week=8, profile="smoke", only=["lm-base"], resume=failed.name)
    (resumed,) = runner.run_plan(plan, settings)
    for key in ("base.val_loss", "base.train_loss", "base.tokens_seen"):
        assert resumed.summary[key] == pytest.approx(straight.summary[key], abs=1e-4), key
    steps = [row["step"] for row in resumed.history() if "base/train_loss" in row]
    assert steps == [row["step"] for row in straight.history() if "base/train_loss" in row]
    assert (resumed.path / "artifacts/lm-tinystories-base/checkpoint/model.pt").is_file()


def test_a_corrupt_or_foreign_base_model_is_bad_input_and_changes_nothing(project):
    settings = load_settings(project)
    experiments = runner.RunPlan(week=8, profile="smoke").experiments()
    by_name = {e.name: e for e in experiments}
    runner.run_one(by_name["lm-base"], 0, "smoke", settings)
    runner.run_one(by_name["perplexity-vs-size"], 0, "smoke", settings)
    (record,) = RunStore(project / "runs").runs(8, "lm-base")
    checkpoint = record.path / record.artifacts["lm:tinystories-base"] / "checkpoint"
    weights = checkpoint / "model.pt"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    before = tree_fingerprint(project / "runs")
    outcome = forge("run", "week8", "--only", "generation-quality", "--profile", "smoke")
    assert outcome.code == 2 and len(outcome.error_lines) == 1, outcome.stderr
    assert "generation-quality" in outcome.stderr and "model.pt" in outcome.stderr
    assert tree_fingerprint(project / "runs") == before
    manifest = checkpoint / "checkpoint.json"
    manifest.write_text(json.dumps({"format": "someone-else"}))
    outcome = forge("run", "week8", "--only", "generation-quality", "--profile", "smoke")
    assert outcome.code == 2 and "not a forge checkpoint" in outcome.stderr, outcome.stderr
