"""Value-based deep RL: DQN (Mnih et al. 2015) and the Rainbow parts it can switch on
(Hessel et al. 2018): Double DQN, dueling heads, prioritized replay, n-step targets.

* :mod:`algorithms.value.dqn`: the config, the Q-network, the TD target, the training loop
  (one file, top to bottom, CleanRL-style); it returns :class:`algorithms.policy.envs.TrainResult`
  like every trainer of :mod:`algorithms.policy`, so the same seed studies and evaluation apply.
* :mod:`algorithms.value.tabular_q`: tabular Q-learning (Watkins 1989) for environments whose
  ``info["state"]`` is an integer (week 12's gridworlds), with the same ``train`` signature.
* :mod:`algorithms.value.replay`: the uniform replay buffer, n-step transitions and the sum-tree
  behind proportional prioritized replay (Schaul et al. 2016).

Modules import torch at the top: import them inside experiment functions.
"""
