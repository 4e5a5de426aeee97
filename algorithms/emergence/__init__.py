"""Emergence as a measurement question: multi-digit addition across model sizes, scored by exact
match and by per-token measures of the same answers (Wei et al. 2022; Schaeffer et al. 2023).

* ``tasks.py``: the task family (NumPy only): problems of width 1 .. K, answers reversed.
* ``train.py``: a ``LanguageModel`` trained on a stream of problems, the loss on the answer only.
* ``metrics.py``: exact match, per-token accuracy, answer log-likelihood and token edit distance
  of one model's answers, and Schaeffer et al.'s p^L.

``train`` and ``metrics`` import torch; import them by path.
"""

from algorithms.emergence.tasks import (EQUALS, PAD, PLUS, VOCAB_SIZE, Batch, answer_length,
                                        decode_answer, encode, held_out_set, mixed_batch,
                                        prompt_length, sample, sequence_length, text)

__all__ = ["EQUALS", "PAD", "PLUS", "VOCAB_SIZE", "Batch", "answer_length", "decode_answer",
           "encode", "held_out_set", "mixed_batch", "prompt_length", "sample", "sequence_length",
           "text"]
