"""Week 5 (the transformer beyond the basics) at the smoke profile: every experiment runs, its
tables and figures cover every variant, and its numbers are what they say they are."""

from __future__ import annotations

import math

import pytest
from recording_tracker import week_smoke_runs


@pytest.fixture(scope="module")
def runs():
    return week_smoke_runs(5)


def test_every_experiment_reports_numbers_tables_and_figures(runs):
    assert set(runs) == {"architecture-ablations", "norm-stability", "moe-routing",
                         "token-mixers", "efficiency-profile"}
    for name, (summary, tracker) in runs.items():
        assert summary and tracker.tables and tracker.figures, name
        assert all(isinstance(v, (int, float)) and math.isfinite(v)
                   for v in summary.values()), name


def test_ablations_change_one_thing_and_pair_seeds_with_the_baseline(runs):
    summary, tracker = runs["architecture-ablations"]
    columns, rows = tracker.tables["ablations/val_loss"]
    assert rows[0][1].startswith("LLaMA") and rows[0][columns.index("minus LLaMA (paired)")] == 0
    assert {row[0] for row in rows[1:]} == {"norm", "feed-forward", "block", "width vs depth"}
    assert "ablations/evolution" in tracker.figures
    # the seed-paired difference is the difference of the means
    assert summary["geglu.delta_vs_llama"] == pytest.approx(
        summary["geglu.val_loss"] - summary["llama.val_loss"], abs=2e-4)


def test_stability_sweeps_every_norm_over_every_learning_rate(runs):
    summary, tracker = runs["norm-stability"]
    _, rows = tracker.tables["stability/final_loss"]
    assert len(rows) == 3 * 2  # pre, post, QK-norm × the smoke profile's two rates
    for name in ("pre", "post", "qknorm"):
        assert summary[f"{name}.best_lr"] in (1e-3, 3e-2)
        assert 0 <= summary[f"{name}.diverged_total"] <= 2 * 2
    assert any(k.startswith("stability/pre/lr0.001/seed0/grad_norm/layer")
               for k in tracker.axes)


def test_moe_routing_logs_load_drops_and_entropy(runs):
    summary, tracker = runs["moe-routing"]
    assert summary["top1.n_params"] > summary["dense.n_params"]
    assert summary["cap_none.dropped_share"] == 0.0  # no capacity limit drops nothing
    assert summary["cap0_5.dropped_share"] >= 0.45  # half the fair share: ≥ half dropped
    assert 0 <= summary["top1.router_entropy"] <= math.log(4) + 1e-6
    assert any("moe/layer0/load/expert3" in k for k in tracker.axes)


def test_mixers_sweep_lengths_for_every_mixer(runs):
    summary, tracker = runs["token-mixers"]
    _, rows = tracker.tables["mixers/length_sweep"]
    assert len(rows) == 4 * 2
    for key in ("llama", "retnet", "mamba", "mamba2"):
        assert summary[f"{key}.peak_mib_longest"] > 0
    # attention's FLOPs per token grow with the length; a recurrence's do not, or barely
    assert summary["llama.flops_growth"] > summary["mamba.flops_growth"]


def test_efficiency_profiles_every_architecture_and_checkpointing_saves_memory(runs):
    summary, tracker = runs["efficiency-profile"]
    _, rows = tracker.tables["profile/architectures"]
    assert len(rows) == 8
    assert summary["checkpointing.memory_ratio"] < 1.0
    assert summary["checkpointing.flops_ratio"] > 1.0  # one more forward
    _, rows = tracker.tables["precision/val_loss"]
    labels = [row[0] for row in rows]
    assert any("emulated" in label for label in labels)  # the FP8 stand-in says what it is


def test_gpu_profiles_build_every_model():
    """The gpu profile cannot run here; every config it trains must at least be valid."""
    from algorithms.experiment import experiments_for

    for exp in experiments_for(5).values():
        config = exp.config.for_profile("gpu")
        for changes in _changes(config):
            config.lm_config(config.vocab_size, **changes)  # ValueError if a shape is invalid


def _changes(config):
    from algorithms.weeks.week05.common import ARCHITECTURES

    rows = [c for *_, c in getattr(config, "ablations", [])]
    rows += [c for *_, c in getattr(config, "mixers", [])]
    return [{}, *rows, *[c for _, c in ARCHITECTURES.values()]]
