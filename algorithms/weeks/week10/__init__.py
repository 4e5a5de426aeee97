"""Week 10: PPO for language models, on the controlled-sentiment task of week 9
(``algorithms.weeks.week09.common``).

* ``ppo_rlhf.py`` (``ppo-rlhf``): RLHF by PPO with the adaptive KL controller; the dynamics of
  score, KL, β, entropy and length over training; held-out gold reward and KL.
* ``frontier.py`` (``reward-kl-frontier``): PPO, best-of-n, DPO, IPO, SimPO, KTO and GRPO at
  several strengths of their pull to the reference, on one reward–KL plot.

Torch is imported inside the experiments, so that ``forge weeks`` stays light.
"""

from algorithms.weeks.week10 import ppo_rlhf  # noqa: I001
from algorithms.weeks.week10 import frontier

__all__ = ["frontier", "ppo_rlhf"]
