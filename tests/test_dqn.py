"""DQN's pieces against hand computations: the DQN and Double DQN targets on a hand-made Q
table, the dueling aggregation, the target-network update, the ε schedule, truncation
bootstrapping through Gymnasium's SAME_STEP autoreset, and short runs of every switch."""

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch

from algorithms.value.dqn import (
    DQNConfig,
    QNetwork,
    dueling_q,
    linear_schedule,
    polyak_update,
    real_next_obs,
    td_target,
    train,
)
from algorithms.value.replay import NStepAccumulator


def test_dqn_and_double_dqn_targets_on_a_hand_made_q_table():
    returns, discounts = torch.tensor([1.0, 1.0, 0.5]), torch.tensor([0.9, 0.0, 0.9])
    q_target = torch.tensor([[1.0, 5.0], [3.0, 2.0], [2.0, 7.0]])  # Q(s', ·; θ⁻)
    q_online = torch.tensor([[4.0, 0.0], [0.0, 1.0], [1.0, 2.0]])  # Q(s', ·; θ)
    # DQN: y = r + d max_a' Q(s', a'; θ⁻)
    assert td_target(returns, discounts, q_target).tolist() == pytest.approx([5.5, 1.0, 6.8])
    # Double DQN: the online net picks a* = (0, 1, 1), the target net evaluates it
    assert td_target(returns, discounts, q_target, q_online).tolist() == \
        pytest.approx([1.0 + 0.9 * 1.0, 1.0, 0.5 + 0.9 * 7.0])
    # a terminal transition (d = 0) is its reward whichever net is asked
    assert td_target(returns, discounts, q_target, q_online)[1] == 1.0


def test_double_dqn_target_is_never_above_the_dqn_target():
    g = torch.Generator().manual_seed(0)
    q_target, q_online = torch.randn(100, 4, generator=g), torch.randn(100, 4, generator=g)
    r, d = torch.zeros(100), torch.full((100,), 0.99)
    assert torch.all(td_target(r, d, q_target, q_online) <= td_target(r, d, q_target))


def test_dueling_aggregation_is_v_plus_a_minus_mean_a():
    q = dueling_q(torch.tensor([[2.0], [0.0]]), torch.tensor([[1.0, 3.0, 5.0], [1.0, 1.0, 1.0]]))
    assert q.tolist() == [[0.0, 2.0, 4.0], [0.0, 0.0, 0.0]]
    net = QNetwork((4,), 3, (8, 8), dueling=True)
    obs = torch.randn(5, 4)
    h = net.torso(obs)
    v, a = net.value_stream(h), net.advantage_stream(h)
    torch.testing.assert_close(net(obs), v + a - a.mean(-1, keepdim=True))
    torch.testing.assert_close(net(obs).mean(-1, keepdim=True), v)  # mean_a Q = V: identifiable


def test_q_networks_have_the_expected_shapes_and_act_greedily():
    mlp = QNetwork((4,), 2, (256, 256))
    assert [m.out_features for m in mlp.modules() if isinstance(m, torch.nn.Linear)] == \
        [256, 256, 2]
    cnn = QNetwork((4, 10, 10), 3, (128,), dueling=True)
    assert cnn(torch.zeros(2, 4, 10, 10)).shape == (2, 3)
    obs = torch.randn(6, 4)
    action, logp, value = mlp.act(obs)
    q = mlp(obs)
    assert action.tolist() == q.argmax(-1).tolist() and torch.all(logp == 0)
    torch.testing.assert_close(value, q.max(-1).values)


def test_target_update_copies_or_averages():
    online, target = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    before = target.weight.detach().clone()
    polyak_update(target, online, 0.25)
    torch.testing.assert_close(target.weight, 0.25 * online.weight + 0.75 * before)
    polyak_update(target, online, 1.0)
    torch.testing.assert_close(target.weight, online.weight)


def test_linear_epsilon_schedule():
    assert linear_schedule(1.0, 0.04, 8000, 0) == 1.0
    assert linear_schedule(1.0, 0.04, 8000, 4000) == pytest.approx(0.52)
    assert linear_schedule(1.0, 0.04, 8000, 8000) == pytest.approx(0.04)
    assert linear_schedule(1.0, 0.04, 8000, 50_000) == pytest.approx(0.04)


