"""Every tokenizer of the week behind one interface: forge's three and the libraries' five.

The references are trained on the same lines, to the same vocabulary sizes, with settings that
match forge's wherever the libraries allow it:

* ``hf_bpe``: HF ``tokenizers`` BPE with the GPT-2 byte-level pre-tokenizer (the same regex) and
  all 256 bytes as the initial alphabet, ``<|endoftext|>`` special — forge BPE's setup exactly;
  only ties are broken differently (HF: the smaller pair of ids).
* ``hf_wordpiece``: HF's WordPiece trainer with BERT's pre-tokenizer, cased, ``[UNK]``, and the
  alphabet limited to as many characters as forge keeps. HF trains WordPiece with *frequency*
  merges (its WordPiece trainer wraps its BPE trainer); forge uses the likelihood score.
* ``hf_unigram``: HF's Unigram trainer (a port of SentencePiece's) behind the Metaspace (``▁``)
  pre-tokenizer, shrinking factor 0.75, pieces up to 16 characters, 2 EM iterations per round.
* ``spm_bpe``, ``spm_unigram``: ``sentencepiece`` with identity normalisation (text as is),
  a dummy-prefix ``▁``, no splitting by script or digits (forge does neither), no byte fallback,
  ``<unk>`` the only special token, and forge's alphabet (below).

Alphabet: forge keeps the characters that cover 99.95% of the text, at most half the
vocabulary. HF's WordPiece trainer is limited to as many characters; HF's Unigram trainer and
sentencepiece see their training text with the other characters blanked (HF Unigram keeps every
character it sees; sentencepiece refuses a coverage below 98%), which cuts words there as forge
does. Sizes include the special tokens. Training times are wall-clock on this machine; the libraries
use every core for parts of training (forge: for counting pre-tokens).
"""

from __future__ import annotations

import io
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from algorithms.tokenization import metrics, unigram, wordpiece
from algorithms.tokenization.bpe import train_bpe, truncate
from algorithms.tokenization.tokenizer import Tokenizer

FORGE_METHODS = ("forge_bpe", "forge_wordpiece", "forge_unigram")
LIBRARY_METHODS = ("hf_bpe", "hf_wordpiece", "hf_unigram", "spm_bpe", "spm_unigram")
METHODS = FORGE_METHODS + LIBRARY_METHODS
# each library reference and the forge method it is measured against
COUNTERPARTS = {"hf_bpe": "forge_bpe", "spm_bpe": "forge_bpe", "hf_wordpiece": "forge_wordpiece",
                "hf_unigram": "forge_unigram", "spm_unigram": "forge_unigram"}
LABELS = {"forge_bpe": "forge BPE", "forge_wordpiece": "forge WordPiece",
          "forge_unigram": "forge Unigram", "hf_bpe": "HF BPE", "hf_wordpiece": "HF WordPiece",
          "hf_unigram": "HF Unigram", "spm_bpe": "SentencePiece BPE",
          "spm_unigram": "SentencePiece Unigram", "forge_bpe_likelihood": "forge BPE (likelihood)"}
EOT = "<|endoftext|>"


@dataclass
class Trained:
    """A trained tokenizer: how to encode lines, its size, and its unknown token if it has one."""

    method: str
    vocab_size: int
    encode_lines: Callable[[list[str]], list[list[int]]]
    unk_id: int | None
    train_seconds: float
    model: object = None
    pieces: Callable[[int], str] | None = None  # id -> readable token

    def stats(self, lines: list[str]) -> metrics.TextStats:
        """The token statistics of ``lines`` encoded line by line (unknown tokens counted)."""
        return metrics.text_stats(lines, self.encode_lines(lines), self.unk_id)


def train(method: str, lines: Sequence[str], vocab_sizes: Sequence[int],
          character_coverage: float = 0.9995, max_alphabet_share: float = 0.5,
          ) -> dict[int, Trained]:
    """Train ``method`` on ``lines`` for every size in ``vocab_sizes``: ``{size: Trained}``.

    Methods with an alphabet (all but byte-level BPE) keep the characters that cover
    ``character_coverage`` of the text, at most ``max_alphabet_share`` of the vocabulary
    (``wordpiece.choose_alphabet``), so a small multilingual vocabulary gives up rare
    characters. forge's BPE trains once to the largest size and keeps the first merges for the
    smaller ones (exactly what training to those sizes gives, so every size reports that one
    run's time); every other method trains once per size.
    """
    sizes = sorted(vocab_sizes)
    lines = list(lines)
    if method == "forge_bpe":
        return _forge_bpe(lines, sizes)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: expected one of {METHODS}")
    chars = _char_counts(lines)
    trained = {}
    for v in sizes:
        alphabet = wordpiece.choose_alphabet(chars, v, character_coverage, max_alphabet_share)
        trained[v] = _train_one(method, lines, v, alphabet, character_coverage,
                                max_alphabet_share)
    return trained


