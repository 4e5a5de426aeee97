"""Week 12: reward hacking and overoptimization.

* ``reward_hacking.py`` (``reward-hacking``): tabular Q-learning and PPO optimise a misspecified
  (proxy) reward in gridworlds of ``algorithms.safety.gridworlds``; proxy against true return
  over training.
* ``overoptimization.py`` (``overoptimization``): proxy reward models trained on gold-labelled
  pairs of week 9's sentiment task at several data sizes; best-of-n and PPO against each proxy,
  gold and proxy reward against d = √KL, and the fits of Gao et al. (2022).
* ``overoptimization_scale.py`` (``overoptimization-scale``): best-of-n (n to 256 at cpu)
  against proxies on every model size of week 8's family and every data size; where the gold
  peak falls as proxy data and parameters grow (figure: ``scale_figures.py``).

Torch is imported inside the experiments, so that ``forge weeks`` stays light.
"""

from algorithms.weeks.week12 import reward_hacking  # noqa: I001
from algorithms.weeks.week12 import overoptimization
from algorithms.weeks.week12 import overoptimization_scale

__all__ = ["overoptimization", "overoptimization_scale", "reward_hacking"]
