"""Group Relative Policy Optimization's loss (Shao et al. 2024, "DeepSeekMath: Pushing the Limits
of Mathematical Reasoning in Open Language Models", eq. 3 and §4.1.2).

For each prompt q, G completions o_1..o_G are sampled from π_θold and scored r_1..r_G. With
outcome supervision every token of o_i gets the group-relative advantage (§4.1.2)

    Â_i,t = (r_i − mean(r)) / (std(r) + ε),

and the objective is PPO's clipped surrogate with a KL penalty to a reference π_ref (eq. 3):

    J(θ) = E[1/G Σ_i 1/|o_i| Σ_t {min(ρ_i,t Â_i,t, clip(ρ_i,t, 1 − ε, 1 + ε) Â_i,t) − β D̂_i,t}],
    ρ_i,t = π_θ(o_i,t | q, o_i,<t) / π_θold(o_i,t | q, o_i,<t),

with D̂ the k3 estimator of KL(π_θ ‖ π_ref) (eq. 4, :func:`k3_kl`). :func:`grpo_loss` returns −J
with one of the three token normalisations TRL names ``grpo``, ``bnpo`` and ``dr_grpo``.

Layout: a batch holds P prompts × G completions, group-major (the G completions of prompt 0,
then of prompt 1, …), as TRL's ``repeat_interleave``; per-token tensors are (P·G, T), padded on
the right, with ``completion_mask`` 1 on real completion tokens and 0 on padding.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
from torch import Tensor

LossType = Literal["grpo", "bnpo", "dr_grpo"]
LOSS_TYPES = ("grpo", "bnpo", "dr_grpo")


def group_advantages(rewards: Tensor, group_size: int, eps: float = 1e-4,
                     scale_std: bool = True) -> Tensor:
    """GRPO's outcome-supervision advantages (Shao et al. 2024, §4.1.2), one per completion:

        Â_i = (r_i − mean(r_group)) / (std(r_group) + ε)

    over each group of ``group_size`` = G consecutive rewards in ``rewards`` (P·G,). std is the
    sample standard deviation (Bessel-corrected, n − 1), as TRL computes it. ε is not in the paper:
    it is TRL's 1e-4, so that a group whose rewards are all equal gets advantages 0, not 0/0. ``scale_std=False`` drops the division
    (Dr. GRPO; Liu et al. 2025, "Understanding R1-Zero-Like Training: A Critical Perspective",
    §3.1): dividing by the std up-weights groups that are nearly all right or all wrong.
    """
    if not isinstance(group_size, int) or group_size < 2:
        raise ValueError(f"GRPO needs at least 2 completions per prompt: group_size must be an "
                         f"integer >= 2, got {group_size!r}")
    if rewards.dim() != 1 or rewards.numel() % group_size:
        raise ValueError(f"rewards must be 1-D with a multiple of group_size = {group_size} "
                         f"entries, got shape {tuple(rewards.shape)}")
    grouped = rewards.reshape(-1, group_size)
    if not grouped.is_floating_point():
        grouped = grouped.to(torch.get_default_dtype())
    advantages = grouped - grouped.mean(dim=1, keepdim=True)
    if scale_std:
        advantages = advantages / (grouped.std(dim=1, keepdim=True) + eps)
    return advantages.reshape(-1)


def k3_kl(logps: Tensor, ref_logps: Tensor) -> Tensor:
    """Per-token k3 estimate of KL(π_θ ‖ π_ref) on tokens sampled from π_θ (Schulman 2020,
    "Approximating KL divergence"; DeepSeekMath eq. 4):

        k3 = π_ref/π_θ − log(π_ref/π_θ) − 1 = exp(ref − logp) − (ref − logp) − 1

    ≥ 0 everywhere (x − 1 ≥ log x), and unbiased: E_π_θ[π_ref/π_θ] = 1, so E[k3] = E[log π_θ/π_ref].
    The unreduced form of :func:`algorithms.policy.core.approx_kl` with π_ref in place of π_new.
    """
    log_ratio = ref_logps - logps
    return torch.exp(log_ratio) - log_ratio - 1.0


class GRPOStats(NamedTuple):
    """Detached diagnostics of :func:`grpo_loss`: token means over the completion tokens."""

    kl: Tensor  # mean k3 (0 when beta = 0)
    clip_fraction: Tensor  # share of tokens where the clip binds: ρ > 1 + ε with Â > 0 or
    #                        ρ < 1 − ε with Â < 0 (there the gradient is 0)
    ratio: Tensor  # mean ρ

    def metrics(self) -> dict[str, float]:
        """The three, named for the tracker."""
        return {"kl": float(self.kl), "clip/fraction": float(self.clip_fraction),
                "ratio": float(self.ratio)}


def grpo_loss(logps: Tensor, old_logps: Tensor, advantages: Tensor, completion_mask: Tensor,
              ref_logps: Tensor | None = None, beta: float = 0.04, clip_eps: float = 0.2,
              clip_eps_high: float | None = None, loss_type: LossType = "grpo",
              max_completion_length: int | None = None) -> tuple[Tensor, GRPOStats]:
    """GRPO's loss −J(θ) (Shao et al. 2024, eq. 3), per token

        ℓ_i,t = −min(ρ_i,t Â_i, clip(ρ_i,t, 1 − ε_low, 1 + ε_high) Â_i) + β k3_i,t,

    from per-token log-probs ``logps`` (under π_θ, with gradient), ``old_logps`` (π_θold, the
    sampler) and ``ref_logps`` (π_ref; needed only when β > 0), all (B, T) with B = P·G, and the
    advantages (B,) of :func:`group_advantages`. β = 0.04 is DeepSeekMath's (§4.2); TRL's default
    is 0 (no reference model). ``clip_eps_high`` (default ε) is DAPO's "clip-higher" (Yu et al.
    2025). The tokens' losses are summed with mask m = ``completion_mask`` and normalised:

    * ``"grpo"``: (1/B) Σ_i (1/|o_i|) Σ_t m_i,t ℓ_i,t — eq. 3's mean over each sequence's
      tokens, then over sequences; a short completion's tokens weigh more than a long one's.
    * ``"bnpo"``: Σ_i,t m ℓ / Σ_i,t m — one mean over all completion tokens of the batch.
    * ``"dr_grpo"``: Σ_i,t m ℓ / (B · L_max), L_max = ``max_completion_length`` (default T, the
      padded width) — a constant, so no length bias (Liu et al. 2025, §3.1).

    Returns (loss, :class:`GRPOStats`).
    """
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"loss_type must be one of {LOSS_TYPES}, got {loss_type!r}")
    if not beta >= 0:
        raise ValueError(f"beta must be >= 0, got {beta!r}")
    if not clip_eps > 0 or (clip_eps_high is not None and not clip_eps_high > 0):
        raise ValueError(f"clip_eps and clip_eps_high must be > 0, got {clip_eps!r}, "
                         f"{clip_eps_high!r}")
    if logps.dim() != 2 or old_logps.shape != logps.shape or completion_mask.shape != logps.shape:
        raise ValueError(f"logps, old_logps and completion_mask must share one (B, T) shape, got "
                         f"{tuple(logps.shape)}, {tuple(old_logps.shape)}, "
                         f"{tuple(completion_mask.shape)}")
    if advantages.shape != logps.shape[:1]:
        raise ValueError(f"advantages must be (B,) = ({logps.shape[0]},), got "
                         f"{tuple(advantages.shape)}")
    if beta > 0 and (ref_logps is None or ref_logps.shape != logps.shape):
        raise ValueError("beta > 0 needs ref_logps of the same (B, T) shape as logps")
    width = logps.shape[1] if max_completion_length is None else max_completion_length
    if width < logps.shape[1]:
        raise ValueError(f"max_completion_length {max_completion_length} is shorter than the "
                         f"completions' width {logps.shape[1]}")

    mask = completion_mask.to(logps.dtype)
    adv = advantages.unsqueeze(1)  # one advantage for every token of a completion
    ratio = torch.exp(logps - old_logps)
    high = clip_eps if clip_eps_high is None else clip_eps_high
    clipped = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + high)
    per_token = -torch.min(ratio * adv, clipped * adv)
    kl = torch.zeros_like(logps)
    if beta > 0:
        kl = k3_kl(logps, ref_logps)
        per_token = per_token + beta * kl

    total = per_token * mask
    if loss_type == "grpo":
        loss = (total.sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)).mean()
    elif loss_type == "bnpo":
        loss = total.sum() / mask.sum().clamp(min=1.0)
    else:
        loss = total.sum() / (logps.shape[0] * width)

    with torch.no_grad():
        n_tokens = mask.sum().clamp(min=1.0)
        binds = ((ratio > 1.0 + high) & (adv > 0)) | ((ratio < 1.0 - clip_eps) & (adv < 0))
        stats = GRPOStats((kl * mask).sum() / n_tokens, (binds * mask).sum() / n_tokens,
                          (ratio * mask).sum() / n_tokens)
    return loss, stats
