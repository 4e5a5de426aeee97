"""PCPO's projection step, PPO-Lagrangian's dual step and penalised advantage, and week 4's
``constrained-policy-optimization`` study end to end on the smoke profile."""

import numpy as np
import pytest
import torch

from algorithms.policy import lagrangian_ppo, pcpo
from recording_tracker import RecordingTracker
from test_policy_helpers import check_run


def _problem(seed=3, n=5):
    """A random SPD Fisher matrix H, reward gradient g and cost gradient a (float64)."""
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(n, n))
    H = torch.tensor(M @ M.T + np.eye(n))
    g, a = torch.tensor(rng.normal(size=n)), torch.tensor(rng.normal(size=n))
    return H, g, a


def test_projection_does_nothing_when_the_half_step_satisfies_the_constraint():
    H, g, a = _problem()
    half = torch.linalg.solve(H, g)
    b = -float(a @ half) - 1.0  # a^T x_½ + b = −1 < 0
    for L_inv_a in (torch.linalg.solve(H, a), a):  # KL and L2 projections
        assert torch.equal(pcpo.project(half, a, b, L_inv_a), half)


@pytest.mark.parametrize("b", [-0.01, 0.0, 0.5])  # π_k feasible, on the budget, infeasible
def test_kl_projection_lands_on_the_constraint_and_is_the_closest_such_point(b):
    H, g, a = _problem()
    half = torch.linalg.solve(H, g)
    half = half / float(a @ half)  # scaled so that a^T x_½ = 1: the half step raises the cost
    assert float(a @ half) + b > 0  # violated
    L_inv_a = torch.linalg.solve(H, a)
    x = pcpo.project(half, a, b, L_inv_a)
    assert float(a @ x) + b == pytest.approx(0.0, abs=1e-12)  # a^T Δ + b = 0 exactly
    # the H-norm minimiser on the plane: x − x_½ is parallel to H^{-1} a, so any other point of
    # the plane, x + y with a^T y = 0, is farther from x_½ in the H-norm
    y = torch.tensor(np.random.default_rng(0).normal(size=len(a)))
    y -= (a @ y) / (a @ a) * a
    dist = lambda z: float((z - half) @ H @ (z - half))  # noqa: E731
    assert dist(x) < dist(x + 0.1 * y)
    # the L2 projection also lands on the plane, at the Euclidean-nearest point
    x2 = pcpo.project(half, a, b, a)
    assert float(a @ x2) + b == pytest.approx(0.0, abs=1e-12)
    assert float((x2 - half) @ y) == pytest.approx(0.0, abs=1e-12)


def test_pcpo_direction_is_trpos_step_projected():
    H, g, a = _problem()
    fvp = lambda v: H @ v  # noqa: E731
    delta = 0.01
    half = torch.linalg.solve(H, g)
    half = torch.sqrt(2 * delta / (g @ half)) * half  # sqrt(2δ / g^T H^{-1} g) H^{-1} g
    # feasible and inside the constraint: TRPO's step, case 3
    step, case = pcpo.pcpo_direction(g, a, -abs(float(a @ half)) - 1.0, fvp, delta, 50)
    assert case == 3 and torch.allclose(step, half, atol=1e-8)
    # infeasible π_k (b > 0): projected onto a^T x + b = 0, case 1; L2 projection likewise
    for projection in ("kl", "l2"):
        step, case = pcpo.pcpo_direction(g, a, 0.2, fvp, delta, 50, projection)
        assert case == 1 and float(a @ step) + 0.2 == pytest.approx(0.0, abs=1e-8)
    step, case = pcpo.pcpo_direction(g, a, -1e-4, fvp, delta, 50)
    assert case in (2, 3) and float(a @ step) - 1e-4 <= 1e-8
    with pytest.raises(ValueError, match="projection"):
        pcpo.pcpo_direction(g, a, 0.2, fvp, delta, 50, "l1")


def test_lagrange_multiplier_rises_over_budget_falls_under_and_stays_non_negative():
    lam = lagrangian_ppo.lagrange_update(0.0, ep_cost=40.0, cost_limit=25.0, lr=0.01)
    assert lam == pytest.approx(0.15)
    assert lagrangian_ppo.lagrange_update(lam, 10.0, 25.0, 0.01) == pytest.approx(0.0)
    assert lagrangian_ppo.lagrange_update(0.1, 0.0, 25.0, 0.01) == 0.0  # clipped at 0
    assert lagrangian_ppo.lagrange_update(1.0, 25.0, 25.0, 0.01) == 1.0  # on budget: unchanged
    a_r, a_c = torch.tensor([1.0, -1.0]), torch.tensor([2.0, 0.0])
    assert torch.equal(lagrangian_ppo.penalised_advantage(a_r, a_c, 0.0), a_r)
    assert torch.allclose(lagrangian_ppo.penalised_advantage(a_r, a_c, 1.0),
                          torch.tensor([-0.5, -0.5]))


def test_constrained_study_smoke_run():
    from algorithms.experiment import experiments_for

    exp = experiments_for(4)["constrained-policy-optimization"]
    tracker = RecordingTracker()
    summary = exp.fn(exp.config.for_profile("smoke"), tracker)
    check_run(summary, tracker)
    assert summary["cost_limit"] == 25.0
    for method in ("cpo", "pcpo", "ppo_lagrangian", "ppo"):
        assert {f"{method}.final_return", f"{method}.final_cost",
                f"{method}.seeds_within_limit"} <= set(summary)
    assert "ppo_lagrangian.final_lambda" in summary and "ppo.final_lambda" not in summary
    assert {"constrained/final_return", "constrained/final_cost",
            "constrained/peak_cost"} <= set(tracker.tables)
    assert {"constrained/episodic_return", "constrained/episodic_cost",
            "constrained/lagrange_multiplier"} <= set(tracker.figures)
    configs = exp.config.for_profile("cpu", seed=2).algorithm_configs()
    assert type(configs["pcpo"]).__name__ == "PCPOConfig" and configs["pcpo"].projection == "kl"
    assert configs["ppo_lagrangian"].constrained and not configs["ppo"].constrained
    assert {c.position_limit for c in configs.values()} == {0.5}
