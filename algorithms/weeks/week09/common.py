"""The controlled-sentiment task every preference week shares (Rafailov et al. 2023, §6.1, in
miniature): prompts are the openings of held-out TinyStories stories, the policy is week 8's base
model, and the gold reward of a continuation is VADER's compound sentiment of its text
(``algorithms.preference.gold_reward``). The preference data of ``preference-data`` is stored as
the artifact :data:`PAIRS_ARTIFACT` (``algorithms.preference.pairs``); the reward models and
the DPO-family, GRPO and RLHF experiments of weeks 4, 9 and 10 load it with :func:`load_pairs`
(or a user's file, ``[data] preferences``) and share :class:`SentimentTask`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from algorithms.experiment import InputError, Tracker
from algorithms.weeks.week08.common import BASE_MODEL

PAIRS_ARTIFACT = "prefs:sentiment-pairs"
"""Pairs of base-model continuations of story openings, gold rewards and synthetic labels."""

ANNOTATORS: dict[str, dict[str, float]] = {
    "gold": {"temperature": 1e-6},
    "bt": {"temperature": 0.25},
    "noisy": {"temperature": 0.25, "flip_rate": 0.2},
    "length": {"temperature": 0.25, "length_bias": 1.0},
    "position": {"temperature": 0.25, "position_bias": 1.0},
}
"""The synthetic annotators (keyword arguments of ``algorithms.preference.annotate``):
``gold`` labels every pair by its gold ordering; ``bt`` by Bradley-Terry on the gold reward at
temperature 0.25 (a compound-score difference of 0.25 is odds of e to 1); ``noisy`` flips a
fifth of ``bt``'s labels; ``length`` adds a preference of 1 logit per :data:`LENGTH_SCALE`
tokens for the longer response; ``position`` one of 1 logit for the response shown first."""

LENGTH_SCALE = 10.0
"""Tokens of length difference per unit of the length annotator's bias."""


def story_openings(text: str, tokenizer: Any, eot_id: int, n_prompts: int, prompt_tokens: int,
                   min_tokens: int, rng: np.random.Generator) -> list[list[int]]:
    """``n_prompts`` prompts: ``[eot] +`` the first ``prompt_tokens`` tokens of distinct
    paragraphs of the held-out ``text`` (blank-line separated; each starts a story or a new
    scene of one) at least ``min_tokens`` long, drawn without replacement."""
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    order = rng.permutation(len(paragraphs))
    prompts: list[list[int]] = []
    for i in order:
        ids = tokenizer.encode(paragraphs[i])
        if len(ids) >= min_tokens:
            prompts.append([eot_id, *ids[:prompt_tokens]])
            if len(prompts) == n_prompts:
                return prompts
    raise ValueError(f"the held-out text has {len(prompts)} paragraphs of at least {min_tokens} "
                     f"tokens, fewer than the {n_prompts} prompts asked for")


def decode(tokenizer: Any, ids: Sequence[int]) -> str:
    return tokenizer.decode(list(ids)) if ids else ""


def load_pairs(tracker: Tracker, vocab_size: int, what: str = "the model") -> list[Any]:
    """The preference pairs: the user's file when ``[data] preferences`` names one, else the
    artifact; InputError (one line) when they are malformed or were tokenized for another
    vocabulary than ``what``'s."""
    from algorithms.preference.pairs import check_vocabulary, read_meta, read_pairs

    configured = tracker.data_file("preferences")
    source = configured if configured is not None else tracker.use_artifact(PAIRS_ARTIFACT)
    try:
        pairs = read_pairs(source)
        meta = read_meta(source if source.is_dir() else source.parent)
        check_vocabulary(pairs, vocab_size, meta["vocab_size"], what)
    except ValueError as error:
        raise InputError(str(error)) from None
    return pairs


class SentimentTask:
    """The base model (also the frozen reference), its tokenizer, the pairs of
    :func:`load_pairs` and their train and test prompts (story openings, all of one length)."""

    def __init__(self, tracker: Tracker):
        from algorithms.weeks.week08.common import eot_of, load_model_artifact

        self.base, _, self.tokenizer = load_model_artifact(tracker, BASE_MODEL)
        self.pairs = load_pairs(tracker, self.base.config.vocab_size, "the policy")
        self.train = list(dict.fromkeys(p.prompt for p in self.pairs if p.split == "train"))
        self.test = list(dict.fromkeys(p.prompt for p in self.pairs if p.split == "test"))
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
