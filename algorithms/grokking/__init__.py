"""Grokking on modular addition, and the progress measures that see it coming (week 13).

==================  ========================================================  ===================
module              contents                                                  paper
==================  ========================================================  ===================
``data.py``         a + b mod p as "a b =" (3 tokens), all p² pairs, one      Power et al. 2022;
                    seeded train/test split                                   Nanda et al. 2023
``model.py``        ``GrokTransformer``: one layer, no LayerNorm, learned     Nanda et al. 2023
                    positions, untied unembedding, weights by name            §3
``progress.py``     the Fourier basis over Z_p, key frequencies of W_E,       Nanda et al. 2023
                    restricted and excluded losses, Gini, Σθ²                 §4, §5.1
``train.py``        ``train_grokking``: full-batch AdamW (λ = 1, β₂ = 0.98),  Nanda et al. 2023;
                    linear warm-up, float64 loss, measures at every eval      Loshchilov & Hutter
==================  ========================================================  ===================

Power et al. (2022), "Grokking: Generalization Beyond Overfitting on Small Algorithmic
Datasets": a network trained on part of a binary operation's table fits the training set long
before it generalises, and then, well after, does. Nanda et al. (2023), "Progress Measures for
Grokking via Mechanistic Interpretability", reverse-engineer the generalising network (it
adds angles: cos(w(a + b − c)) for a few key frequencies w) and define measures of that
circuit that move smoothly while test accuracy sits still.
"""

from algorithms.grokking.data import all_pairs, grid_mask, modular_addition
from algorithms.grokking.model import GrokTransformer
from algorithms.grokking.progress import (
    embedding_spectrum,
    excluded_loss,
    fourier_basis,
    gini,
    key_frequencies,
    logit_spectrum,
    progress_measures,
    restricted_loss,
)
from algorithms.grokking.train import GrokConfig, GrokResult, milestones, train_grokking

__all__ = [
    "GrokConfig", "GrokResult", "GrokTransformer", "all_pairs", "embedding_spectrum",
    "excluded_loss", "fourier_basis", "gini", "grid_mask", "key_frequencies", "logit_spectrum",
    "milestones", "modular_addition", "progress_measures", "restricted_loss", "train_grokking",
]
