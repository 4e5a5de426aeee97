"""Reward misspecification and its consequences (week 12).

* ``gridworlds.py``: small environments whose observed (proxy) reward differs from the true
  objective, in the spirit of DeepMind's AI Safety Gridworlds (Leike et al. 2017).
* ``overoptimization.py``: the functional forms of Gao et al. (2022) for gold reward against
  d = √KL under best-of-n and RL, and their fits.
"""
