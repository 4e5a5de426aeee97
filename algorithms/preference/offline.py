"""Training a language model on preference pairs with the offline losses of ``losses.py``, and
judging a policy by what it writes: its gold reward and its KL from the reference.

A pair is (x, y_w, y_l): a prompt and two completions, as token ids. The sequence log-probability
the losses read is

    log π(y | x) = Σ_{t=|x|}^{|x|+|y|−1} log π(s_t | s_<t),   s = x ⧺ y,

the completion's tokens only (``sequences.sequence_logps``, one forward pass over the
right-padded batch). The reference's log-probabilities are computed once, before training, since π_ref is
frozen (as TRL's ``precompute_ref_log_probs``). KTO (Ethayarajh et al. 2024) is unpaired: each
pair gives a desirable y_w and an undesirable y_l, and its reference point is estimated on the
batch's mismatched pairs (x_i, y_{j(i)}), j(i) = (i − 1) mod B (``kto_mismatched_index``).

:func:`sample_gold_and_kl` samples n completions per prompt from a policy and returns the gold
reward of each and the Monte-Carlo estimate of the sequence KL,

    KL(π ‖ π_ref)(x) = E_{y∼π(·|x)} [log π(y|x) − log π_ref(y|x)],

averaged over prompts: the two axes of the reward–KL frontier (Gao et al. 2023 use √KL).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from algorithms.preference.losses import (check_positive, dpo_loss, ipo_loss, kto_loss,
                                          kto_mismatched_index, simpo_loss)
from algorithms.preference.sequences import completion_batch, sequence_logps

METHODS = ("dpo", "ipo", "simpo", "kto")

Pair = tuple[Sequence[int], Sequence[int], Sequence[int]]
"""(prompt, chosen completion, rejected completion) as token ids."""


@dataclass(frozen=True)
class OfflineConfig:
    """``method`` in :data:`METHODS` at ``beta`` (SimPO's reward scale; the others' KL
    strength), ``gamma`` SimPO's target margin; AdamW at ``lr`` for ``steps`` steps of
    ``batch_size`` pairs, constant after a 10% warm-up."""

    method: str = "dpo"
    beta: float = 0.1
    gamma: float = 0.5
    steps: int = 200
    batch_size: int = 16
    lr: float = 1e-4
    seed: int = 0
    log_every: int = 10

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; known: {', '.join(METHODS)}")
        check_positive("beta", self.beta)
        if self.steps < 1 or self.lr <= 0:
            raise ValueError("steps must be >= 1 and lr > 0")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (KTO's mismatched pairs need two), got "
                             f"{self.batch_size}")


@torch.no_grad()
def pair_logps(model, pairs: Sequence[Pair], batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(log π(y_w|x), log π(y_l|x)) of every pair, each ``(n,)``."""
    device = next(model.parameters()).device.type
    was_training = model.training
    model.eval()
    chosen, rejected = [], []
    for i in range(0, len(pairs), batch_size):
        chunk = pairs[i:i + batch_size]
        for side, out in ((1, chosen), (2, rejected)):
            batch = completion_batch([p[0] for p in chunk], [p[side] for p in chunk], device)
            out.append(sequence_logps(model, batch).cpu().numpy())
    model.train(was_training)
    return np.concatenate(chosen), np.concatenate(rejected)


def _loss(config: OfflineConfig, policy, reference, chunk: Sequence[Pair], ref_w: Tensor,
          ref_l: Tensor, device: str) -> tuple[Tensor, dict[str, float]]:
    prompts = [p[0] for p in chunk]
    chosen = completion_batch(prompts, [p[1] for p in chunk], device)
    rejected = completion_batch(prompts, [p[2] for p in chunk], device)
    logp_w, logp_l = sequence_logps(policy, chosen), sequence_logps(policy, rejected)
    extra = {"logps/chosen": float(logp_w.detach().mean()),
             "logps/rejected": float(logp_l.detach().mean())}
    if config.method == "dpo":
        loss, stats = dpo_loss(logp_w, logp_l, ref_w, ref_l, config.beta)
    elif config.method == "ipo":
        loss, stats = ipo_loss(logp_w, logp_l, ref_w, ref_l, config.beta)
    elif config.method == "simpo":
        loss, stats = simpo_loss(logp_w, logp_l, chosen.completion_lengths.clamp(min=1).float(),
                                 rejected.completion_lengths.clamp(min=1).float(), config.beta,
                                 config.gamma)
    else:  # kto: 2B unpaired examples, desirable first
        j = kto_mismatched_index(2 * len(chunk)).tolist()
        completions = [p[1] for p in chunk] + [p[2] for p in chunk]
        mismatched = completion_batch(prompts + prompts, [completions[k] for k in j], device)
        policy_kl = sequence_logps(policy, mismatched)
        with torch.no_grad():
            reference_kl = sequence_logps(reference, mismatched)
        desirable = torch.arange(2 * len(chunk), device=device) < len(chunk)
        loss, kto_stats = kto_loss(torch.cat([logp_w, logp_l]), torch.cat([ref_w, ref_l]),
                                   desirable, policy_kl, reference_kl, config.beta)
        return loss, {**extra, **kto_stats.metrics(), "loss": float(loss.detach())}
    return loss, {**extra, **stats.metrics(), "loss": float(loss.detach())}


