"""Week 11: constitutional AI and advanced safety research, on week 8's language model.

* ``sparse_autoencoders.py`` (``sparse-autoencoders``): sparse autoencoders on the base
  model's residual stream at several L1 coefficients: L0, variance explained, dead features,
  loss recovered with the SAE spliced in, and feature dashboards.
* ``weak_to_strong.py`` (``weak-to-strong``): a small pretrained model supervises the base
  model on two binary tasks; test accuracies and the performance gap recovered (Burns et al.).
* ``activation_patching.py`` (``activation-patching``): where the base model carries a
  character's gender from "a little boy named Tom" to the " he" that follows.

The algorithms live in :mod:`algorithms.interpretability`. Torch is imported inside the
experiments, so that ``forge weeks`` stays light.
"""

from algorithms.weeks.week11 import sparse_autoencoders  # noqa: I001
from algorithms.weeks.week11 import activation_patching, weak_to_strong

__all__ = ["activation_patching", "sparse_autoencoders", "weak_to_strong"]
