"""Actor–critic networks for every algorithm in this package (CleanRL's layouts and init).

* MLP (vector observations): separate actor and critic, two tanh layers of 64, orthogonal init
  with gain √2, 0.01 on the policy head and 1 on the value head (Engstrom et al. 2020, "the
  implementation matters"; Andrychowicz et al. 2021).
* CNN (MinAtar 10×10×C frames): one 3×3 conv of 16 channels and a 128-unit layer, as in Young &
  Tian (2019), shared by actor and critic.
* Nature CNN (Atari, 4 stacked 84×84 frames in 0..255): Mnih et al. (2015)'s torso, conv 32 8×8
  stride 4, 64 4×4 s2, 64 3×3 s1, a 512-unit layer, shared by actor and critic (CleanRL's
  ``ppo_atari``); inputs are scaled by 1/255 inside the network.

Discrete action spaces get a categorical policy; boxes a diagonal Gaussian with a state-independent
log standard deviation (Schulman et al. 2015, §8). An optional second value head estimates the
constraint cost for CPO. Distributions skip torch's argument validation: their parameters come
from the network, and the checks cost about a tenth of PPO's CartPole time.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.distributions import Categorical, Distribution, Normal


def layer_init(layer: nn.Module, std: float = math.sqrt(2), bias: float = 0.0) -> nn.Module:
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias)
    return layer


def mlp(sizes: list[int], out_std: float, activation: type[nn.Module] = nn.Tanh) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        last = i == len(sizes) - 2
        layers.append(layer_init(nn.Linear(sizes[i], sizes[i + 1]), out_std if last else math.sqrt(2)))
        if not last:
            layers.append(activation())
    return nn.Sequential(*layers)


class Scale(nn.Module):
    """x ↦ factor · x (uint8 frames to [0, 1])."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: Tensor) -> Tensor:
        return x * self.factor


def nature_cnn(channels: int, init: bool = True) -> nn.Sequential:
    """Mnih et al.'s (2015) torso for (C, 84, 84) frames in 0..255 → 512 features (ReLU)."""
    wrap = layer_init if init else (lambda layer: layer)
    return nn.Sequential(
        Scale(1 / 255), wrap(nn.Conv2d(channels, 32, 8, stride=4)), nn.ReLU(),
        wrap(nn.Conv2d(32, 64, 4, stride=2)), nn.ReLU(), wrap(nn.Conv2d(64, 64, 3, stride=1)),
        nn.ReLU(), nn.Flatten(), wrap(nn.Linear(64 * 7 * 7, 512)), nn.ReLU())


def is_atari(obs_shape: tuple[int, ...]) -> bool:
    """Stacked 84×84 Atari frames (the Nature CNN), not MinAtar's (C, 10, 10)."""
    return len(obs_shape) == 3 and tuple(obs_shape[1:]) == (84, 84)


