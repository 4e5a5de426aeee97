"""The same answers scored four ways: exact match, per-token accuracy, log-likelihood, edit
distance.

Wei et al. (2022), "Emergent Abilities of Large Language Models" (TMLR), call an ability
emergent when it "is not present in smaller models but is present in larger models", and their
arithmetic and word-problem benchmarks score exact match: an answer is right only if every token
is. Schaeffer, Miranda & Koyejo (2023), "Are Emergent Abilities of Large Language Models a
Mirage?" (NeurIPS), §2: if a model gets each of an answer's L tokens right with probability p,
independently, exact match is

    EM ≈ p^L                                                                   (their eq. 2)

which, for L ≥ 2, stays near 0 while p climbs and then rises steeply: a smooth gain in p looks
like a sudden ability. A linear or continuous metric of the same outputs — per-token accuracy,
token edit distance (their eq. 3: ≈ L(1 − p)) or the log-likelihood of the right answer — moves
with p and shows no jump. Everything here is computed from one model on one set of problems:

* teacher-forced (the true answer prefix given): greedy digit at every answer position, and
  log P(correct digit | prompt, true prefix);
* generated: greedy decoding of the whole answer, what a benchmark scores.

Greedy decoding writes the whole answer right exactly when every teacher-forced greedy digit is
right (an all-correct rollout feeds back the true prefix at every step, and vice versa), so the
two exact matches agree problem by problem; per-token accuracy and edit distance differ, since
a rollout conditions on its own earlier mistakes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from rapidfuzz.distance import Levenshtein

from algorithms.emergence.tasks import answer_length, prompt_length
from algorithms.lm.generate import Sampling, generate


def exact_match(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """1.0 for each row whose every token is right, else 0.0 (Wei et al.'s metric)."""
    return np.all(np.asarray(predicted) == np.asarray(target), axis=-1).astype(float)


def token_accuracy(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The share of each row's tokens that are right."""
    return np.mean(np.asarray(predicted) == np.asarray(target), axis=-1)


def edit_distance(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Token-level Levenshtein distance of each row to its target (insertions, deletions and
    substitutions, unit cost; Schaeffer et al.'s "token edit distance")."""
    return np.array([Levenshtein.distance(list(p), list(t))
                     for p, t in zip(np.asarray(predicted).tolist(), np.asarray(target).tolist())],
                    dtype=float)


def independent_exact_match(token_acc: float | np.ndarray, length: int) -> float | np.ndarray:
    """p^L: the exact match of L tokens each right with probability p, independently
    (Schaeffer et al. eq. 2)."""
    return np.asarray(token_acc, dtype=float) ** length


@dataclass(frozen=True)
class Scores:
    """Per-problem scores of one width's test set (each array has one entry per problem):
    ``exact_match`` of the generated answer, ``exact_match_forced`` of the teacher-forced greedy
    digits, ``token_acc`` teacher-forced per-token accuracy, ``token_acc_generated`` that of the
    generated answer, ``logprob`` the mean per-token log P of the correct answer,
    ``answer_logprob`` its sum (log P of the whole answer), ``edit_distance`` of the generated
    answer to the correct one."""

    width: int
    exact_match: np.ndarray
    exact_match_forced: np.ndarray
    token_acc: np.ndarray
    token_acc_generated: np.ndarray
    logprob: np.ndarray
    answer_logprob: np.ndarray
    edit_distance: np.ndarray

    @property
    def length(self) -> int:
        return answer_length(self.width)

    def means(self) -> dict[str, float]:
        """Each score's mean over the problems, and p^L from the mean per-token accuracy."""
        names = ("exact_match", "exact_match_forced", "token_acc", "token_acc_generated",
                 "logprob", "answer_logprob", "edit_distance")
        out = {name: float(np.mean(getattr(self, name))) for name in names}
        out["independent_exact_match"] = float(
            independent_exact_match(out["token_acc"], self.length))
        return out


@torch.no_grad()
def score(model: torch.nn.Module, rows: np.ndarray, width: int, device: str = "cpu") -> Scores:
    """Score ``model`` (a ``LanguageModel``) on the problems ``rows`` of one width (from
    ``tasks.encode``): one teacher-forced forward pass, one greedy rollout."""
    was_training = model.training
    model.eval()
    try:
        tokens = torch.as_tensor(rows, dtype=torch.long, device=device)
        prompt, length = prompt_length(width), answer_length(width)
        target = tokens[:, prompt:]
        # row t - 1 of the logits predicts token t: the answer's rows start at prompt - 1
        logits = model(tokens[:, :-1])[:, prompt - 1:].float()
        log_probs = F.log_softmax(logits, dim=-1).gather(-1, target[..., None]).squeeze(-1)
        forced = logits.argmax(-1)
        generated = torch.tensor(generate(model, tokens[:, :prompt], length,
                                          Sampling(temperature=0.0)), dtype=torch.long)
    finally:
        model.train(was_training)
    target, forced = target.cpu().numpy(), forced.cpu().numpy()
    generated, log_probs = generated.numpy(), log_probs.cpu().double().numpy()
    return Scores(width=width, exact_match=exact_match(generated, target),
                  exact_match_forced=exact_match(forced, target),
                  token_acc=token_accuracy(forced, target),
                  token_acc_generated=token_accuracy(generated, target),
                  logprob=log_probs.mean(-1), answer_logprob=log_probs.sum(-1),
                  edit_distance=edit_distance(generated, target))
