"""Scaling-law fits recover the constants that generated synthetic runs (algorithms.lm.scaling_laws,
algorithms.lm.isoflop): Kaplan et al.'s power laws, Hoffmann et al.'s approaches 2 and 3."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from algorithms.lm.isoflop import IsoFLOPFit, fit_isoflop
from algorithms.lm.scaling_laws import (
    PUBLISHED,
    ChinchillaFit,
    KaplanFit,
    fit_chinchilla,
    fit_kaplan,
    huber,
)

TRUTH = PUBLISHED["hoffmann2022_approach3"]  # E 1.69, A 406.4, B 410.7, α 0.34, β 0.28
LAW = ChinchillaFit(**TRUTH)
SIZES = np.geomspace(1e7, 1e10, 6)
TOKENS = np.geomspace(1e9, 1e11, 4)
GRID_N, GRID_D = (m.ravel() for m in np.meshgrid(SIZES, TOKENS))  # 24 runs
NOISE = 0.01  # L · exp(ε), ε ~ N(0, NOISE²)


def noisy(loss: np.ndarray, seed: int) -> np.ndarray:
    return loss * np.exp(NOISE * np.random.default_rng(seed).standard_normal(loss.shape))


def inside(ci: tuple[float, float], value: float) -> bool:
    return ci[0] <= value <= ci[1]


# ------------------------------------------------------------------------------ Kaplan

KAPLAN = PUBLISHED["kaplan2020"]
KAPLAN_N = np.geomspace(1e6, 1e9, 6)


def kaplan_law(x, x_c, alpha):
    return (x_c / np.asarray(x, dtype=float)) ** alpha


@pytest.mark.parametrize("variable", ["N", "D"])
def test_kaplan_noiseless_is_exact(variable):
    x_c, alpha = KAPLAN[f"{variable}_c"], KAPLAN[f"alpha_{variable}"]
    fit = fit_kaplan(KAPLAN_N, kaplan_law(KAPLAN_N, x_c, alpha), variable=variable, n_boot=50)
    assert isinstance(fit, KaplanFit) and fit.variable == variable and fit.n_points == 6
    assert fit.alpha == pytest.approx(alpha, rel=1e-9)
    assert fit.x_c == pytest.approx(x_c, rel=1e-6)
    assert fit.rmse < 1e-12
    np.testing.assert_allclose(fit.predict(KAPLAN_N), kaplan_law(KAPLAN_N, x_c, alpha), rtol=1e-9)
    assert fit.label().startswith(f"L({variable}) = (")


def test_kaplan_points_bootstrap_covers_the_truth():
    x_c, alpha = KAPLAN["N_c"], KAPLAN["alpha_N"]
    fit = fit_kaplan(KAPLAN_N, noisy(kaplan_law(KAPLAN_N, x_c, alpha), 0), n_boot=1000)
    assert fit.method.startswith("bootstrap over points (1000 resamples")
    assert inside(fit.alpha_ci, alpha) and inside(fit.x_c_ci, x_c)
    assert inside(fit.alpha_ci, fit.alpha) and inside(fit.x_c_ci, fit.x_c)
    assert fit.alpha == pytest.approx(alpha, abs=0.01)
    assert abs(np.log(fit.x_c / x_c)) < 2.0  # log N_c = c₀/α: a small α amplifies c₀'s error
    assert fit.rmse < 2 * NOISE


def test_kaplan_seeds_bootstrap_covers_the_truth():
    x_c, alpha = KAPLAN["D_c"], KAPLAN["alpha_D"]
    losses = noisy(np.tile(kaplan_law(KAPLAN_N, x_c, alpha), (5, 1)), 0)
    fit = fit_kaplan(KAPLAN_N, losses, variable="D", n_boot=500)
    assert fit.method == "bootstrap over seeds (500 resamples, 0 failed)"
    assert inside(fit.alpha_ci, alpha) and inside(fit.x_c_ci, x_c)
    assert fit.alpha == pytest.approx(alpha, abs=0.005)


# ------------------------------------------------------------------- approach 3 and (4)

def test_huber_is_quadratic_inside_delta_and_linear_beyond():
    delta = 1e-3
    small = np.array([0.0, 1e-5, -4e-4, 1e-3])
    np.testing.assert_allclose(huber(small, delta), 0.5 * small**2, rtol=1e-12)
    large = np.array([0.01, -0.3, 5.0])
    np.testing.assert_allclose(huber(large, delta), delta * (np.abs(large) - delta / 2))
    # the slope beyond δ is δ, whatever the residual: an outlier's pull is bounded
    assert huber(1.0, delta) - huber(0.5, delta) == pytest.approx(0.5 * delta)
    np.testing.assert_allclose(huber(large, np.inf), 0.5 * large**2)


def test_chinchilla_noiseless_recovers_the_constants():
    fit = fit_chinchilla(GRID_N, GRID_D, LAW.predict(GRID_N, GRID_D), n_boot=10)
    for name, want in TRUTH.items():
        assert getattr(fit, name) == pytest.approx(want, rel=1e-5), name
    assert fit.rmse < 1e-8 and fit.n_points == 24
    assert fit.method == "Huber L-BFGS-B, bootstrap over runs (10 resamples, 0 failed)"
    assert fit.label() == "L(N, D) = 1.69 + 406/N^0.34 + 411/D^0.28"


def test_chinchilla_noisy_bootstrap_covers_the_truth():
    fit = fit_chinchilla(GRID_N, GRID_D, noisy(LAW.predict(GRID_N, GRID_D), 0), n_boot=100)
    assert fit.boot.shape == (100, 5)
    truth = dict(TRUTH, a=LAW.a, b=LAW.b)
    for name, want in truth.items():
        assert inside(fit.ci[name], want), (name, fit.ci[name], want)
        assert inside(fit.ci[name], getattr(fit, name)), name
    assert fit.alpha == pytest.approx(TRUTH["alpha"], abs=0.03)
    assert fit.beta == pytest.approx(TRUTH["beta"], abs=0.06)
    assert fit.E == pytest.approx(TRUTH["E"], abs=0.2)
    assert fit.a == pytest.approx(LAW.a, abs=0.05)
    # A and B are weakly determined apart from α, β (B within a factor of a few here); the
    # law they make is not: it predicts the noise-free losses within the noise
    rel = fit.predict(GRID_N, GRID_D) / LAW.predict(GRID_N, GRID_D) - 1
    assert np.abs(rel).max() < 2 * NOISE
    summary = fit.summary()
    assert {"E", "E_lo", "E_hi", "a", "a_lo", "a_hi", "beta_hi", "rmse"} <= set(summary)


def test_fewer_starts_and_a_small_grid_reach_the_same_optimum():
    losses = noisy(LAW.predict(GRID_N, GRID_D), 3)
    default = fit_chinchilla(GRID_N, GRID_D, losses, n_boot=0)
    grid = {"alpha": [0.5, 1.0], "beta": [0.5, 1.0], "e": [0.0, 0.5], "a": [5.0, 10.0],
            "b": [5.0, 10.0]}
    every = fit_chinchilla(GRID_N, GRID_D, losses, n_boot=0, grid=grid, n_starts=None)
    assert every.objective == pytest.approx(default.objective, rel=1e-6)
    assert every.alpha == pytest.approx(default.alpha, rel=1e-4)
    assert every.beta == pytest.approx(default.beta, rel=1e-4)


def test_one_corrupted_run_moves_the_huber_fit_less_than_least_squares():
    losses = LAW.predict(GRID_N, GRID_D)
    losses[10] *= 1.3  # one diverged run
    robust = fit_chinchilla(GRID_N, GRID_D, losses, n_boot=0)
    l2 = fit_chinchilla(GRID_N, GRID_D, losses, n_boot=0, delta=np.inf)
    assert l2.method.startswith("least squares")

    def error(fit):
        return max(abs(fit.alpha - TRUTH["alpha"]), abs(fit.beta - TRUTH["beta"]))

    assert error(robust) < 0.01 < error(l2)
    assert error(robust) < 0.1 * error(l2)


@pytest.mark.parametrize("law", [LAW, ChinchillaFit(**PUBLISHED["besiroglu2024_replication"])])
def test_compute_optimal_allocation_matches_brute_force(law):
    assert law.a + law.b == pytest.approx(1.0)
    for c in (1e18, 1e21, 1e24):
        n_star, d_star = law.compute_optimal(c)
        assert n_star * d_star == pytest.approx(c / 6, rel=1e-12)
        res = minimize_scalar(lambda x: law.predict(np.exp(x), c / (6 * np.exp(x))),
                              bounds=(np.log(1e3), np.log(c / 6 / 1e3)), method="bounded",
                              options={"xatol": 1e-10})
        assert n_star == pytest.approx(np.exp(res.x), rel=1e-5), c


def test_published_allocation_exponents():
    # Hoffmann et al.'s Table 2 gives a = 0.46 for approach 3: β/(α+β) of the rounded constants
    assert LAW.a == pytest.approx(0.46, abs=0.01)
    assert ChinchillaFit(**PUBLISHED["besiroglu2024_replication"]).a == pytest.approx(0.51,
                                                                                       abs=0.01)


# ------------------------------------------------------------------------- approach 2

BUDGETS = np.geomspace(1e17, 1e21, 5)


def isoflop_runs(half_width: float = 2.0, n_sizes: int = 7):
    """Each budget's sizes on one window of log N about its true optimum."""
    n = np.concatenate([LAW.compute_optimal(c)[0] * np.exp(np.linspace(-half_width, half_width,
                                                                      n_sizes))
                        for c in BUDGETS])
    c = np.repeat(BUDGETS, n_sizes)
    return n, c / (6 * n), c


