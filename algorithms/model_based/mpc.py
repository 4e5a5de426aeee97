"""Model-predictive control with a learned ensemble on CartPole-v1, PETS style (Chua et al. 2018,
"Deep Reinforcement Learning in a Handful of Trials using Probabilistic Dynamics Models"; random
shooting as in Nagabandi et al. 2018).

At every real step the agent plans an action sequence a_{t:t+H} by maximising the predicted
return under the ensemble and executes only its first action (receding horizon):

    J(a_{t:t+H}) = 1/P Σ_p Σ_{τ=t}^{t+H−1} r(ŝ^p_τ),   ŝ^p_{τ+1} ~ f_θ_{b(p)}(ŝ^p_τ, a_τ)

with P = B particles, particle p following member b(p) = p for the whole horizon (PETS's TS∞
propagation). CartPole's reward is known, as PETS assumes of its tasks: 1 on every step while the
pole is up, nothing once the predicted state has left the bounds (|x| > 2.4 or |θ| > 12°).
Two optimisers of J:

* random shooting: the best of N uniformly random sequences;
* CEM (Rubinstein 1999; PETS §5): sample N sequences from N(μ, σ²) over a continuous
  u ∈ ℝ^H (action = 1 where u > 0), refit μ, σ to the best E, I iterations; the next step's
  μ is this one's shifted by a step (warm start).

Training (PETS's loop): random-policy episodes first, then MPC episodes; after each, the
ensemble is refit on every transition seen so far.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import gymnasium as gym
import numpy as np
import torch

from algorithms.model_based.world_model import (
    DynamicsEnsemble,
    EnsembleConfig,
    fit,
    make_optimizer,
)
from algorithms.policy.envs import EpisodeLog, TrainResult

X_LIMIT, THETA_LIMIT = 2.4, 12 * 2 * np.pi / 360  # CartPole-v1's termination bounds


def cem(objective: Callable[[np.ndarray], np.ndarray], mean: np.ndarray, std: np.ndarray,
        rng: np.random.Generator, iterations: int = 5, population: int = 200, elites: int = 20,
        smoothing: float = 0.1) -> np.ndarray:
    """The cross-entropy method maximising ``objective`` (population (N, dim) → values (N,)):
    sample x ~ N(μ, diag σ²), keep the E best, μ, σ ← (1 − α) (their mean, std) + α (μ, σ).
    Returns the final μ."""
    mean, std = np.asarray(mean, dtype=float).copy(), np.asarray(std, dtype=float).copy()
    for _ in range(iterations):
        samples = mean + std * rng.standard_normal((population, len(mean)))
        best = samples[np.argsort(objective(samples))[-elites:]]
        mean = (1 - smoothing) * best.mean(0) + smoothing * mean
        std = (1 - smoothing) * best.std(0) + smoothing * std
    return mean


def random_shooting(objective: Callable[[np.ndarray], np.ndarray], dim: int,
                    rng: np.random.Generator, population: int = 200) -> np.ndarray:
    """The best of ``population`` uniform samples from [−1, 1]^dim."""
    samples = rng.uniform(-1.0, 1.0, size=(population, dim))
    return samples[int(np.argmax(objective(samples)))]


def cartpole_alive(states: torch.Tensor) -> torch.Tensor:
    """CartPole-v1's known reward: 1 where the state is within the bounds, else 0."""
    return ((states[..., 0].abs() <= X_LIMIT) & (states[..., 2].abs() <= THETA_LIMIT)).float()


def cartpole_reward(states: torch.Tensor, shaping: float) -> torch.Tensor:
    """The planning reward of a state still within the bounds: 1 (CartPole's) minus ``shaping``
    × the mean of (x / 2.4)² and (θ / 12°)², a tie-break in [1 − shaping, 1] that prefers the
    centred upright state among sequences surviving the whole horizon (0: the plain reward)."""
    off_centre = ((states[..., 0] / X_LIMIT) ** 2 + (states[..., 2] / THETA_LIMIT) ** 2) / 2
    return 1.0 - shaping * off_centre.clamp(max=1.0)


@torch.no_grad()
def predicted_return(model: DynamicsEnsemble, state: np.ndarray, u: np.ndarray,
                     shaping: float = 0.0, generator: torch.Generator | None = None
                     ) -> np.ndarray:
    """J of each candidate (u (N, H), action = 1 where u > 0) from ``state``: the mean over the
    B particles (TS∞) of the planning reward summed up to the first predicted out-of-bounds
    state (with ``shaping`` 0: the number of steps survived)."""
    n, horizon = u.shape
    actions = torch.as_tensor(u > 0, dtype=torch.long).expand(model.size, -1, -1)  # (B, N, H)
    s = torch.as_tensor(state, dtype=torch.float32).expand(model.size, n, -1)
    alive = torch.ones(model.size, n)
    total = torch.zeros(model.size, n)
    for t in range(horizon):
        s = model.step(s, actions[:, :, t], sample=True, generator=generator)
        alive = alive * cartpole_alive(s)  # no reward after the first predicted failure
        total += alive * cartpole_reward(s, shaping)
    return total.mean(0).numpy()


