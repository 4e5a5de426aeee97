"""Attention analysis: maps, entropy, attention distance, head importance and pruning.

* Entropy of a head's attention distribution, H_i = −Σ_j α_ij log α_ij (nats), averaged over
  queries: 0 for a head that always looks at one token, log(i + 1) for one that spreads
  uniformly over the i + 1 tokens a causal query sees (Clark et al., 2019, "What Does BERT Look
  At?", §3; Vig & Belinkov, 2019).
* Mean attention distance, Σ_j α_ij (i − j): how far back a head looks, the "scale" of its
  pattern (the multi-scale picture of Dosovitskiy et al., 2021, fig. 7, for text).
* Head importance, Michel, Levy & Neubig (2019), "Are Sixteen Heads Really Better than One?",
  eq. 2: gate every head's output by ξ_h = 1 and take I_h = E_x |∂L(x)/∂ξ_h|, the first-order
  estimate of the loss change when the head is removed. Heads are then pruned greedily in order
  of increasing importance (§4), and the loss is measured after each removal.
* How well the first-order importance ranks the heads: Spearman's rank correlation between it and
  the loss change when each head alone is removed (``algorithms.harness.spearman``).
"""

from __future__ import annotations


import torch
from torch import Tensor

from algorithms.attention.model import TinyGPT


def _device(model: TinyGPT) -> torch.device:
    return model.token.weight.device


def attention_entropy(weights: Tensor) -> Tensor:
    """Entropy in nats of each query's distribution, ``(..., Lq)`` from ``(..., Lq, Lk)``."""
    return -(weights * torch.log(weights.clamp_min(1e-30))).sum(dim=-1)


def attention_distance(weights: Tensor) -> Tensor:
    """Mean |i − j| under each query's weights, ``(..., Lq)``."""
    q_len, k_len = weights.shape[-2:]
    offset = k_len - q_len  # queries are the last Lq positions
    rows = torch.arange(q_len, device=weights.device)[:, None] + offset
    distance = (rows - torch.arange(k_len, device=weights.device)[None, :]).abs()
    return (weights * distance.to(weights.dtype)).sum(dim=-1)


@torch.no_grad()
def head_statistics(model: TinyGPT, inputs: Tensor) -> dict[str, Tensor]:
    """Per layer and head ``(n_layers, n_heads)``: mean entropy, mean entropy of a uniform head
    over the same causal windows (the maximum), and mean attention distance."""
    _, weights = model(inputs, need_weights=True)
    stacked = torch.stack(weights)  # (layers, B, h, L, L)
    uniform = torch.log(torch.arange(1, inputs.shape[1] + 1, dtype=stacked.dtype,
                                     device=stacked.device)).mean()
    return {"entropy": attention_entropy(stacked).mean(dim=(1, 3)),
            "uniform_entropy": uniform.expand(stacked.shape[0], stacked.shape[2]),
            "distance": attention_distance(stacked).mean(dim=(1, 3))}


def head_importance(model: TinyGPT, batches: list[tuple[Tensor, Tensor]]) -> Tensor:
    """Michel et al. (2019), eq. 2: E |∂L/∂ξ_h| with all gates ξ = 1, ``(n_layers, n_heads)``."""
    gates = torch.ones(model.config.n_layers, model.config.n_heads, requires_grad=True,
                       device=_device(model))
    total = torch.zeros_like(gates)
    for inputs, targets in batches:
        (grad,) = torch.autograd.grad(model.loss(inputs, targets, head_mask=gates), gates)
        total += grad.abs()
    return total / len(batches)


@torch.no_grad()
def masked_loss(model: TinyGPT, batches: list[tuple[Tensor, Tensor]],
                head_mask: Tensor | None) -> float:
    return float(torch.stack([model.loss(x, y, head_mask=head_mask) for x, y in batches]).mean())


def pruning_curve(model: TinyGPT, batches: list[tuple[Tensor, Tensor]],
                  order: list[tuple[int, int]]) -> list[float]:
    """Loss after removing 0, 1, ..., n heads in ``order`` ((layer, head) pairs)."""
    mask = torch.ones(model.config.n_layers, model.config.n_heads, device=_device(model))
    losses = [masked_loss(model, batches, mask)]
    for layer, head in order:
        mask[layer, head] = 0.0
        losses.append(masked_loss(model, batches, mask))
    return losses


def ablation_deltas(model: TinyGPT, batches: list[tuple[Tensor, Tensor]]) -> Tensor:
    """Loss change when each head alone is removed, ``(n_layers, n_heads)``."""
    base = masked_loss(model, batches, None)
    deltas = torch.zeros(model.config.n_layers, model.config.n_heads)
    for layer in range(model.config.n_layers):
        for head in range(model.config.n_heads):
            mask = torch.ones_like(deltas, device=_device(model))
            mask[layer, head] = 0.0
            deltas[layer, head] = masked_loss(model, batches, mask) - base
    return deltas