def test_isoflop_noiseless_recovers_the_exponents():
    n, d, c = isoflop_runs()
    fit = fit_isoflop(n, d, LAW.predict(n, d), n_boot=100)
    assert isinstance(fit, IsoFLOPFit) and fit.n_runs == 35
    np.testing.assert_allclose(fit.budgets, BUDGETS, rtol=1e-9)
    assert fit.a == pytest.approx(LAW.a, abs=1e-9)
    assert fit.b == pytest.approx(LAW.b, abs=1e-9)
    assert fit.inside.all()
    # the parabola's minimum is off the true one by the same factor at every budget
    ratio = fit.n_opt / LAW.compute_optimal(BUDGETS)[0]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-6)
    assert abs(ratio[0] - 1) < 0.05
    np.testing.assert_allclose(fit.n_opt * fit.d_opt, BUDGETS / 6, rtol=1e-12)
    np.testing.assert_allclose(fit.predict_n_opt(BUDGETS), fit.n_opt, rtol=1e-9)
    np.testing.assert_allclose(fit.predict_d_opt(BUDGETS), fit.d_opt, rtol=1e-9)


def test_isoflop_noisy_bootstrap_covers_the_truth():
    n, d, c = isoflop_runs()
    losses = noisy(LAW.predict(n, d), 0)
    fit = fit_isoflop(n, d, losses, n_boot=1000)
    assert inside(fit.a_ci, LAW.a) and inside(fit.b_ci, LAW.b)
    assert inside(fit.a_ci, fit.a)
    assert fit.a == pytest.approx(LAW.a, abs=0.05)
    assert fit.a + fit.b == pytest.approx(1.0)
    n_true = LAW.compute_optimal(BUDGETS)[0]
    assert ((fit.n_opt_ci[:, 0] <= n_true * 1.05) & (n_true * 0.95 <= fit.n_opt_ci[:, 1])).all()
    # labelled budgets group the runs as rounding log C does
    labelled = fit_isoflop(n, d * 1.001, losses, budgets=c, n_boot=1000)
    assert labelled.a == pytest.approx(fit.a, rel=1e-9)
    np.testing.assert_allclose(labelled.budgets, BUDGETS)
    assert fit.summary()["n_budgets"] == 5.0


