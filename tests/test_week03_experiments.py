"""Week 3's registered experiments run end to end on the smoke profile."""

import math
import subprocess
import sys

import pytest

from algorithms.experiment import experiments_for
from recording_tracker import RecordingTracker, week_smoke_runs

EXPERIMENTS = experiments_for(3)
ENCODINGS = ("none", "sinusoidal", "learned", "shaw", "rope", "alibi")
# what each experiment's logged series is drawn against
X_AXES = {"speed-memory": "seq_len", "extrapolation": "train_step", "analysis": "train_step"}


@pytest.fixture(scope="module")
def runs() -> dict[str, tuple[dict[str, float], RecordingTracker]]:
    return week_smoke_runs(3)


def _table(tracker, key):
    columns, rows = tracker.tables[key]
    return [dict(zip(columns, row)) for row in rows]


def test_week_3_registers_its_experiments():
    assert set(EXPERIMENTS) == {"speed-memory", "approximation", "kv-cache", "extrapolation",
                                "analysis"}
    assert {name for name, exp in EXPERIMENTS.items() if exp.seeded} == {
        "approximation", "extrapolation", "analysis"}
    for exp in EXPERIMENTS.values():
        assert exp.description and exp.config.for_profile("gpu").profile == "gpu"
        assert exp.config.for_profile("cpu") == exp.config()


def test_week_3_runs_its_experiments_in_the_plan_order():
    assert list(EXPERIMENTS) == ["speed-memory", "approximation", "kv-cache", "extrapolation",
                                 "analysis"]


def test_importing_week_3_loads_neither_matplotlib_nor_torch():
    code = ("import sys, algorithms.weeks.week03; from algorithms.experiment import "
            "experiments_for; assert len(experiments_for(3)) == 5; "
            "print(sorted(m for m in ('matplotlib', 'torch', 'numpy', 'wandb') "
            "if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_summaries_are_flat_floats_and_figures_have_captions(name, runs):
    summary, tracker = runs[name]
    assert summary and all(isinstance(v, float) for v in summary.values())
    assert all(math.isfinite(v) for v in summary.values())
    assert tracker.figures and all(len(caption) > 80 for caption in tracker.figures.values())
    for key in [*tracker.figures, *tracker.tables, *(k for _, m in tracker.logs for k in m)]:
        section, _, rest = key.partition("/")
        assert section and rest and key == key.lower().replace(" ", "_"), key
    for key in summary:
        assert key == key.lower() and " " not in key and "/" not in key, key
    assert len(tracker.logs) < 1000
    # a table and a figure never share a key
    assert not set(tracker.tables) & set(tracker.figures)
    # every logged series names what its step counts
    assert set(tracker.axes.values()) <= {X_AXES.get(name)}
    assert bool(tracker.logs) == (name in X_AXES)


def test_an_experiment_restores_the_thread_count():
    import torch

    exp = EXPERIMENTS["approximation"]
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        exp.fn(exp.config.for_profile("smoke", threads=1, features=(8,), ranks=(8,), draws=2),
               RecordingTracker())
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_speed_memory_measures_every_variant_and_finds_crossovers(runs):
    summary, tracker = runs["speed-memory"]
    config = EXPERIMENTS["speed-memory"].config.for_profile("smoke")
    rows = _table(tracker, "speed_memory/measurements")
    assert {row["variant"] for row in rows} == set(config.variants)
    assert all(row["forward_backward_ms"] > 0 and row["forward_backward_mib"] > 0
               for row in rows)
    # the dense variant materialises the L × L weights: its memory grows faster than SDPA's
    dense = {row["seq_len"]: row["forward_mib"] for row in rows if row["variant"] == "dense"}
    assert dense[96] > 3 * dense[48]
    crossovers = _table(tracker, "speed_memory/crossovers")
    assert {row["variant"] for row in crossovers} == {
        "chunked", "flash", "sliding_window", "block_local", "longformer", "bigbird",
        "performer", "linformer"}
    assert {"speed_memory/forward_backward", "speed_memory/forward",
            "speed_memory/ratio_to_sdpa"} <= set(tracker.figures)
    assert "memory" in tracker.figures["speed_memory/forward_backward"].lower()


def test_approximation_error_falls_with_features_and_rank(runs):
    summary, _ = runs["approximation"]
    for std in ("0_25", "0_5"):
        performer = [summary[f"approximation.performer.logit_std_{std}.m{m}.rel_error"]
                     for m in (8, 64, 512)]
        assert performer[0] > performer[2]
    assert summary["approximation.linformer_pool.logit_std_1.k64.rel_error"] < 1e-12
    assert summary["approximation.linformer_pool.logit_std_1.k8.tv_distance"] > 0


def test_kv_cache_decoding_agrees_with_full_forward(runs):
    summary, tracker = runs["kv-cache"]
    for name in ("mha", "gqa2", "mqa"):
        assert summary[f"kv_cache.{name}.max_abs_diff"] < 1e-5
    rows = _table(tracker, "kv_cache/measurements")
    assert {(row["attention"], row["context"]) for row in rows} == {
        (name, context) for name in ("mha", "gqa2", "mqa") for context in (16, 32)}
    assert all(row["cached_ms_per_token"] > 0 and row["recompute_ms_per_token"] > 0
               for row in rows)
    assert "kv_cache/decode" in tracker.figures
    assert summary["kv_cache.mqa.ctx32.cache_mib"] * 4 == pytest.approx(
        summary["kv_cache.mha.ctx32.cache_mib"])


def test_extrapolation_reports_every_encoding_at_every_length(runs):
    summary, tracker = runs["extrapolation"]
    config = EXPERIMENTS["extrapolation"].config.for_profile("smoke")
    for encoding in ENCODINGS:
        for factor in config.eval_factors:
            assert 0 < summary[f"extrapolation.{encoding}.len{factor}x.loss"] < 10
    rows = _table(tracker, "extrapolation/loss_by_length")
    assert [row["seed"] for row in rows] == [0] * len(ENCODINGS)
    logged = {key for _, metrics in tracker.logs for key in metrics}
    assert "extrapolation/rope/train_loss" in logged


def test_extrapolation_is_seeded():
    exp = EXPERIMENTS["extrapolation"]
    smaller = {"encodings": ("alibi",), "steps": 3, "eval_factors": (1,)}
    results = [exp.fn(exp.config.for_profile("smoke", seed=seed, **smaller), RecordingTracker())
               for seed in (0, 0, 1)]
    key = "extrapolation.alibi.len1x.loss"
    assert results[0][key] == results[1][key] != results[2][key]


def test_analysis_tables_and_pruning(runs):
    summary, tracker = runs["analysis"]
    config = EXPERIMENTS["analysis"].config.for_profile("smoke")
    heads = _table(tracker, "analysis/heads")
    assert len(heads) == config.n_layers * config.n_heads
    assert all(0 <= row["entropy_nats"] <= row["uniform_entropy_nats"] + 1e-6 for row in heads)
    pruning = _table(tracker, "analysis/pruning_losses")
    assert [row["heads_pruned"] for row in pruning] == list(range(len(heads) + 1))
    first, last = pruning[0], pruning[-1]
    assert first["importance_order"] == first["random_order_mean"]  # nothing pruned yet
    assert last["importance_order"] == pytest.approx(last["reverse_order"])  # all pruned
    assert summary["analysis.heads_total"] == len(heads)
    assert {"analysis/attention_maps", "analysis/entropy_distance",
            "analysis/pruning"} <= set(tracker.figures)
