"""Multi-digit addition as a family of tasks of growing width, in a 13-token vocabulary.

A problem of width k adds two k-digit operands (uniform on 0 .. 10^k − 1, written with leading
zeros, most significant digit first) and its answer is the sum's k + 1 digits, zero padded and
written in *reverse*, least significant digit first:

    a + b = c        →   a_{k-1} … a_0  +  b_{k-1} … b_0  =  c_0 c_1 … c_k

Reversing the answer is Lee et al. (2023), "Teaching Arithmetic to Small Transformers", §4: a
left-to-right model then emits each digit after the carry it depends on, so digit c_i is a
function of a_i, b_i and the carry out of position i − 1, all of which it has already seen;
in plain order c_k would need the whole carry chain before it is written. Fixed widths make every
problem of width k the same length (prompt 2k + 2 tokens, answer L = k + 1), so a test set of
one width is one tensor and L is exactly the exponent of Schaeffer et al.'s p^L (``metrics.py``).

Tokens: the digits 0-9 are ids 0-9, then ``+``, ``=`` and ``PAD`` (which only fills the tail of
the shorter rows of a batch that mixes widths; it is never a target).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PLUS, EQUALS, PAD = 10, 11, 12
VOCAB_SIZE = 13
SYMBOLS = "0123456789+=."
"""The text of each token id (``.`` for PAD), for printing problems."""

TEST_SEED = 20_231_212
"""Test problems do not depend on the run's seed: every model of a study is scored on the same
problems."""


def prompt_length(width: int) -> int:
    """Tokens of a width-``width`` prompt: two operands, ``+`` and ``=``."""
    return 2 * width + 2


def answer_length(width: int) -> int:
    """Digits of a width-``width`` answer: the sum of two k-digit numbers has k + 1 digits."""
    return width + 1


def sequence_length(width: int) -> int:
    return prompt_length(width) + answer_length(width)


def digits(values: np.ndarray, n: int) -> np.ndarray:
    """(len(values), n) digits of ``values``, least significant first: ``digits([47], 3)`` is
    ``[[7, 4, 0]]``."""
    powers = 10 ** np.arange(n, dtype=np.int64)
    return (np.asarray(values, dtype=np.int64)[:, None] // powers) % 10


def encode(a: np.ndarray, b: np.ndarray, width: int) -> np.ndarray:
    """Problems a + b of width ``width`` as token rows (n, 3·width + 3): prompt, then answer."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    if width < 1 or a.min(initial=0) < 0 or b.min(initial=0) < 0 or \
            max(a.max(initial=0), b.max(initial=0)) >= 10 ** width:
        raise ValueError(f"operands must be in 0 .. {10 ** width - 1} for width {width}")
    n = len(a)
    return np.concatenate([digits(a, width)[:, ::-1], np.full((n, 1), PLUS),
                           digits(b, width)[:, ::-1], np.full((n, 1), EQUALS),
                           digits(a + b, answer_length(width))], axis=1)


def decode_answer(answer: np.ndarray) -> np.ndarray:
    """The integers that answer rows (least significant digit first) spell."""
    answer = np.asarray(answer, dtype=np.int64)
    return answer @ (10 ** np.arange(answer.shape[-1], dtype=np.int64))


def text(row: np.ndarray) -> str:
    """A token row as text: ``"47+05=250"`` (the answer reversed, as the model writes it)."""
    return "".join(SYMBOLS[int(t)] for t in row)


def sample(width: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` problems of width ``width``: both operands uniform on 0 .. 10^width − 1."""
    return (rng.integers(0, 10 ** width, size=n, dtype=np.int64),
            rng.integers(0, 10 ** width, size=n, dtype=np.int64))


def held_out_set(width: int, n: int, seed: int = TEST_SEED) -> np.ndarray:
    """The fixed held-out problems of width ``width`` as token rows (n, 3·width + 3). With
    5-digit operands there are 10^10 problems, so a random training stream all but never meets
    them; the 100 problems of width 1 are all seen in training, which is fine: width 1 is the
    easy end of the family, not a test of generalisation."""
    return encode(*sample(width, n, np.random.default_rng([seed, width])), width)


@dataclass(frozen=True)
class Batch:
    """A training batch mixing widths: ``tokens`` (B, 3K + 3) padded with PAD after each row's
    answer, ``answer`` (B, 3K + 3) True on the answer's tokens (the loss's targets), ``widths``
    (B,)."""

    tokens: np.ndarray
    answer: np.ndarray
    widths: np.ndarray


def mixed_batch(max_width: int, size: int, rng: np.random.Generator) -> Batch:
    """``size`` fresh problems, each of a width uniform on 1 .. ``max_width``: an unbounded
    stream of problems, so a model is never trained on a finite set it could memorise."""
    widths = rng.integers(1, max_width + 1, size=size)
    tokens = np.full((size, sequence_length(max_width)), PAD, dtype=np.int64)
    answer = np.zeros(tokens.shape, dtype=bool)
    for k in np.unique(widths):
        rows = np.flatnonzero(widths == k)
        tokens[rows, :sequence_length(k)] = encode(*sample(int(k), len(rows), rng), int(k))
        answer[rows, prompt_length(k):sequence_length(k)] = True
    return Batch(tokens, answer, widths)
