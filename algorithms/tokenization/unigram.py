"""Unigram language-model tokenization: Kudo (2018), "Subword Regularization", §3 — SentencePiece's.

A unigram LM gives a segmentation x = (x_1, ..., x_M) of a word the probability
P(x) = ∏ p(x_i), with Σ_{v ∈ V} p(v) = 1 (eq. 1). Encoding takes the most probable segmentation,
found by the Viterbi algorithm on the lattice of all vocabulary pieces that fit the word (eq. 2).

Training (§3.2), as SentencePiece's ``unigram_model_trainer.cc`` does it:

1. Seed vocabulary: every character the alphabet keeps (``wordpiece.choose_alphabet``) plus the
   most frequent substrings (up to ``max_piece_length`` characters), ranked by
   frequency × length; initial log-probabilities from the same numbers.
2. EM on L = Σ_s log P(X = s) = Σ_s log Σ_{x ∈ S(s)} P(x) (eq. 3): the E-step computes each
   piece's expected count by the forward-backward algorithm over every word's lattice; the
   M-step sets log p(v) = ψ(c_v) − ψ(Σ c) (ψ the digamma function: SentencePiece's variational
   Bayes form, which pushes rare pieces down harder than c_v / Σ c), dropping pieces whose
   expected count is below 0.5.
3. Pruning: for each piece v, loss_v = how much L falls if v is removed and its Viterbi
   occurrences are re-segmented by the best segmentation of v without v. Keep the pieces with the
   largest loss, a fraction ``shrinking_factor`` (0.75) of the vocabulary at a time (characters
   are always kept); repeat 2–3 until the vocabulary is within 10% of the target, then keep the
   most probable pieces.

Words are SentencePiece's: a space becomes ``▁`` (U+2581), one ``▁`` is put before the text
(``add_dummy_prefix``), and every ``▁`` starts a new word, so pieces never span two words.
Characters outside the alphabet encode as ``<unk>`` (consecutive ones merged into one, as
SentencePiece does); in training, words are cut at them.

The lattice work is vectorised with numpy over all distinct words at once: nodes are the
positions in the words, edges the pieces, and the forward/backward/Viterbi recursions run one
position at a time over every word together (a log-sum-exp or a max per node, by
``reduceat``). Pieces only ever leave the vocabulary, so each lattice is built once from the seed
vocabulary and dead pieces are masked out (and every pruning round drops their edges).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import regex

from algorithms.tokenization.wordpiece import choose_alphabet, encode_cached, outside_alphabet

SPACE = "▁"
UNK = "<unk>"
_WORDS = regex.compile(f"{SPACE}[^{SPACE}]*|[^{SPACE}]+")
UNK_PENALTY = 10.0  # SentencePiece: an unknown character scores (lowest piece score − 10)
EXPECTED_COUNT_FLOOR = 0.5  # SentencePiece's kExpectedFrequencyThreshold


def words(text: str, add_dummy_prefix: bool = True) -> list[str]:
    """SentencePiece's words: ``"Hello world"`` → ``["▁Hello", "▁world"]``."""
    text = text.replace(" ", SPACE)
    return _WORDS.findall(SPACE + text if add_dummy_prefix else text)


