"""Week 9: human preference learning, on the controlled-sentiment task of ``common.py``.

* ``preference_models.py`` (``preference-models``): Bradley-Terry, Plackett-Luce and Elo fitted
  to synthetic comparisons of known strengths; pairwise against listwise; Elo's dependence on
  the order of games beside BT's invariance.
* ``preference_data.py`` (``preference-data``): week 8's base model's continuations of story
  openings, scored by the VADER gold reward, paired and labelled by synthetic annotators; the
  data set's agreement and biases; stored as the artifact ``prefs:sentiment-pairs``.
* ``reward_models.py`` (``reward-models``): shared and separate reward towers, ensembles,
  calibration, label-noise detection and active elicitation on those pairs.
* ``constitutional.py`` (``constitutional-labels``): an offline judge of written principles (a
  stand-in for an LLM judge) labels the pairs; its agreement with gold and human labels, and
  reward models trained on AI against human labels.

Torch is imported inside the experiments, so that ``forge weeks`` stays light.
"""

from algorithms.weeks.week09 import preference_models  # noqa: I001
from algorithms.weeks.week09 import preference_data
from algorithms.weeks.week09 import reward_models
from algorithms.weeks.week09 import constitutional

__all__ = ["constitutional", "preference_data", "preference_models", "reward_models"]
