"""Week 11's registered experiments run end to end on the smoke profile."""

import math
import subprocess
import sys

import pytest

from algorithms.experiment import PROFILES, InputError, experiments_for
from recording_tracker import RecordingTracker, week_smoke_runs
from test_policy_helpers import check_run

EXPERIMENTS = experiments_for(11)


def test_week_11_registers_its_experiments_and_their_plan_coverage():
    assert {"sparse-autoencoders", "activation-patching", "weak-to-strong"} <= set(EXPERIMENTS)
    assert EXPERIMENTS["weak-to-strong"].covers == (2,)
    assert EXPERIMENTS["sparse-autoencoders"].covers == (3,)
    assert EXPERIMENTS["activation-patching"].covers == (3,)
    for exp in EXPERIMENTS.values():
        assert exp.description
        for profile in PROFILES:
            assert exp.config.for_profile(profile).profile == profile
    assert EXPERIMENTS["sparse-autoencoders"].config.for_profile("cpu").n_seeds >= 3


def test_importing_week_11_loads_neither_matplotlib_nor_torch():
    code = ("import sys, algorithms.weeks.week11; "
            "print(any(m in sys.modules for m in ('matplotlib', 'torch', 'gymnasium', 'wandb')))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_smoke_runs_log_tables_figures_and_flat_float_summaries():
    runs = week_smoke_runs(11)
    check_run(*runs["sparse-autoencoders"])  # training curves too
    for summary, tracker in runs.values():
        assert summary and all(isinstance(v, float) and math.isfinite(v)
                               for v in summary.values())
        assert tracker.tables and tracker.figures
        assert all(len(caption) > 40 for caption in tracker.figures.values())


def test_the_summaries_name_the_measured_quantities():
    runs = week_smoke_runs(11)
    sae = runs["sparse-autoencoders"][0]
    for l1 in ("0.3", "3"):
        assert {f"l1_{l1}.{m}" for m in ("l0", "explained_variance", "dead_fraction",
                                          "loss_recovered_zero", "loss_recovered_mean",
                                          "loss_increase")} <= set(sae)
    assert sae["l1_3.l0"] <= sae["l1_0.3.l0"]  # a larger λ, fewer active features
    w2s = runs["weak-to-strong"][0]
    for task in ("sentiment", "language_family", "continuation"):  # the default tasks
        assert {f"{task}.{arm}.accuracy" for arm in ("weak", "naive", "aux", "ceiling")} \
            <= set(w2s)
        assert {f"{task}.naive_pgr", f"{task}.aux_pgr"} <= set(w2s)
    patching = runs["activation-patching"][0]
    # the last site at the last position is the whole stream the logits read
    assert patching["template0.block0.last_recovery"] == pytest.approx(1.0)
    assert "template0.embeddings.noun_recovery" in patching


def test_multi_token_words_and_bad_templates_are_refused():
    week_smoke_runs(11)  # the base-model artifact
    exp = EXPERIMENTS["activation-patching"]
    bad = exp.config.for_profile("smoke", pronouns=("he", "elephantine"))
    with pytest.raises(InputError, match="tokens for the base model's tokenizer"):
        exp.fn(bad, RecordingTracker())
    bad = exp.config.for_profile("smoke", templates=["{name} was {noun}."])
    with pytest.raises(InputError, match="needs {noun} once, before {name}"):
        exp.fn(bad, RecordingTracker())
    with pytest.raises(ValueError, match="SAEConfig needs"):
        EXPERIMENTS["sparse-autoencoders"].config.for_profile("smoke", l1s=[-1.0])