class Unigram:
    """A trained unigram LM: ``pieces[i]`` with log-probability ``scores[i]``; Viterbi encoding.

    The special tokens come first (``<unk>`` among them) and are never matched inside text.
    """

    def __init__(self, pieces: Sequence[str], scores: Sequence[float],
                 special_tokens: Sequence[str] = (UNK,)):
        self.pieces = list(pieces)
        self.scores = [float(s) for s in scores]
        self.special_tokens = list(special_tokens)
        self.unk_id = self.pieces.index(UNK)
        special = set(self.special_tokens)
        self.piece_id = {p: i for i, p in enumerate(self.pieces) if p not in special}
        normal = [s for p, s in zip(self.pieces, self.scores) if p not in special]
        self.unk_score = min(normal, default=0.0) - UNK_PENALTY
        self.max_len = max((len(p) for p in self.piece_id), default=1)
        self._cache: dict[str, tuple[int, ...]] = {}

    @property
    def vocab_size(self) -> int:
        return len(self.pieces)

    def encode(self, text: str) -> list[int]:
        return encode_cached(words(text), self._cache, self._viterbi)

    def _viterbi(self, word: str) -> list[int]:
        """The most probable segmentation (eq. 2); ties go to the longest last piece."""
        n, table, scores = len(word), self.piece_id, self.scores
        best = [0.0] + [-math.inf] * n
        back: list[tuple[int, int]] = [(0, 0)] * (n + 1)
        for end in range(1, n + 1):
            for start in range(max(0, end - self.max_len), end):
                i = table.get(word[start:end])
                if i is None:
                    if end - start > 1:
                        continue
                    i, score = self.unk_id, self.unk_score
                else:
                    score = scores[i]
                if best[start] + score > best[end]:
                    best[end], back[end] = best[start] + score, (start, i)
        ids, end = [], n
        while end > 0:
            start, i = back[end]
            if not (i == self.unk_id and ids and ids[-1] == self.unk_id):
                ids.append(i)  # a run of unknown characters is one <unk>
            end = start
        return ids[::-1]

    def decode(self, ids: Iterable[int]) -> str:
        text = "".join(" ⁇ " if i == self.unk_id else self.pieces[i] for i in ids)
        return text.replace(SPACE, " ").removeprefix(" ")


# ----------------------------------------------------------------------------- training

def train_unigram(texts: Iterable[str], vocab_sizes: int | Sequence[int],
                  special_tokens: Sequence[str] = (UNK,), character_coverage: float = 0.9995,
                  max_alphabet_share: float = 0.5, max_piece_length: int = 16,
                  seed_size: int | None = None, shrinking_factor: float = 0.75,
                  em_iterations: int = 2) -> Unigram | dict[int, Unigram]:
    """Train a unigram LM tokenizer on ``texts`` (one sentence or line each).

    With one vocabulary size, returns the model; with several, one training run prunes past each
    of them and returns ``{size: model}``, each taken as the vocabulary passes within 10% of its
    size (so a smaller model's pruning path is the larger one's, which a separate run would
    follow too except for its last pruning step). ``seed_size`` defaults to 10 × the largest size.
    """
    sizes = sorted({vocab_sizes} if isinstance(vocab_sizes, int) else set(vocab_sizes),
                   reverse=True)
    specials = list(dict.fromkeys([UNK, *special_tokens]))
    word_counts: Counter[str] = Counter()
    for text in texts:
        word_counts.update(words(text))
    char_counts: Counter[str] = Counter()
    for word, n in word_counts.items():
        for char in word:
            char_counts[char] += n
    alphabet = choose_alphabet(char_counts, min(sizes) - len(specials), character_coverage,
                               max_alphabet_share)
    allowed = set(alphabet)
    outside = outside_alphabet(allowed)
    corpus: Counter[str] = Counter()
    for word, n in word_counts.items():
        if set(word) <= allowed:
            corpus[word] += n
        else:  # cut at the characters that will be <unk>, as sentencepiece does in training
            for part in outside.split(word):
                if part:
                    corpus[part] += n

    pieces, log_p = _seed_pieces(corpus, alphabet, char_counts, max_piece_length,
                                 seed_size or 10 * sizes[0])
    trainer = _Trainer(corpus, pieces, log_p, len(alphabet), max_piece_length)
    models: dict[int, Unigram] = {}
    while True:
        for _ in range(em_iterations):
            trainer.em_step()
        while sizes and trainer.n_alive <= 1.1 * (sizes[0] - len(specials)):
            models[sizes[0]] = trainer.finalize(sizes[0] - len(specials), specials)
            sizes.pop(0)
        if not sizes:
            break
        if not trainer.prune(1.1 * (sizes[0] - len(specials)), shrinking_factor):
            break  # nothing left to prune
    for size in sizes:  # the seed vocabulary was already smaller than these
        models[size] = trainer.finalize(size - len(specials), specials)
    return models if not isinstance(vocab_sizes, int) else models[vocab_sizes]


