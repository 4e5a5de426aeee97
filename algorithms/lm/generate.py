"""Autoregressive generation, seen as a sequential decision process (the week-1 MDP link).

Decoding is an episode of an MDP whose transitions are deterministic:

* the state s_t is the prefix x_1..x_t (the prompt plus what has been generated);
* the action a_t is the next token, from the vocabulary;
* the transition appends it: s_{t+1} = s_t ⊕ a_t; the episode ends at an end-of-sequence
  token, at a length budget or when the context is full;
* the policy is the model's softmax, π(a | s_t) = P_θ(x_{t+1} = a | x_1..x_t).

Sampling strategies reshape that policy before acting: temperature T divides the logits
(T → 0 is the greedy policy, argmax; T > 1 flattens it toward uniform), top-k keeps the k most
probable actions, and top-p (nucleus sampling; Holtzman et al. 2020, "The Curious Case of Neural
Text Degeneration", §3.1) keeps the smallest set V^(p) with Σ_{x ∈ V^(p)} P(x | s) ≥ p, then
renormalises. RL fine-tuning (RLHF, weeks 11-13) trains the policy itself; here it is fixed.

With the KV cache the prompt is prefilled in one forward pass and every step feeds just the
new token, so a step costs O(t) instead of recomputing the O(t²) prefix; ``use_cache=False``
does the recomputation, the reference the cached path is tested against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from algorithms.lm.model import LanguageModel


@dataclass(frozen=True)
class Sampling:
    """How the next token is drawn from softmax(logits / temperature), after top-k and top-p.

    ``temperature`` 0 is greedy decoding (argmax; top-k and top-p then change nothing).
    """

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

    def label(self) -> str:
        """A short name for tables: "greedy", "T=1", "T=0.8, top-p 0.9", "T=1, top-k 50"."""
        if self.temperature == 0:
            return "greedy"
        parts = [f"T={self.temperature:g}"]
        if self.top_k is not None:
            parts.append(f"top-k {self.top_k}")
        if self.top_p is not None:
            parts.append(f"top-p {self.top_p:g}")
        return ", ".join(parts)


def filter_logits(logits: Tensor, top_k: int | None = None, top_p: float | None = None) -> Tensor:
    """Set to −∞ every entry of ``(..., V)`` logits outside the top k, then outside the nucleus.

    Top-k keeps exactly k entries (ties broken by ``torch.topk``). The nucleus is computed on
    the softmax of what top-k left: sorted descending, token i stays while the probability
    mass *before* it is < p, which is the smallest prefix whose mass reaches p, and always
    includes the most probable token.
    """
    if top_k is not None and top_k < logits.shape[-1]:
        kept = logits.topk(top_k, dim=-1).indices
        logits = torch.full_like(logits, float("-inf")).scatter(-1, kept, logits.gather(-1, kept))
    if top_p is not None and top_p < 1:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(dim=-1)
        mass_before = probs.cumsum(dim=-1) - probs
        sorted_logits = sorted_logits.masked_fill(mass_before >= top_p, float("-inf"))
        logits = torch.empty_like(logits).scatter(-1, order, sorted_logits)
    return logits


def sample_next(logits: Tensor, sampling: Sampling,
                generator: torch.Generator | None = None) -> Tensor:
    """One action per row: ``(B, V)`` logits → ``(B,)`` token ids drawn from the reshaped policy.

    Sampled in float32, so that a bfloat16 model's probabilities are not rounded to zero.
    """
    if sampling.temperature == 0:
        return logits.argmax(dim=-1)
    logits = filter_logits(logits.float() / sampling.temperature, sampling.top_k, sampling.top_p)
    return torch.multinomial(logits.softmax(dim=-1), 1, generator=generator).squeeze(-1)


@torch.no_grad()
def generate(model: LanguageModel, prompt: Tensor, max_new_tokens: int,
             sampling: Sampling = Sampling(), eos_id: int | None = None,
             generator: torch.Generator | None = None, use_cache: bool = True) -> list[list[int]]:
    """Roll out the policy from each row of ``prompt`` ``(B, T0)``; return each row's new tokens.

    A row stops at ``eos_id`` (which is not included in its list) or after ``max_new_tokens``;
    the batch stops when every row has. Prompt plus generation never exceed the model's
    context ``config.max_seq_len``: generation stops early, after max_seq_len − T0 tokens, when
    the context is full. All rows share the prompt length (no padding). The model runs in eval
    mode and gets its previous mode back afterwards.
    """
    batch, prompt_len = prompt.shape
    context = model.config.max_seq_len
    if prompt_len < 1 or prompt_len > context:
        raise ValueError(f"prompt of {prompt_len} tokens does not fit the model's context of "
                         f"{context}")
    budget = min(max_new_tokens, context - prompt_len)
    was_training = model.training
    model.eval()
    try:
        new = prompt.new_empty(batch, max(budget, 0))
        done = torch.zeros(batch, dtype=torch.bool, device=prompt.device)
        # the last sampled token is never fed back, so the caches need one position less
        caches = model.new_caches(batch, prompt_len + budget - 1) \
            if use_cache and budget > 0 else None
        steps = 0
        for step in range(budget):
            if step == 0:
                logits = model(prompt, caches)[:, -1]  # prefill (or the whole prefix)
            elif use_cache:
                logits = model(new[:, step - 1:step], caches)[:, -1]  # one token through caches
            else:
                logits = model(torch.cat([prompt, new[:, :step]], dim=1))[:, -1]
            token = sample_next(logits, sampling, generator)
            if eos_id is not None:  # a finished row keeps emitting eos, cut off below
                token = token.masked_fill(done, eos_id)
                done |= token == eos_id
            new[:, step] = token
            steps = step + 1
            if eos_id is not None and bool(done.all()):
                break
    finally:
        model.train(was_training)
    rows = new[:, :steps].tolist()
    if eos_id is not None:
        rows = [row[:row.index(eos_id)] if eos_id in row else row for row in rows]
    return rows


def sample_continuations(model: LanguageModel, prompts: Sequence[Sequence[int]], n_samples: int,
                         max_new_tokens: int, temperature: float, eos_id: int | None, seed: int,
                         batch_prompts: int = 32) -> list[list[list[int]]]:
    """``n_samples`` continuations of each prompt by ancestral sampling at ``temperature``, in
    the prompts' order; a continuation ends before ``eos_id``. :func:`generate` takes rows of
    one length, so prompts are grouped by length (shortest first) and sampled
    ``batch_prompts`` at a time from one generator seeded with ``seed``."""
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    out: list[list[list[int]]] = [[] for _ in prompts]
    by_length: dict[int, list[int]] = {}
    for i, prompt in enumerate(prompts):
        by_length.setdefault(len(prompt), []).append(i)
    for _, indices in sorted(by_length.items()):
        for start in range(0, len(indices), batch_prompts):
            chunk = indices[start:start + batch_prompts]
            rows = torch.tensor([list(prompts[i]) for i in chunk for _ in range(n_samples)],
                                device=device)
            new = generate(model, rows, max_new_tokens, Sampling(temperature=temperature),
                           eos_id=eos_id, generator=generator)
            for k, i in enumerate(chunk):
                out[i] = new[k * n_samples:(k + 1) * n_samples]
    return out


def sequence_log_probs(model: LanguageModel, idx: Tensor, start: int = 1) -> Tensor:
    """log P(x_t | x_<t) for t = start, ..., T − 1: ``(B, T)`` ids → ``(B, T − start)``.

    The per-token log-likelihoods of GPT-1's eq. 1; their negative mean is the log-perplexity
    of a sample, and their sum is log π(a_start.. | s_start) of the generation policy. Runs the
    model as it is (mode, gradients): wrap in ``torch.no_grad()`` to only measure.
    """
    if not 1 <= start < idx.shape[1]:
        raise ValueError(f"start must be in [1, {idx.shape[1] - 1}], got {start}")
    logits = model(idx[:, :-1])[:, start - 1:]  # row t − 1 predicts token t
    log_probs = F.log_softmax(logits.float(), dim=-1)
    return log_probs.gather(-1, idx[:, start:, None]).squeeze(-1)
