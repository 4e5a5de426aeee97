"""Week 8: language modelling — a from-scratch decoder-only LM (``algorithms.lm``) on TinyStories.

* ``base.py`` (``lm-base``): the base model on TinyStories with week 2's BPE: training curves,
  perplexity, samples; stored as the artifact ``lm:tinystories-base`` that weeks 5 and 9–13
  load. Resumable (``forge run week8 --only lm-base --resume RUN_ID``).
* ``sizes.py`` (``perplexity-vs-size``): five sizes at equal tokens over seeds, and the fitted
  L(N) = E + A·N^(−α) with bootstrap intervals; each size's first-seed model is stored.
* ``generation.py`` (``generation-quality``): every size's samples under greedy, temperature,
  top-k and nucleus decoding: distinct-n, repetition, the largest model's perplexity of them.
* ``exposure_bias.py`` (``exposure-bias``): teacher forcing vs free running against an order-3
  Markov source whose true probabilities are known: exact KL per generation step.

Torch is imported inside the experiments, so that ``forge weeks`` stays light.
"""

# registration order is the order ``forge run week8`` runs them in: producers first
from algorithms.weeks.week08 import base  # noqa: I001
from algorithms.weeks.week08 import sizes
from algorithms.weeks.week08 import generation
from algorithms.weeks.week08 import exposure_bias

__all__ = ["base", "exposure_bias", "generation", "sizes"]
