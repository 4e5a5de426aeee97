"""Atari (``ALE/<Game>-v5``): CleanRL's / SB3's preprocessing from Gymnasium's wrappers, full-game
unclipped returns recorded while the learner sees clipped rewards and life-loss terminals, the
Nature CNN in both networks (MinAtar's nets untouched), and the two Atari experiments end to end
on the smoke profile."""

import numpy as np
import pytest
import torch
from torch import nn

from algorithms.experiment import PROFILES, experiments_for
from recording_tracker import smoke_runs
from test_policy_helpers import check_run

pytest.importorskip("ale_py")
pytest.importorskip("cv2")


def make(env_id="ALE/Breakout-v5"):
    from algorithms.policy.envs import make_env

    env = make_env(env_id)
    env.action_space.seed(0)
    return env


def test_atari_observations_are_four_stacked_84x84_grayscale_uint8_frames():
    env = make()
    obs, _ = env.reset(seed=0)
    assert env.observation_space.shape == obs.shape == (4, 84, 84)
    assert obs.dtype == env.observation_space.dtype == np.uint8
    assert env.action_space.n == 4  # Breakout's minimal action set, not the full 18
    obs, *_ = env.step(env.action_space.sample())
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    env.close()


def test_a_life_lost_is_terminal_for_the_learner_but_the_game_goes_on():
    env = make()
    env.reset(seed=0)
    ale = env.unwrapped.ale
    assert ale.lives() == 5
    terminated = truncated = False
    while not (terminated or truncated):
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
    assert terminated and ale.lives() == 4 and "ep_return" not in info  # no game over yet
    frame = ale.getEpisodeFrameNumber()
    env.reset()
    assert ale.lives() == 4 and ale.getEpisodeFrameNumber() > frame  # no emulator reset
    env.close()


def test_learner_rewards_are_clipped_but_the_recorded_return_is_the_full_unclipped_game():
    env = make("ALE/SpaceInvaders-v5")  # invaders are worth 5-30 points: clipping shows
    env.reset(seed=0)
    lives, clipped, life_losses, info = env.unwrapped.ale.lives(), 0.0, 0, {}
    for _ in range(20_000):
        _, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert reward in (-1.0, 0.0, 1.0)
        clipped += reward
        if "ep_return" in info:
            break
        if terminated or truncated:
            life_losses += 1
            env.reset()
    assert "ep_return" in info, "the game did not end"
    assert life_losses == lives - 1  # every life but the last ended a learner's episode
    assert clipped > 0 and info["ep_return"] >= 5 * clipped  # all lives' raw points
    env.close()


def test_the_random_policy_scores_full_games(monkeypatch):
    import gymnasium as gym

    import algorithms.policy.envs as envs
    from algorithms.weeks.rl_common import random_return

    ends = []  # the learner's episode ends the random policy went through

    class Spy(gym.Wrapper):
        def step(self, action):
            out = self.env.step(action)
            ends.append(out[2] or out[3])
            return out

    real = envs.make_env
    monkeypatch.setattr(envs, "make_env", lambda env_id: Spy(real(env_id)))
    score = random_return("ALE/Breakout-v5", episodes=1, seed=0)
    assert sum(ends) == 5  # Breakout's five lives, each a learner's terminal, in one game
    assert score >= 0 and float(score).is_integer()  # raw points, not a clipped life's


def test_nature_cnn_in_the_actor_critic_and_the_q_network():
    from algorithms.policy.networks import ActorCritic, is_atari
    from algorithms.value.dqn import QNetwork

    assert is_atari((4, 84, 84)) and not is_atari((4, 10, 10))
    obs = torch.randint(0, 256, (5, 4, 84, 84)).float()
    agent = ActorCritic((4, 84, 84), 6)
    convs = [m for m in agent.torso if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == \
        [(32, (8, 8), (4, 4)), (64, (4, 4), (2, 2)), (64, (3, 3), (1, 1))]
    assert agent.torso(obs).shape == (5, 512)
    action, logp, value = agent.act(obs)
    assert action.shape == logp.shape == value.shape == (5,)
    assert agent.dist(obs).logits.shape == (5, 6)
    for dueling in (False, True):
        q = QNetwork((4, 84, 84), 6, (512,), dueling)
        assert q.torso(obs).shape == (5, 64 * 7 * 7)
        assert q(obs).shape == (5, 6)
    # frames are scaled inside: 255 in, the same as 1.0 fed past the scaling
    assert torch.allclose(agent.torso(torch.full((1, 4, 84, 84), 255.0)),
                          agent.torso[1:](torch.ones(1, 4, 84, 84)))


def test_minatar_frames_keep_their_small_cnns():
    from algorithms.policy.networks import ActorCritic
    from algorithms.value.dqn import QNetwork

    agent = ActorCritic((4, 10, 10), 3)
    assert [type(m) for m in agent.torso] == [nn.Conv2d, nn.ReLU, nn.Flatten, nn.Linear, nn.ReLU]
    assert (agent.torso[0].out_channels, agent.torso[3].in_features) == (16, 16 * 8 * 8)
    q = QNetwork((4, 10, 10), 3, (128,))
    assert [type(m) for m in q.torso] == [nn.Conv2d, nn.ReLU, nn.Flatten]
    assert q(torch.zeros(2, 4, 10, 10)).shape == (2, 3)


def test_atari_profiles_state_their_budgets_and_keep_the_replay_in_memory():
    a2c = experiments_for(6)["a2c-atari"].config
    dqn = experiments_for(14)["dqn-atari"].config
    for config in (a2c, dqn):
        assert set(config.for_profile("cpu").algorithm_configs()) == {"breakout"}
        gpu = config.for_profile("gpu").algorithm_configs()
        assert {k: (v.env_id, 4 * v.total_timesteps) for k, v in gpu.items()} == {
            "breakout": ("ALE/Breakout-v5", 10_000_000), "pong": ("ALE/Pong-v5", 10_000_000)}
    (cpu,) = dqn.for_profile("cpu").algorithm_configs().values()
    assert cpu.buffer_size * 2 * 4 * 84 * 84 <= 4e9  # s and s' as uint8
    gpu = dqn.for_profile("gpu").algorithm_configs()["pong"]
    assert (gpu.buffer_size, gpu.learning_rate, gpu.learning_starts, gpu.train_freq,
            gpu.batch_size, gpu.exploration_final_eps, gpu.device) == \
        (400_000, 1e-4, 80_000, 4, 32, 0.01, "auto")
    (rl_zoo,) = a2c.for_profile("cpu").algorithm_configs().values()
    assert (rl_zoo.n_envs, rl_zoo.n_steps, rl_zoo.learning_rate, rl_zoo.optimizer,
            rl_zoo.ent_coef, rl_zoo.vf_coef) == (16, 5, 7e-4, "rmsprop", 0.01, 0.25)
    for profile in PROFILES:
        assert a2c.for_profile(profile).algorithm_configs()
        assert dqn.for_profile(profile).algorithm_configs()


@pytest.mark.parametrize("week, name", [(6, "a2c-atari"), (14, "dqn-atari")])
def test_atari_smoke_runs_report_the_random_policy_and_the_budget_in_frames(week, name):
    (run,) = smoke_runs({name: experiments_for(week)[name]}).values()
    summary, tracker = run
    check_run(summary, tracker)
    assert {"final_return", "eval_return", "random_return", "return_over_random",
            "frames", "budget_frames"} <= set(summary)
    assert summary["frames"] == 4 * summary["env_steps"]
    assert any("charts/episodic_return" in metrics for _, metrics in tracker.logs)
