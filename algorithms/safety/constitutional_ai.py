"""Constitutional AI in miniature (Bai et al. 2022, "Constitutional AI: Harmlessness from AI
Feedback"): critique → revision, supervised learning on the revisions (SL-CAI, §3), AI preference
labels and preference optimisation from the SL-CAI model (RL-CAI, §4), on a small story model.

The stages, for red-team prompts x (and ordinary prompts, as Bai et al. mix helpfulness data in):

1. **Responses**: y₁ … y_n ∼ π_base(· | x).
2. **Critique → revision** (§3.1). With an LLM feedback model, :func:`llm_revise` asks it to
   critique y₁ against the constitution and then to rewrite it. Offline (forge's default), the
   revision is **best-of-n rejection sampling under the rule-based judge**
   (:func:`best_of_n_revision`): the sample with the largest summed weighted vote margin
   Σ_{j≠i} m(y_i, y_j) of :class:`~algorithms.preference.constitution.RuleJudge` over the other
   samples (a Copeland score). That is a stand-in for revision — it selects, it does not rewrite
   — and results say so.
3. **SL-CAI** (§3): π_SL = argmin −Σ_t log π(r_t | x, r_<t), the cross-entropy of the revision's
   tokens only (:func:`sft_loss`, :func:`train_sft`; the prompt's tokens are context, not
   targets).
4. **RL-CAI** (§4.1): two samples a, b ∼ π_SL(· | x), the judge's label which follows the
   constitution better, and DPO (Rafailov et al. 2023, Eq. 7) from π_SL with π_SL as its
   reference (:func:`ai_preference_pairs`, then ``algorithms.preference.offline.train_offline``)
   in place of Bai et al.'s preference model + PPO.

:func:`evaluate_policy` scores a policy by judges other than the training judge: VADER
(harmlessness: the share of continuations with compound < −0.05, and the mean compound), the
frozen base model's mean per-token log-likelihood of the continuation (fluency), its length
and the KL estimate E[log π/π_base].
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from algorithms.preference.constitution import Constitution, constitution_text
from algorithms.preference.sequences import CompletionBatch, completion_batch, target_logps

NEGATIVE_COMPOUND = -0.05
"""VADER's conventional negative threshold (Hutto & Gilbert 2014): compound < −0.05."""


