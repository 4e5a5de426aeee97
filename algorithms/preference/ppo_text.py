"""PPO for text (Ziegler et al. 2019, "Fine-Tuning Language Models from Human Preferences";
Stiennon et al. 2020; Ouyang et al. 2022, InstructGPT): the language model as a policy over
tokens, a value head on its hidden states, a sequence-level score at the end of the completion
and a per-token KL penalty to the frozen reference.

The MDP. The state is the prompt plus the tokens so far, the action the next token, the episode
ends when the completion does. The reward of token t of a completion y of prompt x is

    r_t = −β (log π(y_t | s_t) − log π_ref(y_t | s_t)) + [t = T] · R(x, y),               (1)

Ziegler et al.'s eq. 2 spread over tokens: the score R (a reward model, here a gold reward) is
given at the last token, the KL penalty at every token, and their sum over the episode is
R − β log π(y|x)/π_ref(y|x), whose expectation is the KL-regularised objective E[R] − β KL.

β adapts (Ziegler et al. §2.2, the "adaptive KL controller"): after each batch with mean KL
KL_batch,

    e = clip((KL_batch − KL_target) / KL_target, −0.2, 0.2),   β ← β (1 + K_β · e),          (2)

with K_β = ``kl_horizon_gain`` (theirs, 0.1 per batch), so the KL is held near its target;
``adaptive=False`` keeps β fixed (for a frontier over β).

Advantages by GAE over the completion's tokens (Schulman et al. 2016, γ = 1 as in every RLHF
implementation: the episode is short and the reward comes at its end):

    δ_t = r_t + V(s_{t+1}) − V(s_t),   A_t = Σ_k (γλ)^k δ_{t+k},   V(s_{T+1}) = 0,          (3)

whitened over the batch's tokens; returns A_t + V(s_t) are the value targets. The score may be
whitened over the batch first (``whiten_scores``; Ziegler et al. normalise their reward model
to mean 0 and variance 1 on the base policy's samples). Then ``epochs`` passes of minibatches
with PPO's clipped surrogate (Schulman et al. 2017, eq. 7) per token and a clipped value loss,
weighted by ``vf_coef``.

The value head reads the policy's own hidden states (a shared tower, as TRL's
``AutoModelForCausalLMWithValueHead`` and Ziegler et al.'s code); InstructGPT initialises a
separate value model from the reward model instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from algorithms.lm.model import LanguageModel
from algorithms.preference.sequences import CompletionBatch, completion_batch, target_logps

ScoreFn = Callable[[Sequence[Sequence[int]], Sequence[Sequence[int]]], np.ndarray]
"""(prompts, completions) → one score per completion."""


class PolicyWithValue(nn.Module):
    """A ``LanguageModel`` and a scalar value head on its final hidden states: one pass gives
    the next-token logits and V(s_t) at every position."""

    def __init__(self, lm: LanguageModel):
        super().__init__()
        self.lm = lm
        self.value_head = nn.Linear(lm.config.d_model, 1)
        nn.init.zeros_(self.value_head.weight)  # V ≡ 0 at the start: the first advantages are
        nn.init.zeros_(self.value_head.bias)    # the rewards themselves

    def forward(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        hidden = self.lm.hidden_states(idx)
        return self.lm.lm_head(hidden), self.value_head(hidden).squeeze(-1)


@dataclass(frozen=True)
class PPOTextConfig:
    """``iterations`` of ``batch_prompts`` rollouts of up to ``max_new_tokens``; ``epochs``
    passes over each batch in minibatches of ``minibatch`` completions, AdamW at ``lr``; β
    ``init_kl_coef``, adapted toward ``target_kl`` (nats per completion) when ``adaptive``."""

    iterations: int = 40
    batch_prompts: int = 32
    max_new_tokens: int = 24
    temperature: float = 1.0
    epochs: int = 4
    minibatch: int = 16
    lr: float = 5e-5
    init_kl_coef: float = 0.1
    adaptive: bool = False
    target_kl: float = 6.0
    kl_horizon_gain: float = 0.1
    gamma: float = 1.0
    lam: float = 0.95
    clip_eps: float = 0.2
    clip_value: float = 0.2
    vf_coef: float = 0.1
    whiten_scores: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if not math.isfinite(self.init_kl_coef) or self.init_kl_coef < 0:
            raise ValueError(f"the KL coefficient β must be a finite number >= 0, got "
                             f"{self.init_kl_coef!r}")
        if self.adaptive and not self.target_kl > 0:
            raise ValueError(f"the adaptive KL controller needs target_kl > 0, got "
                             f"{self.target_kl!r}")
        if min(self.iterations, self.batch_prompts, self.max_new_tokens, self.epochs,
               self.minibatch) < 1 or not self.lr > 0:
            raise ValueError("iterations, batch_prompts, max_new_tokens, epochs and minibatch "
                             "must be >= 1, lr > 0")


def adaptive_kl_coef(beta: float, kl: float, target: float, gain: float) -> float:
    """Eq. (2): β (1 + K_β clip((KL − target)/target, −0.2, 0.2))."""
    error = float(np.clip((kl - target) / target, -0.2, 0.2))
    return beta * (1.0 + gain * error)


def gae(rewards: Tensor, values: Tensor, mask: Tensor, gamma: float, lam: float) -> Tensor:
    """Eq. (3) for right-padded rows ``(B, T)``: A_t over each row's real tokens (``mask``),
    with V = 0 past the last one."""
    advantages = torch.zeros_like(rewards)
    next_value = torch.zeros(rewards.shape[0], device=rewards.device)
    running = torch.zeros_like(next_value)
    for t in reversed(range(rewards.shape[1])):
        m = mask[:, t]
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = (delta + gamma * lam * running) * m
        advantages[:, t] = running
        next_value = values[:, t] * m
    return advantages


def whiten(x: Tensor, mask: Tensor, shift_mean: bool = True) -> Tensor:
    """(x − mean)/std over the masked entries (the mean kept when ``shift_mean`` is False)."""
    n = mask.sum().clamp(min=1.0)
    mean = (x * mask).sum() / n
    var = (((x - mean) * mask) ** 2).sum() / n
    out = (x - mean) * torch.rsqrt(var + 1e-8)
    return (out if shift_mean else out + mean) * mask


def _token_terms(model: nn.Module, batch: CompletionBatch, with_value: bool
                 ) -> tuple[Tensor, Tensor | None, Tensor]:
    """log π of the completion tokens ``(B, W)``, their values V(s_t) (or None) and the
    per-token entropy of π."""
    ids = batch.ids
    if with_value:
        logits, values = model(ids[:, :-1])
        values = batch.completion_part(values)
    else:
        logits, values = model(ids[:, :-1]), None
    logps, entropy = target_logps(logits, ids, with_entropy=True)
    return batch.completion_part(logps), values, batch.completion_part(entropy)


def train_ppo_text(model: PolicyWithValue, reference: LanguageModel,
                   prompts: Sequence[Sequence[int]], score: ScoreFn, config: PPOTextConfig,
                   eos_id: int | None = None,
                   on_log: Callable[[dict[str, float]], None] | None = None
                   ) -> list[dict[str, float]]:
    """RLHF by PPO on ``prompts`` (all of one length, so that a batch generates together)
    against ``score``; ``reference`` stays frozen. Returns one row per iteration: the score,
    KL (nats per completion, Σ_t log π/π_ref), β, entropy (nats per token), completion length,
    and the policy and value losses and clip fraction of the last epoch."""
    from algorithms.lm.generate import Sampling, generate

    lengths = {len(p) for p in prompts}
    if len(lengths) != 1:
        raise ValueError(f"prompts must share one length to generate in batches, got lengths "
                         f"{sorted(lengths)}")
    device = next(model.parameters()).device.type
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0)
    rng = np.random.default_rng(config.seed)
    generator = torch.Generator(device=device).manual_seed(config.seed)
    beta, history = config.init_kl_coef, []
    for iteration in range(config.iterations):
        chosen = rng.choice(len(prompts), size=min(config.batch_prompts, len(prompts)),
                            replace=False)
        batch = torch.tensor([list(prompts[i]) for i in chosen], device=device)
        completions = generate(model.lm, batch, config.max_new_tokens,
                               Sampling(temperature=config.temperature), eos_id=eos_id,
                               generator=generator)
        width = max(1, max(len(c) for c in completions))
        rows = completion_batch(batch.tolist(), completions, device, width)
        mask = rows.completion_part(rows.target_mask)
        scores = torch.as_tensor(np.asarray(score(batch.tolist(), completions), dtype=np.float32),
                                 device=device)
        with torch.no_grad():
            model.eval()
            old_logps, old_values, entropy = _token_terms(model, rows, True)
            ref_logps, _, _ = _token_terms(reference, rows, False)
            kl_tokens = (old_logps - ref_logps) * mask
            shaped = scores if not config.whiten_scores else whiten(
                scores, torch.ones_like(scores))
            rewards = -beta * kl_tokens
            last = (mask.sum(1).long() - 1).clamp(min=0)
            has_tokens = mask.sum(1) > 0
            rewards[torch.arange(len(last)), last] += shaped * has_tokens
            advantages = gae(rewards, old_values * mask, mask, config.gamma, config.lam)
            returns = advantages + old_values * mask
            advantages = whiten(advantages, mask)
        model.train()
        for _ in range(config.epochs):
            order = torch.randperm(len(completions), device=device)
            for start in range(0, len(completions), config.minibatch):
                idx = order[start:start + config.minibatch]
                m = mask[idx]
                logps, values, _ = _token_terms(model, rows.take(idx), True)
                ratio = torch.exp(logps - old_logps[idx])
                pg = -torch.min(ratio * advantages[idx],
                                torch.clamp(ratio, 1 - config.clip_eps, 1 + config.clip_eps)
                                * advantages[idx])
                clipped_v = old_values[idx] + torch.clamp(values - old_values[idx],
                                                          -config.clip_value, config.clip_value)
                vf = 0.5 * torch.max((values - returns[idx]) ** 2,
                                     (clipped_v - returns[idx]) ** 2)
                n = m.sum().clamp(min=1.0)
                policy_loss, value_loss = (pg * m).sum() / n, (vf * m).sum() / n
                loss = policy_loss + config.vf_coef * value_loss
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                with torch.no_grad():
                    clip_fraction = float((((ratio - 1).abs() > config.clip_eps).float() * m)
                                          .sum() / n)
        model.eval()
        kl = float(kl_tokens.sum(1).mean())
        n_tokens = mask.sum().clamp(min=1.0)
        row = {"iteration": float(iteration), "score": float(scores.mean()), "kl": kl,
               "beta": beta, "entropy": float((entropy * mask).sum() / n_tokens),
               "completion_length": float(mask.sum(1).mean()),
               "policy_loss": float(policy_loss.detach()),
               "value_loss": float(value_loss.detach()), "clip_fraction": clip_fraction}
        history.append(row)
        if on_log is not None:
            on_log(row)
        if config.adaptive:
            beta = adaptive_kl_coef(beta, kl, config.target_kl, config.kl_horizon_gain)
    return history
