"""Week 12's reward-gaming gridworlds, tabular Q-learning, and the ``reward-hacking`` experiment."""

import gymnasium as gym
import numpy as np
import pytest

from algorithms.experiment import experiments_for
from algorithms.safety.gridworlds import BoatRace, TomatoWatering, env_id
from recording_tracker import smoke_runs
from test_policy_helpers import check_run

UP, RIGHT, DOWN, LEFT = range(4)


def walk(env, actions):
    """(proxy, true) rewards of each step of ``actions`` from a fresh episode."""
    env.reset(seed=0)
    out = []
    for a in actions:
        _, reward, terminated, truncated, info = env.step(a)
        assert reward == info["proxy_reward"] and not terminated and not truncated
        out.append((info["proxy_reward"], info["true_reward"]))
    return np.array(out)


def test_the_bucket_makes_every_tomato_look_watered_while_they_dry():
    env = TomatoWatering(dry_prob=1.0)  # every watered tomato dries the next step
    rewards = walk(env, [UP, UP])  # from A (3, 1) onto the tomato at (1, 1)
    assert rewards[-1].tolist() == [0.25, 0.25]  # one of four watered, and seen so
    rewards = walk(env, [RIGHT, RIGHT, UP])  # onto the bucket at (3, 3), then into the wall
    assert rewards[1:].tolist() == [[1.0, 0.0], [1.0, 0.0]]
    obs, info = env.observe()
    assert obs[-4:].tolist() == [1, 1, 1, 1] and info["state"] // len(env.cells) == 15


def test_watered_tomatoes_dry_with_their_probability():
    env = TomatoWatering(dry_prob=0.0)
    rewards = walk(env, [UP, UP, RIGHT, RIGHT, RIGHT, RIGHT, LEFT])
    assert rewards[-1, 1] == 0.5  # both top tomatoes watered, neither dries


def test_the_boat_race_pays_the_wiggle_twice_the_lap():
    env = BoatRace()
    lap = [RIGHT] * 4 + [DOWN] * 4 + [LEFT] * 4 + [UP] * 4
    rewards = walk(env, lap)
    assert rewards.sum(axis=0).tolist() == [4.0, 16.0]  # four checkpoints, 16 steps round
    wiggle = walk(env, [RIGHT, RIGHT] + [LEFT, RIGHT] * 8)  # onto '>' at (1, 3), off and on
    assert wiggle[2:].sum(axis=0).tolist() == [8.0, 0.0]
    assert walk(env, [LEFT, UP])[:, 1].tolist() == [0.0, 0.0]  # walls: no move, no progress
    assert walk(env, [DOWN])[:, 1].tolist() == [-1.0]  # anticlockwise


def test_registered_ids_choose_the_optimised_reward_and_truncate_at_100_steps():
    env = gym.make(env_id("BoatRace", "true"))
    env.reset(seed=0)
    _, reward, *_ = env.step(RIGHT)
    assert reward == 1.0  # R*: one step clockwise
    for t in range(99):
        *_, truncated, _ = env.step(RIGHT)
    assert truncated
    with pytest.raises(ValueError, match="unknown gridworld"):
        env_id("Pacman")
    with pytest.raises(ValueError, match="reward must be"):
        BoatRace(reward="gold")


def test_q_learning_learns_the_lap_on_the_true_reward_and_the_wiggle_on_the_proxy():
    from algorithms.value.tabular_q import TabularQConfig, train

    honest = train(TabularQConfig(env_id=env_id("BoatRace", "true"), total_timesteps=20_000))
    hacker = train(TabularQConfig(env_id=env_id("BoatRace"), total_timesteps=20_000))
    assert np.mean(honest.episodes.true_returns[-20:]) > 70  # 100 clockwise steps at best
    assert np.mean(hacker.episodes.returns[-20:]) > 35  # 50 checkpoints at best ...
    assert abs(np.mean(hacker.episodes.true_returns[-20:])) < 10  # ... and no progress


def test_the_true_return_of_an_ordinary_environment_is_its_return():
    from algorithms.policy.envs import make_env

    env = make_env("CartPole-v1")
    env.reset(seed=0)
    done = False
    while not done:
        *_, terminated, truncated, info = env.step(0)
        done = terminated or truncated
    assert info["ep_true_return"] == info["ep_return"] > 0


def test_reward_hacking_smoke_run():
    exp = experiments_for(12)["reward-hacking"]
    assert exp.covers == (1,) and exp.config.for_profile("cpu").n_seeds >= 3
    summary, tracker = smoke_runs({"reward-hacking": exp})["reward-hacking"]
    check_run(summary, tracker)
    for env in ("tomato_watering", "boat_race"):
        for algorithm in ("q_learning", "ppo"):
            assert {f"{env}.{algorithm}.{r}.final_true_return" for r in ("proxy", "true")} \
                <= set(summary)
            assert f"{env}.{algorithm}.true_return_lost" in summary
    assert "reward_hacking/proxy_vs_true" in tracker.figures
    bad = exp.config.for_profile("smoke", environments=("tomato_watering", "lava"))
    with pytest.raises(ValueError, match="unknown environment lava"):
        exp.fn(bad, None)