# ------------------------------------------------------------------------- bad input

def one_line_value_error(call) -> None:
    with pytest.raises(ValueError) as info:
        call()
    assert str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("call", [
    lambda: fit_kaplan([1e6, 1e7], [3.0, 2.5]),  # fewer points than a line's 2 parameters + 1
    lambda: fit_kaplan([1e6], [3.0]),
    lambda: fit_kaplan([1e6, -1e7, 1e8], [3.0, 2.5, 2.0]),
    lambda: fit_kaplan([1e6, 1e7, 1e8], [3.0, 0.0, 2.0]),
    lambda: fit_kaplan([1e6, 1e7, 1e8], np.ones((2, 4))),
    lambda: fit_chinchilla(GRID_N[:4], GRID_D[:4], np.full(4, 3.0)),  # 4 runs, 5 parameters
    lambda: fit_chinchilla(-GRID_N, GRID_D, np.full(24, 3.0)),
    lambda: fit_chinchilla(GRID_N, 0 * GRID_D, np.full(24, 3.0)),
    lambda: fit_chinchilla(GRID_N, GRID_D, np.full(24, -3.0)),
    lambda: fit_chinchilla(GRID_N, GRID_D, np.full(24, np.nan)),
    lambda: fit_chinchilla(GRID_N, GRID_D[:5], np.full(24, 3.0)),
    lambda: fit_chinchilla(np.full(24, 1e8), GRID_D, np.full(24, 3.0)),  # one size: α unknown
    lambda: fit_isoflop(*isoflop_runs(n_sizes=2)[:2], np.full(10, 3.0)),  # 2 sizes per budget
    lambda: fit_isoflop([1e8, 2e8, 4e8], [1e9, 5e8, 2.5e8], [3.0, 2.9, 3.0]),  # one budget
    lambda: fit_isoflop([1e8, 2e8, 4e8, 1e8, 2e8, 4e8], [1e9, 5e8, 2.5e8] * 2,
                        [3.0, 3.2, 3.0, 3.0, 2.9, 3.0], budgets=[6e17] * 3 + [1e18] * 3),
    lambda: fit_isoflop(*isoflop_runs()[:2], np.full(35, 0.0)),
    lambda: fit_isoflop(*isoflop_runs()[:2], np.full(35, 3.0), budgets=[1e18] * 3),
])
def test_bad_input_is_a_one_line_value_error(call):
    one_line_value_error(call)
