"""Week 13: scaling laws and emergence, on week 8's language model (``algorithms.lm``).

* ``family.py`` (``scaling-family``): six sizes × three compute budgets in Hoffmann et al.'s
  IsoFLOP design, and Kaplan's and Chinchilla's laws fitted to them (``fits.py``) beside the
  published exponents.
* ``grokking.py`` (``grokking``): modular addition memorised, then generalised with weight
  decay and not without, with Nanda et al.'s progress measures.
* ``emergence.py`` (``emergence``): one task family across model sizes, scored by exact match
  and by per-token measures: the same models, two pictures (Wei et al. 2022 vs Schaeffer et
  al. 2023).
* ``data_quality.py`` (``data-quality``): clean against corrupted and repeated TinyStories at
  fixed compute, scored on clean validation text.

Torch is imported inside the experiments, so that ``forge weeks`` stays light.
"""

from algorithms.weeks.week13 import family  # noqa: I001
from algorithms.weeks.week13 import grokking
from algorithms.weeks.week13 import emergence
from algorithms.weeks.week13 import data_quality

__all__ = ["data_quality", "emergence", "family", "grokking"]
