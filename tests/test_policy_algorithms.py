"""Algorithm-level checks: TRPO's KL bound, PPO's diagnostics, CPO's step, the envs' costs."""

import math

import numpy as np
import pytest
import torch

from algorithms.policy import cpo, npg, ppo, trpo
from algorithms.policy.envs import make_vec_env


def test_trpo_line_search_keeps_every_update_inside_the_kl_bound():
    config = trpo.TRPOConfig(total_timesteps=3 * 8 * 64, n_steps=64, max_kl=0.005, seed=0)
    logged = []
    result = trpo.train(config, log=lambda metrics, step: logged.append(metrics))
    assert len(logged) == 3
    assert all(0.0 <= m["losses/approx_kl"] <= config.max_kl for m in logged)
    # NPG takes the full quadratic-model step, which may overshoot δ; TRPO never does
    assert result.global_step == 3 * 8 * 64


def test_npg_step_is_sized_by_the_quadratic_kl_model():
    config = npg.NPGConfig(total_timesteps=2 * 8 * 64, n_steps=64, max_kl=0.01, seed=1)
    logged = []
    npg.train(config, log=lambda metrics, step: logged.append(metrics))
    # ½ΔᵀFΔ = δ with damping: the true KL is of the same order as δ
    assert all(0.0 < m["losses/approx_kl"] < 5 * config.max_kl for m in logged)


def test_npg_fixed_step_is_alpha_times_the_natural_direction():
    # same seed, same first batch, same x = F⁻¹g: the modelled KL ½ΔᵀFΔ of Δ = αx grows as α²
    first = {}
    for alpha in (0.5, 1.0):
        config = npg.NPGConfig(total_timesteps=8 * 64, n_steps=64, step_size=alpha, seed=3)
        npg.train(config, log=lambda metrics, step, a=alpha: first.setdefault(a, metrics))
    assert first[1.0]["losses/modelled_kl"] == pytest.approx(4 * first[0.5]["losses/modelled_kl"],
                                                             rel=1e-4)
    with pytest.raises(ValueError, match="step_size"):
        trpo.train(trpo.TRPOConfig(step_size=1.0))


@pytest.mark.parametrize("variant", ["clip", "kl"])
def test_ppo_logs_sane_clip_fraction_and_k3_kl(variant):
    config = ppo.PPOConfig(total_timesteps=4 * 256, variant=variant, n_epochs=10,
                           learning_rate=3e-3, seed=0)
    logged = []
    ppo.train(config, log=lambda metrics, step: logged.append((step, metrics)))
    assert [step for step, _ in logged] == [256, 512, 768, 1024]
    for _, m in logged:
        assert 0.0 <= m["losses/clipfrac"] <= 1.0
        assert 0.0 <= m["losses/approx_kl"] < 0.5
        assert m["charts/SPS"] > 0 and math.isfinite(m["losses/value_loss"])
    if variant == "kl":
        assert all("losses/kl_beta" in m for _, m in logged)
    else:  # after the first epoch the ratios move: some samples get clipped
        assert max(m["losses/clipfrac"] for _, m in logged) > 0


def test_ppo_continuous_actions_run():
    config = ppo.PPOConfig(env_id="Pendulum-v1", total_timesteps=2 * 256, n_epochs=2,
                           normalize_env=True, seed=0)
    result = ppo.train(config)
    assert result.global_step == 512 and result.agent.log_std is not None


def _brute_force(g, b, c, H, delta):
    from scipy.optimize import minimize

    constraints = [{"type": "ineq", "fun": lambda x: -(c + b @ x)},
                   {"type": "ineq", "fun": lambda x: delta - 0.5 * x @ H @ x}]
    best = minimize(lambda x: -(g @ x), np.zeros(len(g)), constraints=constraints,
                    method="SLSQP", options={"ftol": 1e-12, "maxiter": 500})
    return best.x


@pytest.mark.parametrize("c", [-0.05, -0.001, 0.02])
def test_cpo_step_solves_the_linearised_problem(c):
    rng = np.random.default_rng(5)
    M = rng.normal(size=(6, 6))
    H = M @ M.T + np.eye(6)
    g, b = rng.normal(size=6), rng.normal(size=6)
    delta = 0.01
    H_t = torch.tensor(H)
    step, case = cpo.cpo_direction(torch.tensor(g), torch.tensor(b), c, lambda v: H_t @ v,
                                   delta, cg_iterations=50)
    x = step.numpy()
    assert case in (1, 2, 3)
    assert 0.5 * x @ H @ x <= delta * 1.001
    assert c + b @ x <= 1e-6
    assert g @ x == pytest.approx(g @ _brute_force(g, b, c, H, delta), rel=1e-3, abs=1e-6)


def test_cpo_recovers_when_infeasible():
    H = torch.eye(3, dtype=torch.float64)
    g, b = torch.tensor([1.0, 0, 0], dtype=torch.float64), torch.tensor([0, 1.0, 0], dtype=torch.float64)
    step, case = cpo.cpo_direction(g, b, c=5.0, fvp=lambda v: H @ v, max_kl=0.01, cg_iterations=10)
    assert case == 0 and step[1] < 0 and abs(step[0]) < 1e-9  # pure cost descent


def test_cost_cartpole_reports_costs_outside_the_position_limit():
    envs = make_vec_env("CostCartPole", 2, seed=0, position_limit=0.05)
    costs = 0.0
    for _ in range(30):
        _, _, _, _, info = envs.step(np.zeros(2, dtype=int))
        costs += float(np.sum(info.get("cost", 0.0)))
    envs.close()
    assert costs > 0


def test_minatar_breakout_env_steps():
    envs = make_vec_env("MinAtar-Breakout", 2, seed=0)
    obs, *_ = envs.step(np.zeros(2, dtype=int))
    assert obs.shape == (2, 4, 10, 10) and obs.dtype == np.float32
    envs.close()


def test_cpo_step_on_the_budget_is_well_defined():
    H = torch.eye(3, dtype=torch.float64)
    g, b = torch.tensor([1.0, 1.0, 0], dtype=torch.float64), torch.tensor([0, 1.0, 0], dtype=torch.float64)
    step, case = cpo.cpo_direction(g, b, c=0.0, fvp=lambda v: H @ v, max_kl=0.01, cg_iterations=10)
    assert torch.isfinite(step).all() and float(b @ step) <= 1e-6


def test_evaluate_plays_held_out_episodes_with_the_policy_mode():
    import gymnasium as gym

    from algorithms.policy.envs import evaluate
    from algorithms.policy.networks import make_agent

    torch.manual_seed(0)
    envs = make_vec_env("CartPole-v1", 1, 0)
    agent = make_agent(envs)
    envs.close()
    with torch.no_grad():  # a policy with a clear preference, so that its mode matters
        agent.actor[-1].weight.mul_(300.0)
    returns = evaluate(agent, "CartPole-v1", episodes=3, seed=123)
    for i, ret in enumerate(returns):  # the same episodes by hand: env i seeded 123 + i, argmax
        env = gym.make("CartPole-v1")
        obs, _ = env.reset(seed=123 + i)
        total, done = 0.0, False
        while not done:
            with torch.no_grad():
                action = int(agent.actor(torch.as_tensor(obs, dtype=torch.float32)).argmax())
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        assert ret == total
