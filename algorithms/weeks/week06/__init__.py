"""Week 6: actor–critic methods — synchronous advantage actor–critic (A2C; Mnih et al. 2016).

``experiments.py``:

* ``a2c-cartpole``: A2C (8 synchronous envs, GAE) on CartPole-v1; target 475 over 20 episodes.
* ``a2c-minatar``: A2C with a small CNN on MinAtar Breakout, against the random policy (the
  fast stand-in for Atari).
* ``a2c-atari``: A2C with the Nature CNN on Atari Breakout (gpu: + Pong, 10M frames each), with
  CleanRL's / SB3's preprocessing, against the random policy's full-game return.
* ``a2c-vs-reinforce``: the same env-step budget for A2C and for week 4's REINFORCE (with a
  baseline): sample efficiency (steps to reach a return), stability (return dips after first
  reaching it, spread over seeds), seeds inside the run.

The algorithms live in :mod:`algorithms.policy` (``a2c``, ``reinforce``), the seed study in
:mod:`algorithms.harness`. Torch and Gymnasium are imported inside the experiments.
"""

from algorithms.weeks.week06 import experiments

__all__ = ["experiments"]
