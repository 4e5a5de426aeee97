"""Safety: reward misspecification and its consequences (week 12), and the alignment methods of
week 11.

* ``gridworlds.py``: small environments whose observed (proxy) reward differs from the true
  objective, in the spirit of DeepMind's AI Safety Gridworlds (Leike et al. 2017).
* ``overoptimization.py``: the functional forms of Gao et al. (2022) for gold reward against
  d = √KL under best-of-n and RL, and their fits.
* ``constitutional_ai.py``: critique and revision (offline: best-of-n under the rule-based
  judge), SL-CAI fine-tuning, AI preference labels for RL-CAI (Bai et al. 2022).
* ``red_team.py``: detectors, attack success rate and mutation search over prompts.
* ``weak_to_strong.py``: the performance gap recovered and the auxiliary confidence loss
  (Burns et al. 2023).
"""
