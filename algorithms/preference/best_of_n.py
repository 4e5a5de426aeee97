"""Best-of-n sampling: draw n completions from π, keep the one with the highest reward.

Its KL from π, the usual x-axis of reward-vs-KL plots (Stiennon et al. 2020, "Learning to
summarize from human feedback", the best-of-N analysis of their appendix; Gao et al. 2023), is
quoted as

    KL(π_bon ‖ π) = log n − (n − 1)/n.                                                   (1)

(1) is exact when the reward of a draw from π has a continuous distribution (no ties): the
selected draw's reward quantile U = F(r(y)) is then the maximum of n uniforms, with density
n u^{n−1} against the uniform, and E[log(n U^{n−1})] = log n − (n − 1)/n. Beirami et al. 2024
("Theoretical guarantees on the best-of-n alignment policy", Theorem 3.1) show that in general
(1) is only an upper bound: where outcomes carry probability mass it can be far above the true
KL, which is at most log |Y| on a finite Y while (1) grows like log n.
:func:`best_of_n_distribution` gives π_bon exactly on a finite outcome space, to compare.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def _check_n(n: int) -> None:
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")


def best_of_n_kl(n: int) -> float:
    """The analytic KL(π_bon ‖ π) = log n − (n − 1)/n of eq. (1): exact for continuous rewards
    without ties, an upper bound in general (Beirami et al. 2024); 0 at n = 1."""
    _check_n(n)
    return math.log(n) - (n - 1) / n


def best_of_n(rewards: Tensor) -> Tensor:
    """Indices (P,) of the best of each row of ``rewards`` (P, n): P prompts, n samples each.
    Ties go to the first such sample, which is a uniformly random one among the tied when the
    samples are i.i.d. (the convention :func:`best_of_n_distribution` assumes)."""
    if rewards.dim() != 2 or rewards.shape[1] < 1:
        raise ValueError(f"rewards must be (P, n) with n >= 1, got shape {tuple(rewards.shape)}")
    return torch.argmax(rewards, dim=1)


def best_of_n_distribution(probs: Tensor, rewards: Tensor, n: int) -> Tensor:
    """π_bon on a finite outcome space (Beirami et al. 2024): with F(r) = P_π(r(Y) ≤ r) and
    F⁻(r) = P_π(r(Y) < r), the best of n i.i.d. draws has a reward at the level of y with
    probability F(r(y))ⁿ − F⁻(r(y))ⁿ, shared among the outcomes tied at that level in
    proportion to π:

        π_bon(y) = π(y) / (F(r(y)) − F⁻(r(y))) · (F(r(y))ⁿ − F⁻(r(y))ⁿ).

    ``probs`` and ``rewards`` are (K,); returns (K,). KL(π_bon ‖ π) is then
    ``torch.sum(torch.xlogy(q, q) - torch.xlogy(q, probs))`` for q the result.
    """
    _check_n(n)
    if probs.dim() != 1 or rewards.shape != probs.shape:
        raise ValueError(f"probs and rewards must be (K,) alike, got {tuple(probs.shape)} and "
                         f"{tuple(rewards.shape)}")
    below_or_at = (rewards[None, :] <= rewards[:, None]).to(probs.dtype)  # [y, y'] = r(y') ≤ r(y)
    below = (rewards[None, :] < rewards[:, None]).to(probs.dtype)
    cdf, cdf_strict = below_or_at @ probs, below @ probs
    level = (cdf - cdf_strict).clamp(min=torch.finfo(probs.dtype).tiny)
    return probs / level * (cdf ** n - cdf_strict ** n)
