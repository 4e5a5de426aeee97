"""A probabilistic ensemble of dynamics networks, the "PE" of PETS (Chua, Calandra, McAllister &
Levine 2018, "Deep Reinforcement Learning in a Handful of Trials using Probabilistic Dynamics
Models", NeurIPS), and its open-loop prediction error against the rollout horizon.

Each of the B members is an MLP f_θb(s, a) → N(μ_θb, diag σ²_θb) over the state change
Δs = s' − s (inputs and targets standardised by the data's statistics), trained on its own
bootstrap resample of the transitions (§4.1: bootstraps capture epistemic uncertainty, the
Gaussian output aleatoric uncertainty) by the Gaussian negative log-likelihood (eq. 1, up to
constants, per dimension):

    loss_b = Σ_n  [μ_θb(s_n, a_n) − Δs_n]ᵀ Σ_θb⁻¹ [μ_θb(s_n, a_n) − Δs_n] + log det Σ_θb

with log σ² softly clamped between learned bounds (PETS's appendix A.1), so that the variance
can neither collapse on the training data nor blow up away from it. A prediction is
ŝ' = s + Δ̂s, Δ̂s drawn from (or the mean of) a member's Gaussian.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F


@dataclass(frozen=True)
class EnsembleConfig:
    ensemble_size: int = 5  # B bootstrapped members (PETS uses 5)
    hidden: int = 200  # width of each member's three hidden layers (PETS: 200)
    learning_rate: float = 1e-3  # Adam step size
    weight_decay: float = 1e-5  # L2 on the weights (PETS decays each layer)
    batch_size: int = 64  # transitions per member per gradient step
    epochs: int = 5  # passes over the data set per training session (PETS: 5 per trial)


class EnsembleLinear(nn.Module):
    """B independent linear layers applied at once: x (B, N, in) → (B, N, out)."""

    def __init__(self, members: int, n_in: int, n_out: int) -> None:
        super().__init__()
        bound = 1.0 / np.sqrt(n_in)  # PyTorch's default nn.Linear initialisation, per member
        self.weight = nn.Parameter(torch.empty(members, n_in, n_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(members, 1, n_out).uniform_(-bound, bound))

    def forward(self, x: Tensor) -> Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class DynamicsEnsemble(nn.Module):
    """B Gaussian dynamics MLPs over (state, one-hot action), with the data's normalisation."""

    def __init__(self, obs_dim: int, n_actions: int, config: EnsembleConfig) -> None:
        super().__init__()
        self.obs_dim, self.n_actions, self.config = obs_dim, n_actions, config
        b, h = config.ensemble_size, config.hidden
        self.layers = nn.ModuleList([EnsembleLinear(b, obs_dim + n_actions, h),
                                     EnsembleLinear(b, h, h), EnsembleLinear(b, h, h)])
        self.head = EnsembleLinear(b, h, 2 * obs_dim)  # μ and log σ² of Δs
        self.max_logvar = nn.Parameter(torch.full((1, 1, obs_dim), 0.5))
        self.min_logvar = nn.Parameter(torch.full((1, 1, obs_dim), -10.0))
        for name in ("in_mean", "in_std", "out_mean", "out_std"):
            self.register_buffer(name, torch.zeros(obs_dim) if "mean" in name
                                 else torch.ones(obs_dim))

    @property
    def size(self) -> int:
        return self.config.ensemble_size

    def set_normalisation(self, obs: np.ndarray, delta: np.ndarray) -> None:
        """Standardise inputs and targets by the statistics of the current data set."""
        for name, x in (("in", obs), ("out", delta)):
            getattr(self, f"{name}_mean").copy_(torch.as_tensor(x.mean(0), dtype=torch.float32))
            getattr(self, f"{name}_std").copy_(
                torch.as_tensor(x.std(0) + 1e-6, dtype=torch.float32))

    def forward(self, obs: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        """obs (B, N, d), actions (B, N) of ints → μ, log σ² of the standardised Δs, (B, N, d)."""
        x = torch.cat([(obs - self.in_mean) / self.in_std,
                       F.one_hot(actions.long(), self.n_actions).float()], dim=-1)
        for layer in self.layers:
            x = F.silu(layer(x))  # PETS uses swish
        mean, logvar = self.head(x).chunk(2, dim=-1)
        # soft bounds (appendix A.1): smooth, so that the bounds themselves get gradients
        logvar = self.max_logvar - F.softplus(self.max_logvar - logvar)
        logvar = self.min_logvar + F.softplus(logvar - self.min_logvar)
        return mean, logvar

    def nll(self, obs: Tensor, actions: Tensor, delta: Tensor) -> Tensor:
        """Eq. 1 summed over members, mean over transitions and dimensions, plus the bound
        penalty PETS adds so that the learned bounds stay tight (0.01 (max − min))."""
        mean, logvar = self(obs, actions)
        target = (delta - self.out_mean) / self.out_std
        loss = (((mean - target) ** 2) * torch.exp(-logvar) + logvar).mean(dim=(1, 2)).sum()
        return loss + 0.01 * (self.max_logvar.sum() - self.min_logvar.sum())

    @torch.no_grad()
    def step(self, obs: Tensor, actions: Tensor, sample: bool = True,
             generator: torch.Generator | None = None) -> Tensor:
        """ŝ' = s + Δ̂s for each member's own batch: obs (B, N, d) → (B, N, d). ``sample`` draws
        Δ̂s from the member's Gaussian (PETS's particles), else takes its mean."""
        mean, logvar = self(obs, actions)
        if sample:
            noise = torch.randn(mean.shape, generator=generator)
            mean = mean + torch.exp(0.5 * logvar) * noise
        return obs + mean * self.out_std + self.out_mean


def fit(model: DynamicsEnsemble, obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray,
        optimizer: torch.optim.Optimizer, rng: np.random.Generator) -> float:
    """``config.epochs`` epochs of minibatch Adam on eq. 1, each member on its own bootstrap
    resample of the transitions (drawn afresh each session, as PETS does per trial). Returns
    the last epoch's mean loss per member."""
    delta = next_obs - obs
    model.set_normalisation(obs, delta)
    n, b, batch = len(obs), model.size, model.config.batch_size
    data = [torch.as_tensor(x, dtype=torch.float32) for x in (obs, actions, delta)]
    boot = rng.integers(n, size=(b, n))  # member b's data: transitions boot[b]
    losses: list[float] = []
    for _ in range(model.config.epochs):
        order = boot[np.arange(b)[:, None], rng.permuted(np.tile(np.arange(n), (b, 1)), axis=1)]
        losses = []
        for start in range(0, n, batch):
            idx = torch.as_tensor(order[:, start:start + batch])  # (B, batch)
            loss = model.nll(data[0][idx], data[1][idx], data[2][idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item() / b)
    return float(np.mean(losses))


def make_optimizer(model: DynamicsEnsemble) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=model.config.learning_rate,
                            weight_decay=model.config.weight_decay)


@torch.no_grad()
def horizon_errors(model: DynamicsEnsemble, trajectories: list[tuple[np.ndarray, np.ndarray]],
                   horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Open-loop prediction error against the horizon on real trajectories (states (T + 1, d),
    actions (T,)): from every start t, each member predicts s_{t+1..t+h} from s_t and the real
    actions alone, following its own mean prediction. Returns, for h = 1..``horizon``,

    * error[h − 1]: the RMS over starts and (standardised) state dimensions of
      ensemble-mean prediction − truth, the state scale being the data's (``in_std``);
    * spread[h − 1]: the members' standard deviation around that mean, RMS the same way.

    Starts closer than h steps to a trajectory's end do not count at h."""
    sq_err = [[] for _ in range(horizon)]
    sq_spread = [[] for _ in range(horizon)]
    for states, actions in trajectories:
        starts = len(actions)
        if starts == 0:
            continue
        s = torch.as_tensor(states[:starts], dtype=torch.float32).expand(model.size, -1, -1)
        acts = torch.as_tensor(actions, dtype=torch.long)
        truth = torch.as_tensor(states, dtype=torch.float32)
        for h in range(1, min(horizon, starts) + 1):
            valid = starts - h + 1  # starts t with t + h ≤ T
            s = model.step(s[:, :valid], acts[h - 1:h - 1 + valid].expand(model.size, -1),
                           sample=False)
            scaled = s / model.in_std
            mean = scaled.mean(0)
            sq_err[h - 1].append(((mean - truth[h:h + valid] / model.in_std) ** 2).mean(1))
            sq_spread[h - 1].append(((scaled - mean) ** 2).mean(0).mean(1))
    def rms(parts: list[Tensor]) -> float:
        return float(torch.cat(parts).mean().sqrt()) if parts else float("nan")
    return np.array([rms(p) for p in sq_err]), np.array([rms(p) for p in sq_spread])
