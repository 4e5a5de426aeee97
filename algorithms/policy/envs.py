"""Environments and the vectorised rollout collectors shared by every algorithm.

* :func:`make_env` / :func:`make_vec_env`: Gymnasium ids plus two of forge's own,
  ``MinAtar-Breakout`` (Young & Tian 2019, any MinAtar game as ``MinAtar-<Game>``) and
  ``CostCartPole`` (CartPole-v1 with a safety cost for CPO); ``ALE/<Game>-v5`` as CleanRL / SB3.
* :class:`StepCollector`: N envs × T steps for the actor–critic family (A2C, PPO, NPG, TRPO, CPO),
  with truncation bootstrapping and episode statistics.
* :func:`collect_episodes`: N complete episodes for Monte Carlo REINFORCE.

Vector envs use Gymnasium's ``SAME_STEP`` autoreset: the observation returned with ``done`` is
already the next episode's first, and the real last observation sits in ``info["final_obs"]``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

# ----------------------------------------------------------------------------- environments


class EpisodeStats(gym.Wrapper):
    """Adds ``ep_return``, ``ep_length``, ``ep_cost`` and ``ep_true_return`` (undiscounted,
    before any reward normalisation) to the info of an episode's last step. The true return sums
    ``info["true_reward"]`` where an environment's reward is a misspecified proxy of what is
    wanted (week 12's gridworlds), and the reward itself everywhere else."""

    def reset(self, **kwargs):
        self._ret, self._len, self._cost, self._true = 0.0, 0, 0.0, 0.0
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._ret += float(reward)
        self._len += 1
        self._cost += float(info.get("cost", 0.0))
        self._true += float(info.get("true_reward", reward))
        if terminated or truncated:
            info = {**info, "ep_return": self._ret, "ep_length": self._len,
                    "ep_cost": self._cost, "ep_true_return": self._true}
        return obs, reward, terminated, truncated, info


class CostCartPole(gym.Wrapper):
    """CartPole-v1 with a constraint (the CPO task): cost 1 on every step the cart is more than
    ``position_limit`` from the centre, ``info["cost"]``. The reward is unchanged, so an
    unconstrained learner drifts into the costly region; CPO must keep the episode's cost under
    its budget while still balancing."""

    def __init__(self, env: gym.Env, position_limit: float = 0.5) -> None:
        super().__init__(env)
        self.position_limit = position_limit

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        info = {**info, "cost": float(abs(obs[0]) > self.position_limit)}
        return obs, reward, terminated, truncated, info


class MinAtarEnv(gym.Env):
    """A MinAtar game (Young & Tian 2019) as a Gymnasium env: observations are the game's
    10×10×C boolean channels as float32 (C, 10, 10); actions are the game's minimal set; sticky
    actions with probability 0.1 as in the paper; episodes are cut at ``max_steps``."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, game: str, max_steps: int = 10_000, sticky: float = 0.1) -> None:
        from minatar import Environment

        self.game = Environment(game, sticky_action_prob=sticky)
        self.actions = self.game.minimal_action_set()
        self.action_space = gym.spaces.Discrete(len(self.actions))
        h, w, c = self.game.state_shape()
        self.observation_space = gym.spaces.Box(0.0, 1.0, (c, h, w), np.float32)
        self.max_steps = max_steps

    def _obs(self) -> np.ndarray:
        return np.ascontiguousarray(self.game.state().transpose(2, 0, 1), dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self.game.seed(seed)
            self.game.random = np.random.RandomState(seed)
        self.game.reset()
        self.steps = 0
        return self._obs(), {}

    def step(self, action):
        reward, terminal = self.game.act(self.actions[int(action)])
        self.steps += 1
        return self._obs(), float(reward), bool(terminal), self.steps >= self.max_steps, {}


class EpisodicLife(gym.Wrapper):
    """A life lost is terminal for the learner; the emulator resets only at game over (SB3's
    ``EpisodicLifeEnv``, Mnih et al. 2015; Gymnasium has none): else ``reset`` takes a no-op."""

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.game_over, lives = terminated or truncated, self.env.unwrapped.ale.lives()
        terminated, self.lives = terminated or 0 < lives < self.lives, lives
        return obs, reward, terminated, truncated, info

    def reset(self, **kwargs):
        if getattr(self, "game_over", True):
            obs, info = self.env.reset(**kwargs)
        else:  # a no-op that ends the game resets it
            obs, _, terminated, truncated, info = self.env.step(0)
            obs, info = self.env.reset(**kwargs) if terminated or truncated else (obs, info)
        self.game_over, self.lives = False, self.env.unwrapped.ale.lives()
        return obs, info


class FireReset(gym.Wrapper):
    """FIRE after each reset where the game waits for it (SB3's ``FireResetEnv``; not in gym)."""

    def reset(self, **kwargs):
        self.env.reset(**kwargs)
        obs, _, terminated, truncated, info = self.env.step(1)
        return self.env.reset(**kwargs) if terminated or truncated else (obs, info)


def make_atari(env_id: str, sticky: float = 0.0, episodic_life: bool = True) -> gym.Env:
    """``ALE/<Game>-v5`` with CleanRL's / SB3's ``AtariWrapper`` preprocessing from Gymnasium's
    wrappers: ≤ 30 no-ops at reset, frame skip 4 (max of the last two), 84×84 grayscale, FIRE at
    reset, episodic life, rewards clipped to their sign, 4 frames stacked: uint8 (4, 84, 84).
    Sticky actions off (not v5's 0.25, Machado et al. 2018) to compare with CleanRL's / SB3's
    ``NoFrameskip-v4`` numbers; ``sticky=0.25`` is the v5 protocol. :class:`EpisodeStats` sits
    under life loss and clipping: recorded returns are unclipped full-game (all-lives) scores."""
    import ale_py

    gym.register_envs(ale_py)
    env = gym.make(env_id, frameskip=1, repeat_action_probability=sticky, full_action_space=False)
    env = EpisodeStats(gym.wrappers.AtariPreprocessing(
        env, noop_max=30, frame_skip=4, screen_size=84, grayscale_obs=True,
        terminal_on_life_loss=False))
    env = EpisodicLife(env) if episodic_life else env
    env = FireReset(env) if "FIRE" in env.unwrapped.get_action_meanings() else env
    env = gym.wrappers.TransformReward(env, lambda r: float(np.sign(r)))
    return gym.wrappers.FrameStackObservation(env, 4)


def make_env(env_id: str, normalize: bool = False, gamma: float = 0.99, **kwargs: Any) -> gym.Env:
    """One environment, episode statistics outermost-but-normalisation (so returns are raw)."""
    if env_id.startswith("ALE/"):  # its own statistics, under life loss and clipping
        return make_atari(env_id, **kwargs)
    if env_id.startswith("MinAtar-"):
        env: gym.Env = MinAtarEnv(env_id.removeprefix("MinAtar-").lower(), **kwargs)
    elif env_id == "CostCartPole":
        env = CostCartPole(gym.make("CartPole-v1"), **kwargs)
    else:
        env = gym.make(env_id, **kwargs)
    env = EpisodeStats(env)
    if normalize:  # continuous control: CleanRL's ppo_continuous_action wrappers
        env = gym.wrappers.ClipAction(env)
        env = gym.wrappers.NormalizeObservation(env)
        env = gym.wrappers.TransformObservation(env, lambda o: np.clip(o, -10, 10),
                                                env.observation_space)
        env = gym.wrappers.NormalizeReward(env, gamma=gamma)
        env = gym.wrappers.TransformReward(env, lambda r: float(np.clip(r, -10, 10)))
    return env


def make_vec_env(env_id: str, n_envs: int, seed: int, normalize: bool = False,
                 gamma: float = 0.99, **kwargs: Any) -> gym.vector.SyncVectorEnv:
    envs = gym.vector.SyncVectorEnv(
        [lambda: make_env(env_id, normalize, gamma, **kwargs) for _ in range(n_envs)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    envs.reset(seed=seed)
    envs.action_space.seed(seed)
    return envs


def _merged(info: dict, key: str, done: np.ndarray, n: int) -> np.ndarray:
    """``info[key]`` of a SAME_STEP vector step, taking done envs' values from final_info."""
    out = np.zeros(n, dtype=np.float64)
    if key in info:
        out = np.where(info[f"_{key}"], info[key], out)
    final = info.get("final_info")
    if final is not None and key in final:
        out = np.where(done & final[f"_{key}"], final[key], out)
    return out


# ----------------------------------------------------------------------------- statistics


@dataclass
class EpisodeLog:
    """Every finished episode: the global env step it ended at, its return, length, cost and
    true return (the return itself unless the environment's reward is a proxy)."""

    steps: list[int] = field(default_factory=list)
    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    costs: list[float] = field(default_factory=list)
    true_returns: list[float] = field(default_factory=list)

    def add(self, step: int, ret: float, length: int, cost: float,
            true_return: float | None = None) -> None:
        self.steps.append(step)
        self.returns.append(ret)
        self.lengths.append(length)
        self.costs.append(cost)
        self.true_returns.append(ret if true_return is None else true_return)

    def mean_return(self, last: int = 20) -> float:
        return float(np.mean(self.returns[-last:])) if self.returns else float("nan")

    def mean_cost(self, last: int = 20) -> float:
        return float(np.mean(self.costs[-last:])) if self.costs else float("nan")

    def solved_at(self, threshold: float, window: int = 20) -> int | None:
        """The env step at which the ``window``-episode moving average first reached it."""
        r = np.asarray(self.returns)
        if len(r) < window:
            return None
        ma = np.convolve(r, np.ones(window) / window, mode="valid")
        hit = np.flatnonzero(ma >= threshold)
        return int(self.steps[hit[0] + window - 1]) if len(hit) else None


LogFn = Callable[[dict[str, float], int], None]


def no_log(metrics: dict[str, float], step: int) -> None:
    """The default ``log``: drop everything."""


@dataclass
class TrainResult:
    """What every ``train`` returns: the finished episodes, the env steps taken, the wall time,
    the trained agent, and per-update diagnostics (``history[name]`` is a list over updates)."""

    episodes: EpisodeLog
    global_step: int
    wall_s: float
    agent: Any = None
    history: dict[str, list[float]] = field(default_factory=dict)

    @property
    def sps(self) -> float:
        return self.global_step / max(self.wall_s, 1e-9)

    def record(self, **values: float) -> None:
        for key, value in values.items():
            self.history.setdefault(key, []).append(float(value))


def episode_metrics(episodes: EpisodeLog, since: int) -> dict[str, float]:
    """CleanRL's ``charts/episodic_*`` over the episodes that finished after index ``since``."""
    if len(episodes.returns) <= since:
        return {}
    return {"charts/episodic_return": float(np.mean(episodes.returns[since:])),
            "charts/episodic_length": float(np.mean(episodes.lengths[since:])),
            "charts/episodic_cost": float(np.mean(episodes.costs[since:]))}


# ----------------------------------------------------------------------------- step collector


@dataclass
class Rollout:
    """A vectorised rollout buffer: (T, N) tensors, plus the bootstrap values of s_T."""

    obs: Tensor
    actions: Tensor
    logp: Tensor
    values: Tensor
    rewards: Tensor
    dones: Tensor
    costs: Tensor
    cost_values: Tensor
    last_value: Tensor
    last_cost_value: Tensor

    def flat(self, *names: str) -> list[Tensor]:
        """Named fields with T and N merged into one batch axis."""
        out = []
        for name in names:
            x = getattr(self, name)
            out.append(x.reshape(-1, *x.shape[2:]))
        return out


class StepCollector:
    """Runs N envs for T steps at a time with the current policy and keeps their state between
    calls (so episodes span rollouts). A truncated episode's last reward gets γ·V(s_final) so that
    the estimators may treat every ``done`` as terminal."""

    def __init__(self, envs: gym.vector.VectorEnv, gamma: float, seed: int) -> None:
        self.envs = envs
        self.gamma = gamma
        self.n = envs.num_envs
        obs, _ = envs.reset(seed=seed)
        self.obs = torch.as_tensor(obs, dtype=torch.float32)
        self.global_step = 0
        self.episodes = EpisodeLog()
        self.started = time.perf_counter()

    @property
    def sps(self) -> float:
        return self.global_step / max(time.perf_counter() - self.started, 1e-9)

    @torch.no_grad()
    def collect(self, agent, n_steps: int, cost: bool = False) -> Rollout:
        T, N = n_steps, self.n
        obs = torch.zeros((T, N, *self.obs.shape[1:]))
        actions, logps, values, rewards, dones, costs, cvalues = ([] for _ in range(7))
        for t in range(T):
            obs[t] = self.obs
            action, logp, value = agent.act(self.obs)
            next_obs, reward, terminated, truncated, info = self.envs.step(action.numpy())
            self.global_step += N
            done = terminated | truncated
            reward = np.asarray(reward, dtype=np.float32).copy()
            step_cost = _merged(info, "cost", done, N) if cost else np.zeros(N)
            if truncated.any():  # bootstrap time-limit truncations (not true terminals)
                idx = np.flatnonzero(truncated & ~terminated)
                if len(idx):
                    final = torch.as_tensor(np.stack(info["final_obs"][idx]), dtype=torch.float32)
                    reward[idx] += self.gamma * agent.value(final).numpy()
                    if cost:
                        step_cost[idx] += self.gamma * agent.cost_value(final).numpy()
            if done.any():
                final = info["final_info"]
                for i in np.flatnonzero(done & final.get("_ep_return", False)):
                    self.episodes.add(self.global_step, float(final["ep_return"][i]),
                                      int(final["ep_length"][i]), float(final["ep_cost"][i]),
                                      float(final["ep_true_return"][i]))
            actions.append(action)
            logps.append(logp)
            values.append(value)
            rewards.append(torch.as_tensor(reward))
            dones.append(torch.as_tensor(done, dtype=torch.float32))
            costs.append(torch.as_tensor(step_cost, dtype=torch.float32))
            cvalues.append(agent.cost_value(self.obs) if cost else torch.zeros(N))
            self.obs = torch.as_tensor(next_obs, dtype=torch.float32)
        last_value = agent.value(self.obs)
        last_cost_value = agent.cost_value(self.obs) if cost else torch.zeros(N)
        return Rollout(obs, torch.stack(actions), torch.stack(logps), torch.stack(values),
                       torch.stack(rewards), torch.stack(dones), torch.stack(costs),
                       torch.stack(cvalues), last_value, last_cost_value)


# ----------------------------------------------------------------------------- episodes


@dataclass
class Episodes:
    """N complete episodes, padded to the longest: (T, N) tensors and a validity mask."""

    obs: Tensor
    actions: Tensor
    rewards: Tensor
    dones: Tensor
    mask: Tensor
    returns: list[float]
    lengths: list[int]


@torch.no_grad()
def collect_episodes(envs: gym.vector.VectorEnv, agent, max_steps: int = 100_000) -> Episodes:
    """Each of the N envs plays exactly one episode from a fresh reset (seeded by the vector
    env's RNG); steps after an env's first episode are masked out. Time-limit truncations are
    treated as terminal: REINFORCE has no critic to bootstrap with."""
    N = envs.num_envs
    obs_np, _ = envs.reset()
    obs = torch.as_tensor(obs_np, dtype=torch.float32)
    alive = np.ones(N, dtype=bool)
    o, a, r, d, m = [], [], [], [], []
    returns, lengths = [0.0] * N, [0] * N
    for _ in range(max_steps):
        action, _, _ = agent.act(obs)
        next_obs, reward, terminated, truncated, info = envs.step(action.numpy())
        done = terminated | truncated
        o.append(obs)
        a.append(action)
        r.append(torch.as_tensor(np.where(alive, reward, 0.0), dtype=torch.float32))
        d.append(torch.as_tensor(done | ~alive, dtype=torch.float32))
        m.append(torch.as_tensor(alive, dtype=torch.float32))
        for i in np.flatnonzero(done & alive):
            returns[i] = float(info["final_info"]["ep_return"][i])
            lengths[i] = int(info["final_info"]["ep_length"][i])
        alive &= ~done
        obs = torch.as_tensor(next_obs, dtype=torch.float32)
        if not alive.any():
            break
    return Episodes(torch.stack(o), torch.stack(a), torch.stack(r), torch.stack(d),
                    torch.stack(m), returns, lengths)


@torch.no_grad()
def evaluate(agent, env_id: str, episodes: int = 20, seed: int = 10_000,
             deterministic: bool = True) -> list[float]:
    """Undiscounted returns of ``episodes`` fresh episodes of a trained policy, one per env,
    on seeds kept apart from training's; by default acting with the mode of π (the likeliest
    action or the Gaussian's mean), as RL Zoo and most papers evaluate. Only for agents trained
    on raw observations: normalisation statistics live in the training envs."""
    envs = make_vec_env(env_id, episodes, seed)
    obs, _ = envs.reset(seed=seed)
    returns = [0.0] * episodes
    alive = np.ones(episodes, dtype=bool)
    while alive.any():
        action, _, _ = agent.act(torch.as_tensor(obs, dtype=torch.float32), deterministic)
        obs, _, terminated, truncated, info = envs.step(action.numpy())
        done = (terminated | truncated) & info.get("final_info", {}).get("_ep_return", False)
        for i in np.flatnonzero(done & alive):  # Atari: full games, not lives
            returns[i] = float(info["final_info"]["ep_return"][i])
        alive &= ~done
    envs.close()
    return returns
