"""What a tokenizer does to a text, in numbers: compression, coverage, information, fairness.

All of them are computed from one pass over a held-out text, encoded line by line:

* compression: bytes per token = UTF-8 bytes / tokens (newlines not counted in either);
  fertility = tokens / words, words being whitespace-separated (so not comparable across
  scripts that do not put spaces between words: Chinese, Japanese, Thai);
* coverage: the unknown-token rate (share of tokens that are ``[UNK]``/``<unk>``) and the share
  of the vocabulary the text uses at all;
* information: the plug-in (maximum-likelihood) Shannon entropy H of the unigram distribution
  p of tokens in the text, in bits per token, and **bits per byte** = H · tokens / bytes: the
  code length per byte of a unigram model over tokens fitted to the text itself — the
  compression a tokenizer achieves with no context model at all. Rényi efficiency
  (Zouhar et al. 2023, "Tokenization and the Noiseless Channel", §3):
  H_α(p) / log₂|V| with H_α(p) = log₂(Σ_v p(v)^α) / (1 − α) and α = 2.5, the value whose
  efficiency they found to correlate best with downstream BLEU; Shannon efficiency is the α → 1
  limit;
* Zipf: the slope s of log f(r) against log r (f(r) the count of the r-th most frequent token)
  by least squares over the tokens seen at least twice, and that fit's R²;
* fairness: the token premium of a language (Petrov et al. 2023, "Language Model Tokenizers
  Introduce Unfairness Between Languages") = tokens for a text in that language / tokens for
  the same text in English, on parallel text.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

RENYI_ALPHA = 2.5


@dataclass
class TextStats:
    """Token statistics of one text under one tokenizer."""

    n_bytes: int = 0
    n_words: int = 0
    n_tokens: int = 0
    n_unk: int = 0
    counts: Counter[int] = field(default_factory=Counter)

    @property
    def bytes_per_token(self) -> float:
        return self.n_bytes / max(self.n_tokens, 1)

    @property
    def fertility(self) -> float:
        return self.n_tokens / max(self.n_words, 1)

    @property
    def unk_rate(self) -> float:
        return self.n_unk / max(self.n_tokens, 1)

    @property
    def entropy(self) -> float:
        """Shannon entropy of the token distribution, bits per token."""
        return shannon_entropy(self.counts)

    @property
    def bits_per_byte(self) -> float:
        return self.entropy * self.n_tokens / max(self.n_bytes, 1)

    def merge(self, other: TextStats) -> TextStats:
        return TextStats(self.n_bytes + other.n_bytes, self.n_words + other.n_words,
                         self.n_tokens + other.n_tokens, self.n_unk + other.n_unk,
                         self.counts + other.counts)


def text_stats(lines: Sequence[str], encoded: Iterable[Sequence[int]],
               unk_id: int | None = None) -> TextStats:
    """The statistics of ``lines`` encoded (line by line) as ``encoded``."""
    stats = TextStats()
    for line, ids in zip(lines, encoded, strict=True):
        stats.n_bytes += len(line.encode("utf-8"))
        stats.n_words += len(line.split())
        stats.n_tokens += len(ids)
        stats.counts.update(ids)
    if unk_id is not None:
        stats.n_unk = stats.counts.get(unk_id, 0)
    return stats


def pooled(stats: Iterable[TextStats]) -> TextStats:
    """The statistics of several texts taken together, as if they were one text."""
    total = TextStats()
    for item in stats:
        total = total.merge(item)
    return total


def _probabilities(counts: Counter[int]) -> np.ndarray:
    values = np.array([n for n in counts.values() if n > 0], dtype=float)
    return values / values.sum() if len(values) else values


def shannon_entropy(counts: Counter[int]) -> float:
    """H(p) = −Σ p log₂ p of the empirical distribution, in bits."""
    p = _probabilities(counts)
    return float(-(p * np.log2(p)).sum()) if len(p) else 0.0


def renyi_entropy(counts: Counter[int], alpha: float = RENYI_ALPHA) -> float:
    """H_α(p) = log₂(Σ p^α) / (1 − α), in bits (α → 1 gives Shannon's)."""
    if math.isclose(alpha, 1.0):
        return shannon_entropy(counts)
    p = _probabilities(counts)
    return float(np.log2((p ** alpha).sum()) / (1 - alpha)) if len(p) else 0.0


def renyi_efficiency(counts: Counter[int], vocab_size: int, alpha: float = RENYI_ALPHA) -> float:
    """H_α(p) / log₂|V|: 1 when every token of the vocabulary is equally frequent."""
    return renyi_entropy(counts, alpha) / math.log2(vocab_size)


def vocab_used_share(counts: Counter[int], vocab_size: int) -> float:
    """Share of the vocabulary that occurs in the text at least once."""
    return sum(1 for n in counts.values() if n > 0) / vocab_size


def zipf_fit(counts: Counter[int], min_count: int = 2) -> tuple[float, float]:
    """(s, R²) of the least-squares fit log f(r) = c − s · log r over tokens seen ≥ min_count."""
    f = np.sort(np.array([n for n in counts.values() if n >= min_count], dtype=float))[::-1]
    if len(f) < 3:
        return float("nan"), float("nan")
    x, y = np.log(np.arange(1, len(f) + 1)), np.log(f)
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    return float(-slope), float(1 - residual.var() / y.var())


def premium(tokens: int, english_tokens: int) -> float:
    """Petrov et al.'s token premium: how many times the English token count a text costs."""
    return tokens / english_tokens