def sample_grouped(model, prompts: Sequence[Sequence[int]], n_samples: int, max_new_tokens: int,
                   eos_id: int | None, seed: int, temperature: float = 1.0,
                   batch_rows: int = 256) -> list[list[list[int]]]:
    """``n_samples`` continuations of each prompt (any lengths), about ``batch_rows`` sampled
    rows per call: :func:`algorithms.lm.generate.sample_continuations`."""
    from algorithms.lm.generate import sample_continuations

    return sample_continuations(model, prompts, n_samples, max_new_tokens, temperature, eos_id,
                                seed, batch_prompts=max(1, batch_rows // max(1, n_samples)))


# ---- critique → revision ----------------------------------------------------------------

def best_of_n_revision(judge, prompt: str, candidates: Sequence[str]) -> tuple[int, np.ndarray]:
    """The offline revision: the index of the candidate the judge prefers, and every
    candidate's Copeland score Σ_{j≠i} margin(c_i, c_j) (ties: the first). With one candidate
    there is nothing to choose."""
    n = len(candidates)
    if n == 0:
        raise ValueError("best-of-n revision needs at least one candidate")
    scores = np.zeros(n)
    for i in range(n):
        for j in range(i + 1, n):
            margin = judge.compare(prompt, candidates[i], candidates[j]).margin
            scores[i] += margin
            scores[j] -= margin  # the rule judge is antisymmetric: m(b, a) = −m(a, b)
    return int(np.argmax(scores)), scores


CRITIQUE_SYSTEM = ("You critique continuations of children's stories against a constitution of "
                   "principles. Be brief and concrete.")
REVISE_SYSTEM = ("You rewrite continuations of children's stories so that they follow a "
                 "constitution. Answer with the rewritten continuation only, in the same simple "
                 "style and about the same length.")


def llm_revise(ask: Callable[[str, str, str], str], constitution: Constitution, prompt: str,
               response: str) -> str:
    """Bai et al.'s §3.1 critique request then revision request, asked of the LLM ``ask``
    (system, shared context, prompt) → text; returns the revision (the response when the
    answer is empty)."""
    shared = constitution_text(constitution)
    critique = ask(CRITIQUE_SYSTEM, shared,
                   f"Story opening: {prompt}\n\nContinuation: {response}\n\nIdentify the ways in "
                   "which the continuation breaks the constitution's principles.") or ""
    revision = ask(REVISE_SYSTEM, shared,
                   f"Story opening: {prompt}\n\nContinuation: {response}\n\nCritique: "
                   f"{critique}\n\nRewrite the continuation to follow the constitution.") or ""
    revision = re.sub(r"^\s*(revision|rewritten continuation)\s*:\s*", "", revision.strip(),
                      flags=re.IGNORECASE)
    return revision or response


# ---- SL-CAI: supervised fine-tuning on the revisions ----------------------------------------

@dataclass(frozen=True)
class SFTConfig:
    """AdamW at ``lr`` for ``steps`` steps of ``batch_size`` (prompt, revision) examples."""

    steps: int = 100
    batch_size: int = 16
    lr: float = 3e-4
    seed: int = 0
    log_every: int = 10

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(f"SFTConfig needs steps >= 1, batch_size >= 1 and lr > 0, got "
                             f"{self.steps}, {self.batch_size}, {self.lr}")


def sft_loss(model, batch: CompletionBatch) -> torch.Tensor:
    """Mean cross-entropy of the completion tokens, −(1/Σ|y|) Σ_i Σ_t log π(y_t | x, y_<t):
    prompt tokens and padding are masked out (``target_mask``)."""
    logps, _ = target_logps(model(batch.ids[:, :-1]), batch.ids)
    mask = batch.target_mask
    return -(logps * mask).sum() / mask.sum().clamp(min=1.0)


def train_sft(model, examples: Sequence[tuple[Sequence[int], Sequence[int]]], config: SFTConfig,
              on_log: Callable[[dict[str, float]], None] | None = None) -> list[dict[str, float]]:
    """Fine-tune ``model`` in place on (prompt ids, completion ids); returns the logged rows."""
    examples = [e for e in examples if len(e[1])]
    if not examples:
        raise ValueError("SL-CAI needs at least one example with a non-empty revision")
    device = next(model.parameters()).device
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    rng = np.random.default_rng(config.seed)
    warmup = max(1, config.steps // 10)
    batch = min(config.batch_size, len(examples))
    order, cursor, history = rng.permutation(len(examples)), 0, []
    model.train()
    for step in range(config.steps):
        if cursor + batch > len(order):
            order, cursor = rng.permutation(len(examples)), 0
        chunk = [examples[i] for i in order[cursor:cursor + batch]]
        cursor += batch
        for group in optimizer.param_groups:
            group["lr"] = config.lr * min(1.0, (step + 1) / warmup)
        loss = sft_loss(model, completion_batch([c[0] for c in chunk], [c[1] for c in chunk],
                                                device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        if step % config.log_every == 0 or step == config.steps - 1:
            row = {"step": float(step), "loss": float(loss.detach())}
            history.append(row)
            if on_log is not None:
                on_log(row)
    model.eval()
    return history


# ---- RL-CAI: AI preference labels → DPO -------------------------------------------------

def ai_preference_pairs(judge, prompts: Sequence[Sequence[int]], prompt_texts: Sequence[str],
                        samples: Sequence[Sequence[Sequence[int]]],
                        decode: Callable[[Sequence[int]], str]
                        ) -> tuple[list[tuple[list[int], list[int], list[int]]], int]:
    """(prompt, chosen, rejected) for consecutive sample pairs (y₀, y₁), (y₂, y₃), … of each
    prompt as the judge labels them; pairs it cannot decide are dropped. Returns the pairs and
    how many were dropped."""
    pairs, dropped = [], 0
    for prompt, text, group in zip(prompts, prompt_texts, samples):
        for k in range(0, len(group) - 1, 2):
            a, b = list(group[k]), list(group[k + 1])
            label = judge.compare(text, decode(a), decode(b)).label
            if label is None or not a or not b:
                dropped += 1
                continue
            pairs.append((list(prompt), a, b) if label == 1 else (list(prompt), b, a))
    return pairs, dropped


@dataclass(frozen=True)
class CAIConfig:
    """``n_revision`` samples per prompt for best-of-n (offline), ``n_preference`` samples per
    prompt (n/2 pairs) for the AI labels, completions of ``max_new_tokens``; ``sft`` and
    ``dpo`` the trainers' settings (``dpo``: fields of ``OfflineConfig``)."""

    n_revision: int = 8
    n_preference: int = 4
    max_new_tokens: int = 32
    sft: SFTConfig = SFTConfig()
    dpo: dict | None = None

    def __post_init__(self) -> None:
        if self.n_revision < 1 or self.n_preference < 2 or self.max_new_tokens < 1:
            raise ValueError("CAIConfig needs n_revision >= 1, n_preference >= 2 and "
                             "max_new_tokens >= 1")


@dataclass
class CAIResult:
    sl_model: object
    rl_model: object
    sft_history: list[dict[str, float]]
    dpo_history: list[dict[str, float]]
    revisions: list[tuple[str, str, str]]  # (prompt, first response, revision) as text
    n_pairs: int
    n_undecided: int
    revision_judge_gain: float  # mean Copeland score of the chosen minus of the first sample


def train_constitutional(base, prompts: Sequence[Sequence[int]], decode: Callable,
                         encode: Callable[[str], list[int]], judge, config: CAIConfig,
                         eos_id: int | None, seed: int, revise: Callable | None = None,
                         on_sft: Callable | None = None, on_dpo: Callable | None = None
                         ) -> CAIResult:
    """Stages 1–4 of the module docstring from ``base`` (left untouched) on ``prompts``.
    ``revise(prompt text, response text) → revision text`` replaces best-of-n (an LLM)."""
    from algorithms.preference.offline import OfflineConfig, train_offline

    texts = [decode(p) for p in prompts]
    n = 1 if revise is not None else config.n_revision
    samples = sample_grouped(base, prompts, n, config.max_new_tokens, eos_id, seed)
    examples, revisions, gains = [], [], []
    for prompt, text, group in zip(prompts, texts, samples):
        candidates = [decode(c) for c in group]
        if revise is not None:
            revision_text = revise(text, candidates[0])
            ids = encode(revision_text)[:config.max_new_tokens]
        else:
            best, scores = best_of_n_revision(judge, text, candidates)
            ids, revision_text = list(group[best]), candidates[best]
            gains.append(float(scores[best] - scores[0]))
        examples.append((list(prompt), ids))
        revisions.append((text, candidates[0], revision_text))
    sl_model = copy.deepcopy(base)
    for p in sl_model.parameters():  # the base may be frozen (a reference); its copy trains
        p.requires_grad_(True)
    sft_history = train_sft(sl_model, examples, config.sft, on_sft)
    pref_samples = sample_grouped(sl_model, prompts, config.n_preference, config.max_new_tokens,
                                  eos_id, seed + 1)
    pairs, undecided = ai_preference_pairs(judge, prompts, texts, pref_samples, decode)
    rl_model = copy.deepcopy(sl_model)
    if len(pairs) >= 2:
        reference = copy.deepcopy(sl_model).eval()
        for p in reference.parameters():
            p.requires_grad_(False)
        dpo_history = train_offline(rl_model, reference, pairs,
                                    OfflineConfig(**{"method": "dpo", "seed": seed,
                                                     **(config.dpo or {})}), on_dpo)
    else:  # too few decided pairs to train on: RL-CAI is the SL-CAI model, and says so
        dpo_history = []
    return CAIResult(sl_model, rl_model, sft_history, dpo_history, revisions, len(pairs),
                     undecided, float(np.mean(gains)) if gains else 0.0)


# ---- evaluation by judges other than the training judge ----------------------------------

@torch.no_grad()
def evaluate_policy(policy, base, prompts: Sequence[Sequence[int]], n_samples: int,
                    max_new_tokens: int, decode: Callable, eos_id: int | None, seed: int,
                    flaggers: dict[str, Callable[[list[str]], np.ndarray]] | None = None
                    ) -> dict[str, float]:
    """Harmlessness (VADER: ``negative_share``, ``compound``), helpfulness (``fluency``: the
    base model's mean per-token log-likelihood of the non-empty continuations; ``length`` in
    tokens; ``empty_share``) and ``kl`` = E[log π(y|x) − log π_base(y|x)], over ``n_samples``
    continuations per prompt; plus ``<name>_flagged`` for each of ``flaggers``."""
    from algorithms.preference.gold_reward import gold_reward
    from algorithms.preference.sequences import sequence_logps

    device = next(policy.parameters()).device
    samples = sample_grouped(policy, prompts, n_samples, max_new_tokens, eos_id, seed)
    texts, fluency, kl = [], [], []
    for prompt, group in zip(prompts, samples):
        texts += [decode(c) if c else "" for c in group]
        keep = [c for c in group if c]
        if not keep:
            continue
        batch = completion_batch([prompt] * len(keep), keep, device)
        base_logp = sequence_logps(base, batch)
        fluency += (base_logp / batch.completion_lengths).tolist()
        kl += (sequence_logps(policy, batch) - base_logp).tolist()
    compound = gold_reward(texts)
    lengths = np.array([len(c) for group in samples for c in group], dtype=float)
    out = {"negative_share": float(np.mean(compound < NEGATIVE_COMPOUND)),
           "compound": float(np.mean(compound)),
           "fluency": float(np.mean(fluency)) if fluency else float("nan"),
           "length": float(lengths.mean()), "empty_share": float(np.mean(lengths == 0)),
           "kl": float(np.mean(kl)) if kl else 0.0}
    for name, flag in (flaggers or {}).items():
        out[f"{name}_flagged"] = float(np.mean(flag(texts)))
    return out

