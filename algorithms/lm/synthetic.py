"""A language whose true probabilities are known: an order-k Markov chain over V tokens.

A language model trained on real text can only be scored against samples of it: perplexity on
held-out text estimates the cross-entropy H(p, q), never the gap KL(p ‖ q) to the truth,
because the true conditional p(x_t | x_<t) of English is unknown. On a synthetic source it is
known at every prefix, so

    KL(p(· | x_<t) ‖ q(· | x_<t)) = Σ_v p(v | x_<t) [log p(v | x_<t) − log q(v | x_<t)]

is computed exactly, at any prefix: one the source drew (teacher forcing) or one the model
drew itself (free running, :mod:`algorithms.lm.exposure`).

The lineage is Shannon's "A Mathematical Theory of Communication" (1948, §3): English
approximated by Markov chains of increasing order over letters and words. Here

    p(x_t | x_<t) = T[c(x_{t−k..t−1}), x_t],   c(a_1..a_k) = Σ_j a_j · V^(k−j)      (1)

a context is its last k tokens read as a base-V number (oldest token most significant), so the
table ``transitions`` T has V^k rows. Each row is drawn from a symmetric Dirichlet(α): a small α
gives peaky, low-entropy rows (a few likely continuations per context, as in language).

The first k tokens are drawn jointly from ``initial``, a distribution over contexts. The
convention is the stationary distribution π of the context chain (c → (c mod V^(k−1))·V + x
with x ~ T[c]), π = π P, so every position of a sample is distributed alike and the
per-token entropy of a sample equals the entropy rate (2) at every position:

    H = Σ_c π(c) H(T[c]) = −Σ_c π(c) Σ_v T[c, v] log T[c, v]   (nats/token)          (2)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(eq=False)
class MarkovSource:
    """An order-``order`` Markov chain over ``vocab_size`` tokens: ``transitions`` (V^k, V) rows
    of p(next | context) indexed as in (1), ``initial`` (V^k,) the distribution of the first
    ``order`` tokens' context (the stationary π when built by :meth:`random` or
    :meth:`from_transitions`)."""

    vocab_size: int
    order: int
    transitions: np.ndarray
    initial: np.ndarray

    def __post_init__(self) -> None:
        V, k = self.vocab_size, self.order
        if V < 1 or k < 1:
            raise ValueError(f"vocab_size and order must be >= 1, got {V} and {k}")
        self.transitions = np.asarray(self.transitions, dtype=np.float64)
        self.initial = np.asarray(self.initial, dtype=np.float64)
        if self.transitions.shape != (V**k, V):
            raise ValueError(f"transitions must be (V**order, V) = {(V**k, V)}, "
                             f"got {self.transitions.shape}")
        if self.initial.shape != (V**k,):
            raise ValueError(f"initial must be (V**order,) = {(V**k,)}, got {self.initial.shape}")
        for name, p in (("transitions", self.transitions), ("initial", self.initial)):
            if (p < 0).any() or not np.allclose(p.sum(axis=-1), 1.0, rtol=0.0, atol=1e-9):
                raise ValueError(f"{name} must hold probabilities summing to 1 along the last axis")

    @classmethod
    def from_transitions(cls, transitions: np.ndarray, order: int = 1) -> MarkovSource:
        """The chain with these (V^order, V) ``transitions``, started from its stationary π."""
        transitions = np.asarray(transitions, dtype=np.float64)
        vocab_size = transitions.shape[-1]
        uniform = np.full(vocab_size**order, 1.0 / vocab_size**order)
        source = cls(vocab_size, order, transitions, uniform)
        source.initial = source.stationary()
        return source

    @classmethod
    def random(cls, vocab_size: int, order: int = 1, concentration: float = 0.1,
               seed: int = 0) -> MarkovSource:
        """Rows T[c] ~ Dirichlet(concentration · 1_V), one generator seeded with ``seed``."""
        rng = np.random.default_rng(seed)
        rows = rng.dirichlet(np.full(vocab_size, concentration), size=vocab_size**order)
        # a small α underflows some entries to exactly 0 in float64; renormalising keeps the rows
        # exact distributions (a zero is a legitimate "impossible" transition)
        return cls.from_transitions(rows / rows.sum(axis=1, keepdims=True), order)

    # ------------------------------------------------------------------ the context chain

    def _step(self, pi: np.ndarray) -> np.ndarray:
        """One step of the context chain: π'(r·V + x) = Σ_o π(o·V^(k−1) + r) T[o·V^(k−1) + r, x],
        o the oldest token (dropped), r the k−1 tokens kept, x the new one."""
        V, k = self.vocab_size, self.order
        flow = pi[:, None] * self.transitions  # flow[c, x] = π(c) p(x | c)
        return flow.reshape(V, V ** (k - 1), V).sum(axis=0).reshape(-1)

    def stationary(self, tol: float = 1e-13, max_iter: int = 100_000) -> np.ndarray:
        """A stationary distribution π = π P of the context chain, by power iteration on the lazy
        chain (P + I)/2 from the uniform distribution. The lazy chain has the same stationary
        distributions but is aperiodic, so the iteration converges on periodic chains too (a
        deterministic cycle); on a reducible chain it returns the one reached from uniform."""
        pi = np.full(self.vocab_size**self.order, 1.0 / self.vocab_size**self.order)
        for _ in range(max_iter):
            new = 0.5 * (pi + self._step(pi))
            if np.abs(new - pi).sum() < tol:
                return new / new.sum()
            pi = new
        return pi / pi.sum()

    def entropy_rate(self) -> float:
        """H = Σ_c π(c) H(T[c]) in nats/token, eq. (2), π the stationary context distribution."""
        T = self.transitions
        with np.errstate(divide="ignore", invalid="ignore"):
            row_entropy = -np.where(T > 0, T * np.log(T), 0.0).sum(axis=1)
        return float(self.stationary() @ row_entropy)

    def contexts(self, seqs: np.ndarray) -> np.ndarray:
        """(n, L) tokens → (n, L − k + 1) context indices (1); column j is the context of the
        k tokens ending at position k − 1 + j, i.e. the one that predicts token k + j."""
        seqs = np.asarray(seqs, dtype=np.int64)
        k, L = self.order, seqs.shape[-1]
        if L < k:
            raise ValueError(f"need at least order = {k} tokens, got {L}")
        weights = self.vocab_size ** np.arange(k - 1, -1, -1, dtype=np.int64)
        return sum(w * seqs[..., j:L - k + 1 + j] for j, w in enumerate(weights))

    # ------------------------------------------------------------------ sampling and scoring

    def sample(self, n: int, length: int, rng: np.random.Generator) -> np.ndarray:
        """(n, length) int64 sequences: the first k tokens as one context drawn from ``initial``,
        then each token from T[context] (one uniform per sequence and step, in that order)."""
        V, k = self.vocab_size, self.order
        if length < k:
            raise ValueError(f"length must be >= order = {k}, got {length}")
        out = np.empty((n, length), dtype=np.int64)
        context = rng.choice(V**k, size=n, p=self.initial)
        # decode the context into its k tokens, oldest first (the inverse of (1))
        for j in range(k):
            out[:, j] = context // V ** (k - 1 - j) % V
        cdf = self.transitions.cumsum(axis=1)
        for t in range(k, length):
            u = rng.random(n)[:, None]
            # inverse-CDF draw; the clip guards a last cumulative entry rounded just below 1
            out[:, t] = np.minimum((u >= cdf[context]).sum(axis=1), V - 1)
            context = context % V ** (k - 1) * V + out[:, t]
        return out

    def next_distribution(self, prefixes: np.ndarray) -> np.ndarray:
        """(B, t) prefixes with t >= order → (B, V) true p(x_{t+1} | prefix) = T[c(last k)]."""
        prefixes = np.asarray(prefixes, dtype=np.int64)
        return self.transitions[self.contexts(prefixes[:, -self.order:])[:, 0]]

    def log_prob(self, seqs: np.ndarray) -> np.ndarray:
        """(n, L) → (n, L − order) true log p(x_t | x_<t) for t = order..L−1 (−inf where the
        source forbids the token)."""
        seqs = np.asarray(seqs, dtype=np.int64)
        context = self.contexts(seqs)[:, :-1]  # the last context predicts a token not in seqs
        with np.errstate(divide="ignore"):
            return np.log(self.transitions[context, seqs[:, self.order:]])

    def next_log_probs(self, prefix: torch.Tensor) -> torch.Tensor:
        """The model protocol (B, t) → (B, V) log-probs, float64 on ``prefix``'s device: the
        source as a perfect model of itself."""
        p = self.next_distribution(prefix.detach().cpu().numpy())
        with np.errstate(divide="ignore"):
            return torch.from_numpy(np.log(p)).to(prefix.device)
