"""Exposure bias, measured exactly against a source whose true probabilities are known.

A language model is trained by teacher forcing: every prediction conditions on a ground-truth
prefix. At generation time it conditions on its own samples instead, prefixes it may never have
been trained on, so an early mistake moves it off the data distribution, where it predicts
worse, which makes the next mistake more likely (Bengio et al. 2015, "Scheduled Sampling for
Sequence Prediction with Recurrent Neural Networks", §1; Ranzato et al. 2016, "Sequence Level
Training with Recurrent Neural Networks", §1).

With a :class:`~algorithms.lm.synthetic.MarkovSource` p as the data, the model's error at a
prefix is exact rather than estimated. Every one of ``n_sequences`` sequences starts from the
same kind of prompt, ``prompt_len`` tokens drawn from the source; then, for generation steps
t = 1..L after the prompt,

* teacher forced: the prefix x_<t is the source's own continuation of the prompt, and
  ``kl_teacher_forced[t] = mean_seq KL(p(· | x_<t) ‖ q(· | x_<t))``,
  ``nll_teacher_forced[t] = mean_seq −log q(x_t | x_<t)`` (the training objective, whose
  expectation is H(p(· | x_<t)) + KL: the source's entropy plus the model's excess);
* free running: the prefix is the prompt followed by the model's own samples
  x_t ~ softmax(log q(· | x_<t) / temperature), drawn batched with ``torch.multinomial`` and a
  seeded generator, the full prefix passed through ``next_log_probs`` at every step, and
  ``kl_free_running[t]`` is the same KL at those prefixes;
  ``true_nll_free_running[t] = mean_seq −log p(x_t | x_<t)`` scores the model's samples under
  the truth (how plausible the source finds them; infinite if the model emits a token the
  source forbids).

    KL(p ‖ q) = Σ_v p(v) [log p(v) − log q(v)],   0 · log 0 = 0                     (1)

The KL is always that of the model's untempered q, so the two KL curves differ only in which
prefixes they are evaluated at: the source's (the distribution the model was trained on) or the
model's own. Teacher-forced KL is flat in t (the source is stationary). Free-running KL grows
with t when the model is worse on off-distribution prefixes that it steers itself into: the
share of sequences that have wandered there grows with every step, and once there the model's
wrong conditionals keep them there. For a model with no error both curves are 0.

Every curve comes with the half-width of its 95% interval, 1.96 · std / √n over sequences (the
normal approximation: sequences are independent, steps within one are not).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from algorithms.lm.synthetic import MarkovSource

NextLogProbs = Callable[[torch.Tensor], torch.Tensor]  # (B, t) LongTensor → (B, V) log-probs
Z95 = 1.96
TAIL = 5  # the "_last" summary numbers average the last TAIL positions (one is too noisy)


def kl_divergence(p_true: np.ndarray, log_q: np.ndarray) -> np.ndarray:
    """KL(p ‖ q) over the last axis, eq. (1): exact, with 0 · log 0 = 0 (terms where p = 0
    vanish even where q = 0 too); +inf where q = 0 but p > 0."""
    p_true, log_q = np.asarray(p_true, dtype=np.float64), np.asarray(log_q, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p_true > 0, p_true * (np.log(p_true) - log_q), 0.0)
    return terms.sum(axis=-1)


def _mean_ci(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n_sequences, L) → the mean over sequences and its 95% half-width at each position."""
    with np.errstate(invalid="ignore"):
        return values.mean(axis=0), Z95 * values.std(axis=0, ddof=1) / np.sqrt(len(values))


@dataclass
class ExposureCurves:
    """The four curves of the module docstring over ``positions`` t = 1..L (steps after the
    prompt), each with its 95% half-width (``*_ci``), and the source's entropy rate (nats/token)
    for reference: the floor of ``nll_teacher_forced`` and, for a perfect model, the level of
    ``true_nll_free_running``."""

    positions: np.ndarray
    kl_teacher_forced: np.ndarray
    kl_free_running: np.ndarray
    nll_teacher_forced: np.ndarray
    true_nll_free_running: np.ndarray
    kl_teacher_forced_ci: np.ndarray
    kl_free_running_ci: np.ndarray
    nll_teacher_forced_ci: np.ndarray
    true_nll_free_running_ci: np.ndarray
    entropy_rate: float

    def summary(self) -> dict[str, float]:
        """Flat numbers. ``*_mean``: the curve averaged over positions; ``*_last``: averaged over
        the last ``TAIL`` positions (all of them when there are fewer); ``kl_ratio_last`` =
        kl_fr_last / kl_tf_last (a ratio of those means, NaN when both are 0: no exposure bias
        to measure); ``kl_fr_slope``: the least-squares slope of free-running KL against t in
        nats per step (NaN with a single position)."""
        tail = slice(-min(TAIL, len(self.positions)), None)
        kl_tf_last = float(self.kl_teacher_forced[tail].mean())
        kl_fr_last = float(self.kl_free_running[tail].mean())
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = float(np.divide(kl_fr_last, kl_tf_last))
        slope = (float(np.polyfit(self.positions, self.kl_free_running, 1)[0])
                 if len(self.positions) > 1 else float("nan"))
        return {
            "kl_tf_mean": float(self.kl_teacher_forced.mean()),
            "kl_fr_mean": float(self.kl_free_running.mean()),
            "kl_tf_last": kl_tf_last,
            "kl_fr_last": kl_fr_last,
            "kl_ratio_last": ratio,
            "kl_fr_slope": slope,
            "nll_tf_mean": float(self.nll_teacher_forced.mean()),
            "true_nll_fr_mean": float(self.true_nll_free_running.mean()),
            "entropy_rate": self.entropy_rate,
        }