def _train_one(method: str, lines: list[str], vocab_size: int, alphabet: list[str],
               character_coverage: float, max_alphabet_share: float) -> Trained:
    start = time.perf_counter()
    if method == "forge_wordpiece":
        model = wordpiece.train_wordpiece(lines, vocab_size, character_coverage=character_coverage,
                                          max_alphabet_share=max_alphabet_share)
        return _wrap_forge(method, model, time.perf_counter() - start)
    if method == "forge_unigram":
        model = unigram.train_unigram(lines, vocab_size, character_coverage=character_coverage,
                                      max_alphabet_share=max_alphabet_share)
        return _wrap_forge(method, model, time.perf_counter() - start)
    if method in ("hf_unigram", "spm_bpe", "spm_unigram"):
        # HF's Unigram trainer keeps every character it sees, and sentencepiece will not go
        # below 98% coverage: give both forge's alphabet by blanking the other characters in
        # their training text (forge cuts words at them the same way)
        outside = wordpiece.outside_alphabet(set(alphabet) | {" "})
        lines = [outside.sub(" ", line) for line in lines]
    if method.startswith("hf_"):
        return _hf(method.removeprefix("hf_"), lines, vocab_size, len(alphabet))
    return _spm(method.removeprefix("spm_"), lines, vocab_size)


def _char_counts(lines: Sequence[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in lines:
        counts.update(line)
    return counts


def _forge_bpe(lines: list[str], sizes: list[int]) -> dict[int, Trained]:
    # one training file, lines joined by the special token: nothing is merged across lines,
    # exactly as the libraries see a list of lines
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.txt"
        path.write_text(EOT.join(lines), encoding="utf-8")
        start = time.perf_counter()
        vocab, merges = train_bpe(path, sizes[-1], [EOT])
        seconds = time.perf_counter() - start
    return {v: _wrap_forge("forge_bpe", Tokenizer(*truncate(vocab, merges, v), [EOT]), seconds)
            for v in sizes}


def _wrap_forge(method: str, model, seconds: float) -> Trained:
    if isinstance(model, Tokenizer):
        pieces = lambda i: model.vocab[i].decode("utf-8", errors="replace")  # noqa: E731
        unk = None
    elif isinstance(model, wordpiece.WordPiece):
        pieces, unk = model.vocab.__getitem__, model.unk_id
    else:
        pieces, unk = model.pieces.__getitem__, model.unk_id
    return Trained(method, model.vocab_size, lambda batch: [model.encode(x) for x in batch],
                   unk, seconds, model, pieces)


def _hf(kind: str, lines: list[str], vocab_size: int, alphabet_size: int) -> Trained:
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers

    if kind == "bpe":
        tok = HFTokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOT],
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      show_progress=False)
    elif kind == "wordpiece":
        tok = HFTokenizer(models.WordPiece(unk_token=wordpiece.UNK, max_input_chars_per_word=100))
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size,
                                            special_tokens=[wordpiece.UNK],
                                            limit_alphabet=alphabet_size,
                                            continuing_subword_prefix=wordpiece.PREFIX,
                                            show_progress=False)
    else:
        tok = HFTokenizer(models.Unigram())
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=unigram.SPACE,
                                                     prepend_scheme="always")
        tok.decoder = decoders.Metaspace(replacement=unigram.SPACE, prepend_scheme="always")
        trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=[unigram.UNK],
                                          unk_token=unigram.UNK, shrinking_factor=0.75,
                                          max_piece_length=16, n_sub_iterations=2,
                                          show_progress=False)
    start = time.perf_counter()
    tok.train_from_iterator(lines, trainer)
    seconds = time.perf_counter() - start
    unk = tok.token_to_id(wordpiece.UNK if kind == "wordpiece" else unigram.UNK)

    def encode(batch: list[str]) -> list[list[int]]:
        return [e.ids for e in tok.encode_batch(batch, add_special_tokens=False)]

    return Trained(f"hf_{kind}", tok.get_vocab_size(), encode, None if kind == "bpe" else unk,
                   seconds, tok, lambda i: tok.decode([i]))


def _spm(kind: str, lines: list[str], vocab_size: int) -> Trained:
    import sentencepiece as spm

    model = io.BytesIO()
    start = time.perf_counter()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, vocab_size=vocab_size,
        model_type=kind, character_coverage=1.0, normalization_rule_name="identity",
        add_dummy_prefix=True, remove_extra_whitespaces=False, split_by_unicode_script=False,
        split_by_number=False, split_digits=False, byte_fallback=False, unk_id=0, bos_id=-1,
        eos_id=-1, pad_id=-1, hard_vocab_limit=False, max_sentence_length=1 << 16,
        num_threads=min(2, os.cpu_count() or 1), minloglevel=2)
    seconds = time.perf_counter() - start
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    return Trained(f"spm_{kind}", sp.get_piece_size(), lambda batch: sp.encode(list(batch)),
                   sp.unk_id(), seconds, sp, sp.id_to_piece)
