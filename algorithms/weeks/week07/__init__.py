"""Week 7: PPO and trust regions (Schulman et al. 2015, 2017; Achiam et al. 2017).

* ``single_runs.py``: ``ppo-cartpole``, ``ppo-acrobot``, ``ppo-pendulum`` (continuous actions),
  ``ppo-lunarlander``, ``ppo-minatar`` (MinAtar Breakout, against the random policy's return);
  one seed per run (the runner's ``--seeds``), each logging CleanRL's metrics every update and
  its own learning curve.
* ``clip_sweep.py`` (``clip-sweep``): PPO's clip ε ∈ {0.1, 0.2, 0.3, none} and the adaptive-KL
  variant; return, clip fraction and approximate KL (k3) over training, seeds inside the run.
* ``constraints.py`` (``constraint-satisfaction``): CPO vs TRPO on CostCartPole; return and
  episode cost against the budget, seeds inside the run.

The algorithms live in :mod:`algorithms.policy` (``ppo``, ``trpo``, ``cpo``), the seed study in
:mod:`algorithms.harness`. Torch and Gymnasium are imported inside the experiments, so that
``forge weeks`` stays light.
"""

# registration order is the order ``forge run week7`` runs them in
from algorithms.weeks.week07 import single_runs  # noqa: I001
from algorithms.weeks.week07 import clip_sweep
from algorithms.weeks.week07 import constraints

__all__ = ["clip_sweep", "constraints", "single_runs"]
