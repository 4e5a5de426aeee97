"""Week 5: the transformer beyond the basics — every architecture a config switch of week 8's
language model (``algorithms.lm``), trained on TinyStories with week 8's tokenizer over seeds.

* ``ablations.py`` (``architecture-ablations``): the LLaMA block with one thing changed — the
  norm, the feed-forward at matched parameters, parallel sublayers, width against depth — and
  the lineage from the Transformer to Mamba drawn from the configs.
* ``stability.py`` (``norm-stability``): pre-, post- and QK-norm over a learning-rate sweep,
  divergence and gradient norms per layer.
* ``moe_routing.py`` (``moe-routing``): dense against mixtures of experts at equal active
  parameters, top-1 and top-2, the balancing loss, the capacity factor and dropped tokens.
* ``mixers.py`` (``token-mixers``): attention, RetNet, Mamba and Mamba-2 at equal parameters,
  and their time, FLOPs and memory against sequence length.
* ``efficiency.py`` (``efficiency-profile``): a profile per architecture, gradient
  checkpointing's memory-vs-time trade, float32 / bfloat16 / FP8 training.

Torch is imported inside the experiments, so that ``forge weeks`` stays light.
"""

from algorithms.weeks.week05 import ablations  # noqa: I001
from algorithms.weeks.week05 import stability
from algorithms.weeks.week05 import moe_routing
from algorithms.weeks.week05 import mixers
from algorithms.weeks.week05 import efficiency

__all__ = ["ablations", "efficiency", "mixers", "moe_routing", "stability"]
