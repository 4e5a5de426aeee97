"""Weeks 4 (preference half) and 10 at the smoke profile: the offline preference methods, GRPO,
PPO for text and the reward–KL frontier run on week 9's pairs and report their tables."""

from __future__ import annotations

import math

import pytest
from recording_tracker import smoke_runs

from algorithms.experiment import experiments_for


@pytest.fixture(scope="module")
def runs():
    week4, week8, week9, week10 = (experiments_for(w) for w in (4, 8, 9, 10))
    smoke_runs({"lm-base": week8["lm-base"]})
    smoke_runs({"preference-data": week9["preference-data"]})
    return smoke_runs({**{n: week4[n] for n in ("preference-optimization", "grpo")},
                       **week10})


def test_every_run_reports_finite_numbers_tables_and_figures(runs):
    assert set(runs) == {"preference-optimization", "grpo", "ppo-rlhf", "reward-kl-frontier"}
    for name, (summary, tracker) in runs.items():
        assert summary and tracker.tables and tracker.figures, name
        assert all(math.isfinite(v) for v in summary.values()), name


def test_the_offline_methods_are_tabled_beside_the_base_model(runs):
    summary, tracker = runs["preference-optimization"]
    _, rows = tracker.tables["preference/methods"]
    assert rows[0][0] == "base model (reference)"
    assert [r[0] for r in rows[1:]] == ["DPO β=0.1", "IPO β=0.1", "SimPO β=2", "KTO β=0.1"]
    assert 0 <= summary["dpo_beta0.1.preference_accuracy"] <= 1


def test_grpo_logs_reward_and_the_frontier_has_every_family(runs):
    summary, tracker = runs["grpo"]
    assert {"grpo/sentiment", "grpo/arithmetic"} <= set(tracker.tables)
    assert any(k.endswith("/reward") for _, metrics in tracker.logs for k in metrics)
    _, rows = runs["reward-kl-frontier"][1].tables["frontier/points"]
    assert {r[1] for r in rows} == {"base", "PPO", "best-of-n", "DPO", "IPO", "SimPO", "KTO",
                                    "GRPO"}
    summary, _ = runs["reward-kl-frontier"]
    assert summary["bon_n1.kl"] == 0.0 and summary["bon_n2.kl"] == pytest.approx(math.log(2) - 0.5)
    assert {"ppo/dynamics"} <= set(runs["ppo-rlhf"][1].figures)


@pytest.mark.parametrize("build, needle", [
    (lambda: experiments_for(4)["preference-optimization"].config.for_profile(
        "smoke", runs=[("dpo", 0.0)]), "beta must be a finite number > 0"),
    (lambda: experiments_for(4)["preference-optimization"].config.for_profile(
        "smoke", runs=[("ipo", -0.5)]), "beta must be a finite number > 0"),
    (lambda: experiments_for(4)["grpo"].config.for_profile(
        "smoke", sentiment={"group_size": 1}), "group_size must be an integer >= 2"),
    (lambda: experiments_for(10)["ppo-rlhf"].config.for_profile(
        "smoke", ppo={"init_kl_coef": -1.0}), "KL coefficient β must be"),
    (lambda: experiments_for(10)["reward-kl-frontier"].config.for_profile(
        "smoke", offline_betas=[0.0]), "beta must be a finite number > 0"),
])
def test_a_bad_beta_or_group_size_is_refused_in_one_line(build, needle):
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as caught:
        build()
    message = caught.value.errors()[0]["msg"]
    assert needle in message and "\n" not in message