def _log_q(next_log_probs: NextLogProbs, prefix: np.ndarray, device: torch.device | str,
           vocab_size: int) -> np.ndarray:
    """The model's (B, V) log q(· | prefix) as float64 numpy, checked against the source's V."""
    with torch.no_grad():
        log_q = next_log_probs(torch.from_numpy(np.ascontiguousarray(prefix)).to(device))
    if log_q.shape != (len(prefix), vocab_size):
        raise ValueError(f"model gives log-probs of shape {tuple(log_q.shape)}, "
                         f"the source needs {(len(prefix), vocab_size)} (vocab sizes must match)")
    return log_q.detach().to("cpu", torch.float64).numpy()


def exposure_bias(next_log_probs: NextLogProbs, source: MarkovSource, n_sequences: int,
                  length: int, prompt_len: int, seed: int, temperature: float = 1.0,
                  device: torch.device | str = "cpu") -> ExposureCurves:
    """Teacher-forced and free-running curves of the module docstring over ``length`` steps
    after a source-drawn prompt of ``prompt_len`` (>= source.order) tokens, ``n_sequences``
    (>= 2) sequences in one batch. ``next_log_probs`` maps a (B, t) LongTensor on ``device`` to
    (B, V) log-probs of the next token. ``seed`` fixes the source's draws (numpy) and the model's
    samples (a CPU ``torch.Generator``, so they do not depend on ``device``)."""
    if prompt_len < source.order:
        raise ValueError(f"prompt_len must be >= the source's order {source.order}, "
                         f"got {prompt_len}")
    if n_sequences < 2 or length < 1:
        raise ValueError(f"need n_sequences >= 2 and length >= 1, got {n_sequences}, {length}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    V, rows = source.vocab_size, np.arange(n_sequences)
    data = source.sample(n_sequences, prompt_len + length, np.random.default_rng(seed))
    generator = torch.Generator().manual_seed(seed)
    own = data[:, :prompt_len].copy()  # the free-running sequences, prompt first
    shape = (n_sequences, length)
    kl_tf, kl_fr, nll_tf, true_nll_fr = (np.empty(shape) for _ in range(4))
    for t in range(length):
        # teacher forcing: the source's prefix, scored at the source's next token
        prefix = data[:, :prompt_len + t]
        log_q = _log_q(next_log_probs, prefix, device, V)
        kl_tf[:, t] = kl_divergence(source.next_distribution(prefix), log_q)
        nll_tf[:, t] = -log_q[rows, data[:, prompt_len + t]]
        # free running: the model's own prefix, continued by the model's own sample
        log_q = _log_q(next_log_probs, own, device, V)
        p_true = source.next_distribution(own)
        kl_fr[:, t] = kl_divergence(p_true, log_q)
        probs = torch.softmax(torch.from_numpy(log_q) / temperature, dim=-1)
        token = torch.multinomial(probs, 1, generator=generator).numpy()[:, 0]
        with np.errstate(divide="ignore"):
            true_nll_fr[:, t] = -np.log(p_true[rows, token])
        own = np.concatenate([own, token[:, None]], axis=1)
    (kl_tf, kl_tf_ci), (kl_fr, kl_fr_ci), (nll_tf, nll_tf_ci), (nll_fr, nll_fr_ci) = (
        _mean_ci(values) for values in (kl_tf, kl_fr, nll_tf, true_nll_fr))
    return ExposureCurves(np.arange(1, length + 1), kl_tf, kl_fr, nll_tf, nll_fr,
                          kl_tf_ci, kl_fr_ci, nll_tf_ci, nll_fr_ci, source.entropy_rate())
