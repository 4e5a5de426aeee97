"""Model-based RL: planning with a model that is learned from experience.

* ``mazes.py``: the deterministic gridworld mazes of Sutton & Barto (2nd ed., 2018) chapter 8:
  the Dyna maze (Example 8.1), the blocking and shortcut mazes (Examples 8.2, 8.3) and the
  scaled mazes of Example 8.4; breadth-first shortest paths.
* ``dyna.py``: tabular Dyna-Q and Dyna-Q+ (§8.2–8.3), and the episode / changing-maze
  protocols of Figures 8.2, 8.4 and 8.5.
* ``prioritized_sweeping.py``: prioritized sweeping for a deterministic environment (§8.4) and
  Example 8.4's measure, Q updates until the greedy policy is optimal.
* ``world_model.py``: a probabilistic ensemble of dynamics MLPs (PETS, Chua et al. 2018) and
  its open-loop prediction error against the rollout horizon (torch).
* ``mpc.py``: model-predictive control with that ensemble on CartPole-v1: random shooting and
  CEM over action sequences, TS∞ particles, PETS's train-plan-act loop (torch, Gymnasium).

The tabular modules use numpy only; import ``world_model`` and ``mpc`` only where torch is
wanted (this package's import loads neither).
"""
