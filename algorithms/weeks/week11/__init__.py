"""Week 11: constitutional AI and advanced safety research, on week 8's language model.

* ``sparse_autoencoders.py`` (``sparse-autoencoders``): sparse autoencoders on the base
  model's residual stream at several L1 coefficients: L0, variance explained, dead features,
  loss recovered with the SAE spliced in, and feature dashboards.
* ``weak_to_strong.py`` (``weak-to-strong``): a small pretrained model supervises the base
  model on two binary tasks; test accuracies and the performance gap recovered (Burns et al.).
* ``activation_patching.py`` (``activation-patching``): where the base model carries a
  character's gender from "a little boy named Tom" to the " he" that follows.
* ``constitutional_ai.py`` (``constitutional-ai``): Constitutional AI (Bai et al.) on the base
  model: red-team prompts, critique → revision (offline: best-of-n under the rule-based judge),
  SL-CAI and RL-CAI (DPO on AI labels); harmlessness and helpfulness before and after.
* ``red_team.py`` (``red-team``): sampled and mutation-searched attacks, VADER and lexicon
  detectors, attack success rate against the base and the constitutionally trained model.

The algorithms live in :mod:`algorithms.safety` and :mod:`algorithms.interpretability`. Torch
is imported inside the experiments, so that ``forge weeks`` stays light.
"""

# registration order is the order ``forge run week11`` runs them in: the plan's order
from algorithms.weeks.week11 import constitutional_ai  # noqa: I001
from algorithms.weeks.week11 import weak_to_strong
from algorithms.weeks.week11 import sparse_autoencoders, activation_patching
from algorithms.weeks.week11 import red_team

__all__ = ["activation_patching", "constitutional_ai", "red_team", "sparse_autoencoders",
           "weak_to_strong"]
