"""MAML's meta-gradient goes through the inner step (exactly), FOMAML's does not, and Reptile and
meta-RL pieces compute what their papers write."""

import math

import pytest
import torch

from algorithms.meta import maml, meta_rl, reptile, sinusoid


def linear_loss(params, x, y):
    (w,) = params  # f(x) = w x, per-task w of shape (T, 1, 1)
    return ((x @ w - y) ** 2).mean(dim=(-2, -1))


def test_maml_meta_gradient_of_a_linear_model_is_the_hand_computed_one():
    # L_tr(w) = mean (w x − y)², g = 2 mean x (w x − y), H = 2 mean x²; w' = w − α g;
    # MAML: (1 − α H) · dL_te/dw(w'), FOMAML: dL_te/dw(w')
    w = torch.tensor([[0.7]], dtype=torch.float64, requires_grad=True)
    f64 = torch.float64
    xs, ys = torch.tensor([[[1.0], [2.0]]], dtype=f64), torch.tensor([[[1.0], [3.0]]], dtype=f64)
    xq, yq = torch.tensor([[[-1.0], [0.5]]], dtype=f64), torch.tensor([[[0.0], [2.0]]], dtype=f64)
    alpha = 0.1
    g = 2 * ((xs * (0.7 * xs - ys)).mean()).item()
    hessian = 2 * (xs ** 2).mean().item()
    w_adapted = 0.7 - alpha * g
    test_grad = 2 * ((xq * (w_adapted * xq - yq)).mean()).item()
    (second,) = maml.meta_gradient([w], linear_loss, (xs, ys), (xq, yq), alpha)
    (first,) = maml.meta_gradient([w], linear_loss, (xs, ys), (xq, yq), alpha, first_order=True)
    assert second.item() == pytest.approx((1 - alpha * hessian) * test_grad, rel=1e-12)
    assert first.item() == pytest.approx(test_grad, rel=1e-12)
    assert abs(second.item() - first.item()) > 1e-3


def test_mlp_meta_gradient_differs_from_first_order_and_equals_it_at_zero_step_size():
    gen = torch.Generator().manual_seed(0)
    params = [p.detach().double().requires_grad_() for p in sinusoid.init_mlp(gen)]
    tasks = sinusoid.sample_tasks(3, gen)
    support, query = [tuple(t.double() for t in tasks.sample(5, gen)) for _ in range(2)]
    second = maml.meta_gradient(params, sinusoid.mse, support, query, 0.01)
    first = maml.meta_gradient(params, sinusoid.mse, support, query, 0.01, first_order=True)
    assert max((a - b).abs().max().item() for a, b in zip(second, first)) > 1e-6
    # α = 0: θ' = θ, no Hessian term, and both are the plain gradient of the query loss
    plain = torch.autograd.grad(sinusoid.mse(params, *query).mean(), params)
    for alpha0 in (maml.meta_gradient(params, sinusoid.mse, support, query, 0.0),
                   maml.meta_gradient(params, sinusoid.mse, support, query, 0.0, first_order=True)):
        for a, b in zip(alpha0, plain):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_mlp_meta_gradient_matches_finite_differences_of_the_meta_objective():
    gen = torch.Generator().manual_seed(1)
    params = [p.detach().double().requires_grad_() for p in sinusoid.init_mlp(gen, hidden=(4,))]
    tasks = sinusoid.sample_tasks(2, gen)
    support, query = [tuple(t.double() for t in tasks.sample(4, gen)) for _ in range(2)]
    grads = maml.meta_gradient(params, sinusoid.mse, support, query, 0.05, steps=2)
    eps = 1e-6
    for k in range(len(params)):
        for idx in ((0, 0),):
            def objective(delta):
                shifted = [p.detach().clone() for p in params]
                shifted[k][idx] += delta
                shifted = [p.requires_grad_() for p in shifted]
                return maml.meta_loss(shifted, sinusoid.mse, support, query, 0.05, 2).item()
            numeric = (objective(eps) - objective(-eps)) / (2 * eps)
            assert grads[k][idx].item() == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def test_per_task_adaptation_uses_each_tasks_own_gradient():
    gen = torch.Generator().manual_seed(2)
    params = [p.detach().double().requires_grad_() for p in sinusoid.init_mlp(gen, hidden=(3,))]
    tasks = sinusoid.sample_tasks(2, gen)
    x, y = (t.double() for t in tasks.sample(4, gen))
    both = maml.adapt(sinusoid.per_task(params, 2), sinusoid.mse, x, y, 0.1, 1, False)
    for i in range(2):
        grads = torch.autograd.grad(sinusoid.mse(params, x[i:i + 1], y[i:i + 1]).sum(), params)
        for p, g, adapted in zip(params, grads, both):
            torch.testing.assert_close(adapted[i], p - 0.1 * g, rtol=1e-12, atol=1e-12)


