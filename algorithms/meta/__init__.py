"""Meta-learning: learning an initialisation that adapts to a new task in a few gradient steps.

* ``sinusoid.py``: the sinusoid regression tasks of Finn et al. (2017) §5.1, the 2×40 ReLU MLP
  as a pure function of its parameters (with an optional per-task leading dimension), and the
  pretrained baseline (one network trained on all tasks jointly).
* ``maml.py``: MAML (Finn, Abbeel & Levine 2017, Algorithm 2, Eq. 1) with the second-order
  meta-gradient through the inner step, first-order MAML, and the test-time adaptation curve.
* ``reptile.py``: batched Reptile (Nichol, Achiam & Schulman 2018, Algorithm 2).
* ``meta_rl.py``: MAML with a policy-gradient inner step on 2-D point navigation (Finn et al.
  §5.3), a Gaussian MLP policy, batched over tasks.

Every module imports torch at the top: import them only where training happens (this package's
import loads none of them).
"""
