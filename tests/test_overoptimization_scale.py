"""Week 12's ``overoptimization-scale`` at the smoke profile, on the smoke runs of week 8's base
model and perplexity-vs-size family and week 9's pairs, and its config checks."""

from __future__ import annotations

import math

import pytest
from recording_tracker import smoke_runs


@pytest.fixture(scope="module")
def run():
    from algorithms.experiment import experiments_for

    return smoke_runs({"overoptimization-scale": experiments_for(12)["overoptimization-scale"]})[
        "overoptimization-scale"]


def test_the_smoke_run_reports_every_model_and_data_size_with_finite_numbers(run):
    summary, tracker = run
    assert all(math.isfinite(v) for v in summary.values())
    assert {"overopt_scale/fits", "overopt_scale/curves"} <= set(tracker.tables)
    assert "overopt_scale/bon" in tracker.figures
    models = [k.split(".")[1] for k in summary if k.startswith("models.")]
    assert "base" in models and len(models) >= 2
    assert all(summary[f"models.{m}.params"] > 0 for m in models)
    for m in models:
        for peak in ("peak_d", "fit_best_d"):
            assert -1.0 <= summary[f"bon.{m}.{peak}_rank_corr_with_data"] <= 1.0
        for size in (8, 32):
            for field in ("test_accuracy", "gold_peak_d", "gold_peak_gain", "final_gold_gain",
                          "fit_alpha", "fit_beta", "fit_r2", "fit_has_peak", "fit_best_d",
                          "overoptimized"):
                assert f"bon.{m}.proxy_n{size}.{field}" in summary, (m, size, field)
            assert 0.0 <= summary[f"bon.{m}.proxy_n{size}.test_accuracy"] <= 1.0
            # the measured peak is one of the measured d, within [0, d_max]
            assert 0.0 <= summary[f"bon.{m}.proxy_n{size}.gold_peak_d"] <= summary["bon.max_d"]
    # best-of-n's d is the analytic √(log n − (n − 1)/n) at n = 1, 2, 4
    assert summary["bon.max_d"] == pytest.approx(math.sqrt(math.log(4) - 0.75))
    columns, rows = tracker.tables["overopt_scale/fits"]
    assert len(rows) == 2 * len(models) and len(columns) == len(rows[0])
    _, curves = tracker.tables["overopt_scale/curves"]
    assert [r[2] for r in curves if r[0] == "base" and r[1] == 8] == [1, 2, 4]


@pytest.mark.parametrize("overrides, needle", [
    ({"data_sizes": [8, 8]}, "distinct"),
    ({"data_sizes": [0, 8]}, "pair counts >= 1"),
    ({"data_sizes": []}, "pair counts >= 1"),
    ({"models": ["base", "base"]}, "models must be distinct"),
    ({"bon_n_max": 2}, "bon_n_max >= 4"),
    ({"pooling": "mean"}, "pooling must be last or sum"),
    ({"head_lr": 0.0}, "head_lr > 0"),
])
def test_a_bad_config_is_refused_in_one_line(overrides, needle):
    from pydantic import ValidationError

    from algorithms.experiment import experiments_for

    with pytest.raises(ValidationError) as caught:
        experiments_for(12)["overoptimization-scale"].config.for_profile("smoke", **overrides)
    message = caught.value.errors()[0]["msg"]
    assert needle in message and "\n" not in message


@pytest.mark.parametrize("overrides, needle", [
    ({"data_sizes": [8, 10**6]}, "gold-labelled train pairs"),
    ({"models": ["base", "d999_l9"]}, "unknown model d999_l9"),
])
def test_bad_input_is_an_input_error(run, overrides, needle):
    from recording_tracker import RecordingTracker

    from algorithms.experiment import InputError, experiments_for

    exp = experiments_for(12)["overoptimization-scale"]
    with pytest.raises(InputError, match=needle):
        exp.fn(exp.config.for_profile("smoke", **overrides), RecordingTracker())


def test_a_proxy_model_with_another_tokenizer_is_an_input_error(run, monkeypatch):
    import itertools

    from recording_tracker import RecordingTracker

    import algorithms.lm.data
    from algorithms.experiment import InputError, experiments_for

    prints = itertools.chain(["base"], itertools.repeat("other"))  # the base model's is read first
    monkeypatch.setattr(algorithms.lm.data, "tokenizer_fingerprint", lambda _: next(prints))
    exp = experiments_for(12)["overoptimization-scale"]
    with pytest.raises(InputError, match="is not the base model's"):
        exp.fn(exp.config.for_profile("smoke"), RecordingTracker())
