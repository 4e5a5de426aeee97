"""The gold reward of the RLHF weeks: VADER's compound sentiment score of a text, in [−1, 1].

Hutto & Gilbert (2014), "VADER: A Parsimonious Rule-based Model for Sentiment Analysis of Social
Media Text" (ICWSM): a lexicon of valence-rated words adjusted by five rules (punctuation,
capitals, degree modifiers, "but", negation), summed over the text and normalised to

    compound = s / sqrt(s² + α),  α = 15

Ziegler et al. (2019), "Fine-Tuning Language Models from Human Preferences", train a
policy to continue text with positive sentiment; here a fixed, deterministic scorer of that
sentiment plays the humans. Synthetic annotators label pairs by Bradley-Terry on it
(``annotators.py``), reward models learn it from their labels, and a policy optimised against a
learned reward is scored by it, so over-optimisation shows as the learned reward climbing while
the gold one stalls (Gao et al. 2023, "Scaling Laws for Reward Model Overoptimization"). VADER
is the stand-in for a human judge, and results name it as such (:data:`NAME`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np

NAME = "VADER compound sentiment (Hutto & Gilbert 2014), a rule-based stand-in for human raters"


@cache
def _analyzer() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def gold_reward(texts: Sequence[str]) -> np.ndarray:
    """VADER's compound score of each text, in [−1, 1] (0 for a text with no rated words)."""
    analyzer = _analyzer()
    return np.array([analyzer.polarity_scores(text)["compound"] for text in texts], dtype=float)
