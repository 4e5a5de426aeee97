"""Week 2: tokenization — BPE, WordPiece and Unigram LM from scratch, against HF and SentencePiece.

Four experiments:

* ``merge-strategies`` (``merges.py``): byte-level BPE with frequency merges, likelihood (PMI)
  merges, and BPE-dropout at encode time, on English prose, code and science.
* ``compression`` (``experiments.py``): bytes per token and tokens per word of forge's three
  tokenizers and the libraries' five, per domain and per language, at several vocabulary sizes.
* ``vocabulary`` (``experiments.py``): what the vocabulary is spent on: unknown tokens, the share
  of the vocabulary a held-out text uses, Zipf's law, entropy, bits per byte and Rényi
  efficiency.
* ``fairness`` (``experiments.py``): Petrov et al.'s token premium — what the same UDHR articles
  cost in each language relative to English — for a multilingual and an English-only training
  mix.

Everything is trained on ``algorithms/data`` (``algorithms/tokenization/corpora.py`` says what is
trained on and what is held out) and measured on held-out text only. The tokenizers are in
``algorithms/tokenization``; ``figures.py`` draws (matplotlib, HF ``tokenizers`` and
``sentencepiece`` are imported only when an experiment needs them).
"""

from algorithms.weeks.week02 import experiments, merges  # noqa: F401  (registers the experiments)
