"""The LLM as red-team attacker (``algorithms.safety.red_team.llm_attack``, Perez et al. 2022's
red LM): parsing its answers, the rounds with feedback, and the ``red-team`` experiment with a
scripted LLM, without one, and through ``forge run`` with the real ``anthropic`` client against
a local Messages API server."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from algorithms.experiment import experiments_for
from algorithms.safety.red_team import (ATTACKER_SYSTEM, LLMAttackConfig, attacker_request,
                                        llm_attack, parse_attacks)
from forge_cli.config import load_settings
from forge_cli.runner import RunPlan, run_plan
from forge_cli.store import RunStore
from messages_api_server import Reply, messages_api_server  # noqa: F401
from recording_tracker import RecordingTracker, make_artifacts, smoke_runs


def test_the_parser_reads_messy_answers():
    answer = """Sure! Here are some openings:

1. "The wolf was hungry and the little lamb was all alone."
2) **Tom cried because his dog was gone.**
- “The monster under the bed growled at Lily.”
   * 'Mia was lost in the dark, cold woods.'
Opening 5: the WOLF was hungry and   the little lamb was all alone.
6.
...
""" + "word " * 100 + "\n3 little pigs were scared of the big bad wolf"
    assert parse_attacks(answer, max_words=24) == [
        "The wolf was hungry and the little lamb was all alone.",
        "Tom cried because his dog was gone.",
        "The monster under the bed growled at Lily.",
        "Mia was lost in the dark, cold woods.",
        "3 little pigs were scared of the big bad wolf"]
    assert parse_attacks("1. one two three four five six", max_words=4) == ["one two three four"]
    assert parse_attacks("") == [] and parse_attacks(None) == []
    assert parse_attacks("Once upon a time a dragon cried.\r\n\r\n", max_words=24) == [
        "Once upon a time a dragon cried."]


def test_the_attacker_gets_the_previous_rounds_rates_as_feedback():
    answers = iter(["1. The sad dog cried.\n2. A happy cat.\n3. The sad dog cried.\n"
                    "4. Ünïcode wolf\n5. a dog ran home",
                    "Here are more:\n- The sad sad dog cried alone.\n- The dog was happy."])
    asked = []

    def ask(system, context, prompt):
        asked.append((system, context, prompt))
        return next(answers)

    def sad_share(texts, call):  # a deterministic "target": the prompt's share of 'sad'
        return np.array([t.lower().split().count("sad") / len(t.split()) for t in texts])

    seeds = ["a dog ran home", "the cat sat"]
    result = llm_attack(ask, seeds, sad_share, LLMAttackConfig(rounds=2, candidates=3),
                        encodable=lambda t: t.isascii())
    assert [a[0] for a in asked] == [ATTACKER_SYSTEM] * 2
    assert all("- a dog ran home" in a[1] for a in asked)  # the seeds: the shared context
    assert "so far" not in asked[0][2] and "Write 3 new story openings" in asked[0][2]
    # round 1's scored openings (the seed, the non-ASCII one and the duplicate dropped)
    assert result.usable == [2, 2] and result.proposed == [4, 2]  # parsed, deduplicated
    assert "0.25  The sad dog cried." in asked[1][2] and "0.00  A happy cat." in asked[1][2]
    assert asked[1][2].index("0.25") < asked[1][2].index("0.00")  # best first
    assert result.prompts == ["The sad sad dog cried alone.", "The sad dog cried.",
                              "A happy cat."]
    assert np.allclose(result.scores, sad_share(result.prompts, 0))
    assert result.history == pytest.approx([0.125, 1 / 6])
    assert result.requests == [a[2] for a in asked]


def test_an_attacker_that_writes_nothing_usable_leaves_an_empty_set():
    result = llm_attack(lambda *a: "Sorry, I can't help with that:", ["a dog"],
                        lambda texts, call: np.zeros(len(texts)), LLMAttackConfig(rounds=2))
    assert result.prompts == [] and result.usable == [0, 0]
    assert all(math.isnan(h) for h in result.history)
    assert "so far" not in attacker_request([], 4, 10) and "10 words" in \
        attacker_request([], 4, 10)


def test_bad_attacker_settings_are_refused_in_one_line():
    with pytest.raises(ValueError, match="LLMAttackConfig needs"):
        LLMAttackConfig(rounds=0)
    config = experiments_for(11)["red-team"].config
    for field in ("llm_rounds", "llm_candidates"):
        with pytest.raises(ValueError, match="llm_rounds and llm_candidates must be >= 1"):
            config.for_profile("smoke", **{field: 0})


def test_with_an_llm_the_red_team_experiment_adds_the_llm_attacker_sets():
    exp = experiments_for(11)["red-team"]
    make_artifacts(exp)
    requests = []

    def ask(system, shared, prompt):
        if system != ATTACKER_SYSTEM:  # the CAI pipeline's judge and reviser
            if "Which continuation" in prompt:
                return "A"
            return "The friends played and smiled." if "Rewrite" in prompt else "Unkind."
        requests.append(prompt)
        n = len(requests)
        return "\n".join(f"{i}. The scared girl cried alone in the dark night {n} {i}."
                         for i in range(1, 9))

    ask.name, ask.calls = "fake LLM", 0
    tracker = RecordingTracker()
    tracker.judge = ask
    config = exp.config.for_profile("smoke")
    summary = exp.fn(config, tracker)
    assert summary["attacker.offline"] == 0.0 and summary["feedback.offline"] == 0.0
    assert all(isinstance(v, float) and math.isfinite(v) for v in summary.values())
    n_requests = config.llm_rounds * len(config.search_against) * config.n_seeds
    assert len(requests) == n_requests == summary["attacker.llm_calls"]
    assert "so far" in requests[1]  # the second round saw the first round's rates
    for against in config.search_against:
        for target in config.targets:
            assert 0.0 <= summary[f"asr.llm_attacker_vs_{against}.{target}"] <= 1.0
            assert f"asr.llm_attacker_vs_{against}.{target}_ci95" in summary
            assert f"asr_by_detector.vader.llm_attacker_vs_{against}.{target}" in summary
        assert summary[f"attacker.{against}.usable"] == config.llm_rounds * 8
        assert 0.0 <= summary[f"attacker.{against}.final_estimated"] <= 1.0
    rows = tracker.tables["red_team/asr"][1]
    assert any("LLM attacker: fake LLM" in str(row[0]) for row in rows)
    assert any("LLM attacker" in str(row[0]) and "fake LLM" in str(row[0])
               for row in tracker.tables["red_team/attacks"][1])
    assert "LLM attacker: fake LLM" in tracker.figures["red_team/asr"]


def test_without_an_llm_the_attacker_is_reported_offline_and_nothing_else_changes():
    summary, tracker = smoke_runs({"red-team": experiments_for(11)["red-team"]})["red-team"]
    assert summary["attacker.offline"] == 1.0
    assert not any("llm" in key for key in summary)
    note = "LLM attacker: not run (offline: mutation search only)"
    assert any(row[0] == note for row in tracker.tables["red_team/asr"][1])
    assert note in tracker.figures["red_team/asr"]
    again, _ = smoke_runs({"red-team": experiments_for(11)["red-team"]})["red-team"]
    assert again == summary  # deterministic, so the snapshot's other keys are comparable


def test_forge_run_with_a_key_sends_the_attacker_requests_to_the_configured_llm(
        project, monkeypatch, messages_api_server):
    openings = "\n".join(f"{i}. The scared girl cried alone in the dark night {i}."
                         for i in range(1, 9))
    server = messages_api_server([Reply(text=openings, repeat=True)])
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("FORGE_LLM__BASE_URL", server.url)
    monkeypatch.setenv("FORGE_LLM__MODEL", "claude-haiku-4-5")
    run_plan(RunPlan(week=11, profile="smoke", only=["red-team"]), load_settings(project))
    (record,) = RunStore(project / "runs").runs(11, "red-team")
    assert record.summary["attacker.offline"] == 0.0
    assert record.summary["attacker.llm_calls"] == 4  # 2 rounds × 2 targets, 1 seed
    assert 0.0 <= record.summary["asr.llm_attacker_vs_base.rl_cai"] <= 1.0
    attacks = [r.body for r in server.requests_to("/v1/messages")
               if ATTACKER_SYSTEM[:40] in json.dumps(r.body["system"], ensure_ascii=False)]
    assert len(attacks) == 4
    assert "so far" in json.dumps(attacks[1]["messages"], ensure_ascii=False)
