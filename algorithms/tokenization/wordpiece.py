"""WordPiece: Schuster & Nakajima (2012), "Japanese and Korean Voice Search", as used by BERT.

Training is bottom-up like BPE, over characters instead of bytes, but the pair to merge is the
one that most raises the likelihood of a unigram model of the training words: merging a and b
into ab changes the log-likelihood by about count(ab) · log(count(ab) / (count(a) · count(b)))
up to terms that do not depend on the pair, and the rule used in practice (Google's description
of BERT's WordPiece; the HF course's "WordPiece tokenization") ranks pairs by

    score(a, b) = count(ab) / (count(a) · count(b)),

the likelihood merge strategy of ``bpe.py``. A symbol that continues a word carries the prefix
``##`` ("un", "##aff", "##able"), so a word-initial "able" and a word-internal "##able" are
different tokens.

Encoding is not a replay of the merges: each word is cut greedily, longest vocabulary match
first from the left (BERT's ``WordpieceTokenizer``); if some position matches nothing, the whole
word becomes ``[UNK]``. Words come from BERT's basic split: runs of non-space, non-punctuation
characters, and each punctuation character alone. No lower-casing or accent stripping (cased).

The alphabet is where coverage is traded for vocabulary: characters are kept, most frequent
first, until they cover ``character_coverage`` of the training characters (SentencePiece's
rule), but at most ``max_alphabet_share`` of the vocabulary; words with any other character are
encoded as ``[UNK]``; in training they are cut at those characters.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence

import regex

from algorithms.tokenization.bpe import learn_merges

UNK = "[UNK]"
PREFIX = "##"
# BERT's punctuation: Unicode category P, plus every ASCII non-alphanumeric printable character.
_PUNCT = r"\p{P}!-/:-@\[-`{-~"
BERT_SPLIT = regex.compile(rf"[^\s{_PUNCT}]+|[{_PUNCT}]")
MAX_WORD_CHARS = 100  # longer words are [UNK], as in BERT


def encode_cached(words_: Iterable[str], cache: dict[str, tuple[int, ...]],
                  encode_word: Callable[[str], list[int]]) -> list[int]:
    """Encode word by word, remembering each word's ids: real text repeats its words."""
    ids: list[int] = []
    for word in words_:
        cached = cache.get(word)
        if cached is None:
            cached = cache[word] = tuple(encode_word(word))
        ids.extend(cached)
    return ids


def words(text: str) -> list[str]:
    """BERT's basic split: ``"Don't stop."`` → ``["Don", "'", "t", "stop", "."]``."""
    return BERT_SPLIT.findall(text)


def choose_alphabet(char_counts: Counter[str], vocab_size: int,
                    character_coverage: float = 0.9995,
                    max_alphabet_share: float = 0.5) -> list[str]:
    """The characters to keep: most frequent first, until they cover ``character_coverage`` of
    all occurrences, at most ``max_alphabet_share · vocab_size`` of them (ties: code point)."""
    total = sum(char_counts.values())
    limit = int(max_alphabet_share * vocab_size)
    kept, covered = [], 0
    for char, n in sorted(char_counts.items(), key=lambda item: (-item[1], item[0])):
        if covered >= character_coverage * total or len(kept) >= limit:
            break
        kept.append(char)
        covered += n
    return kept


class WordPiece:
    """A WordPiece vocabulary with BERT's greedy longest-match-first encoder.

    ``vocab[i]`` is token i (``"##"`` marks a continuation); ``special_tokens`` come first,
    ``[UNK]`` among them.
    """

    def __init__(self, vocab: Sequence[str], unk_token: str = UNK):
        self.vocab = list(vocab)
        self.token_id = {token: i for i, token in enumerate(self.vocab)}
        self.unk_id = self.token_id[unk_token]
        self.unk_token = unk_token
        self.max_chars = max(len(token.removeprefix(PREFIX)) for token in self.vocab)
        self._cache: dict[str, tuple[int, ...]] = {}

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def truncated(self, vocab_size: int) -> WordPiece:
        """The vocabulary training to ``vocab_size`` would have produced: its first tokens."""
        return WordPiece(self.vocab[:vocab_size], self.unk_token)

    def encode(self, text: str) -> list[int]:
        return encode_cached(words(text), self._cache, self._encode_word)

    def _encode_word(self, word: str) -> list[int]:
        if len(word) > MAX_WORD_CHARS:
            return [self.unk_id]
        ids, start = [], 0
        while start < len(word):
            for end in range(min(len(word), start + self.max_chars), start, -1):
                piece = word[start:end] if start == 0 else PREFIX + word[start:end]
                if piece in self.token_id:
                    ids.append(self.token_id[piece])
                    start = end
                    break
            else:
                return [self.unk_id]  # no piece fits here: the whole word is unknown
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Words joined by spaces, continuations glued on (the original spacing is not kept)."""
        text = ""
        for token in (self.vocab[i] for i in ids):
            if token.startswith(PREFIX):
                text += token[len(PREFIX):]
            else:
                text += (" " if text else "") + token
        return text


def train_wordpiece(texts: Iterable[str], vocab_size: int, special_tokens: Sequence[str] = (UNK,),
                    character_coverage: float = 0.9995, max_alphabet_share: float = 0.5,
                    strategy: str = "likelihood") -> WordPiece:
    """Train WordPiece on ``texts`` with likelihood merges until ``vocab_size`` tokens.

    ``strategy="frequency"`` merges the most frequent pair instead, which is what HF's
    WordPiece trainer does (it is its BPE trainer with a ``##`` prefix).

    Vocabulary order: special tokens, the alphabet (word-initial and ``##`` forms, most frequent
    first), then one token per merge — so the first k tokens are what training to k would give.
    """
    specials = list(dict.fromkeys([UNK, *special_tokens]))
    word_counts: Counter[str] = Counter()
    for text in texts:
        word_counts.update(words(text))
    char_counts: Counter[str] = Counter()
    for word, n in word_counts.items():
        for char in word:
            char_counts[char] += n
    alphabet = set(choose_alphabet(char_counts, vocab_size, character_coverage,
                                   max_alphabet_share))

    outside = outside_alphabet(alphabet)
    kept: Counter[str] = Counter()
    for word, n in word_counts.items():
        for part in outside.split(word) if not set(word) <= alphabet else (word,):
            if part and len(part) <= MAX_WORD_CHARS:
                kept[part] += n  # the stretches between unknown characters
    symbol_counts: Counter[str] = Counter()
    for word, n in kept.items():
        symbol_counts[word[0]] += n
        for char in word[1:]:
            symbol_counts[PREFIX + char] += n
    tokens = specials + sorted(symbol_counts, key=lambda s: (-symbol_counts[s], s))
    token_id = {token: i for i, token in enumerate(tokens)}
    sequences = [[token_id[word[0]]] + [token_id[PREFIX + c] for c in word[1:]] for word in kept]
    learn_merges(sequences, list(kept.values()), tokens, vocab_size, strategy,
                 join=_join, sort_key=lambda token: token.encode("utf-8"))
    return WordPiece(tokens)


def outside_alphabet(alphabet: set[str]) -> regex.Pattern:
    """Runs of characters outside ``alphabet``: training cuts words there (the word itself will
    encode as [UNK], but its stretches still say which pieces are useful)."""
    return regex.compile(f"[^{regex.escape(''.join(sorted(alphabet)))}]+")


def _join(a: str, b: str) -> str:
    """"un" + "##aff" → "unaff"; "##aff" + "##able" → "##affable"."""
    return a + b.removeprefix(PREFIX)
