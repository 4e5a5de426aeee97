"""Constitutional AI (``algorithms.safety.constitutional_ai``): best-of-n revision picks the
judge's best, the SFT loss reads completion tokens only, SL-CAI learns its revisions, AI labels
become DPO pairs, the evaluation's judges; and the ``constitutional-ai`` smoke run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from algorithms.experiment import experiments_for
from algorithms.lm.config import LMConfig
from algorithms.lm.model import LanguageModel
from algorithms.preference.constitution import OFFLINE_JUDGE, RuleJudge, load_constitution
from algorithms.preference.sequences import completion_batch
from algorithms.safety.constitutional_ai import (CAIConfig, SFTConfig, ai_preference_pairs,
                                                 best_of_n_revision, evaluate_policy,
                                                 llm_revise, sample_grouped, sft_loss,
                                                 train_constitutional, train_sft)
from recording_tracker import smoke_runs


def _model(seed: int = 0) -> LanguageModel:
    torch.manual_seed(seed)
    return LanguageModel(LMConfig(vocab_size=8, d_model=16, n_layers=1, n_heads=2,
                                  max_seq_len=32, multiple_of=8))


WORDS = ["happy", "sad", "the", "dog", "ran", "friend", "cried", "."]


def _decode(ids) -> str:
    return " ".join(WORDS[i] for i in ids)


JUDGE = RuleJudge(load_constitution())


def test_best_of_n_revision_picks_the_candidate_the_judge_prefers_to_every_other():
    candidates = ["the dog was sad and cried", "the dog was happy with a friend.",
                  "the dog ran", "the dog ran the dog ran the dog ran"]
    best, scores = best_of_n_revision(JUDGE, "Once", candidates)
    assert best == 1
    for j, other in enumerate(candidates):
        if j != best:
            assert JUDGE.compare("Once", candidates[best], other).label == 1
    assert scores[best] == scores.max() and scores.sum() == pytest.approx(0.0)
    assert best_of_n_revision(JUDGE, "Once", ["only one"])[0] == 0
    with pytest.raises(ValueError):
        best_of_n_revision(JUDGE, "Once", [])


def test_sft_loss_is_the_cross_entropy_of_the_completion_tokens_only():
    model = _model()
    prompts, completions = [[1, 2, 3], [4]], [[5, 6], [7, 1, 2]]
    batch = completion_batch(prompts, completions, "cpu")
    logits = model(batch.ids[:, :-1])
    terms = []
    for row, (p, c) in enumerate(zip(prompts, completions)):
        for t in range(len(c)):
            position = len(p) - 1 + t  # the logits at |x| − 1 + t predict y_t
            terms.append(F.cross_entropy(logits[row, position][None].float(),
                                         torch.tensor([c[t]])))
    assert float(sft_loss(model, batch)) == pytest.approx(float(torch.stack(terms).mean()),
                                                          abs=1e-5)
    # a row with an empty completion adds no targets: its prompt is never a target
    padded = completion_batch(prompts + [[1, 2, 3, 4, 5]], completions + [[]], "cpu")
    assert float(sft_loss(model, padded)) == pytest.approx(float(sft_loss(model, batch)),
                                                           abs=1e-5)


def test_sft_learns_the_revisions_and_rejects_bad_settings():
    model = _model()
    examples = [([1, 2], [3, 3, 3])] * 4
    batch = completion_batch([e[0] for e in examples], [e[1] for e in examples], "cpu")
    before = float(sft_loss(model, batch))
    history = train_sft(model, examples, SFTConfig(steps=40, batch_size=4, lr=1e-2))
    assert float(sft_loss(model, batch)) < before / 2 and history[-1]["loss"] < before
    with pytest.raises(ValueError, match="SFTConfig needs"):
        SFTConfig(steps=0)
    with pytest.raises(ValueError, match="non-empty revision"):
        train_sft(model, [([1], [])], SFTConfig(steps=1))


def test_ai_preference_pairs_follow_the_judge_and_drop_ties():
    prompts = [[0], [0]]
    samples = [[[0, 3, 7], [1, 3, 7], [2, 3], [2, 3]],  # happy beats sad; a tie
               [[5], [6]]]  # friend beats cried
    pairs, dropped = ai_preference_pairs(JUDGE, prompts, ["x", "x"], samples, _decode)
    assert dropped == 1
    assert pairs == [([0], [0, 3, 7], [1, 3, 7]), ([0], [5], [6])]


def test_llm_revision_asks_for_a_critique_then_a_revision():
    calls = []

    def ask(system, shared, prompt):
        calls.append(prompt)
        return "Too sad." if len(calls) == 1 else "Revision: They played happily."

    out = llm_revise(ask, load_constitution(), "Once", "They cried.")
    assert out == "They played happily." and "Critique: Too sad." in calls[1]
    assert llm_revise(lambda *a: "", load_constitution(), "Once", "They cried.") == "They cried."


def test_the_pipeline_and_evaluation_run_on_a_tiny_model():
    base = _model()
    for p in base.parameters():
        p.requires_grad_(False)
    prompts = [[0, 1], [0, 2], [3], [4]]
    config = CAIConfig(n_revision=3, n_preference=4, max_new_tokens=4,
                       sft=SFTConfig(steps=3, batch_size=2), dpo={"steps": 2, "batch_size": 2})
    result = train_constitutional(base, prompts, _decode, lambda t: [], JUDGE, config, None, 0)
    assert len(result.revisions) == 4 and result.revision_judge_gain >= 0
    assert all(p.requires_grad for p in result.sl_model.parameters())
    assert all(not p.requires_grad for p in base.parameters())
    groups = sample_grouped(base, prompts, 2, 4, None, 0)
    assert [len(g) for g in groups] == [2, 2, 2, 2]
    metrics = evaluate_policy(base, base, prompts, 2, 4, _decode, None, 0,
                              {"sad": lambda texts: np.array(["sad" in t for t in texts])})
    assert metrics["kl"] == pytest.approx(0.0, abs=1e-5)  # the base against itself
    assert 0 <= metrics["negative_share"] <= 1 and metrics["length"] == 4
    assert metrics["fluency"] < 0 and 0 <= metrics["sad_flagged"] <= 1


def test_constitutional_ai_smoke_run_names_its_judges():
    exp = experiments_for(11)["constitutional-ai"]
    assert exp.covers == (1,)
    summary, tracker = smoke_runs({"constitutional-ai": exp})["constitutional-ai"]
    assert summary["feedback.offline"] == 1.0
    assert all(isinstance(v, float) and math.isfinite(v) for v in summary.values())
    for split in ("red_team", "ordinary"):
        for model in ("base", "sl_cai", "rl_cai"):
            for metric in ("negative_share", "compound", "fluency", "length", "kl"):
                assert f"{split}.{model}.{metric}" in summary
                assert f"{split}.{model}.{metric}_ci95" in summary
    assert summary["red_team.base.kl"] == pytest.approx(0.0, abs=1e-4)
    columns, rows = tracker.tables["cai/results"]
    assert any(OFFLINE_JUDGE in str(cell) for row in rows for cell in row)
    assert OFFLINE_JUDGE in tracker.tables["cai/revisions"][0][2]
    assert OFFLINE_JUDGE in tracker.figures["cai/before_after"]


def test_bad_configs_are_refused_in_one_line():
    config = experiments_for(11)["constitutional-ai"].config
    with pytest.raises(ValueError, match="pool of at least"):
        config.for_profile("smoke", pool=3)
    with pytest.raises(ValueError, match="SFTConfig needs"):
        config.for_profile("smoke", sft={"lr": -1.0})
    with pytest.raises(ValueError):
        config.for_profile("smoke", dpo={"beta": 0.0})


def test_with_an_llm_the_llm_revises_and_labels_and_the_results_say_so():
    from recording_tracker import RecordingTracker, make_artifacts

    exp = experiments_for(11)["constitutional-ai"]
    make_artifacts(exp)
    asked = []

    def ask(system, shared, prompt):
        asked.append(system)
        if "Which continuation" in prompt:
            return "A"
        return "The friends played and smiled." if "Rewrite" in prompt else "It is unkind."

    ask.name, ask.calls = "fake LLM", 0
    tracker = RecordingTracker()
    tracker.judge = ask
    summary = exp.fn(exp.config.for_profile("smoke"), tracker)
    assert summary["feedback.offline"] == 0.0 and "feedback.llm_calls" in summary
    assert len(asked) >= 2 * 4  # a critique and a revision per train prompt (llm_prompts)
    assert "critique → revision by fake LLM" in tracker.tables["cai/revisions"][0][2]
    assert any("The friends played" in row[2] for row in tracker.tables["cai/revisions"][1])
