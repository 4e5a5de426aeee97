"""Sparse autoencoders on a language model's activations (Bricken et al. 2023, "Towards
Monosemanticity"; Cunningham et al. 2023, "Sparse Autoencoders Find Highly Interpretable
Features in Language Models").

An activation x ∈ ℝᵈ is written as a sparse, non-negative combination of m = expansion · d
learned directions (the decoder's rows, kept at unit norm):

    f(x) = ReLU(W_enc (x − b_dec) + b_enc)          the features, f ∈ ℝᵐ, mostly 0
    x̂(f) = W_decᵀ f + b_dec                          the reconstruction
    L = ‖x − x̂‖²₂ + λ ‖f‖₁                           (Bricken et al., "Autoencoder" section)

With unit-norm decoder rows the L1 penalty on f cannot be dodged by shrinking f and growing
W_dec; after every step the rows are renormalised, and the gradient component parallel to each
row is removed before it (so Adam's step is along the sphere). Features that stop firing
("dead") are **resampled** (Bricken et al., appendix "Neuron resampling"): inputs are drawn with
probability ∝ their squared reconstruction error, a dead feature's decoder row becomes the
normalised input, its encoder row the same direction scaled to 0.2 × the mean norm of the live
encoder rows, its bias 0, and Adam's moments for them are reset.

Metrics (:func:`sae_metrics`): L0 (mean number of active features per input), the fraction of
variance explained 1 − Σ‖x − x̂‖² / Σ‖x − x̄‖², the fraction of features dead on the evaluation
set. The loss-recovered score that needs the language model, (L_ablated − L_spliced) /
(L_ablated − L_clean), is :func:`algorithms.interpretability.hooks.spliced_loss`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn


class SparseAutoencoder(nn.Module):
    """f = ReLU(W_enc (x − b_dec) + b_enc), x̂ = W_decᵀ f + b_dec; ``W_dec`` is (m, d) with unit
    rows. The encoder starts as the decoder's transpose (tied initialisation), which starts
    every feature as a matched filter of its own direction."""

    def __init__(self, d_in: int, expansion: int = 8, generator: torch.Generator | None = None):
        super().__init__()
        if d_in < 1 or expansion < 1:
            raise ValueError(f"d_in and expansion must be >= 1, not {d_in} and {expansion}")
        m = d_in * expansion
        decoder = torch.randn(m, d_in, generator=generator)
        self.W_dec = nn.Parameter(decoder / decoder.norm(dim=1, keepdim=True))
        self.W_enc = nn.Parameter(self.W_dec.detach().t().clone())
        self.b_enc = nn.Parameter(torch.zeros(m))
        self.b_dec = nn.Parameter(torch.zeros(d_in))

    @property
    def n_features(self) -> int:
        return self.W_dec.shape[0]

    def encode(self, x: Tensor) -> Tensor:
        return torch.relu((x - self.b_dec) @ self.W_enc + self.b_enc)

    def decode(self, f: Tensor) -> Tensor:
        return f @ self.W_dec + self.b_dec

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(x̂, f)."""
        f = self.encode(x)
        return self.decode(f), f

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        self.W_dec.div_(self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-8))

    @torch.no_grad()
    def remove_parallel_gradient(self) -> None:
        """g ← g − (g · w) w for each (unit) decoder row w: the step moves along the sphere."""
        if self.W_dec.grad is not None:
            g, w = self.W_dec.grad, self.W_dec
            g.sub_((g * w).sum(dim=1, keepdim=True) * w)


def sae_loss(x: Tensor, x_hat: Tensor, f: Tensor, l1: float) -> tuple[Tensor, Tensor, Tensor]:
    """(loss, reconstruction, sparsity): ‖x − x̂‖²₂ and ‖f‖₁, each a mean over the batch."""
    reconstruction = (x - x_hat).pow(2).sum(dim=-1).mean()
    sparsity = f.abs().sum(dim=-1).mean()
    return reconstruction + l1 * sparsity, reconstruction, sparsity


@dataclass(frozen=True)
class SAEConfig:
    expansion: int = 8  # m = expansion · d features
    l1: float = 1.0  # λ, on inputs scaled to mean squared norm d (see ``train_sae``)
    l1_warmup: float = 0.05  # λ rises linearly from 0 over this fraction of training
    steps: int = 2_000
    batch_size: int = 512
    lr: float = 1e-3
    resample_every: int = 500  # steps between resamplings of dead features (0: never) ...
    resample_until: float = 0.75  # ... up to this fraction of training
    dead_window: int = 250  # a feature that fired on none of the last this many batches is dead
    resample_pool: int = 8_192  # inputs whose errors weight the resampling draw
    seed: int = 0

    def __post_init__(self) -> None:
        if self.l1 < 0 or self.steps < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("SAEConfig needs l1 >= 0, steps >= 1, batch_size >= 1 and lr > 0")
        if self.expansion < 1 or self.dead_window < 1:
            raise ValueError("SAEConfig needs expansion >= 1 and dead_window >= 1")