def test_reptile_step_moves_theta_by_epsilon_times_the_mean_displacement():
    gen = torch.Generator().manual_seed(3)
    params = [p.detach().double().requires_grad_() for p in sinusoid.init_mlp(gen, hidden=(3,))]
    x, y = (t.double() for t in sinusoid.sample_tasks(2, gen).sample(4, gen))
    phi = maml.adapt(sinusoid.per_task(params, 2), sinusoid.mse, x, y, 0.1, 3, False)
    expected = [p.detach() + 0.5 * (f.detach().mean(0) - p.detach()) for p, f in zip(params, phi)]
    reptile.reptile_step(params, (x, y), 0.1, 3, 0.5)
    for p, e in zip(params, expected):
        torch.testing.assert_close(p.detach(), e, rtol=1e-12, atol=1e-12)


def test_sinusoid_tasks_follow_finn_et_al():
    gen = torch.Generator().manual_seed(4)
    tasks = sinusoid.sample_tasks(500, gen)
    assert tasks.amplitude.min() >= 0.1 and tasks.amplitude.max() <= 5.0
    assert tasks.phase.min() >= 0 and tasks.phase.max() <= math.pi
    x, y = tasks.sample(7, gen)
    assert x.shape == (500, 7, 1) and x.abs().max() <= 5.0
    torch.testing.assert_close(y, tasks.amplitude[:, None, None] * torch.sin(
        x - tasks.phase[:, None, None]))
    assert [tuple(p.shape) for p in sinusoid.init_mlp(gen)] == [
        (1, 40), (1, 40), (40, 40), (1, 40), (40, 1), (1, 1)]


def test_point_navigation_advantages_and_gaussian_log_probability():
    rewards = torch.tensor([[[1.0, 1.0], [3.0, 1.0]]])  # (T=1, N=2, H=2)
    to_go = torch.tensor([[[1.5, 1.0], [3.5, 1.0]]])  # γ = 0.5
    centred = to_go - to_go.mean(1, keepdim=True)
    torch.testing.assert_close(meta_rl.advantages(rewards, 0.5), centred / (centred.std() + 1e-8))
    gen = torch.Generator().manual_seed(5)
    params = meta_rl.init_policy(gen, (4,), 0.3)
    theta = sinusoid.per_task(params, 1)
    obs, actions = torch.randn(1, 2, 3, 2, generator=gen), torch.randn(1, 2, 3, 2, generator=gen)
    mean = sinusoid.mlp(theta[:-1], obs.reshape(1, 6, 2)).reshape(1, 2, 3, 2)
    reference = torch.distributions.Normal(mean, 0.3).log_prob(actions).sum(-1)
    torch.testing.assert_close(meta_rl.log_prob(theta, obs, actions), reference)


def test_point_navigation_reward_is_minus_the_distance_after_a_clipped_step():
    gen = torch.Generator().manual_seed(6)
    params = sinusoid.per_task(meta_rl.init_policy(gen, (4,), 1e-6), 1)
    goals = torch.tensor([[0.3, -0.2]])
    data = meta_rl.rollout(params, goals, 2, 3, gen)
    pos = torch.zeros(1, 2, 2)
    for t in range(3):
        torch.testing.assert_close(data.obs[:, :, t], pos)
        pos = pos + data.actions[:, :, t].clamp(-0.1, 0.1)
        torch.testing.assert_close(data.rewards[:, :, t], -(pos - goals[:, None]).norm(dim=-1))
