"""Week 16: research frontiers — meta-learning and multi-agent learning.

``sinusoid.py``:

* ``maml-sinusoid``: MAML (second order), first-order MAML and Reptile against a pretrained
  network on Finn et al.'s sinusoid regression (K = 5 and 10 shots): held-out MSE against the
  number of adaptation steps, and meta-training curves, over seeds.

``meta_rl.py``:

* ``meta-rl``: MAML with a policy-gradient inner step on 2-D point navigation (Finn et al.
  §5.3) against a pretrained policy and one learning from scratch: return on held-out goals
  after 0–3 adaptation steps.

``matrix_games.py``:

* ``matrix-games``: fictitious play, Hedge and independent Q-learning on rock–paper–scissors,
  matching pennies, the prisoner's dilemma and a coordination game: exploitability of the
  average and the last-iterate strategies over iterations (log–log).

The algorithms live in :mod:`algorithms.meta` and :mod:`algorithms.multiagent`, the seed study
in :mod:`algorithms.harness`. Torch is imported inside the experiments.
"""

# registration order is the order ``forge run week16`` runs them in
from algorithms.weeks.week16 import sinusoid  # noqa: I001
from algorithms.weeks.week16 import meta_rl, matrix_games

__all__ = ["matrix_games", "meta_rl", "sinusoid"]