@dataclass(frozen=True)
class MPCConfig:
    env_id: str = "CartPole-v1"
    total_timesteps: int = 2_000  # real environment steps, random ones included
    random_steps: int = 200  # steps of the uniform random policy before any planning
    optimizer: Literal["cem", "random"] = "cem"  # how J is maximised
    horizon: int = 20  # H planned steps
    population: int = 200  # N candidate sequences per iteration
    elites: int = 20  # E: CEM's refit set
    iterations: int = 3  # I: CEM's iterations per real step
    shaping: float = 0.1  # weight of the planning reward's tie-break (cartpole_reward)
    model: EnsembleConfig = field(default_factory=EnsembleConfig)
    seed: int = 0


@dataclass
class MPCAgent:
    """The planner: a trained ensemble and the optimiser's state (CEM's warm-start mean)."""

    model: DynamicsEnsemble
    config: MPCConfig
    rng: np.random.Generator
    generator: torch.Generator
    plan: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def reset(self) -> None:
        self.plan = np.zeros(self.config.horizon)

    def act(self, state: np.ndarray) -> int:
        c = self.config

        def objective(u: np.ndarray) -> np.ndarray:
            return predicted_return(self.model, state, u, c.shaping, self.generator)

        if c.optimizer == "cem":
            shifted = np.concatenate([self.plan[1:], [0.0]]) if len(self.plan) else \
                np.zeros(c.horizon)
            self.plan = cem(objective, shifted, np.ones(c.horizon), self.rng, c.iterations,
                            c.population, c.elites)
        else:
            self.plan = random_shooting(objective, c.horizon, self.rng, c.population)
        return int(self.plan[0] > 0)


def run_episode(env: gym.Env, policy: Callable[[np.ndarray], int], seed: int | None,
                max_steps: int) -> tuple[np.ndarray, np.ndarray, float]:
    """One episode (at most ``max_steps`` steps): states (T + 1, d), actions (T,), return."""
    obs, _ = env.reset(seed=seed)
    states, actions, ret = [obs], [], 0.0  # CartPole's own reward, never the planning one
    for _ in range(max_steps):
        action = policy(obs)
        obs, reward, terminated, truncated, _ = env.step(action)
        states.append(obs)
        actions.append(action)
        ret += float(reward)
        if terminated or truncated:
            break
    return np.asarray(states, dtype=np.float32), np.asarray(actions, dtype=np.int64), ret


def train(config: MPCConfig) -> TrainResult:
    """PETS's loop on ``config.env_id`` for ``config.total_timesteps`` real steps: random-policy
    episodes until ``random_steps``, a fit, then MPC episodes, each followed by a fit on every
    transition so far. Returns each finished episode's return at the step it ended (an episode
    cut short by the budget is not one), the trained agent and each fit's model loss."""
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    env = gym.make(config.env_id)
    env.action_space.seed(config.seed)
    max_steps = env.spec.max_episode_steps or 10**9
    model = DynamicsEnsemble(env.observation_space.shape[0], env.action_space.n, config.model)
    optimizer = make_optimizer(model)
    agent = MPCAgent(model, config, rng, torch.Generator().manual_seed(config.seed))
    result = TrainResult(EpisodeLog(), 0, 0.0, agent)
    data: list[tuple[np.ndarray, np.ndarray]] = []  # (states, actions) of each episode so far
    step, episode = 0, 0
    while step < config.total_timesteps:
        planning = step >= config.random_steps
        agent.reset()
        cap = (config.total_timesteps if planning else config.random_steps) - step
        policy = agent.act if planning else (lambda _: int(env.action_space.sample()))
        states, actions, ret = run_episode(env, policy, config.seed * 10_000 + episode, cap)
        data.append((states, actions))
        step, episode = step + len(actions), episode + 1
        if len(actions) < cap or len(actions) == max_steps:  # it ended, not cut by the budget
            result.episodes.add(step, ret, len(actions), 0.0)
        if planning or step >= config.random_steps:
            obs = np.concatenate([s[:-1] for s, _ in data])
            nxt = np.concatenate([s[1:] for s, _ in data])
            acts = np.concatenate([a for _, a in data])
            result.record(step=step, model_loss=fit(model, obs, acts, nxt, optimizer, rng))
    env.close()
    result.global_step, result.wall_s = step, time.perf_counter() - start
    return result


def evaluate(agent: MPCAgent, env_id: str, episodes: int, seed: int
             ) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """``episodes`` fresh MPC episodes on seeds kept apart from training's (nothing learned):
    each one's states, actions and return."""
    env = gym.make(env_id)
    out = []
    for i in range(episodes):
        agent.reset()
        out.append(run_episode(env, agent.act, seed + i, env.spec.max_episode_steps or 10**9))
    env.close()
    return out