def _seed_pieces(corpus: dict[str, int], alphabet: list[str], char_counts: Counter[str],
                 max_len: int, seed_size: int) -> tuple[list[str], np.ndarray]:
    """Characters, then the ``seed_size`` most frequent substrings seen at least twice
    (by frequency × length), with log-probabilities ∝ those scores (SentencePiece's seeds)."""
    substrings: Counter[str] = Counter()
    for word, n in corpus.items():
        found = [word[i:j] for i in range(len(word))
                 for j in range(i + 2, min(len(word), i + max_len) + 1)]
        if n == 1:
            substrings.update(found)  # Counter counts a list in C
        else:
            for piece in found:
                substrings[piece] += n
    ranked = sorted(((n * len(p), p) for p, n in substrings.items() if n >= 2),
                    key=lambda item: (-item[0], item[1]))[:seed_size]
    pieces = list(alphabet) + [p for _, p in ranked]
    score = np.array([char_counts[c] for c in alphabet] + [s for s, _ in ranked], dtype=float)
    return pieces, np.log(score) - np.log(score.sum())


class _Lattice:
    """The segmentation lattices of many strings at once, as flat edge arrays.

    String w has nodes ``base[w] + 0 .. base[w] + len(w)``; an edge is a piece spanning
    positions [start, end) of its string. Edges are kept sorted twice: by (end, dst) for the
    forward recursion and by (start, src) for the backward one.
    """

    def __init__(self, lengths: np.ndarray, word: np.ndarray, start: np.ndarray,
                 end: np.ndarray, piece: np.ndarray):
        self.lengths = lengths
        self.base = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]]).astype(np.int64)
        self.n_nodes = int((lengths + 1).sum())
        self._set_edges(word, start, end, piece)

    def _set_edges(self, word, start, end, piece) -> None:
        self.word, self.start, self.end, self.piece = word, start, end, piece
        self.src = self.base[word] + start
        self.dst = self.base[word] + end
        self.forward_layers = self._layers(end, self.dst)
        self.backward_layers = self._layers(start, self.src)[::-1]

    def keep(self, alive: np.ndarray) -> None:
        """Drop the edges of dead pieces (``alive[piece]`` false)."""
        mask = alive[self.piece]
        self._set_edges(self.word[mask], self.start[mask], self.end[mask], self.piece[mask])

    @staticmethod
    def _layers(position: np.ndarray, node: np.ndarray) -> list[tuple[np.ndarray, ...]]:
        """Per position: (edge indices sorted by node, the nodes, group starts, group sizes)."""
        order = np.lexsort((node, position))
        position, node_sorted = position[order], node[order]
        cuts = np.flatnonzero(np.diff(position)) + 1
        layers = []
        for edges, nodes in zip(np.split(order, cuts), np.split(node_sorted, cuts)):
            if not len(edges):
                continue
            first = np.concatenate([[0], np.flatnonzero(np.diff(nodes)) + 1])
            sizes = np.diff(np.append(first, len(nodes)))
            layers.append((edges, nodes[first], first, sizes))
        return layers

    def forward(self, log_p: np.ndarray) -> np.ndarray:
        """α(node) = log Σ over paths from the string's start to node of their probability."""
        alpha = np.full(self.n_nodes, -np.inf)
        alpha[self.base] = 0.0
        for edges, nodes, first, sizes in self.forward_layers:
            alpha[nodes] = _group_logsumexp(alpha[self.src[edges]] + log_p[self.piece[edges]],
                                            first, sizes)
        return alpha

    def backward(self, log_p: np.ndarray) -> np.ndarray:
        """β(node) = log Σ over paths from node to the string's end of their probability."""
        beta = np.full(self.n_nodes, -np.inf)
        beta[self.base + self.lengths] = 0.0
        for edges, nodes, first, sizes in self.backward_layers:
            beta[nodes] = _group_logsumexp(beta[self.dst[edges]] + log_p[self.piece[edges]],
                                           first, sizes)
        return beta

    def viterbi(self, log_p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Best segmentations: (their log-probabilities, and the (string, piece) of each of their
        tokens, in reverse order per string). Ties go to the first edge (the longest piece)."""
        best = np.full(self.n_nodes, -np.inf)
        best[self.base] = 0.0
        back = np.full(self.n_nodes, -1, dtype=np.int64)
        for edges, nodes, first, sizes in self.forward_layers:
            values = best[self.src[edges]] + log_p[self.piece[edges]]
            top = np.maximum.reduceat(values, first)
            winner = np.where(values == np.repeat(top, sizes), np.arange(len(edges)), len(edges))
            back[nodes] = edges[np.minimum.reduceat(winner, first)]
            best[nodes] = top
        strings, pieces = [], []
        at = self.base + self.lengths
        string = np.arange(len(self.lengths))
        live = (self.lengths > 0) & np.isfinite(best[at])
        at, string = at[live], string[live]
        while len(at):
            edge = back[at]
            strings.append(string)
            pieces.append(self.piece[edge])
            at = self.src[edge]
            more = at != self.base[string]
            at, string = at[more], string[more]
        empty = np.zeros(0, dtype=np.int64)
        return (best[self.base + self.lengths],
                np.concatenate(strings) if strings else empty,
                np.concatenate(pieces) if pieces else empty)


def _group_logsumexp(values: np.ndarray, first: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    top = np.maximum.reduceat(values, first)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return safe + np.log(np.add.reduceat(np.exp(values - np.repeat(safe, sizes)), first))


def _lattice_of(strings: Sequence[str], piece_id: dict[str, int], max_len: int,
                whole: bool) -> _Lattice:
    """The lattice of ``strings`` over the pieces in ``piece_id`` (``whole``: allow the edge that
    spans a whole string)."""
    word, start, end, piece = [], [], [], []
    for w, text in enumerate(strings):
        n = len(text)
        for i in range(n):
            for j in range(i + 1, min(n, i + max_len) + 1):
                p = piece_id.get(text[i:j])
                if p is not None and (whole or j - i < n):
                    word.append(w)
                    start.append(i)
                    end.append(j)
                    piece.append(p)
    lengths = np.array([len(s) for s in strings], dtype=np.int64)
    as_array = lambda xs: np.array(xs, dtype=np.int64)  # noqa: E731
    return _Lattice(lengths, as_array(word), as_array(start), as_array(end), as_array(piece))


class _Trainer:
    """The state of one training run: pieces, their log-probabilities, and both lattices."""

    def __init__(self, corpus: dict[str, int], pieces: list[str], log_p: np.ndarray,
                 n_chars: int, max_len: int):
        self.pieces = pieces
        self.log_p = log_p
        self.n_chars = n_chars  # pieces[:n_chars] are the alphabet, never removed
        self.alive = np.ones(len(pieces), dtype=bool)
        self.freq = np.array(list(corpus.values()), dtype=float)
        piece_id = {p: i for i, p in enumerate(pieces)}
        self.words = _lattice_of(list(corpus), piece_id, max_len, whole=True)
        # each piece's own lattice without the edge that is the piece itself: its alternatives
        self.alternatives = _lattice_of(pieces, piece_id, max_len, whole=False)

    @property
    def n_alive(self) -> int:
        return int(self.alive.sum())

    def em_step(self) -> float:
        """One E-step (forward-backward) and M-step (digamma); the corpus log-likelihood."""
        lattice = self.words
        alpha, beta = lattice.forward(self.log_p), lattice.backward(self.log_p)
        log_z = alpha[lattice.base + lattice.lengths]
        posterior = np.exp(alpha[lattice.src] + self.log_p[lattice.piece] + beta[lattice.dst]
                           - log_z[lattice.word]) * self.freq[lattice.word]
        expected = np.bincount(lattice.piece, posterior, minlength=len(self.pieces))
        expected[:self.n_chars] = np.maximum(expected[:self.n_chars], EXPECTED_COUNT_FLOOR)
        self.alive &= expected >= EXPECTED_COUNT_FLOOR
        total = expected[self.alive].sum()
        self.log_p = np.where(self.alive, _digamma(np.maximum(expected, EXPECTED_COUNT_FLOOR))
                              - _digamma(total), -np.inf)
        return float((log_z * self.freq).sum())

    def prune(self, desired: float, shrinking_factor: float) -> bool:
        """Keep the pieces whose removal would cost the most likelihood; False if none went.

        SentencePiece's ``PruneSentencePieces``: a piece's Viterbi count c_v goes to the pieces
        of its best segmentation without it (its alternatives), and
        loss_v = (c_v / N) · [log p(v) − Σ_{u ∈ alt(v)} log p'(u)], with p the Viterbi-count
        frequencies before and p' after the move (N the number of words in the corpus).
        """
        n = len(self.pieces)
        _, string, used = self.words.viterbi(self.log_p)
        counts = np.bincount(used, self.freq[string], minlength=n)
        total = counts.sum()
        _, owner, alt = self.alternatives.viterbi(self.log_p)
        n_alt = np.bincount(owner, minlength=n)
        alt_score = np.full(n, -np.inf)
        has_alt = n_alt > 0
        alt_score[has_alt] = np.bincount(owner, self.log_p[alt], minlength=n)[has_alt]
        with np.errstate(divide="ignore", invalid="ignore"):
            log_alt = (np.bincount(owner, np.log(counts[alt] + counts[owner]), minlength=n)
                       - n_alt * np.log(total + counts * (n_alt - 1)))
            loss = counts / self.freq.sum() * (np.log(counts) - np.log(total) - log_alt)

        keep = np.zeros(n, dtype=bool)
        keep[:self.n_chars] = True
        # a piece not in any best segmentation, or not even its own, can go for free
        candidate = self.alive & (counts > 0) & (self.log_p >= alt_score)
        candidate[:self.n_chars] = False
        keep |= candidate & ~has_alt  # nothing could replace it
        candidate &= has_alt
        target = max(int(desired), int(shrinking_factor * self.n_alive))
        ranked = np.flatnonzero(candidate)
        ranked = ranked[np.lexsort((ranked, -loss[ranked]))]
        keep[ranked[:max(0, target - int(keep.sum()))]] = True
        keep &= self.alive
        if keep.sum() == self.n_alive:
            return False
        self.alive = keep
        self.log_p = np.where(keep, self.log_p, -np.inf)
        self.words.keep(keep)
        self.alternatives.keep(keep)
        return True

    def finalize(self, size: int, specials: list[str]) -> Unigram:
        """The alphabet plus the most probable other pieces, ``size`` pieces in all."""
        others = np.flatnonzero(self.alive)
        others = others[others >= self.n_chars]
        others = others[np.lexsort((others, -self.log_p[others]))][:max(0, size - self.n_chars)]
        chosen = list(range(self.n_chars)) + others.tolist()
        chosen.sort(key=lambda i: (-self.log_p[i], i))
        return Unigram(specials + [self.pieces[i] for i in chosen],
                       [0.0] * len(specials) + [float(self.log_p[i]) for i in chosen], specials)


def _digamma(x: np.ndarray | float) -> np.ndarray:
    """ψ(x) for x > 0: the recurrence ψ(x) = ψ(x + 1) − 1/x up to x ≥ 10, then the asymptotic
    series ln x − 1/(2x) − 1/(12x²) + 1/(120x⁴) − 1/(252x⁶) (error < 1e-11 there)."""
    x = np.array(x, dtype=float)
    result = np.zeros_like(x)
    while (small := x < 10).any():
        result -= np.where(small, 1.0 / np.where(small, x, 1.0), 0.0)
        x = np.where(small, x + 1, x)
    inv2 = 1.0 / (x * x)
    return result + np.log(x) - 0.5 / x - inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 / 252))
