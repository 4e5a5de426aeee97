"""Week 14: value-based deep RL — DQN (Mnih et al. 2015) and the parts of Rainbow (Hessel et
al. 2018): Double DQN, dueling heads, prioritized replay, n-step targets.

``experiments.py``:

* ``dqn-cartpole``: DQN with RL Zoo's CartPole-v1 settings, one seed per run; target 475 over
  the last 20 training episodes and on held-out greedy episodes.
* ``value-vs-policy``: DQN against PPO (week 7) and A2C (week 6) on one env-step budget per env,
  on CartPole-v1 and MinAtar Breakout: steps to reach a return, return over the budget,
  held-out greedy return, seeds inside the run.

``rainbow.py``:

* ``rainbow-ablation``: DQN, + Double, + Dueling, + PER, + 3-step returns and all combined, on
  CartPole-v1 and (a short budget) MinAtar Breakout, seeds inside the run.
* ``overestimation``: DQN vs Double DQN, the network's max_a Q(s₀, a) against the realised
  discounted return of its greedy policy over training (van Hasselt et al. 2016, Fig. 3).

``atari.py``:

* ``dqn-atari``: DQN with the Nature CNN on Atari Breakout (gpu: + Pong, 10M frames each), with
  CleanRL's / SB3's preprocessing, against the random policy's full-game return.

The algorithms live in :mod:`algorithms.value` (``dqn``, ``replay``), the seed study in
:mod:`algorithms.harness`. Torch and Gymnasium are imported inside the experiments.
"""

# registration order is the order ``forge run week14`` runs them in
from algorithms.weeks.week14 import experiments  # noqa: I001
from algorithms.weeks.week14 import rainbow
from algorithms.weeks.week14 import atari

__all__ = ["experiments", "rainbow", "atari"]
