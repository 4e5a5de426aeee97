"""Policy optimisation (weeks 4, 6, 7): one readable file per algorithm, shared pieces once.

* ``core``: reward-to-go, GAE, V-trace, importance ratios, k3 KL, conjugate gradient,
  Fisher-vector products, the KL-normalised natural-gradient step.
* ``envs``: environments (Gymnasium, MinAtar, CostCartPole), the vectorised rollout collector.
* ``networks``: the actor–critic (MLP or MinAtar CNN, optional cost critic).
* algorithms — ``reinforce`` (Williams 1992), ``npg`` (Kakade 2001), ``trpo`` (Schulman et al.
  2015), ``ppo`` (Schulman et al. 2017), ``a2c`` (Mnih et al. 2016), ``cpo`` (Achiam et al.
  2017), ``pcpo`` (Yang et al. 2020), ``lagrangian_ppo`` (Ray et al. 2019), ``impala``
  (Espeholt et al. 2018); each exposes ``XConfig`` and
  ``train(config, log) -> TrainResult``, calling ``log(metrics, step)`` once per update with
  ``step`` the environment steps taken so far.

Experiments that use them (seed studies, single runs) live in ``algorithms/weeks/``; learning
curves over seeds and confidence bands in :mod:`algorithms.harness`.

Modules import torch and Gymnasium at the top: import them only where training happens.
"""
