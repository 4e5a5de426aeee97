"""Deep Q-Networks (Mnih et al. 2015, Algorithm 1) with five of Rainbow's parts as switches
(Hessel et al. 2018).

DQN minimises the Huber loss of the TD error on minibatches drawn from a replay buffer D:

    y_j = r_j + γ max_a' Q(s'_j, a'; θ⁻)          (Alg. 1; y_j = r_j at a terminal s'_j)
    L(θ) = E_{(s,a,r,s') ~ U(D)}[ Huber(y − Q(s, a; θ)) ]

with θ⁻ a target network copied from θ every C gradient steps (``tau = 1``) or moved towards it
by Polyak averaging θ⁻ ← τ θ + (1 − τ) θ⁻, and actions chosen ε-greedily with ε decayed linearly.
The switches:

* ``double`` — Double DQN (van Hasselt, Guez & Silver 2016, eq. 4): the online net picks the
  action, the target net evaluates it, y = r + γ Q(s', argmax_a' Q(s', a'; θ); θ⁻).
* ``dueling`` — the dueling head (Wang et al. 2016, eq. 9):
  Q(s, a) = V(s) + A(s, a) − mean_a' A(s, a').
* ``prioritized`` — proportional prioritized replay (Schaul et al. 2016, see :mod:`.replay`):
  the loss of sample i is weighted by w_i = (N·P(i))^−β / max w, β annealed linearly to 1.
* ``n_step`` — n-step targets (Hessel et al. 2018, eq. 2):
  y = Σ_{k<n} γ^k r_{t+k} + γ^n Q̂(s_{t+n}), cut at a termination inside the n steps.
* ``distributional`` — C51 (Bellemare, Dabney & Munos 2017, Alg. 1; see :mod:`.distributional`):
  the net outputs, per action, a softmax p_i(s, a) over ``n_atoms`` returns
  z_i = V_min + i Δz, Δz = (V_max − V_min)/(N − 1), with Q(s, a) = Σ_i z_i p_i(s, a); the target
  distribution R + d z_j (the same R and d as above) is projected back onto the support,
  m = Φ(R + d Z(s', a*; θ⁻)), and the loss is the cross-entropy L = −Σ_i m_i log p_i(s, a; θ)
  (no Huber). It combines with the rest as in Rainbow: dueling over atoms (V(s) atoms +
  A(s, a) atoms − mean_a A, then the softmax), double (a* picked by θ), n-step, and PER with
  the per-sample cross-entropy as the priority.

Optionally (``eval_every``) the greedy policy is validated during training on seeds of its own,
and the best snapshot is returned (RL Zoo's ``EvalCallback``): DQN's greedy policy swings from
one training phase to the next on CartPole, so the last snapshot is a draw among them.

A time-limit truncation is never a terminal: its transition bootstraps from the episode's real
last observation (``info["final_obs"]`` of Gymnasium's SAME_STEP autoreset; Pardo et al. 2018).
The defaults are RL Zoo's CartPole-v1 settings (Raffin 2020) for SB3's DQN; as in SB3,
``train_freq`` env steps pass between training phases of ``gradient_steps`` gradient steps.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from algorithms.policy.envs import (
    EpisodeLog,
    LogFn,
    TrainResult,
    episode_metrics,
    evaluate,
    make_vec_env,
    no_log,
)
from algorithms.policy.networks import is_atari, nature_cnn, resolve_device
from algorithms.value.distributional import categorical_loss
from algorithms.value.replay import NStepAccumulator, PrioritizedReplayBuffer, ReplayBuffer


@dataclass(frozen=True)
class DQNConfig:
    env_id: str = "CartPole-v1"
    total_timesteps: int = 50_000  # env steps, all envs together
    n_envs: int = 1  # synchronous envs feeding one buffer
    learning_rate: float = 2.3e-3  # Adam step size
    buffer_size: int = 100_000  # capacity of D
    learning_starts: int = 1_000  # env steps of ε-greedy play before the first update
    batch_size: int = 64  # minibatch drawn from D per gradient step
    gamma: float = 0.99  # discount γ
    train_freq: int = 256  # env steps between training phases
    gradient_steps: int = 128  # gradient steps per training phase
    # C: gradient steps between target updates. RL Zoo's 10 counts env steps in SB3, which
    # copies θ once before each training phase: 128 gradient steps here is that schedule
    target_update_interval: int = 128
    tau: float = 1.0  # 1: hard copy θ⁻ ← θ; < 1: Polyak averaging
    exploration_initial_eps: float = 1.0
    exploration_final_eps: float = 0.04
    exploration_fraction: float = 0.16  # share of training over which ε decays linearly
    max_grad_norm: float = 10.0  # global gradient-norm clip (SB3's default)
    loss: Literal["huber", "mse"] = "huber"  # Huber (δ = 1: Mnih et al.'s error clipping)
    hidden: tuple[int, ...] = (256, 256)  # MLP widths; on MinAtar the one layer after the conv
    double: bool = False  # Double DQN target
    dueling: bool = False  # dueling head
    prioritized: bool = False  # proportional prioritized replay
    per_alpha: float = 0.6  # α: how much prioritization (0 = uniform)
    per_beta0: float = 0.4  # β at the start, annealed linearly to 1
    per_eps: float = 1e-6  # ε of p_i = |δ_i| + ε
    n_step: int = 1  # n of the n-step target
    distributional: bool = False  # C51: a categorical return distribution instead of Q
    n_atoms: int = 51  # N atoms of the support (C51's 51)
    # [V_min, V_max]: CartPole pays +1 a step and a time limit bootstraps, so returns lie in
    # [1, 1/(1 − γ)] = [1, 100] at γ = 0.99 (Δz = 2 with 51 atoms); Rainbow's ±10 suits clipped
    # Atari rewards. Set both per environment (rewards' sign and scale, γ)
    v_min: float = 0.0
    v_max: float = 100.0
    probe_every: int = 0  # env steps between value probes (0: none): Q(s0) vs realised return
    probe_episodes: int = 5  # greedy episodes per probe
    # model selection (RL Zoo's EvalCallback): every eval_every env steps (0: never) the greedy
    # policy plays eval_episodes validation episodes on seeds kept apart from training's and
    # from any held-out test's; the agent returned is the best of these snapshots, and training
    # stops once one scores stop_eval_return
    eval_every: int = 0
    eval_episodes: int = 10
    stop_eval_return: float | None = None
    log_interval: int = 1_000  # env steps between logged metrics
    normalize_env: bool = False  # no observation normalisation: evaluation runs on raw obs
    device: str = "cpu"  # where θ is trained ("auto": CUDA when available); returned on the CPU
    stop_return: float | None = None  # stop once the 20-episode moving average reaches this
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_atoms < 2:
            raise ValueError(f"C51's support needs n_atoms ≥ 2, got {self.n_atoms}")
        if self.v_min >= self.v_max:
            raise ValueError(f"C51's support needs v_min < v_max, got v_min = {self.v_min}, "
                             f"v_max = {self.v_max}")


# ----------------------------------------------------------------------------- the network


def dueling_q(value: Tensor, advantages: Tensor, dim: int = -1) -> Tensor:
    """Q(s, a) = V(s) + (A(s, a) − (1/|A|) Σ_a' A(s, a'))   (Wang et al. 2016, eq. 9), the
    actions along ``dim`` (C51: the same per atom, on logits of shape (B, |A|, N), ``dim=1``)."""
    return value + advantages - advantages.mean(dim=dim, keepdim=True)


class QNetwork(nn.Module):
    """Q(s, ·; θ): an MLP (vector observations), Young & Tian's (2019) MinAtar net (one 3×3
    conv of 16 channels, then a dense layer) or, on stacked 84×84 Atari frames, Mnih et al.'s
    (2015) Nature CNN (three convs, then ``hidden[-1]`` = 512 units; PyTorch's default init,
    as CleanRL's ``dqn_atari``). The last hidden layer is the head: one stream for
    Q, or — dueling — two streams of the same shape for V and A (Wang et al. 2016, Fig. 1).
    Given a ``support`` z (C51), each stream has N outputs per action (the logits of p_i(s, a))
    and ``forward`` returns Q(s, a) = Σ_i z_i p_i(s, a), so every caller still reads Q."""

    def __init__(self, obs_shape: tuple[int, ...], n_actions: int,
                 hidden: tuple[int, ...] = (256, 256), dueling: bool = False,
                 support: Tensor | None = None) -> None:
        super().__init__()
        if is_atari(obs_shape):  # Atari frames (4, 84, 84), 0..255
            self.torso = nature_cnn(obs_shape[0], init=False)[:-2]  # up to the flattened convs
            features = 64 * 7 * 7
        elif len(obs_shape) == 3:  # MinAtar frames (C, 10, 10)
            channels, height, width = obs_shape
            self.torso = nn.Sequential(nn.Conv2d(channels, 16, 3), nn.ReLU(), nn.Flatten())
            features = 16 * (height - 2) * (width - 2)
        else:
            layers: list[nn.Module] = []
            features = int(np.prod(obs_shape))
            for width in hidden[:-1]:
                layers += [nn.Linear(features, width), nn.ReLU()]
                features = width
            self.torso = nn.Sequential(*layers)

        def stream(out: int) -> nn.Sequential:
            return nn.Sequential(nn.Linear(features, hidden[-1]), nn.ReLU(),
                                 nn.Linear(hidden[-1], out))

        self.dueling, self.n_actions = dueling, n_actions
        self.distributional = support is not None
        self.n_atoms = len(support) if support is not None else 1
        if support is not None:
            self.register_buffer("support", torch.as_tensor(support, dtype=torch.float32))
        if dueling:
            self.value_stream = stream(self.n_atoms)
            self.advantage_stream = stream(n_actions * self.n_atoms)
        else:
            self.q_stream = stream(n_actions * self.n_atoms)

    def logits(self, obs: Tensor) -> Tensor:
        """(B, |A|, N): the logits of p_i(s, a) (C51); dueling per atom, as in Rainbow."""
        h = self.torso(obs)
        shape = (len(h), self.n_actions, self.n_atoms)
        if self.dueling:
            return dueling_q(self.value_stream(h).view(len(h), 1, self.n_atoms),
                             self.advantage_stream(h).view(shape), dim=1)
        return self.q_stream(h).view(shape)

    def log_probs(self, obs: Tensor) -> Tensor:
        """(B, |A|, N): log p_i(s, a), a log-softmax over the atoms (C51 only)."""
        return F.log_softmax(self.logits(obs), dim=-1)

    def forward(self, obs: Tensor) -> Tensor:
        if self.distributional:
            return (self.log_probs(obs).exp() * self.support).sum(-1)  # Q = Σ_i z_i p_i(s, a)
        h = self.torso(obs)
        if self.dueling:
            return dueling_q(self.value_stream(h), self.advantage_stream(h))
        return self.q_stream(h)

    @torch.no_grad()
    def act(self, obs: Tensor, deterministic: bool = True) -> tuple[Tensor, Tensor, Tensor]:
        """The greedy action, as ``(action, log-prob 0, max_a Q(s, a))``: the triple the policy
        package's ``evaluate`` reads, so a Q-network is evaluated exactly as a policy is."""
        q = self(obs.to(next(self.parameters()).device)).cpu()
        return q.argmax(-1), torch.zeros(len(q)), q.max(-1).values


# ----------------------------------------------------------------------------- the update


def td_target(returns: Tensor, discounts: Tensor, next_q_target: Tensor,
              next_q_online: Tensor | None = None) -> Tensor:
    """y = R + d · Q(s', a*; θ⁻), with a* = argmax_a' Q(s', a'; θ⁻) (DQN) or, given the online
    net's Q(s', ·; θ), a* = argmax_a' Q(s', a'; θ) (Double DQN, van Hasselt et al. 2016 eq. 4).
    d = γ^n (1 − terminated) comes from the buffer, so a terminal transition's y is R."""
    source = next_q_target if next_q_online is None else next_q_online
    best = source.argmax(dim=1, keepdim=True)
    return returns + discounts * next_q_target.gather(1, best).squeeze(1)


def linear_schedule(start: float, end: float, duration: float, t: float) -> float:
    """``start`` → ``end`` linearly over ``duration`` steps, then ``end``."""
    return start + (end - start) * min(1.0, t / max(duration, 1e-9))


def real_next_obs(next_obs: np.ndarray, done: np.ndarray, info: dict) -> np.ndarray:
    """s_{t+1} for every env of a SAME_STEP vector step: where an episode ended, the observation
    returned is already the next episode's first, and the real last one is in ``final_obs``."""
    real = next_obs.copy()
    for i in np.flatnonzero(done):
        real[i] = info["final_obs"][i]
    return real


def polyak_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """θ⁻ ← τ θ + (1 − τ) θ⁻ (τ = 1: the hard copy of Mnih et al.)."""
    with torch.no_grad():
        for t, o in zip(target.parameters(), online.parameters()):
            t.mul_(1.0 - tau).add_(o, alpha=tau)


@torch.no_grad()
def value_probe(q: QNetwork, env_id: str, episodes: int, gamma: float, seed: int
                ) -> tuple[float, float]:
    """(mean max_a Q(s_0, a), mean realised Σ_t γ^t r_t) over greedy episodes from fresh resets:
    van Hasselt et al.'s (2016, Fig. 3) value estimate against the true discounted return of the
    policy it induces. (A time limit cuts the realised sum; on CartPole-v1 at γ = 0.99 the
    missing tail is at most γ^500 / (1 − γ) ≈ 0.66.)"""
    envs = make_vec_env(env_id, episodes, seed)
    obs, _ = envs.reset(seed=seed)
    predicted = q.act(torch.as_tensor(obs, dtype=torch.float32))[2].mean().item()
    realised, discount = np.zeros(episodes), np.ones(episodes)
    alive = np.ones(episodes, dtype=bool)
    while alive.any():
        action, _, _ = q.act(torch.as_tensor(obs, dtype=torch.float32))
        obs, reward, terminated, truncated, _ = envs.step(action.numpy())
        realised += np.where(alive, discount * reward, 0.0)
        discount *= gamma
        alive &= ~(terminated | truncated)
    envs.close()
    return predicted, float(realised.mean())


def train(config: DQNConfig, log: LogFn = no_log) -> TrainResult:
    """Train DQN (and the switched-on parts); ``log(metrics, step)`` every ``log_interval`` env
    steps with CleanRL's names (``losses/td_loss``, ``losses/q_values``, ``charts/epsilon``;
    with ``distributional``, ``losses/td_loss`` is C51's cross-entropy)."""
    torch.set_num_threads(1)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    envs = make_vec_env(config.env_id, config.n_envs, config.seed)
    obs_shape, n_actions = envs.single_observation_space.shape, int(envs.single_action_space.n)
    device = resolve_device(config.device)
    support = (torch.linspace(config.v_min, config.v_max, config.n_atoms)
               if config.distributional else None)
    q = QNetwork(obs_shape, n_actions, tuple(config.hidden), config.dueling, support).to(device)
    q_target = copy.deepcopy(q)
    optimizer = torch.optim.Adam(q.parameters(), lr=config.learning_rate)
    # MinAtar's boolean channels and Atari's 0..255 frames: 2 × 28 KB per Atari transition
    obs_dtype = np.uint8 if len(obs_shape) == 3 else np.float32
    buffer = (PrioritizedReplayBuffer(config.buffer_size, obs_shape, config.per_alpha,
                                      config.per_eps, obs_dtype) if config.prioritized
              else ReplayBuffer(config.buffer_size, obs_shape, obs_dtype))
    nstep = NStepAccumulator(config.n_envs, config.n_step, config.gamma)
    episodes = EpisodeLog()
    result = TrainResult(episodes, 0, 0.0, q)
    N = config.n_envs
    train_every = max(1, config.train_freq // N)  # vector steps between training phases
    obs, _ = envs.reset(seed=config.seed)
    global_step, grad_steps, seen = 0, 0, 0  # seen: episodes already logged
    next_log, next_probe, next_eval = config.log_interval, config.probe_every, config.eval_every
    best_return, best_state = -np.inf, None
    losses: list[float] = []
    q_means: list[float] = []
    start = time.perf_counter()

    for iteration in range(max(1, config.total_timesteps // N)):
        # ---- act ε-greedily: each env explores with probability ε
        eps = linear_schedule(config.exploration_initial_eps, config.exploration_final_eps,
                              config.exploration_fraction * config.total_timesteps, global_step)
        greedy, _, _ = q.act(torch.as_tensor(obs, dtype=torch.float32))
        explore = rng.random(N) < eps
        actions = np.where(explore, rng.integers(0, n_actions, N), greedy.numpy())
        next_obs, rewards, terminated, truncated, info = envs.step(actions)
        global_step += N
        done = terminated | truncated

        # ---- store (s, a, R, s', d) with the real s' of finished episodes
        real_next = real_next_obs(next_obs, done, info)
        for transition in nstep.push(obs, actions, rewards, real_next, terminated, truncated):
            buffer.add(*transition)
        if done.any():
            final = info["final_info"]
            for i in np.flatnonzero(done & final.get("_ep_return", False)):  # Atari: games
                episodes.add(global_step, float(final["ep_return"][i]),
                             int(final["ep_length"][i]), 0.0)
        obs = next_obs

        # ---- a training phase: gradient steps on minibatches from D
        if global_step > config.learning_starts and (iteration + 1) % train_every == 0:
            beta = linear_schedule(config.per_beta0, 1.0, config.total_timesteps, global_step)
            for _ in range(config.gradient_steps):
                batch = buffer.sample(config.batch_size, rng, beta)
                b_obs, b_next, b_actions, b_returns, b_discounts, b_weights = (
                    torch.as_tensor(x, device=device) for x in (
                        batch.obs, batch.next_obs, batch.actions, batch.returns,
                        batch.discounts, batch.weights))
                if config.distributional:  # C51: the cross-entropy, also the priority
                    per_sample, q_sa = categorical_loss(q, q_target, b_obs, b_actions, b_returns,
                                                        b_discounts, b_next, config.double)
                    priority = per_sample.detach()
                else:
                    with torch.no_grad():
                        y = td_target(b_returns, b_discounts, q_target(b_next),
                                      q(b_next) if config.double else None)
                    q_sa = q(b_obs).gather(1, b_actions[:, None]).squeeze(1)
                    if config.loss == "huber":
                        per_sample = F.smooth_l1_loss(q_sa, y, reduction="none")
                    else:
                        per_sample = 0.5 * (q_sa - y) ** 2
                    priority = (q_sa - y).detach()
                loss = (b_weights * per_sample).mean()
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(q.parameters(), config.max_grad_norm)
                optimizer.step()
                buffer.update_priorities(batch.indices, priority.cpu().numpy())
                grad_steps += 1
                if grad_steps % config.target_update_interval == 0:
                    polyak_update(q_target, q, config.tau)
                losses.append(loss.item())
                q_means.append(q_sa.mean().item())

        if config.probe_every and global_step >= next_probe:
            predicted, realised = value_probe(q, config.env_id, config.probe_episodes,
                                              config.gamma, 20_000 + config.seed)
            result.record(probe_step=global_step, q_s0=predicted, return_s0=realised)
            next_probe += config.probe_every
        if config.eval_every and global_step >= next_eval:
            validation = float(np.mean(evaluate(q, config.env_id, config.eval_episodes,
                                                seed=30_000 + 100 * config.seed)))
            result.record(eval_step=global_step, eval_return=validation)
            if validation >= best_return:  # ties: the later snapshot, trained on more data
                best_return, best_state = validation, copy.deepcopy(q.state_dict())
            next_eval += config.eval_every
            if config.stop_eval_return is not None and validation >= config.stop_eval_return:
                break
        if global_step >= next_log:
            metrics = {"charts/epsilon": eps,
                       "charts/SPS": global_step / max(time.perf_counter() - start, 1e-9)}
            if losses:
                metrics |= {"losses/td_loss": float(np.mean(losses)),
                            "losses/q_values": float(np.mean(q_means))}
                result.record(step=global_step, td_loss=metrics["losses/td_loss"],
                              q_values=metrics["losses/q_values"])
            metrics |= episode_metrics(episodes, seen)
            log(metrics, global_step)
            losses, q_means, seen = [], [], len(episodes.returns)
            next_log += config.log_interval
        if (config.stop_return is not None and len(episodes.returns) >= 20
                and episodes.mean_return(20) >= config.stop_return):
            break
    envs.close()
    if best_state is not None:
        q.load_state_dict(best_state)
    q.cpu()
    result.global_step = global_step
    result.wall_s = time.perf_counter() - start
    return result
