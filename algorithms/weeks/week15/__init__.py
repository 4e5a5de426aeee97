"""Week 15: model-based RL — planning with a learned model.

``book.py`` (Sutton & Barto, 2nd ed., 2018, chapter 8, tabular, numpy):

* ``dyna-maze``: Dyna-Q with n = 0, 5, 50 planning steps on the Dyna maze, steps per episode
  (Example 8.1, Figure 8.2).
* ``changing-mazes``: Dyna-Q+ against Dyna-Q on the blocking maze and the shortcut maze,
  cumulative reward over time steps and whether the greedy path finds the shortcut
  (Examples 8.2–8.3, Figures 8.4 and 8.5).
* ``prioritized-sweeping``: Q updates until the greedy policy is optimal, prioritized sweeping
  against Dyna-Q on Dyna mazes of increasing resolution (Example 8.4).

``world_models.py``:

* ``world-model-mpc``: a probabilistic ensemble of dynamics MLPs on CartPole-v1 used for
  model-predictive control (random shooting and CEM, PETS; Chua et al. 2018): the model's
  open-loop prediction error against the horizon, and MPC's return against environment steps
  beside PPO's with the same budget.

The algorithms live in :mod:`algorithms.model_based`, the seed study in
:mod:`algorithms.harness`. Torch and Gymnasium are imported inside the experiments.
"""

# registration order is the order ``forge run week15`` runs them in
from algorithms.weeks.week15 import book  # noqa: I001
from algorithms.weeks.week15 import world_models

__all__ = ["book", "world_models"]
