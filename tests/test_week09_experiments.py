"""Week 9's language-model experiments at the smoke profile: ``preference-data`` stores pairs
every annotator has labelled and measures them; ``reward-models`` trains both towers, their
ensembles and the active-elicitation curves on them; a mismatched tokenizer is refused."""

from __future__ import annotations

import json
import math

import pytest
from recording_tracker import RecordingTracker, smoke_runs

from algorithms.experiment import InputError, experiments_for
from algorithms.preference.pairs import META_FILE, read_meta, read_pairs
from algorithms.weeks.week09.common import ANNOTATORS, PAIRS_ARTIFACT


@pytest.fixture(scope="module")
def runs():
    week8, week9 = experiments_for(8), experiments_for(9)
    smoke_runs({"lm-base": week8["lm-base"]})  # the base model the pairs are sampled from
    return smoke_runs({name: week9[name] for name in ("preference-data", "reward-models",
                                                       "constitutional-labels")})


def test_the_pairs_are_stored_labelled_by_every_annotator(runs):
    summary, tracker = runs["preference-data"]
    folder = tracker.use_artifact(PAIRS_ARTIFACT)
    pairs = read_pairs(folder)
    assert len(pairs) == summary["data.train_pairs"] + summary["data.test_pairs"]
    assert {p.split for p in pairs} == {"train", "test"}
    assert all(set(p.labels) == set(ANNOTATORS) and p.text for p in pairs)
    assert read_meta(folder)["vocab_size"] > 0
    gold = [p for p in pairs if p.reward_a != p.reward_b]
    assert all(p.labels["gold"] == int(p.reward_a > p.reward_b) for p in gold)
    assert set(tracker.tables) == {"data/annotators", "data/overview", "data/examples"}
    assert "data/gold_rewards" in tracker.figures
    assert all(math.isfinite(v) for v in summary.values())


def test_reward_models_report_towers_ensembles_noise_and_active_curves(runs):
    summary, tracker = runs["reward-models"]
    assert all(math.isfinite(v) for v in summary.values())
    for key in ("shared.test_accuracy", "separate.test_accuracy",
                "ensemble.worst_case.test_accuracy", "calibration.ensemble.ece", "noise.auroc",
                "active.random.final_accuracy", "active.disagreement.final_accuracy"):
        assert 0 <= summary[key] <= 1, key
    assert {"rewards/towers", "rewards/ensemble", "rewards/uncertainty",
            "rewards/active"} <= set(tracker.tables)
    _, active = tracker.tables["rewards/active"]
    assert [row[0] for row in active] == sorted(row[0] for row in active)
    assert {"rewards/reliability", "rewards/active"} <= set(tracker.figures)


def test_pairs_from_another_tokenizer_are_refused(runs):
    _, data_tracker = runs["preference-data"]
    folder = data_tracker.use_artifact(PAIRS_ARTIFACT)
    meta = read_meta(folder)
    try:
        (folder / META_FILE).write_text(json.dumps({**meta, "vocab_size": meta["vocab_size"] + 1}))
        experiment = experiments_for(9)["reward-models"]
        with pytest.raises(InputError, match="tokenizers do not match"):
            experiment.fn(experiment.config.for_profile("smoke"), RecordingTracker())
    finally:
        (folder / META_FILE).write_text(json.dumps(meta))


def test_the_constitutional_judge_is_named_a_stand_in_and_scored_against_gold(runs):
    summary, tracker = runs["constitutional-labels"]
    _, principles = tracker.tables["constitution/principles"]
    assert "stand-in for an LLM judge" in principles[-1][1]
    _, models = tracker.tables["constitution/reward_models"]
    assert "stand-in for an LLM judge" in models[0][0]
    assert 0 <= summary["judge.abstain_fraction"] <= 1
    assert 0 <= summary["rm.gold.test_accuracy"] <= 1
