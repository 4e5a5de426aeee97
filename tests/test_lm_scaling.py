"""The scaling-law fit L(N) = E + A·N^−α (algorithms.lm.scaling)."""

from __future__ import annotations

import numpy as np
import pytest

from algorithms.lm.scaling import PowerLawFit, fit_power_law, fit_with_uncertainty

SIZES = np.geomspace(1e5, 3e8, 7)


def law(n, E, A, alpha):
    return E + A * np.asarray(n, dtype=float) ** -alpha


@pytest.mark.parametrize("truth", [(1.69, 406.4, 0.34), (2.5, 30.0, 0.12), (0.0, 8.0, 0.07)])
def test_recovers_noiseless_parameters(truth):
    theta, cov = fit_power_law(SIZES, law(SIZES, *truth))
    assert cov.shape == (3, 3)
    for got, want in zip(theta, truth, strict=True):
        assert got == pytest.approx(want, rel=1e-3, abs=1e-6)


def test_three_sizes_fit_exactly_and_report_a_bootstrap_interval():
    sizes, truth = SIZES[[0, 3, 6]], (1.8, 200.0, 0.3)
    theta, _ = fit_power_law(sizes, law(sizes, *truth))
    np.testing.assert_allclose(theta, truth, rtol=1e-3)
    rng = np.random.default_rng(0)
    losses = law(sizes, *truth) + 0.005 * rng.standard_normal((4, 3))
    fit = fit_with_uncertainty(sizes, losses, n_boot=50)
    assert fit.method.startswith("bootstrap over seeds (50 resamples")
    assert fit.rmse < 1e-6  # 3 parameters through 3 points
    assert fit.E_ci[0] <= fit.E <= fit.E_ci[1]


def test_noisy_seeds_bootstrap_intervals_cover_the_truth():
    truth = (2.0, 150.0, 0.28)
    rng = np.random.default_rng(0)
    losses = law(SIZES, *truth) + 0.01 * rng.standard_normal((6, len(SIZES)))
    fit = fit_with_uncertainty(SIZES, losses, n_boot=200, seed=0)
    assert isinstance(fit, PowerLawFit) and fit.n_points == len(SIZES)
    assert fit.method == "bootstrap over seeds (200 resamples, 0 failed)"
    for name, want in zip(("E", "A", "alpha"), truth, strict=True):
        lo, hi = getattr(fit, f"{name}_ci")
        assert lo <= getattr(fit, name) <= hi
        assert lo <= want <= hi, (name, lo, want, hi)
    assert fit.rmse < 0.02


def test_one_seed_uses_the_covariance():
    truth = (2.0, 150.0, 0.28)
    losses = law(SIZES, *truth) + 0.003 * np.random.default_rng(1).standard_normal(len(SIZES))
    fit = fit_with_uncertainty(SIZES, losses[None])
    assert fit.method == "curve_fit covariance (one seed)"
    assert fit.alpha_ci[0] < fit.alpha < fit.alpha_ci[1]
    assert np.isfinite(fit.alpha_ci).all()


def test_fewer_than_three_sizes_raise():
    with pytest.raises(ValueError, match="3"):
        fit_power_law([1e6, 1e7], [3.0, 2.5])
    with pytest.raises(ValueError):
        fit_with_uncertainty([1e6, 1e7], np.ones((3, 2)))
    with pytest.raises(ValueError):
        fit_with_uncertainty([1e6, 1e7, 1e8], np.ones((3, 2)))  # shape mismatch


def test_predict_label_and_summary():
    theta, _ = fit_power_law(SIZES, law(SIZES, 1.23, 45.6, 0.31))
    fit = fit_with_uncertainty(SIZES, law(SIZES, 1.23, 45.6, 0.31)[None])
    np.testing.assert_allclose(fit.predict(SIZES), law(SIZES, *theta), rtol=1e-9)
    assert fit.predict(np.array([1e6])).shape == (1,)
    assert fit.label() == "L(N) = 1.23 + 45.6·N^−0.31"
    summary = fit.summary()
    assert {"E", "E_lo", "E_hi", "A", "A_lo", "A_hi", "alpha", "alpha_lo", "alpha_hi",
            "rmse"} <= set(summary)
    assert all(isinstance(v, float) for v in summary.values())
