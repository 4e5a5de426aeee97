"""An LLM judges constitutional preference pairs (``Tracker.llm_judge``): with a key, `forge
run` hands the experiment the configured provider, here the real ``anthropic`` client against a
local Messages API server, retrying a rate-limited call; without one, the offline judge is used
and named a stand-in."""

from __future__ import annotations

import json

from messages_api_server import Reply, messages_api_server  # noqa: F401

from forge_cli.config import load_settings
from forge_cli.runner import RunPlan, run_plan
from forge_cli.store import RunStore


def _constitutional_run(project):
    run_plan(RunPlan(week=9, profile="smoke", only=["constitutional-labels"]),
             load_settings(project))
    (record,) = RunStore(project / "runs").runs(9, "constitutional-labels")
    folder = project / "runs" / "week09" / "constitutional-labels" / record.id
    tables = {p.stem: json.loads(p.read_text()) for p in (folder / "tables").glob("*.json")}
    return record, tables


def test_with_a_key_the_configured_llm_judges_and_its_calls_are_counted(
        project, monkeypatch, messages_api_server):
    server = messages_api_server([Reply.rate_limited(retry_after="0"),
                                  Reply(text="A", repeat=True)])
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("FORGE_LLM__BASE_URL", server.url)
    monkeypatch.setenv("FORGE_LLM__MODEL", "claude-haiku-4-5")
    record, tables = _constitutional_run(project)
    assert record.summary["judge.llm_calls"] == 4  # the smoke profile's llm_pairs
    assert record.summary["judge.llm_retries"] == 1
    requests = server.requests_to("/v1/messages")
    body = requests[-1].body
    assert "kinder and happier" in json.dumps(body["system"])  # the constitution, shared
    assert "Continuation A" in json.dumps(body["messages"])
    rows = tables["constitution__principles"]["rows"]
    assert rows[-1][1] == "LLM judge (anthropic: claude-haiku-4-5)"


def test_without_a_key_the_offline_judge_is_named_a_stand_in(project):
    record, tables = _constitutional_run(project)
    assert "judge.llm_calls" not in record.summary
    assert "stand-in for an LLM judge" in tables["constitution__principles"]["rows"][-1][1]
