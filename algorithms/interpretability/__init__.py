"""Interpretability of the week-8 language model (week 11).

* ``sae.py``: sparse autoencoders on residual-stream activations (Bricken et al. 2023): the
  model, its training with dead-feature resampling, and its metrics.
* ``hooks.py``: reading, splicing and patching the residual stream with forward hooks: the
  activations an SAE trains on, the loss with the SAE spliced in, activation patching.

Modules import torch at the top: import them inside experiment functions.
"""
