"""Week 13: scaling laws and emergence, on week 8's language model (``algorithms.lm``).

* ``family.py`` (``scaling-family``): six sizes × three compute budgets in Hoffmann et al.'s
  IsoFLOP design, and Kaplan's and Chinchilla's laws fitted to them (``fits.py``) beside the
  published exponents.

Torch is imported inside the experiments, so that ``forge weeks`` stays light.
"""

from algorithms.weeks.week13 import family  # noqa: I001

__all__ = ["family"]
