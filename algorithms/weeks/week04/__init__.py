"""Week 4: policy optimisation — REINFORCE → NPG → TRPO → PPO, variance reduction, off-policy
corrections (Williams 1992; Kakade 2001; Schulman et al. 2015, 2016, 2017; Espeholt et al. 2018).

One module per study (config and procedure: what is run and logged); ``figures.py`` draws what
is not a band figure:

* ``comparative.py`` (``comparative-study``): the four algorithms on CartPole-v1 and Acrobot-v1,
  seeds inside the run, learning curves with 95% bands; the KL each NPG / TRPO update moved and
  how often TRPO's line search shrank the step.
* ``variance.py`` (``variance-reduction``): REINFORCE with Ψ = G_t (no baseline), G_t − V(s_t)
  (baseline) and GAE with a λ sweep: the measured variance of the gradient estimator as well as
  the returns.
* ``off_policy.py`` (``off-policy-corrections``): on a small random MDP with exact values, the
  bias and variance of off-policy value targets from μ-data — no correction, per-decision
  importance sampling and V-trace with truncation ρ̄ — against n.
* ``impala.py`` (``impala-vtrace``): IMPALA (actor processes + a learner) on CartPole with and
  without the V-trace correction, at IMPALA's usual small policy lag and with actors that
  refresh their weights only every 128 unrolls.
* ``constrained.py`` (``constrained-policy-optimization``): CPO, PCPO and PPO-Lagrangian beside
  unconstrained PPO on CostCartPole, return and episode cost against the budget d.
* ``grpo.py`` (``grpo``): GRPO's three loss normalisations on week 9's sentiment task, and GRPO
  with an exact-answer reward on addition: REINFORCE → PPO → GRPO's last step, on text.
* ``preference_optimization.py`` (``preference-optimization``): DPO, IPO, SimPO and KTO on week
  9's preference pairs, judged by held-out preference accuracy, gold reward and KL.

The algorithms live in :mod:`algorithms.policy`, exact values and sampling of tabular MDPs in
:mod:`algorithms.mdp`, the seed study in :mod:`algorithms.harness`. Torch, Gymnasium and
matplotlib are imported inside the experiments.
"""

# registration order is the order ``forge run week4`` runs them in
from algorithms.weeks.week04 import comparative  # noqa: I001
from algorithms.weeks.week04 import variance
from algorithms.weeks.week04 import off_policy
from algorithms.weeks.week04 import impala
from algorithms.weeks.week04 import constrained
from algorithms.weeks.week04 import grpo
from algorithms.weeks.week04 import preference_optimization

__all__ = ["comparative", "constrained", "grpo", "impala", "off_policy",
           "preference_optimization", "variance"]
