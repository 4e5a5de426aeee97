"""Tokenization (week 2): byte-level BPE, WordPiece and Unigram LM, written from scratch.

* ``bpe.py``: byte-level BPE training (Sennrich et al. 2016; GPT-2), frequency or likelihood
  merges; ``tokenizer.py``: encoding, decoding, streaming, BPE-dropout, GPT-2 files.
* ``wordpiece.py``: WordPiece (Schuster & Nakajima 2012; BERT), likelihood merges, greedy
  longest-match-first encoding.
* ``unigram.py``: the Unigram language model of SentencePiece (Kudo 2018): EM and pruning.
* ``references.py``: HF ``tokenizers`` and ``sentencepiece`` trained the same way, side by side.
* ``metrics.py``: compression, fertility, coverage, entropy, Rényi efficiency, token premium.
* ``corpora.py``: the week's corpora (``algorithms/data``) by language and domain.
"""

from algorithms.tokenization.bpe import STRATEGIES, learn_merges, train_bpe, train_bpe_from_counts
from algorithms.tokenization.pretokenize import GPT2_PATTERN, count_file, count_texts, pretokens
from algorithms.tokenization.tokenizer import (
    MERGE_STRATEGIES,
    Tokenizer,
    bytes_to_unicode,
    train_tokenizer,
)

__all__ = [
    "GPT2_PATTERN", "MERGE_STRATEGIES", "STRATEGIES", "Tokenizer", "bytes_to_unicode",
    "count_file", "count_texts", "learn_merges", "pretokens", "train_bpe", "train_bpe_from_counts",
    "train_tokenizer",
]