def test_a_truncated_episode_bootstraps_from_its_real_last_observation():
    """Two CartPole envs with a 3-step time limit under SAME_STEP autoreset: at the truncation the
    env returns the next episode's first observation; the stored transition must instead hold
    the real last one (``final_obs``) and keep its discount γ."""
    from algorithms.policy.envs import make_vec_env

    envs = make_vec_env("CartPole-v1", 2, seed=0, max_episode_steps=3)
    obs, _ = envs.reset(seed=0)
    acc = NStepAccumulator(2, 1, 0.99)
    stored = []
    for t in range(3):
        next_obs, rewards, terminated, truncated, info = envs.step(np.zeros(2, dtype=np.int64))
        done = terminated | truncated
        real = real_next_obs(next_obs, done, info)
        stored += acc.push(obs, np.zeros(2), rewards, real, terminated, truncated)
        obs = next_obs
    assert truncated.all() and not terminated.any()
    final = np.stack(info["final_obs"])
    assert not np.allclose(final, next_obs)  # the returned obs is a reset one
    last = stored[-2:]
    for i, (_, _, _, s_next, discount) in enumerate(last):
        np.testing.assert_array_equal(s_next, final[i])
        assert discount == pytest.approx(0.99)  # truncation is not termination
    envs.close()


class ConstantEnv(gym.Env):
    """Reward 1 forever, one observation, never terminal; the time limit cuts it at 3 steps."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(1, dtype=np.float32), 1.0, False, False, {}


def test_dqn_learns_the_infinite_horizon_value_through_time_limits():
    """Q = 1 / (1 − γ) = 2 at γ = 0.5 only if truncations bootstrap; treating the time limit as a
    terminal would pull the (state-blind) Q towards the mean of 1.75, 1.5 and 1."""
    gym.register("forge-test/Constant-v0", entry_point=ConstantEnv, max_episode_steps=3)
    config = DQNConfig(env_id="forge-test/Constant-v0", total_timesteps=1_200, gamma=0.5,
                       learning_starts=100, train_freq=1, gradient_steps=1, batch_size=32,
                       target_update_interval=20, learning_rate=3e-3, hidden=(16,),
                       exploration_fraction=0.1)
    result = train(config)
    q = result.agent(torch.zeros(1, 1))
    assert q.min().item() == pytest.approx(2.0, abs=0.1)
    assert result.global_step == 1_200 and len(result.episodes.returns) == 400
    assert set(result.episodes.returns) == {3.0}


@pytest.mark.parametrize("switches", [
    {}, {"double": True, "dueling": True},
    {"prioritized": True, "n_step": 3, "n_envs": 2, "tau": 0.5}])
def test_every_switch_trains_and_returns_the_policy_result_shape(switches):
    logged = []
    config = DQNConfig(total_timesteps=800, learning_starts=200, train_freq=64, gradient_steps=4,
                       batch_size=16, hidden=(32, 32), log_interval=200, **switches)
    result = train(config, log=lambda metrics, step: logged.append((step, metrics)))
    assert result.global_step == 800 and result.wall_s > 0 and result.episodes.returns
    assert [step for step, _ in logged] == [200, 400, 600, 800]
    assert "losses/td_loss" in logged[-1][1] and "charts/epsilon" in logged[0][1]
    assert all(np.isfinite(v) for _, m in logged for v in m.values())


def test_validation_returns_the_best_snapshot_and_stops_at_its_target():
    from algorithms.policy.envs import evaluate

    config = DQNConfig(total_timesteps=1_500, learning_starts=200, train_freq=64,
                       gradient_steps=8, batch_size=16, hidden=(32, 32), eval_every=300,
                       eval_episodes=3, seed=1)
    result = train(config)
    scores = result.history["eval_return"]
    assert result.history["eval_step"] == [300.0, 600.0, 900.0, 1200.0, 1500.0]
    # the greedy policy is deterministic and so are the validation seeds: the returned agent
    # scores exactly the best validation return again
    assert np.mean(evaluate(result.agent, "CartPole-v1", 3, seed=30_000 + 100)) == max(scores)
    stopped = train(dataclasses.replace(config, stop_eval_return=min(scores)))
    assert stopped.global_step == 300


def test_minatar_trains_the_conv_net_and_probes_values():
    from algorithms.policy.envs import evaluate

    config = DQNConfig(env_id="MinAtar-Breakout", total_timesteps=300, learning_starts=100,
                       train_freq=4, gradient_steps=1, batch_size=8, hidden=(32,), buffer_size=500,
                       probe_every=150, probe_episodes=2, prioritized=True)
    result = train(config)
    assert isinstance(result.agent.torso[0], torch.nn.Conv2d)
    assert result.history["probe_step"] == [150.0, 300.0]
    assert len(result.history["q_s0"]) == len(result.history["return_s0"]) == 2
    assert len(evaluate(result.agent, "MinAtar-Breakout", 2)) == 2
