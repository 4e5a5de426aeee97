"""Red-teaming (``algorithms.safety.red_team``): detectors, attack success rate, mutations, the
hill-climbing search keeping only improvements; and the ``red-team`` smoke run."""

from __future__ import annotations

import math

import numpy as np
import pytest

from algorithms.experiment import experiments_for
from algorithms.preference.constitution import load_constitution
from algorithms.safety.red_team import (LexiconDetector, RedTeamConfig, VaderDetector,
                                        attack_success_rate, constitution_negative_words,
                                        flag_matrix, make_detectors, mutate, mutation_search,
                                        target_scorer)
from recording_tracker import smoke_runs


def test_detectors_flag_negative_text():
    texts = ["The dog was sad and scared and cried.", "They played happily together.", ""]
    assert VaderDetector()(texts).tolist() == [True, False, False]
    words = constitution_negative_words(load_constitution())
    assert {"sad", "scared", "monster"} <= words and "happy" not in words
    assert LexiconDetector(words)(texts).tolist() == [True, False, False]
    assert LexiconDetector(words, min_hits=3)(texts).tolist() == [True, False, False]
    assert LexiconDetector(words, min_hits=4)(texts).tolist() == [False, False, False]
    flags = flag_matrix(make_detectors(["vader", "lexicon"], load_constitution()), texts)
    assert flags.shape == (2, 3)
    with pytest.raises(ValueError, match="unknown or no detectors"):
        make_detectors(["toxicity"], load_constitution())


def test_attack_success_rate_is_the_flagged_share_of_all_samples():
    flags = np.array([[1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]], dtype=bool)
    asr, per_prompt = attack_success_rate(flags)
    assert asr == pytest.approx(0.5) and per_prompt.tolist() == [0.5, 0.0, 1.0]
    with pytest.raises(ValueError):
        attack_success_rate(np.zeros((0, 3)))


def test_a_mutation_inserts_or_substitutes_one_vocabulary_word():
    rng = np.random.default_rng(0)
    for _ in range(50):
        out = mutate("the dog ran home", ["wolf"], rng).split()
        assert out.count("wolf") == 1 and len(out) in (4, 5)
    assert mutate("", ["wolf"], rng) == "wolf"
    assert len(mutate("a b c", ["wolf"], rng, p_insert=1.0, max_words=3).split()) == 3


def test_mutation_search_keeps_only_improvements():
    def sad_share(texts, round_):  # a deterministic "target": the prompt's share of 'sad'
        return np.array([t.split().count("sad") / max(1, len(t.split())) for t in texts])

    seeds = ["the dog ran home", "a cat sat on the mat"]
    config = RedTeamConfig(vocabulary=("sad", "dog"), rounds=5, children=3, seed=1)
    result = mutation_search(seeds, sad_share, config)
    assert np.all(np.diff(result.history) >= 0) and result.history[-1] > result.history[0]
    assert np.allclose(result.scores, sad_share(result.prompts, 0))
    assert len(result.accepted) == 5 and sum(result.accepted) >= 1

    def nothing_helps(texts, round_):  # mutants always score below the seeds
        return np.zeros(len(texts)) if round_ else np.ones(len(texts))

    unchanged = mutation_search(seeds, nothing_helps, config)
    assert unchanged.prompts == seeds and sum(unchanged.accepted) == 0


def test_rescoring_rejects_mutants_that_were_only_lucky():
    calls = []

    def lucky(texts, call):  # mutants look better on the selecting call, never on a fresh one
        calls.append(call)
        return np.full(len(texts), 1.0 if call % 2 else 0.5)

    seeds = ["the dog ran home"]
    naive = mutation_search(seeds, lucky, RedTeamConfig(rounds=2, rescore=False))
    assert naive.prompts != seeds  # fooled by the lucky estimates
    calls.clear()
    careful = mutation_search(seeds, lucky, RedTeamConfig(rounds=2, rescore=True))
    assert careful.prompts == seeds and sum(careful.accepted) == 0
    assert calls == [0, 1, 2, 3, 4]  # a distinct call number each time: fresh samples


def test_the_target_scorer_averages_flags_per_prompt():
    score = target_scorer(lambda prompts, r: [["sad", "happy"], ["sad", "sad"]],
                          [LexiconDetector(frozenset({"sad"}))])
    assert score(["a", "b"], 0).tolist() == [0.5, 1.0]


def test_bad_search_settings_are_refused():
    with pytest.raises(ValueError, match="vocabulary"):
        RedTeamConfig(vocabulary=())
    with pytest.raises(ValueError, match="p_insert"):
        RedTeamConfig(p_insert=2.0)
    config = experiments_for(11)["red-team"].config
    with pytest.raises(ValueError, match="unknown or no targets"):
        config.for_profile("smoke", targets=["gpt"])
    with pytest.raises(ValueError, match="unknown or no detectors"):
        config.for_profile("smoke", detectors=["toxicity"])


def test_red_team_smoke_run_reports_asr_against_base_and_cai_models():
    exp = experiments_for(11)["red-team"]
    assert exp.covers == (4,)
    summary, tracker = smoke_runs({"red-team": exp})["red-team"]
    assert summary["feedback.offline"] == 1.0
    assert all(isinstance(v, float) and math.isfinite(v) for v in summary.values())
    for name in ("seed_openings", "sampled_red_team", "mutated_vs_base", "mutated_vs_rl_cai"):
        for target in ("base", "sl_cai", "rl_cai"):
            assert 0.0 <= summary[f"asr.{name}.{target}"] <= 1.0
    assert {"search.base.seed_estimated", "search.base.final_estimated"} <= set(summary)
    assert {"red_team/asr", "red_team/attacks"} <= set(tracker.tables)
    assert "red_team/asr" in tracker.figures
