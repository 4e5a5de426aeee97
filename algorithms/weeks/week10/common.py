"""What week 10's experiments share: the sentiment task's prompts from week 9's pairs, the gold
reward as a score of completions, and judging a policy on the held-out prompts."""

from __future__ import annotations

from typing import Any

from algorithms.experiment import InputError, Tracker
from algorithms.weeks.week08.common import BASE_MODEL

PAIRS_ARTIFACT = "prefs:sentiment-pairs"  # week 9's


class SentimentTask:
    """The base model (also the frozen reference), its tokenizer, and the train and test
    prompts of ``prefs:sentiment-pairs`` (story openings, all of one length)."""

    def __init__(self, tracker: Tracker):
        from algorithms.preference.pairs import read_pairs
        from algorithms.weeks.week08.common import eot_of, load_model_artifact

        self.base, _, self.tokenizer = load_model_artifact(tracker, BASE_MODEL)
        try:
            pairs = read_pairs(tracker.use_artifact(PAIRS_ARTIFACT))
        except ValueError as error:
            raise InputError(str(error)) from None
        self.pairs = pairs
        self.train = list(dict.fromkeys(p.prompt for p in pairs if p.split == "train"))
        self.test = list(dict.fromkeys(p.prompt for p in pairs if p.split == "test"))
        if not self.train or not self.test:
            raise InputError("the preference data needs train and test prompts")
        self.eot = eot_of(self.tokenizer)

    def decode(self, ids: Any) -> str:
        return self.tokenizer.decode(list(ids)) if len(ids) else ""

    def score(self, prompts: Any, completions: Any) -> Any:
        """The gold reward (VADER compound) of each completion's text."""
        from algorithms.preference import gold_reward

        return gold_reward([self.decode(c) for c in completions])

    def judge(self, policy: Any, n_samples: int, max_new_tokens: int, seed: int) -> Any:
        """``PolicySamples`` of ``policy`` on the test prompts: gold reward, KL, length."""
        from algorithms.preference import gold_reward
        from algorithms.preference.offline import sample_gold_and_kl

        return sample_gold_and_kl(policy, self.base, self.test, n_samples, max_new_tokens,
                                  self.decode, gold_reward, self.eot, seed)