def train_offline(policy, reference, pairs: Sequence[Pair], config: OfflineConfig,
                  on_log: Callable[[dict[str, float]], None] | None = None
                  ) -> list[dict[str, float]]:
    """Optimise ``policy`` on ``pairs`` by ``config.method``; ``reference`` stays frozen (its
    log-probabilities are computed once per pair, when training first draws it). Returns the logged rows: step, loss, the implicit
    rewards of chosen and rejected and their margin and accuracy (KTO: the reference point
    ``kl`` instead of margin and accuracy), and the policy's mean log π of chosen and rejected
    completions, which DPO-style training often lowers both of."""
    pairs = [p for p in pairs if len(p[1]) and len(p[2])]  # an empty completion has no tokens
    if len(pairs) < 2:
        raise ValueError("need at least two pairs with non-empty completions")
    device = next(policy.parameters()).device.type
    # log π_ref of the pairs a run draws, not of all of them: a run of a few hundred steps sees
    # a fraction of a large preference set
    ref_w, ref_l = np.full(len(pairs), np.nan), np.full(len(pairs), np.nan)
    reference.eval()
    policy.train()
    params = [p for p in policy.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    warmup = max(1, config.steps // 10)
    batch = min(config.batch_size, len(pairs))
    rng = np.random.default_rng(config.seed)
    order, cursor, history = rng.permutation(len(pairs)), 0, []
    for step in range(config.steps):
        if cursor + batch > len(order):
            order, cursor = rng.permutation(len(pairs)), 0
        idx = order[cursor:cursor + batch]
        cursor += batch
        for group in optimizer.param_groups:
            group["lr"] = config.lr * min(1.0, (step + 1) / warmup)
        new = idx[np.isnan(ref_w[idx])]
        if len(new):
            ref_w[new], ref_l[new] = pair_logps(reference, [pairs[i] for i in new])
        loss, metrics = _loss(config, policy, reference, [pairs[i] for i in idx],
                              torch.as_tensor(ref_w[idx], dtype=torch.float32, device=device),
                              torch.as_tensor(ref_l[idx], dtype=torch.float32, device=device),
                              device)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        if step % config.log_every == 0 or step == config.steps - 1:
            row = {"step": float(step), **metrics}
            history.append(row)
            if on_log is not None:
                on_log(row)
    policy.eval()
    return history


def implicit_accuracy(policy, reference, pairs: Sequence[Pair], method: str,
                      gold_a_better: np.ndarray) -> float:
    """The share of pairs (x, a, b) the trained policy's implicit reward orders as the gold
    reward does: sign(log π/π_ref(a) − log π/π_ref(b)) for the reference-based losses, the
    length-averaged log π for SimPO."""
    policy_a, policy_b = pair_logps(policy, pairs)
    if method == "simpo":
        score_a = policy_a / np.maximum([len(p[1]) for p in pairs], 1)
        score_b = policy_b / np.maximum([len(p[2]) for p in pairs], 1)
    else:
        ref_a, ref_b = pair_logps(reference, pairs)
        score_a, score_b = policy_a - ref_a, policy_b - ref_b
    return float(np.mean((score_a > score_b) == np.asarray(gold_a_better, dtype=bool)))


@torch.no_grad()
def log_ratios(policy, reference, prompts: Sequence[Sequence[int]],
               completions: Sequence[Sequence[int]], batch_size: int = 64) -> np.ndarray:
    """log π(y_i|x_i) − log π_ref(y_i|x_i) of each (prompt, completion), ``batch_size`` rows per
    forward pass; 0 for a batch with nothing predicted (one-token prompts, empty completions)."""
    device, rows = next(policy.parameters()).device, []
    for i in range(0, len(prompts), batch_size):
        batch = completion_batch(prompts[i:i + batch_size], completions[i:i + batch_size], device)
        if batch.ids.shape[1] < 2:
            rows.append(np.zeros(len(batch.ids)))
            continue
        ratio = sequence_logps(policy, batch) - sequence_logps(reference, batch)
        rows.append(ratio.cpu().numpy())
    return np.concatenate(rows) if rows else np.zeros(0)


@dataclass(frozen=True)
class PolicySamples:
    """Of n samples per prompt: gold reward, KL estimate log π/π_ref and length, each
    ``(prompts, n)``; and the completions' ids and text, prompt by prompt."""

    gold: np.ndarray
    kl: np.ndarray
    length: np.ndarray
    completions: list[list[list[int]]]
    texts: list[list[str]]

    def means(self) -> dict[str, float]:
        return {"gold_reward": float(self.gold.mean()), "kl": float(self.kl.mean()),
                "length": float(self.length.mean())}


@torch.no_grad()
def sample_gold_and_kl(policy, reference, prompts: Sequence[Sequence[int]], n_samples: int,
                       max_new_tokens: int, decode: Callable[[list[int]], str],
                       gold: Callable[[list[str]], np.ndarray], eos_id: int | None,
                       seed: int, temperature: float = 1.0) -> PolicySamples:
    """Sample ``n_samples`` completions of each prompt from ``policy`` and score them: the gold
    reward of the decoded text and log π(y|x) − log π_ref(y|x), whose mean is the KL estimate."""
    from algorithms.lm.generate import Sampling, generate

    device = next(policy.parameters()).device.type
    generator = torch.Generator(device=device).manual_seed(seed)
    completions, kl_rows = [], []
    for prompt in prompts:
        rows = torch.tensor([list(prompt)] * n_samples, device=device)
        new = generate(policy, rows, max_new_tokens, Sampling(temperature=temperature),
                       eos_id=eos_id, generator=generator)
        completions.append(new)
        kl_rows.append(log_ratios(policy, reference, [prompt] * n_samples, new, n_samples))
    texts = [[decode(c) if c else "" for c in group] for group in completions]
    rewards = gold([t for group in texts for t in group]).reshape(len(prompts), n_samples)
    lengths = np.array([[len(c) for c in group] for group in completions], dtype=float)
    return PolicySamples(rewards, np.stack(kl_rows), lengths, completions, texts)
