"""Week 3: attention mechanisms and positional encodings.

Five experiments, one module each (config and procedure: what is run and what is logged), and
``figures.py``, which draws their figures and writes the captions from what they computed:

* ``speed_memory.py`` (``speed-memory``): time and peak memory of every attention variant
  (dense, additive, multiplicative, MQA/GQA, chunked, FlashAttention, sliding window,
  block-local, Longformer, BigBird, Performer, Linformer) against PyTorch's fused SDPA, forward
  and backward, as the sequence grows; where the sub-quadratic variants overtake the quadratic
  ones.
* ``approximation.py`` (``approximation``): how far Performer and Linformer are from exact
  attention as the number of random features / the projected rank grows.
* ``kv_cache.py`` (``kv-cache``): decoding with a KV cache versus recomputing, for MHA, GQA and
  MQA: time per token and cache size.
* ``extrapolation.py`` (``extrapolation``): a small GPT trained on tiny Shakespeare at length L
  with each positional encoding (none, sinusoidal, learned, Shaw, RoPE, ALiBi), evaluated at
  multiples of L.
* ``analysis.py`` (``analysis``): attention maps of a trained model, per-head entropy and
  attention distance, head importance (Michel et al., 2019) and the loss as heads are pruned.

The algorithms, and the measuring, live in :mod:`algorithms.attention`. torch, numpy and
matplotlib are imported inside the experiment functions: ``forge weeks`` imports this package
and must stay fast.
"""

# registration order is the order ``forge run week3`` runs them in: fast and kernel-level first
from algorithms.weeks.week03 import speed_memory  # noqa: I001
from algorithms.weeks.week03 import approximation
from algorithms.weeks.week03 import kv_cache
from algorithms.weeks.week03 import extrapolation
from algorithms.weeks.week03 import analysis

__all__ = ["analysis", "approximation", "extrapolation", "kv_cache", "speed_memory"]
