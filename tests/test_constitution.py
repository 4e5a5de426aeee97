"""Constitutional preference labels (``algorithms.preference.constitution``): the shipped
constitution loads, each rule scores as stated, the judge's vote is the weighted sum, and a bad
constitution is one line."""

from __future__ import annotations

import pytest

from algorithms.preference.constitution import (OFFLINE_JUDGE, Principle, RuleJudge,
                                                load_constitution)


def test_the_shipped_constitution_loads_with_every_rule():
    constitution = load_constitution()
    assert {p.rule for p in constitution.principles} == {"lexicon", "distinct-bigrams",
                                                         "ends-sentence"}
    assert all(p.text.endswith("?") for p in constitution.principles)


def test_each_rule_scores_as_stated():
    kind = Principle("kindness", "?", "lexicon", positive=frozenset({"happy", "friend"}),
                     negative=frozenset({"sad"}))
    assert kind.score("The happy friend was sad.") == pytest.approx((2 - 1) / 5)
    repeat = Principle("no-repetition", "?", "distinct-bigrams")
    assert repeat.score("a b a b") == pytest.approx(2 / 3) and repeat.score("one") == 1.0
    ends = Principle("complete", "?", "ends-sentence")
    assert ends.score('She said "yes!"') == 1.0 and ends.score("and then she") == 0.0


def test_the_judge_prefers_the_kinder_response_and_abstains_on_a_balance():
    judge = RuleJudge(load_constitution())
    verdict = judge.compare("Once", "They were happy friends and played together.",
                            "He was sad and scared and alone and")
    assert verdict.label == 1 and verdict.votes["kindness"] == 1 and verdict.margin > 0
    assert judge.compare("Once", "the end.", "the end.").label is None
    assert "stand-in for an LLM judge" in OFFLINE_JUDGE == judge.name


@pytest.mark.parametrize("text, needle", [
    ("name = 'x'", "at least one [[principle]]"),
    ("[[principle]]\nname = 'a'\ntext = 'b'\nrule = 'vibes'", "'rule' must be one of"),
    ("[[principle]]\nname = 'a'\ntext = 'b'\nrule = 'lexicon'", "needs positive or negative"),
    ("[[principle]]\nname = 'a'\ntext = 'b'\nrule = 'ends-sentence'\nweight = 0",
     "'weight' must be a number > 0"),
    ("[[principle", "not a readable TOML constitution")])
def test_a_bad_constitution_is_one_line(tmp_path, text, needle):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ValueError) as caught:
        load_constitution(path)
    assert needle in str(caught.value) and "\n" not in str(caught.value)
