"""Completions as a causal LM's input, and the log-probabilities of their tokens: the one place
the preference trainers — the DPO family (``offline.py``), GRPO (``grpo_training.py``) and PPO
for text (``ppo_text.py``) — turn (prompt, completion) token lists into a batch and read

    log π(y_t | x, y_<t)

off the model's logits.

A row is s = x ⧺ y, right-padded with 0 to the batch's width T. The model reads s_<T, and its
logits at position t predict s_{t+1}; so the completion's tokens are the targets at positions
|x| − 1 … |x| + |y| − 2 of the (B, T − 1) grid of targets (:attr:`CompletionBatch.target_mask`).
Where every row has the same prompt (a GRPO group, a PPO batch), the grid from position |x| − 1
on is aligned with the completions: column t holds y_t (:meth:`CompletionBatch.completion_part`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class CompletionBatch:
    """``ids`` (B, T): prompt ⧺ completion per row, right-padded with 0; the lengths, (B,)."""

    ids: Tensor
    prompt_lengths: Tensor
    completion_lengths: Tensor

    @property
    def target_mask(self) -> Tensor:
        """(B, T − 1), 1.0 where the target s_{t+1} is a completion token, else 0.0."""
        positions = torch.arange(1, self.ids.shape[1], device=self.ids.device)[None]
        start = self.prompt_lengths[:, None]
        return ((positions >= start) & (positions < start + self.completion_lengths[:, None])
                ).float()

    def take(self, rows: Tensor) -> CompletionBatch:
        """The batch of the rows ``rows`` (a minibatch)."""
        return CompletionBatch(self.ids[rows], self.prompt_lengths[rows],
                               self.completion_lengths[rows])

    def completion_part(self, per_target: Tensor) -> Tensor:
        """The columns of a (B, T − 1, …) per-target tensor that hold the completion tokens
        y_1, y_2, … (the rest of each row is padding), for a batch whose rows share one
        prompt length."""
        lengths = set(self.prompt_lengths.tolist())
        if len(lengths) != 1:
            raise ValueError(f"the rows' prompts differ in length ({sorted(lengths)}): their "
                             "completions do not line up")
        return per_target[:, lengths.pop() - 1:]


def completion_batch(prompts: Sequence[Sequence[int]], completions: Sequence[Sequence[int]],
                     device: str | torch.device, width: int = 0) -> CompletionBatch:
    """The right-padded batch of ``prompts[i] ⧺ completions[i]``; ``width`` pads the
    completions to at least that many tokens (to stack batches scored separately)."""
    if len(prompts) != len(completions):
        raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
    prompt_lengths = [len(p) for p in prompts]
    if min(prompt_lengths, default=0) < 1:
        raise ValueError("every prompt needs at least one token (the first completion token "
                         "is predicted from it)")
    completion_lengths = [len(c) for c in completions]
    total = max(p + max(c, width) for p, c in zip(prompt_lengths, completion_lengths))
    ids = torch.zeros(len(prompts), total, dtype=torch.long)
    for i, (p, c) in enumerate(zip(prompts, completions)):
        row = list(p) + list(c)
        ids[i, :len(row)] = torch.tensor(row, dtype=torch.long)
    return CompletionBatch(ids.to(device), torch.tensor(prompt_lengths, device=device),
                           torch.tensor(completion_lengths, device=device))


def target_logps(logits: Tensor, ids: Tensor, with_entropy: bool = False
                 ) -> tuple[Tensor, Tensor | None]:
    """log π(s_{t+1} | s_≤t), (B, T − 1), from ``logits`` = model(ids[:, :-1]); with
    ``with_entropy``, also the entropy H(π(· | s_≤t)) at each position (else None)."""
    log_probs = F.log_softmax(logits.float(), dim=-1)
    logps = log_probs.gather(-1, ids[:, 1:, None]).squeeze(-1)
    entropy = -(log_probs.exp() * log_probs).sum(-1) if with_entropy else None
    return logps, entropy


def sequence_logps(model, batch: CompletionBatch) -> Tensor:
    """log π(y | x) = Σ_t log π(y_t | x, y_<t) of each row, (B,); padding is ignored."""
    logps, _ = target_logps(model(batch.ids[:, :-1]), batch.ids)
    return (logps * batch.target_mask).sum(-1)


def completion_token_logps(model, batch: CompletionBatch) -> tuple[Tensor, Tensor]:
    """Per-token log π(y_t | x, y_<t) of each completion, (B, W), and the mask of real tokens,
    for a batch whose rows share one prompt length (W = the batch's completion width)."""
    logps, _ = target_logps(model(batch.ids[:, :-1]), batch.ids)
    return batch.completion_part(logps), batch.completion_part(batch.target_mask)
