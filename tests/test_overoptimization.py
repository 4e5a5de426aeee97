"""Week 12's overoptimization: the functional forms of Gao et al. (2022) and their fits, the
best-of-n estimator, and the experiment at the smoke profile on week 9's pairs."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from recording_tracker import smoke_runs

from algorithms.safety.overoptimization import (best_of_n_expectation, bon_gold, distance,
                                                fit_bon, fit_rl, peak, rl_gold)


@pytest.mark.parametrize("alpha, beta", [(1.3, 0.4), (0.5, 0.05), (2.0, 1.5)])
def test_noise_free_data_gives_back_alpha_beta_with_r2_one(alpha, beta):
    d = np.sqrt([0.0, 0.3, 0.7, 1.2, 2.0, 3.1, 4.4])
    bon = fit_bon(d, bon_gold(d, alpha, beta))
    rl = fit_rl(d, rl_gold(d, alpha, beta))  # d = 0 is dropped: the RL form is 0 there
    for fit in (bon, rl):
        assert fit.alpha == pytest.approx(alpha, rel=1e-9, abs=1e-12)
        assert fit.beta == pytest.approx(beta, rel=1e-9, abs=1e-12)
        assert fit.r2 == pytest.approx(1.0, abs=1e-12)
    assert (bon.n_points, rl.n_points) == (7, 6)
    np.testing.assert_allclose(rl.predict(d), rl_gold(d, alpha, beta), atol=1e-12)


@pytest.mark.parametrize("form, gold, alpha, beta", [
    ("bon", bon_gold, 1.3, 0.4), ("bon", bon_gold, 0.7, 0.9),
    ("rl", rl_gold, 1.3, 0.4), ("rl", rl_gold, 0.2, 0.5), ("rl", rl_gold, 2.0, 0.9)])
def test_the_peak_formulas_match_the_argmax_of_a_dense_grid(form, gold, alpha, beta):
    d_star, gold_star = peak(form, alpha, beta)
    grid = np.linspace(1e-9, 3 * d_star, 300_001)
    values = gold(grid, alpha, beta)
    assert d_star == pytest.approx(grid[np.argmax(values)], rel=1e-4)
    assert gold_star == pytest.approx(values.max(), rel=1e-8)
    expected = alpha / (2 * beta) if form == "bon" else math.exp(alpha / beta - 1)
    assert d_star == pytest.approx(expected)


def test_without_a_positive_beta_there_is_no_peak():
    assert peak("bon", 1.0, 0.0) == (math.inf, math.inf)
    assert peak("rl", 1.0, -0.2) == (math.inf, math.inf)
    assert peak("bon", -1.0, 0.0) == (0.0, 0.0)
    d = np.array([0.5, 1.0, 1.5, 2.0])
    fit = fit_bon(d, bon_gold(d, 0.8, -0.1))
    assert not fit.has_peak and not fit.peak_in_range
    inside = fit_bon(d, bon_gold(d, 1.0, 0.5))  # d* = 1, inside the range
    assert inside.has_peak and inside.peak_in_range


@pytest.mark.parametrize("fit, d, gold", [
    (fit_bon, [0.5], [0.1]),                        # one point cannot fix two parameters
    (fit_bon, [1.0, 1.0, 1.0], [0.1, 0.2, 0.1]),    # nor can one distance
    (fit_rl, [0.0, 1.0], [0.0, 0.3]),               # one point left once d = 0 is dropped
    (fit_bon, [0.1, 0.2], [0.1]),                   # lengths differ
    (fit_rl, [-0.1, 0.5, 1.0], [0.0, 0.1, 0.2]),    # a negative distance
    (fit_bon, [0.1, 0.2, 0.3], [0.1, float("nan"), 0.2]),
])
def test_degenerate_input_is_refused_in_one_line(fit, d, gold):
    with pytest.raises(ValueError) as caught:
        fit(np.array(d), np.array(gold))
    assert "\n" not in str(caught.value)


def test_distance_reads_a_negative_kl_estimate_as_zero():
    np.testing.assert_allclose(distance([-0.01, 0.0, 4.0]), [0.0, 0.0, 2.0])


def test_best_of_n_expectation_is_the_mean_over_all_subsets():
    rng = np.random.default_rng(0)
    scores, values = rng.normal(size=(3, 6)), rng.normal(size=(3, 6))
    for n in range(1, 7):
        brute = np.mean([np.mean([row_v[list(s)][np.argmax(row_s[list(s)])]
                                  for s in itertools.combinations(range(6), n)])
                         for row_s, row_v in zip(scores, values)])
        assert best_of_n_expectation(scores, values, n) == pytest.approx(brute, abs=1e-12)
    assert best_of_n_expectation(scores, values, 1) == pytest.approx(values.mean())
    with pytest.raises(ValueError):
        best_of_n_expectation(scores, values, 7)


# ----------------------------------------------------------------------------- the experiment

@pytest.fixture(scope="module")
def run():
    from algorithms.experiment import experiments_for

    return smoke_runs({"overoptimization": experiments_for(12)["overoptimization"]})[
        "overoptimization"]


def test_the_smoke_run_reports_every_study_with_finite_numbers(run):
    summary, tracker = run
    assert all(math.isfinite(v) for v in summary.values())
    assert {"overopt/proxies", "overopt/fits", "overopt/curves"} <= set(tracker.tables)
    assert {"overopt/bon", "overopt/ppo", "overopt/beta", "overopt/ensemble"} <= set(
        tracker.figures)
    for size in (8, 32):
        for key in (f"bon.proxy_n{size}.gold_peak_d", f"bon.proxy_n{size}.fit_r2",
                    f"ppo.proxy_n{size}.final_gold_reward", f"ppo.proxy_n{size}.final_kl",
                    f"proxy_n{size}.test_accuracy"):
            assert key in summary, key
    assert {"ppo_beta.beta0.01.final_kl", "ppo_beta.beta0.1.final_kl",
            "ensemble.worst_case.gold_peak_d", "ensemble.uncertainty_weighted.final_gold_gain"
            } <= set(summary)
    # best-of-n's d is the analytic √(log n − (n − 1)/n) at n = 1, 2, 4
    assert summary["bon.max_d"] == pytest.approx(math.sqrt(math.log(4) - 0.75))
    _, rows = tracker.tables["overopt/curves"]
    assert [r[2] for r in rows if r[0] == "bon" and r[1] == "proxy on 8 pairs"] == [1, 2, 4]
    assert any(k.endswith("/gold_reward") and k.startswith("ppo/") for _, m in tracker.logs
               for k in m)


@pytest.mark.parametrize("overrides, needle", [
    ({"ppo_beta": 0.0}, "β must be > 0"),
    ({"beta_sweep": [-0.1]}, "β must be > 0"),
    ({"bon_n_max": 0}, "bon_n_max >= 4"),
    ({"data_sizes": [8, 8]}, "distinct"),
    ({"beta_sweep_size": 5}, "is not one of the data_sizes"),
    ({"ensemble_members": 1}, "ensemble_members >= 2"),
])
def test_a_bad_config_is_refused_in_one_line(overrides, needle):
    from pydantic import ValidationError

    from algorithms.experiment import experiments_for

    with pytest.raises(ValidationError) as caught:
        experiments_for(12)["overoptimization"].config.for_profile("smoke", **overrides)
    message = caught.value.errors()[0]["msg"]
    assert needle in message and "\n" not in message


def test_a_data_size_beyond_the_pairs_is_bad_input(run):
    from recording_tracker import RecordingTracker

    from algorithms.experiment import InputError, experiments_for

    exp = experiments_for(12)["overoptimization"]
    with pytest.raises(InputError, match="gold-labelled train pairs"):
        exp.fn(exp.config.for_profile("smoke", data_sizes=[8, 10**6]), RecordingTracker())