@dataclass
class SAEResult:
    sae: SparseAutoencoder
    scale: float  # inputs were multiplied by this before encoding
    history: dict[str, list[float]]  # per logged step: step, loss, mse, l1, l0, dead
    resampled: int  # features resampled over training


@torch.no_grad()
def resample_dead(sae: SparseAutoencoder, dead: Tensor, pool: Tensor,
                  optimizer: torch.optim.Adam, generator: torch.Generator) -> int:
    """Bricken et al.'s resampling of the features flagged in ``dead`` (bool, (m,)) from inputs
    of ``pool`` drawn ∝ squared reconstruction error; returns how many were resampled."""
    idx = torch.nonzero(dead).flatten()
    if len(idx) == 0:
        return 0
    x_hat, _ = sae(pool)
    weights = (pool - x_hat).pow(2).sum(dim=-1)
    if float(weights.sum()) <= 0:
        return 0
    picks = torch.multinomial(weights, len(idx), replacement=len(idx) > len(pool),
                              generator=generator)
    centred = pool[picks] - sae.b_dec
    directions = centred / centred.norm(dim=1, keepdim=True).clamp_min(1e-8)
    alive = ~dead
    enc_norm = sae.W_enc[:, alive].norm(dim=0).mean() if alive.any() else torch.tensor(1.0)
    sae.W_dec[idx] = directions
    sae.W_enc[:, idx] = directions.t() * 0.2 * enc_norm
    sae.b_enc[idx] = 0.0
    for param, rows in ((sae.W_dec, (idx,)), (sae.W_enc, (slice(None), idx)), (sae.b_enc, (idx,))):
        state = optimizer.state.get(param, {})
        for key in ("exp_avg", "exp_avg_sq"):
            if key in state:
                state[key][rows] = 0.0
    return len(idx)


def activation_scale(x: Tensor) -> float:
    """The constant c with E‖c x‖² = d: one λ then means the same across layers and models."""
    return float((x.shape[1] / x.pow(2).sum(dim=1).mean()).sqrt())


def train_sae(activations: Tensor, config: SAEConfig,
              log: Callable[[dict[str, float], int], None] | None = None,
              log_every: int = 100) -> SAEResult:
    """Train an SAE on ``activations`` (N, d), scaled by :func:`activation_scale`, with Adam on
    minibatches drawn uniformly; dead features are resampled every ``resample_every`` steps."""
    generator = torch.Generator().manual_seed(config.seed)
    scale = activation_scale(activations)
    data = activations * scale
    sae = SparseAutoencoder(data.shape[1], config.expansion, generator)
    optimizer = torch.optim.Adam(sae.parameters(), lr=config.lr)
    fired = torch.zeros(config.dead_window, sae.n_features, dtype=torch.bool)
    history: dict[str, list[float]] = {}
    resampled = 0
    warmup = max(1, int(config.l1_warmup * config.steps))
    for step in range(1, config.steps + 1):
        batch = data[torch.randint(len(data), (config.batch_size,), generator=generator)]
        l1 = config.l1 * min(1.0, step / warmup)
        x_hat, f = sae(batch)
        loss, mse, sparsity = sae_loss(batch, x_hat, f, l1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        sae.remove_parallel_gradient()
        optimizer.step()
        sae.normalize_decoder()
        fired[step % config.dead_window] = (f > 0).any(dim=0).detach()
        if (config.resample_every and step % config.resample_every == 0
                and step <= config.resample_until * config.steps and step >= config.dead_window):
            pool = data[torch.randint(len(data), (min(config.resample_pool, len(data)),),
                                      generator=generator)]
            resampled += resample_dead(sae, ~fired.any(dim=0), pool, optimizer, generator)
            fired[:] = True  # resampled features get a full window before they can be dead again
        if step % log_every == 0 or step == config.steps:
            row = {"loss": loss.item(), "mse": mse.item(), "l1": sparsity.item(),
                   "l0": float((f > 0).sum(dim=-1).float().mean()),
                   "dead_fraction": float((~fired.any(dim=0)).float().mean())}
            for key, value in {"step": float(step), **row}.items():
                history.setdefault(key, []).append(value)
            if log is not None:
                log(row, step)
    return SAEResult(sae, scale, history, resampled)


@torch.no_grad()
def sae_metrics(sae: SparseAutoencoder, x: Tensor, batch_size: int = 4_096) -> dict[str, float]:
    """L0, fraction of variance explained and dead fraction of ``sae`` on ``x`` (already in the
    SAE's input scale), and the features' firing frequencies' median among the live ones."""
    sq_err, fires, l0 = 0.0, torch.zeros(sae.n_features), 0.0
    for chunk in x.split(batch_size):
        x_hat, f = sae(chunk)
        sq_err += float((chunk - x_hat).pow(2).sum())
        active = f > 0
        fires += active.float().sum(dim=0)
        l0 += float(active.sum())
    total = float((x - x.mean(dim=0)).pow(2).sum())
    freq = fires / len(x)
    live = freq[freq > 0]
    return {"l0": l0 / len(x), "explained_variance": 1.0 - sq_err / max(total, 1e-12),
            "dead_fraction": float((freq == 0).float().mean()),
            "median_live_frequency": float(live.median()) if len(live) else 0.0}
