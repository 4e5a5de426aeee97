"""``preference-data``: the preference data set every later preference experiment trains on,
and the measures of its quality.

The DPO paper's controlled-sentiment task (Rafailov et al. 2023, §6.1), in miniature. Each
prompt is the opening of a paragraph of the held-out TinyStories text; week 8's base model
samples ``n_samples`` continuations of it (temperature 1), each cut at a length of its own; the
gold reward of a continuation is VADER's compound sentiment of its text (Hutto & Gilbert 2014),
in [−1, 1]. Every pair of a prompt's continuations whose gold rewards differ by at least
``min_margin`` is kept (VADER scores many short neutral texts exactly 0, and a tie has no right
label); prompts are split into train and test before sampling, so a test pair's prompt was
never trained on.

Each kept pair is labelled by every synthetic annotator of
:data:`~algorithms.weeks.week09.common.ANNOTATORS`: Bradley-Terry on the gold reward at a
temperature, with label flips, a length bias or a position bias
(``algorithms.preference.annotators``, eqs. 1 and 2). The quality toolkit then measures, on
the labels alone, what a data set's curator can measure:

* agreement with the gold ordering, and Cohen's κ against it (Cohen 1960);
* agreement between annotators: Fleiss' κ of ``n_raters`` independent draws of the ``bt``
  annotator (Fleiss 1971), the ceiling any reward model trained on its labels faces;
* length and position bias: the logistic regression of eq. (3) of the annotators module, which
  should find b_len ≈ 1 per 10 tokens for the length annotator and ≈ 0 for the others, and an
  intercept ≈ 1 for the position annotator.

The gold reward's own length dependence (the rank correlation of a continuation's length and
its |compound|: VADER sums word valences, so a longer text can carry more sentiment) is
reported too: a reward model may learn length where the gold reward rewards it.

What it can show: the base model is small and its stories are mostly cheerful, so the rewards
bunch toward the positive end; this is the reference point (``base.gold_reward``) every method
of weeks 4, 10 and 12 is judged against on the same test prompts.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any, ClassVar

from pydantic import model_validator

from algorithms.experiment import ExperimentConfig, InputError, Tracker, experiment
from algorithms.weeks.week08.common import BASE_MODEL
from algorithms.weeks.week09.common import ANNOTATORS, LENGTH_SCALE, PAIRS_ARTIFACT

UNITS = {"*gold_reward": "VADER compound", "*gold_reward_std": "VADER compound",
         "*pairs": "pairs", "*mean_length": "tokens", "*fraction": "", "*agreement": "",
         "*kappa": "", "*coefficient": "logit per 10 tokens", "*intercept": "logit"}


class PreferenceDataConfig(ExperimentConfig):
    """``n_train_prompts`` and ``n_test_prompts`` story openings of ``prompt_tokens`` tokens,
    ``n_samples`` continuations each cut at a length drawn uniformly from ``min_new_tokens`` ..
    ``max_new_tokens`` (or where the model ended the story), pairs kept when their gold
    rewards differ by ``min_margin`` or more; ``n_raters`` independent ``bt`` annotators for
    the agreement measures."""

    n_train_prompts: int = 2048
    n_test_prompts: int = 64
    prompt_tokens: int = 8
    n_samples: int = 8
    min_new_tokens: int = 8
    max_new_tokens: int = 32
    temperature: float = 1.0
    min_margin: float = 0.05
    n_raters: int = 3
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"n_train_prompts": 12, "n_test_prompts": 6, "n_samples": 4, "min_new_tokens": 4,
                  "max_new_tokens": 8,
                  "min_margin": 0.0},
        "gpu": {"n_train_prompts": 4000, "n_test_prompts": 500, "n_samples": 8,
                "min_new_tokens": 16, "max_new_tokens": 64}}

    @model_validator(mode="after")
    def _sizes(self) -> PreferenceDataConfig:
        if not 1 <= self.min_new_tokens <= self.max_new_tokens:
            raise ValueError(f"need 1 <= min_new_tokens <= max_new_tokens, got "
                             f"{self.min_new_tokens} and {self.max_new_tokens}")
        if self.n_samples < 2:
            raise ValueError(f"n_samples must be at least 2 to make pairs, got {self.n_samples}")
        if self.n_train_prompts < 1 or self.n_test_prompts < 1 or self.prompt_tokens < 1:
            raise ValueError("need at least one train and one test prompt of at least one token")
        if self.n_raters < 2:
            raise ValueError(f"agreement needs n_raters >= 2, got {self.n_raters}")
        return self


@experiment(week=9, name="preference-data", covers=(3,), config=PreferenceDataConfig,
            units=UNITS, needs=(BASE_MODEL,), produces=(PAIRS_ARTIFACT,))
def preference_data(config: PreferenceDataConfig, tracker: Tracker) -> dict[str, float]:
    """Sample, score and pair the base model's continuations; label them by every annotator;
    measure the labels' agreement and biases; store the pairs as an artifact."""
    import numpy as np
    from scipy.stats import spearmanr

    from algorithms.lm.data import corpus_files
    from algorithms.preference import (annotate, cohen_kappa, fleiss_kappa, gold_reward,
                                       length_bias)
    from algorithms.preference.pairs import PreferencePair, write_pairs
    from algorithms.weeks.week08.common import eot_of, load_model_artifact
    from algorithms.lm.generate import sample_continuations
    from algorithms.weeks.week09.common import decode, story_openings

    model, checkpoint, tokenizer = load_model_artifact(tracker, BASE_MODEL)
    eot = eot_of(tokenizer)
    if eot is None:
        raise InputError("the base model's tokenizer has no end-of-text token to start prompts")
    rng = np.random.default_rng(config.seed)
    n_prompts = config.n_train_prompts + config.n_test_prompts
    held_out = corpus_files("tinystories")[1].read_text(encoding="utf-8")
    prompts = story_openings(held_out, tokenizer, eot, n_prompts, config.prompt_tokens,
                             config.prompt_tokens + 16, rng)
    splits = ["train"] * config.n_train_prompts + ["test"] * config.n_test_prompts
    samples = sample_continuations(model, prompts, config.n_samples, config.max_new_tokens,
                                   config.temperature, eot, config.seed)
    # each continuation cut at its own length, so that pairs differ in length as real responses
    # do (and the length measures have something to measure)
    cuts = rng.integers(config.min_new_tokens, config.max_new_tokens + 1,
                        size=(n_prompts, config.n_samples))
    samples = [[s[:cuts[p, i]] for i, s in enumerate(group)] for p, group in enumerate(samples)]
    texts = [[decode(tokenizer, s) for s in group] for group in samples]
    rewards = gold_reward([t for group in texts for t in group]).reshape(n_prompts,
                                                                        config.n_samples)
    lengths = np.array([[len(s) for s in group] for group in samples], dtype=float)

    # ---- pairs: every two continuations of a prompt whose gold rewards differ enough
    index = [(p, i, j) for p in range(n_prompts) for i, j in combinations(range(config.n_samples), 2)]
    margins = np.array([abs(rewards[p, i] - rewards[p, j]) for p, i, j in index])
    kept = [pair for pair, m in zip(index, margins) if m >= config.min_margin]
    if not kept:
        raise InputError("no pair of continuations differs in gold reward by min_margin")
    r_a = np.array([rewards[p, i] for p, i, _ in kept])
    r_b = np.array([rewards[p, j] for p, _, j in kept])
    n_a = np.array([lengths[p, i] for p, i, _ in kept])
    n_b = np.array([lengths[p, j] for p, _, j in kept])
    gold = (r_a > r_b).astype(np.int8)
    labels, flipped = {}, {}
    for name, kwargs in ANNOTATORS.items():
        drawn = annotate(r_a, r_b, rng, length_a=n_a, length_b=n_b, length_scale=LENGTH_SCALE,
                         **kwargs)
        labels[name], flipped[name] = drawn.labels, drawn.flipped

    pairs = [PreferencePair(prompt=tuple(prompts[p]), a=tuple(samples[p][i]),
                            b=tuple(samples[p][j]), split=splits[p],
                            reward_a=float(rewards[p, i]), reward_b=float(rewards[p, j]),
                            labels={name: int(labels[name][k]) for name in labels},
                            flipped={name: bool(flipped[name][k]) for name in flipped},
                            text={"prompt": decode(tokenizer, prompts[p][1:]),
                                  "a": texts[p][i], "b": texts[p][j]})
             for k, (p, i, j) in enumerate(kept)]
    write_pairs(tracker.artifact_dir(PAIRS_ARTIFACT), pairs, tokenizer.vocab_size,
                {"base_model": BASE_MODEL, "n_samples": config.n_samples,
                 "max_new_tokens": config.max_new_tokens, "annotators": ANNOTATORS,
                 "length_scale": LENGTH_SCALE, "min_margin": config.min_margin,
                 "samples": [{"prompt": prompts[p], "split": splits[p],
                              "continuations": samples[p], "rewards": rewards[p].tolist()}
                             for p in range(n_prompts)]})

    # ---- quality measures
    test = np.array(splits) == "test"
    flat_len, flat_reward = lengths.ravel(), rewards.ravel()
    summary: dict[str, float] = {
        "data.train_pairs": float(sum(p.split == "train" for p in pairs)),
        "data.test_pairs": float(sum(p.split == "test" for p in pairs)),
        "data.tie_fraction": float(np.mean(margins < config.min_margin)),
        "base.gold_reward": float(rewards[test].mean()),
        "base.gold_reward_std": float(rewards[test].std()),
        "base.zero_reward_fraction": float(np.mean(flat_reward == 0)),
        "base.mean_length": float(flat_len.mean()),
        "base.length_reward_correlation": float(spearmanr(flat_len, np.abs(flat_reward))[0])
        if np.ptp(flat_len) > 0 and np.ptp(flat_reward) > 0 else 0.0,
    }
    rows = []
    for name, kwargs in ANNOTATORS.items():
        agreement = float(np.mean(labels[name] == gold))
        kappa = cohen_kappa(labels[name], gold)
        try:
            bias = length_bias(labels[name], n_a, n_b, r_a, r_b, length_scale=LENGTH_SCALE)
            coefficient, intercept = bias.coefficient, bias.intercept
            longer = bias.longer_win_rate
        except ValueError:  # labels the rewards separate perfectly (the gold annotator)
            coefficient = intercept = longer = float("nan")
        summary[f"annotators.{name}.agreement"] = agreement
        summary[f"annotators.{name}.kappa"] = float(np.nan_to_num(kappa))
        if np.isfinite(coefficient):
            summary[f"annotators.{name}.length_coefficient"] = float(coefficient)
            summary[f"annotators.{name}.intercept"] = float(intercept)
        rows.append([name, kwargs.get("temperature", 0.0), kwargs.get("flip_rate", 0.0),
                     kwargs.get("length_bias", 0.0), kwargs.get("position_bias", 0.0),
                     round(agreement, 3), round(float(kappa), 3),
                     round(float(coefficient), 3), round(float(intercept), 3),
                     round(float(longer), 3)])
    tracker.log_table("data/annotators", [
        "annotator", "temperature τ", "flip rate ε", "length bias (per 10 tokens)",
        "position bias", "agreement with gold", "Cohen's κ vs gold",
        "measured length coefficient b_len", "measured intercept b₀",
        "longer response preferred"], rows)

    raters = np.stack([annotate(r_a, r_b, rng, **ANNOTATORS["bt"]).labels
                       for _ in range(config.n_raters)], axis=1)
    summary["annotators.bt.fleiss_kappa"] = float(np.nan_to_num(fleiss_kappa(raters)))
    summary["annotators.bt.unanimous_fraction"] = float(np.mean(
        (raters == raters[:, :1]).all(1)))

    tracker.log_table("data/overview", ["quantity", "value"], [
        ["train prompts", config.n_train_prompts], ["test prompts", config.n_test_prompts],
        ["continuations per prompt", config.n_samples],
        ["train pairs", int(summary["data.train_pairs"])],
        ["test pairs", int(summary["data.test_pairs"])],
        [f"pairs dropped as ties (|Δr| < {config.min_margin})",
         round(summary["data.tie_fraction"], 3)],
        ["base model's mean gold reward (test prompts)", round(summary["base.gold_reward"], 4)],
        ["continuations VADER scores exactly 0", round(summary["base.zero_reward_fraction"], 3)],
        ["mean continuation length (tokens)", round(summary["base.mean_length"], 2)],
        ["rank correlation of length and |reward|",
         round(summary["base.length_reward_correlation"], 3)],
        [f"Fleiss' κ of {config.n_raters} bt annotators",
         round(summary["annotators.bt.fleiss_kappa"], 3)]])
    order = np.argsort(-np.abs(r_a - r_b))[:6]
    tracker.log_table("data/examples", ["prompt", "continuation a", "gold a", "continuation b",
                                        "gold b", "bt label"],
                      [[pairs[k].text["prompt"], pairs[k].text["a"], round(pairs[k].reward_a, 3),
                        pairs[k].text["b"], round(pairs[k].reward_b, 3),
                        "a" if pairs[k].labels["bt"] else "b"] for k in order])
    from algorithms.weeks.week09.data_figures import reward_histogram

    tracker.log_figure("data/gold_rewards", reward_histogram(rewards.ravel(), flat_len),
                       "gold reward (VADER compound) of the base model's continuations, and "
                       "against their length")
    return summary
