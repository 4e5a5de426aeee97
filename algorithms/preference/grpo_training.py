"""Training a language model with GRPO (Shao et al. 2024, "DeepSeekMath", Algorithm 1): sample a
group of completions per prompt, score them, and take a few clipped-surrogate steps on the
group-relative advantages, with the k3 KL to a frozen reference (``grpo.py`` holds the loss).

One iteration, for a batch of P prompts:

1. π_θold ← π_θ; sample G completions o_1..o_G of each prompt q from π_θold;
2. score them, r_i = R(q, o_i) (a gold reward, or a verifiable check of the answer);
3. Â_i = (r_i − mean(r)) / (std(r) + ε) over each group (outcome supervision, §4.1.2);
4. ``updates_per_batch`` (μ) gradient steps on −J(θ) of eq. 3 over the P·G completions, the
   ratio ρ = π_θ/π_θold per token, clipped at 1 ± ε, and β · k3(π_θ ‖ π_ref) per token.

The logged reward is the batch's mean r: GRPO's loss is about 0 by construction (the advantages
of a group sum to 0), so the loss says nothing about progress and the reward says everything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from algorithms.preference.grpo import LOSS_TYPES, group_advantages, grpo_loss
from algorithms.preference.sequences import completion_batch, completion_token_logps

RewardFn = Callable[[Sequence[Sequence[int]], Sequence[Sequence[int]]], np.ndarray]
"""(prompts, completions) → one reward per completion."""


@dataclass(frozen=True)
class GRPOConfig:
    """``iterations`` of ``prompts_per_step`` prompts × ``group_size`` completions of up to
    ``max_new_tokens`` (sampled at ``temperature``), each followed by ``updates_per_batch``
    AdamW steps at ``lr``; ``beta`` the k3 KL coefficient, ``clip_eps`` the ratio clip,
    ``loss_type`` the token normalisation (grpo, bnpo, dr_grpo)."""

    group_size: int = 8
    prompts_per_step: int = 8
    iterations: int = 50
    updates_per_batch: int = 2
    lr: float = 1e-4
    beta: float = 0.04
    clip_eps: float = 0.2
    loss_type: str = "grpo"
    max_new_tokens: int = 32
    temperature: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.group_size, int) or self.group_size < 2:
            raise ValueError(f"GRPO compares completions within a group: group_size must be an "
                             f"integer >= 2, got {self.group_size!r}")
        if self.loss_type not in LOSS_TYPES:
            raise ValueError(f"loss_type must be one of {', '.join(LOSS_TYPES)}, got "
                             f"{self.loss_type!r}")
        if not self.beta >= 0:
            raise ValueError(f"beta must be >= 0, got {self.beta!r}")
        if min(self.prompts_per_step, self.iterations, self.updates_per_batch,
               self.max_new_tokens) < 1 or not self.lr > 0 or not self.clip_eps > 0:
            raise ValueError("prompts_per_step, iterations, updates_per_batch and "
                             "max_new_tokens must be >= 1; lr and clip_eps > 0")


def train_grpo(policy, reference, prompts: Sequence[Sequence[int]], reward: RewardFn,
               config: GRPOConfig, eos_id: int | None = None,
               on_log: Callable[[dict[str, float]], None] | None = None
               ) -> list[dict[str, float]]:
    """Optimise ``policy`` by GRPO on ``prompts`` (drawn ``prompts_per_step`` at a time) against
    ``reward``; ``reference`` stays frozen (skipped when β = 0). Returns one row per iteration:
    the reward's mean and within-group std, the loss, KL, clip fraction and completion length."""
    from algorithms.lm.generate import Sampling, generate

    if not prompts:
        raise ValueError("GRPO needs prompts")
    device = next(policy.parameters()).device.type
    optimizer = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad],
                                  lr=config.lr, weight_decay=0.0)
    rng = np.random.default_rng(config.seed)
    generator = torch.Generator(device=device).manual_seed(config.seed)
    G, history = config.group_size, []
    for iteration in range(config.iterations):
        chosen = rng.choice(len(prompts), size=min(config.prompts_per_step, len(prompts)),
                            replace=False)
        batch_prompts = [list(prompts[i]) for i in chosen]
        groups = [generate(policy, torch.tensor([q] * G, device=device), config.max_new_tokens,
                           Sampling(temperature=config.temperature), eos_id=eos_id,
                           generator=generator) for q in batch_prompts]
        rewards = np.asarray(reward([q for q in batch_prompts for _ in range(G)],
                                    [o for group in groups for o in group]), dtype=np.float64)
        advantages = group_advantages(torch.as_tensor(rewards, dtype=torch.float32), G)
        width = max(1, max(len(o) for group in groups for o in group))
        batches = [completion_batch([q] * G, group, device, width)  # one per prompt: lengths vary
                   for q, group in zip(batch_prompts, groups)]
        with torch.no_grad():
            old = [completion_token_logps(policy, batch) for batch in batches]
            ref = [completion_token_logps(reference, batch)[0] if config.beta > 0 else None
                   for batch in batches]
        old_logps = torch.cat([o[0] for o in old])
        mask = torch.cat([o[1] for o in old])
        ref_logps = torch.cat(ref) if config.beta > 0 else None
        policy.train()
        for _ in range(config.updates_per_batch):
            logps = torch.cat([completion_token_logps(policy, batch)[0] for batch in batches])
            loss, stats = grpo_loss(logps, old_logps, advantages.to(logps.device), mask,
                                    ref_logps, config.beta, config.clip_eps,
                                    loss_type=config.loss_type,
                                    max_completion_length=max(width, config.max_new_tokens))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
            optimizer.step()
        policy.eval()
        grouped = rewards.reshape(-1, G)
        row = {"iteration": float(iteration), "reward": float(rewards.mean()),
               "reward_std": float(grouped.std(axis=1, ddof=1).mean()),
               "loss": float(loss.detach()), **stats.metrics(),
               "completion_length": float(mask.sum(1).mean())}
        history.append(row)
        if on_log is not None:
            on_log(row)
    return history
