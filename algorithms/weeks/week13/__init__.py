"""Week 13: scaling laws and emergence, on week 8's language model (``algorithms.lm``).

* ``family.py`` (``scaling-family``): six sizes × three compute budgets in Hoffmann et al.'s
  IsoFLOP design, and Kaplan's and Chinchilla's laws fitted to them (``fits.py``) beside the
  published exponents.
* ``grokking.py`` (``grokking``): modular addition memorised, then generalised with weight
  decay and not without, with Nanda et al.'s progress measures.

Torch is imported inside the experiments, so that ``forge weeks`` stays light.
"""

from algorithms.weeks.week13 import family  # noqa: I001
from algorithms.weeks.week13 import grokking

__all__ = ["family", "grokking"]