class ActorCritic(nn.Module):
    """π_θ(a|s) and V_φ(s) (and the cost critic V^C_ψ(s) when ``cost_critic``)."""

    def __init__(self, obs_shape: tuple[int, ...], n_actions: int | None, action_dim: int = 0,
                 hidden: int = 64, cost_critic: bool = False) -> None:
        super().__init__()
        self.discrete = n_actions is not None
        out = n_actions if self.discrete else action_dim
        self.conv = len(obs_shape) == 3
        if is_atari(obs_shape):  # Atari: (4, 84, 84)
            self.torso = nature_cnn(obs_shape[0])
            self.actor = layer_init(nn.Linear(512, out), 0.01)
            self.critic = layer_init(nn.Linear(512, 1), 1.0)
            self.cost_critic_net = layer_init(nn.Linear(512, 1), 1.0) if cost_critic else None
        elif self.conv:  # MinAtar: (C, 10, 10)
            channels, height, width = obs_shape
            torso = lambda: nn.Sequential(  # noqa: E731
                layer_init(nn.Conv2d(channels, 16, 3)), nn.ReLU(), nn.Flatten(),
                layer_init(nn.Linear(16 * (height - 2) * (width - 2), 128)), nn.ReLU())
            self.torso = torso()
            self.actor = layer_init(nn.Linear(128, out), 0.01)
            self.critic = layer_init(nn.Linear(128, 1), 1.0)
            self.cost_critic_net = layer_init(nn.Linear(128, 1), 1.0) if cost_critic else None
        else:
            obs_dim = int(math.prod(obs_shape))
            self.torso = nn.Identity()
            self.actor = mlp([obs_dim, hidden, hidden, out], 0.01)
            self.critic = mlp([obs_dim, hidden, hidden, 1], 1.0)
            self.cost_critic_net = mlp([obs_dim, hidden, hidden, 1], 1.0) if cost_critic else None
        self.log_std = None if self.discrete else nn.Parameter(torch.zeros(action_dim))

    def actor_parameters(self) -> list[nn.Parameter]:
        """The policy's own parameters θ (what NPG / TRPO / CPO step in; MLP only)."""
        params = list(self.actor.parameters())
        return params + ([] if self.log_std is None else [self.log_std])

    def critic_parameters(self) -> list[nn.Parameter]:
        params = list(self.critic.parameters())
        if self.cost_critic_net is not None:
            params += list(self.cost_critic_net.parameters())
        return params

    def head(self, obs: Tensor) -> Tensor:
        """The policy's parameters per state: logits (discrete) or [mean, log σ] (continuous)."""
        out = self.actor(self.torso(obs))
        return out if self.discrete else torch.cat([out, self.log_std.expand_as(out)], -1)

    def make_dist(self, head: Tensor) -> Distribution:
        if self.discrete:
            return Categorical(logits=head, validate_args=False)
        mean, log_std = head.chunk(2, dim=-1)
        return Normal(mean, log_std.exp(), validate_args=False)

    def dist(self, obs: Tensor) -> Distribution:
        return self.make_dist(self.head(obs))

    def kl_from(self, old_head: Tensor, obs: Tensor) -> Tensor:
        """Per-state KL(π_old ‖ π_θ), π_old given by its (detached) :meth:`head` outputs."""
        from torch.distributions import kl_divergence

        kl = kl_divergence(self.make_dist(old_head.detach()), self.dist(obs))
        return kl if self.discrete else kl.sum(-1)

    def log_prob(self, dist: Distribution, actions: Tensor) -> Tensor:
        logp = dist.log_prob(actions)
        return logp if self.discrete else logp.sum(-1)

    def entropy(self, dist: Distribution) -> Tensor:
        entropy = dist.entropy()
        return entropy if self.discrete else entropy.sum(-1)

    def value(self, obs: Tensor) -> Tensor:
        return self.critic(self.torso(obs)).squeeze(-1)

    def cost_value(self, obs: Tensor) -> Tensor:
        return self.cost_critic_net(self.torso(obs)).squeeze(-1)

    @torch.no_grad()
    def act(self, obs: Tensor, deterministic: bool = False) -> tuple[Tensor, Tensor, Tensor]:
        """(action, log π(a|s), V(s)) for acting; ``deterministic`` takes the mode of π
        (the most likely action, or the Gaussian's mean) for evaluation."""
        hidden = self.torso(obs)
        out = self.actor(hidden)
        dist = (Categorical(logits=out, validate_args=False) if self.discrete
                else Normal(out, self.log_std.exp().expand_as(out), validate_args=False))
        if deterministic:
            action = out.argmax(-1) if self.discrete else out
        else:
            action = dist.sample()
        return action, self.log_prob(dist, action), self.critic(hidden).squeeze(-1)


def make_agent(envs, hidden: int = 64, cost_critic: bool = False) -> ActorCritic:
    """The actor–critic for a (vector) env's single observation and action spaces."""
    import gymnasium as gym

    obs_space, act_space = envs.single_observation_space, envs.single_action_space
    if isinstance(act_space, gym.spaces.Discrete):
        return ActorCritic(obs_space.shape, int(act_space.n), hidden=hidden, cost_critic=cost_critic)
    return ActorCritic(obs_space.shape, None, int(act_space.shape[0]), hidden=hidden,
                       cost_critic=cost_critic)


def resolve_device(name: str) -> torch.device:
    """``"auto"``: CUDA when available, else the CPU; any other name as torch reads it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
