"""Week 1: finite MDPs and dynamic programming (Sutton & Barto, 2nd ed., chapters 3–4).

Four experiments:

* ``book-examples`` (``book.py``): the book's value functions and optimal policies, number for
  number.
* ``pi-vs-vi`` (``experiments.py``): what policy iteration, value iteration and modified policy
  iteration cost to get within ε of v*, on every environment and several discounts.
* ``convergence`` (``experiments.py``): ‖V_k − v*‖∞ against sweeps and against backups, with
  VI's γ^k bound.
* ``heatmaps`` (``experiments.py``): v* and π* of every environment, drawn.

The algorithms are in ``algorithms/mdp``; ``contenders.py`` names the variants compared;
``figures.py`` draws (matplotlib is imported only when an experiment draws). Dynamic programming
is deterministic, so no experiment is seeded.
"""

from algorithms.weeks.week01 import book, experiments  # noqa: F401  (registers the experiments)
