"""C51 (Bellemare, Dabney & Munos 2017, Alg. 1) against hand computations: the categorical
projection Φ (mass, integer b_j, clipping at both ends, terminals, the mean), the network's
Q = Σ z p with and without the dueling head, short runs with every Rainbow part, and the
config's refusal of an empty support."""

import numpy as np
import pytest
import torch

from algorithms.value.distributional import categorical_projection
from algorithms.value.dqn import DQNConfig, QNetwork, train

SUPPORT5 = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0])  # V_min 0, V_max 4, Δz 1
P5 = torch.tensor([[0.1, 0.2, 0.3, 0.2, 0.2]])


def project(returns, discounts, probs=P5, support=SUPPORT5):
    n = len(returns)
    return categorical_projection(probs.expand(n, -1), torch.tensor(returns),
                                  torch.tensor(discounts), support)


def test_a_hand_computed_projection_splits_each_atom_between_its_neighbours():
    # r = 0.5, γ = 0.5: T̂z = (0.5, 1, 1.5, 2, 2.5); 1 and 2 are atoms (b_j integer, l = u)
    m = project([0.5], [0.5])
    torch.testing.assert_close(m, torch.tensor([[0.05, 0.05 + 0.2 + 0.15, 0.15 + 0.2 + 0.1,
                                                 0.1, 0.0]]))


def test_projection_clips_at_both_ends_and_conserves_mass():
    # r = 3, γ = 1: T̂z = (3, 4, 5, 6, 7) → (3, 4, 4, 4, 4), all on atoms
    # r = −2, γ = 1: T̂z = (−2, −1, 0, 1, 2) → (0, 0, 0, 1, 2); b = 0 is the l = u = 0 case
    m = project([3.0, -2.0], [1.0, 1.0])
    torch.testing.assert_close(m, torch.tensor([[0.0, 0.0, 0.0, 0.1, 0.9],
                                                [0.6, 0.2, 0.2, 0.0, 0.0]]))
    g = torch.Generator().manual_seed(0)
    support = torch.linspace(-10.0, 10.0, 51)
    probs = torch.softmax(torch.randn(200, 51, generator=g), -1)
    returns = torch.cat([torch.randn(150, generator=g) * 8,  # some clipped past ±10
                         torch.arange(-10.0, 15.0, 0.4)[:50]])  # on atoms, b_j integer
    discounts = torch.cat([torch.rand(150, generator=g), torch.zeros(50)])
    torch.testing.assert_close(categorical_projection(probs, returns, discounts, support).sum(-1),
                               torch.ones(200))


def test_a_terminal_collapses_onto_the_atoms_around_the_reward():
    m = project([1.3, 2.0, 9.0], [0.0, 0.0, 0.0])
    torch.testing.assert_close(m, torch.tensor([[0.0, 0.7, 0.3, 0.0, 0.0],
                                                [0.0, 0.0, 1.0, 0.0, 0.0],
                                                [0.0, 0.0, 0.0, 0.0, 1.0]]))


def test_projection_preserves_the_mean_inside_the_support():
    g = torch.Generator().manual_seed(1)
    support = torch.linspace(-10.0, 10.0, 51, dtype=torch.float64)
    probs = torch.softmax(torch.randn(100, 51, generator=g, dtype=torch.float64), -1)
    returns = (torch.rand(100, generator=g, dtype=torch.float64) - 0.5) * 8  # |r| ≤ 4
    discounts = torch.full((100,), 0.5, dtype=torch.float64)  # |r + γ z| ≤ 9: nothing clipped
    m = categorical_projection(probs, returns, discounts, support)
    torch.testing.assert_close((m * support).sum(-1), returns + 0.5 * (probs * support).sum(-1))


@pytest.mark.parametrize("dueling", [False, True])
def test_the_distributional_network_returns_q_as_the_mean_of_its_distribution(dueling):
    support = torch.linspace(0.0, 100.0, 11)
    net = QNetwork((4,), 3, (16, 16), dueling=dueling, support=support)
    obs = torch.randn(7, 4)
    log_p = net.log_probs(obs)
    assert log_p.shape == (7, 3, 11)
    torch.testing.assert_close(log_p.exp().sum(-1), torch.ones(7, 3))
    torch.testing.assert_close(net(obs), (log_p.exp() * support).sum(-1))
    if dueling:  # Rainbow's head: V atoms + A atoms − mean_a A, then the softmax per action
        h = net.torso(obs)
        v = net.value_stream(h).view(7, 1, 11)
        a = net.advantage_stream(h).view(7, 3, 11)
        torch.testing.assert_close(net.logits(obs), v + a - a.mean(1, keepdim=True))
    action, _, value = net.act(obs)
    assert action.tolist() == net(obs).argmax(-1).tolist()
    torch.testing.assert_close(value, net(obs).max(-1).values)


@pytest.mark.parametrize("switches", [
    {}, {"double": True, "dueling": True, "prioritized": True, "n_step": 3, "n_envs": 2}])
def test_c51_trains_with_every_rainbow_part(switches):
    logged = []
    config = DQNConfig(total_timesteps=600, learning_starts=200, train_freq=64, gradient_steps=4,
                       batch_size=16, hidden=(32, 32), log_interval=200, distributional=True,
                       n_atoms=21, **switches)
    result = train(config, log=lambda metrics, step: logged.append((step, metrics)))
    assert result.global_step == 600 and result.episodes.returns
    assert "losses/td_loss" in logged[-1][1]
    assert all(np.isfinite(v) for _, m in logged for v in m.values())
    assert result.agent.support.device.type == "cpu"
    assert result.agent(torch.zeros(1, 4)).shape == (1, 2)


@pytest.mark.parametrize("fields, message", [
    ({"n_atoms": 1}, "n_atoms ≥ 2, got 1"),
    ({"v_min": 5.0, "v_max": 5.0}, "v_min < v_max")])
def test_the_config_refuses_an_empty_support(fields, message):
    with pytest.raises(ValueError, match=message):
        DQNConfig(**fields)
