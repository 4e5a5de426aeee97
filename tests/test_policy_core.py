"""The shared estimators of algorithms.policy.core against direct transcriptions of the papers."""

import math

import pytest
import torch

from algorithms.policy.core import (
    approx_kl,
    clip_fraction,
    conjugate_gradient,
    discounted_returns,
    fisher_vector_product,
    flat_grad,
    gae,
    natural_gradient_direction,
    vtrace,
)

T, N, GAMMA = 12, 5, 0.9


@pytest.fixture(autouse=True)
def float64():
    """Exact comparisons in double precision, restored afterwards for the other test modules."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


@pytest.fixture
def trajectories():
    g = torch.Generator().manual_seed(0)
    rewards = torch.randn(T, N, generator=g)
    values = torch.randn(T, N, generator=g)
    last_value = torch.randn(N, generator=g)
    dones = (torch.rand(T, N, generator=g) < 0.15).double()
    return rewards, values, dones, last_value


def _segments(dones, n):
    """For env n: the list of (start, end) of each episode piece, end exclusive."""
    pieces, start = [], 0
    for t in range(T):
        if dones[t, n]:
            pieces.append((start, t + 1, True))
            start = t + 1
    if start < T:
        pieces.append((start, T, False))
    return pieces


def test_discounted_returns_is_the_reward_to_go_sum(trajectories):
    rewards, _, dones, last_value = trajectories
    got = discounted_returns(rewards, dones, GAMMA, last_value)
    for n in range(N):
        for start, end, terminal in _segments(dones, n):
            for t in range(start, end):  # G_t = Σ_{k=t}^{end-1} γ^{k-t} r_k (+ γ^{end-t} V(s_T))
                expected = sum(GAMMA ** (k - t) * rewards[k, n] for k in range(t, end))
                if not terminal:
                    expected += GAMMA ** (end - t) * last_value[n]
                assert got[t, n] == pytest.approx(float(expected))


def test_gae_is_the_exponentially_weighted_sum_of_td_errors(trajectories):
    rewards, values, dones, last_value = trajectories
    lam = 0.7
    advantages, returns = gae(rewards, values, dones, last_value, GAMMA, lam)
    next_values = torch.cat([values[1:], last_value[None]])
    delta = rewards + GAMMA * (1 - dones) * next_values - values  # eq. 9
    for n in range(N):
        for start, end, _ in _segments(dones, n):
            for t in range(start, end):  # eq. 16: Σ_l (γλ)^l δ_{t+l} within the episode
                expected = sum((GAMMA * lam) ** (k - t) * delta[k, n] for k in range(t, end))
                assert advantages[t, n] == pytest.approx(float(expected))
    assert torch.allclose(returns, advantages + values)


def test_gae_lambda_one_is_returns_minus_values_and_lambda_zero_is_td_error(trajectories):
    rewards, values, dones, last_value = trajectories
    one, _ = gae(rewards, values, dones, last_value, GAMMA, 1.0)
    assert torch.allclose(one, discounted_returns(rewards, dones, GAMMA, last_value) - values)
    zero, _ = gae(rewards, values, dones, last_value, GAMMA, 0.0)
    next_values = torch.cat([values[1:], last_value[None]])
    assert torch.allclose(zero, rewards + GAMMA * (1 - dones) * next_values - values)


def _vtrace_by_the_sum(mu, pi, rewards, values, dones, last_value, rho_bar, c_bar):
    """Espeholt et al. eq. 1, term by term: v_s = V(x_s) + Σ_t γ^{t−s} (Π_{i<t} c_i) δ_t V."""
    ratio = torch.exp(pi - mu)
    rho, c = ratio.clamp(max=rho_bar), ratio.clamp(max=c_bar)
    next_values = torch.cat([values[1:], last_value[None]])
    vs = torch.zeros_like(values)
    for n in range(N):
        for start, end, terminal in _segments(dones, n):
            for s in range(start, end):
                total, trace = values[s, n].item(), 1.0
                for t in range(s, end):
                    bootstrap = 0.0 if (terminal and t == end - 1) else GAMMA * next_values[t, n]
                    delta = rho[t, n] * (rewards[t, n] + bootstrap - values[t, n])
                    total += GAMMA ** (t - s) * trace * float(delta)
                    trace *= float(c[t, n])
                vs[s, n] = total
    return vs


@pytest.mark.parametrize("rho_bar,c_bar", [(1.0, 1.0), (2.0, 0.5), (math.inf, math.inf)])
def test_vtrace_matches_equation_1_off_policy(trajectories, rho_bar, c_bar):
    rewards, values, dones, last_value = trajectories
    g = torch.Generator().manual_seed(1)
    mu, pi = -torch.rand(T, N, generator=g) * 2, -torch.rand(T, N, generator=g) * 2
    vs, pg_adv = vtrace(mu, pi, rewards, values, dones, last_value, GAMMA, rho_bar, c_bar)
    expected = _vtrace_by_the_sum(mu, pi, rewards, values, dones, last_value, rho_bar, c_bar)
    assert torch.allclose(vs, expected)
    # the policy-gradient advantage ρ_s (r_s + γ v_{s+1} − V(x_s))
    next_vs = torch.cat([vs[1:], last_value[None]])
    rho = torch.exp(pi - mu).clamp(max=rho_bar)
    assert torch.allclose(pg_adv, rho * (rewards + GAMMA * (1 - dones) * next_vs - values))


def test_vtrace_on_policy_without_truncation_is_the_n_step_return(trajectories):
    rewards, values, dones, last_value = trajectories
    logp = -torch.rand(T, N)
    vs, _ = vtrace(logp, logp, rewards, values, dones, last_value, GAMMA, math.inf, math.inf)
    assert torch.allclose(vs, discounted_returns(rewards, dones, GAMMA, last_value))
    # and with truncation at 1 on-policy data is unchanged (ratios are exactly 1)
    vs1, _ = vtrace(logp, logp, rewards, values, dones, last_value, GAMMA, 1.0, 1.0)
    assert torch.allclose(vs, vs1)


def test_conjugate_gradient_solves_a_positive_definite_system():
    g = torch.Generator().manual_seed(2)
    M = torch.randn(20, 20, generator=g)
    A = M @ M.T + 0.5 * torch.eye(20)
    b = torch.randn(20, generator=g)
    x = conjugate_gradient(lambda v: A @ v, b, iterations=100, tol=1e-20)
    assert torch.allclose(x, torch.linalg.solve(A, b), atol=1e-8)


def _tiny_policy():
    torch.manual_seed(3)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 3))


def test_fisher_vector_product_matches_the_explicit_fisher_matrix():
    from torch.distributions import Categorical, kl_divergence

    policy = _tiny_policy()
    params = list(policy.parameters())
    states = torch.randn(6, 3)
    old_logits = policy(states).detach()
    fvp = fisher_vector_product(
        lambda: kl_divergence(Categorical(logits=old_logits), Categorical(logits=policy(states))).mean(),
        params)
    # F = E_s Σ_a π(a|s) ∇ log π(a|s) ∇ log π(a|s)^T, built explicitly
    n = sum(p.numel() for p in params)
    F = torch.zeros(n, n)
    for s in states:
        logp = torch.log_softmax(policy(s), -1)
        for a in range(3):
            grad = flat_grad(logp[a], params, retain_graph=True)
            F += logp[a].exp().item() * torch.outer(grad, grad)
    F /= len(states)
    v = torch.randn(n)
    assert torch.allclose(fvp(v), F @ v, atol=1e-8)
    # and the damped natural step keeps ½ Δ^T F Δ at exactly δ
    g = torch.randn(n)
    damped = fisher_vector_product(
        lambda: kl_divergence(Categorical(logits=old_logits), Categorical(logits=policy(states))).mean(),
        params, damping=0.1)
    step, expected = natural_gradient_direction(g, damped, max_kl=0.01, cg_iterations=200)
    assert 0.5 * step @ damped(step) == pytest.approx(0.01, rel=1e-4)
    assert expected > 0


def test_k3_kl_is_unbiased_and_nonnegative_and_clipfrac_counts():
    torch.manual_seed(4)
    p = torch.softmax(torch.randn(5), 0)
    q = torch.softmax(torch.randn(5), 0)
    actions = torch.multinomial(p, 200_000, replacement=True)
    estimate = approx_kl(torch.log(q[actions]), torch.log(p[actions]))
    exact = (p * (p.log() - q.log())).sum()  # KL(p ‖ q), samples from p = π_old
    assert float(estimate) == pytest.approx(float(exact), rel=0.03)
    assert approx_kl(torch.log(q[actions[:3]]), torch.log(p[actions[:3]])) >= 0
    ratio = torch.tensor([0.5, 0.9, 1.0, 1.1, 1.5])
    assert float(clip_fraction(ratio, 0.2)) == pytest.approx(0.4)
