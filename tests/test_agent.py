"""The drafting agent: draft → check → revise with tools, against the local Messages API (the real
``anthropic`` client) and an OpenAI-compatible endpoint (the real ``openai`` client), with a
scripted model. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from messages_api_server import MessagesAPIServer, Reply

from forge_cli.agent import MAX_TOOL_STEPS, TOOLS, DraftTools
from forge_cli.config import load_settings
from forge_cli.draft_context import build_context
from forge_cli.drafting import DraftJob, draft_week
from forge_cli.llm import ToolCall
from forge_cli.posts import split_front_matter

REPO = Path(__file__).resolve().parents[1]
SCIENTIST_1 = [DraftJob(post=1, edition="scientist")]
FACT = "book-examples.gambler.v50"
CODE = "algorithms/mdp/dynamic_programming.py::value_iteration"
WRONG = "On the gambler's problem $v_*(50)$ = {{ fact:no.such.key }}.\n"
RIGHT = (f"On the gambler's problem $v_*(50)$ = {{{{ fact:{FACT} }}}}.\n\n"
         "{{ figure:heatmaps/heatmaps/gambler }}\n\n"
         f"{{{{ code:{CODE} }}}}\n")



def use_anthropic(monkeypatch, server: MessagesAPIServer, **llm) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("FORGE_LLM__BASE_URL", server.url)
    monkeypatch.setenv("FORGE_LLM__MODEL", "claude-haiku-4-5")
    for name, value in llm.items():
        monkeypatch.setenv(f"FORGE_LLM__{name.upper()}", str(value))


def rounds_kept(project: Path) -> list[Path]:
    folder = project / "blog" / "revisions"
    return sorted(folder.glob("week01-post1-scientist.round*.md")) if folder.is_dir() else []


def post_body(project: Path) -> str:
    return split_front_matter((project / "blog/docs/posts/week01-post1-scientist.md").read_text())[1]


def test_findings_go_back_and_the_revision_lands(week1, monkeypatch):
    script = [Reply.tool_use("lookup_fact", {"key": FACT}, id="toolu_fact"),
              Reply(text=WRONG), Reply(text=RIGHT)]
    with MessagesAPIServer(script=script, count_tokens=1200) as server:
        use_anthropic(monkeypatch, server)
        rounds = []
        (outcome,) = draft_week(load_settings(), 1, SCIENTIST_1,
                                on_round=lambda job, number, findings: rounds.append(
                                    (number, [f.kind for f in findings])))
        sent = [request.body for request in server.requests_to("/v1/messages")]

    assert outcome.error is None and outcome.findings == []
    # round 1 lacks the code walkthrough post 1's brief asks for, and cites an unknown fact
    assert rounds == [(1, ["unknown key", "brief"]), (2, [])]
    assert outcome.usage["rounds"] == 2 and outcome.usage["tool_calls"] == 1
    assert outcome.usage["cost_usd"] > 0
    # the revision is what lands: the fact and the code filled, no trace of the unknown key
    body = post_body(week1)
    assert "= 0.4." in body and "no.such.key" not in body and "**[unknown" not in body
    assert "def value_iteration(" in body
    meta = split_front_matter((week1 / "blog/docs/posts/week01-post1-scientist.md").read_text())[0]
    assert meta["forge"]["usage"]["rounds"] == 2 and list(meta["forge"]["facts"]) == [FACT]
    # each round's text is kept, as the model wrote it, with what the check found
    first, second = rounds_kept(week1)
    assert first.read_text().startswith(WRONG)
    assert "unknown key: fact 'no.such.key' is not in the week's results" in first.read_text()
    assert second.read_text().startswith(RIGHT.rstrip())
    # the server saw the tools, the tool result, then the findings
    assert len(sent) == 3
    assert all([tool["name"] for tool in body["tools"]] == [t.name for t in TOOLS] for body in sent)
    _, call, result = sent[1]["messages"]
    assert call == {"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_fact", "name": "lookup_fact", "input": {"key": FACT}}]}
    [tool_result] = result["content"]
    assert tool_result["type"] == "tool_result" and tool_result["tool_use_id"] == "toolu_fact"
    assert json.loads(tool_result["content"])["value"] == pytest.approx(0.4)
    assert sent[2]["messages"][:3] == sent[1]["messages"]
    answer, findings = sent[2]["messages"][3:]
    assert answer == {"role": "assistant", "content": WRONG}
    assert findings["role"] == "user" and "round 1 of 3" in findings["content"]
    assert "fact 'no.such.key' is not in the week's results" in findings["content"]


def test_the_loop_stops_after_max_rounds(week1, monkeypatch):
    with MessagesAPIServer(script=[Reply(text=WRONG, repeat=True)], count_tokens=100) as server:
        use_anthropic(monkeypatch, server, max_rounds=2)
        (outcome,) = draft_week(load_settings(), 1, SCIENTIST_1)
        requests = len(server.requests_to("/v1/messages"))
    assert requests == 2 and outcome.usage["rounds"] == 2
    unknown, brief = outcome.findings  # what the last round still gets wrong
    assert unknown == "unknown key: fact 'no.such.key' is not in the week's results"
    assert brief.startswith("brief:") and "code block" in brief
    assert outcome.result.unknown_placeholders == ["fact:no.such.key"]
    assert "**[unknown fact: no.such.key]**" in post_body(week1)  # visible for forge check
    assert len(rounds_kept(week1)) == 2


def test_the_cost_cap_covers_the_whole_loop(week1, monkeypatch):
    """Each request is estimated at (1000 × 1.25 + 1000 × 5) / 1e6 = $0.00625 and costs $0.006:
    round 1 fits under a $0.01 cap, round 2 would not, so it is never sent."""
    spend = {"input_tokens": 1000, "output_tokens": 1000}
    with MessagesAPIServer(script=[Reply(text=WRONG, usage=spend), Reply(text=RIGHT)],
                           count_tokens=1000) as server:
        use_anthropic(monkeypatch, server, max_cost_usd=0.01, max_tokens=1000)
        (outcome,) = draft_week(load_settings(), 1, SCIENTIST_1)
        requests = len(server.requests_to("/v1/messages"))
    assert requests == 1
    assert outcome.result is None and "\n" not in outcome.error
    assert "llm.max_cost_usd = $0.01" in outcome.error and "$0.0060" in outcome.error
    assert not (week1 / "blog/docs/posts/week01-post1-scientist.md").exists()
    assert len(rounds_kept(week1)) == 1  # the round that was paid for is kept


def test_a_model_that_keeps_calling_tools_is_stopped(week1, monkeypatch):
    with MessagesAPIServer(script=[Reply.tool_use("list_tables", {}, repeat=True)],
                           count_tokens=100) as server:
        use_anthropic(monkeypatch, server)
        (outcome,) = draft_week(load_settings(), 1, SCIENTIST_1)
        requests = len(server.requests_to("/v1/messages"))
    assert requests == MAX_TOOL_STEPS + 1
    assert "still calling tools" in outcome.error and outcome.result is None
    assert not (week1 / "blog/docs/posts").is_dir() or not list((week1 / "blog/docs/posts").glob("*.md"))


def test_the_openai_backend_runs_the_same_loop(week1, monkeypatch):
    script = [Reply.tool_use("lookup_figure", {"key": "heatmaps/heatmaps/gambler"}, id="call_7"),
              Reply(text=WRONG), Reply(text=RIGHT)]
    with MessagesAPIServer(script=script) as server:
        monkeypatch.setenv("FORGE_LLM__PROVIDER", "openai")
        monkeypatch.setenv("FORGE_LLM__BASE_URL", server.openai_url)
        monkeypatch.setenv("FORGE_LLM__MODEL", "llama3.1:8b")
        (outcome,) = draft_week(load_settings(), 1, SCIENTIST_1)
        sent = [request.body for request in server.requests_to("/v1/chat/completions")]
    assert outcome.error is None and outcome.usage["rounds"] == 2
    assert outcome.usage["cost_usd"] is None  # a local model has no price
    assert "= 0.4." in post_body(week1)
    assert len(sent) == 3 and all(body["stream"] is True for body in sent)
    assert sent[0]["tools"][0] == {"type": "function", "function": {
        "name": TOOLS[0].name, "description": TOOLS[0].description,
        "parameters": TOOLS[0].input_schema}}
    call, result = sent[1]["messages"][2:]
    assert call["tool_calls"] == [{"id": "call_7", "type": "function", "function": {
        "name": "lookup_figure", "arguments": json.dumps({"key": "heatmaps/heatmaps/gambler"})}}]
    assert result["role"] == "tool" and result["tool_call_id"] == "call_7"
    assert "caption" in json.loads(result["content"])
    answer, findings = sent[2]["messages"][4:]
    assert answer == {"role": "assistant", "content": WRONG}
    assert "fact 'no.such.key'" in findings["content"] and findings["role"] == "user"


def test_the_offline_drafter_does_not_loop(week1):
    (first,) = draft_week(load_settings(), 1, SCIENTIST_1)
    assert first.result.action == "created" and first.findings == [] and first.usage == {}
    assert not (week1 / "blog" / "revisions").exists()
    (again,) = draft_week(load_settings(), 1, SCIENTIST_1)
    assert again.result.action == "unchanged"  # deterministic: the same text


def test_tools_answer_from_the_draft_context(week1):
    tools = DraftTools(load_settings(), build_context(load_settings(), 1, 1, "scientist"))

    def ask(name: str, **args):
        result = tools.answer(ToolCall(id="t", name=name, input=args))
        return result.is_error, (result.content if result.is_error else json.loads(result.content))

    error, fact = ask("lookup_fact", key=FACT)
    assert not error and fact["value"] == pytest.approx(0.4) and fact["n"] == 1
    assert fact["placeholder"] == f"{{{{ fact:{FACT} }}}}"
    error, message = ask("lookup_fact", key="book-examples.gambler.v51")
    assert error and FACT in message  # the nearest keys are suggested
    error, tables = ask("list_tables")
    assert not error and tables and {"key", "columns", "rows", "placeholder"} <= set(tables[0])
    error, table = ask("lookup_table", key=tables[0]["key"])
    assert not error and table["columns"] == tables[0]["columns"]
    error, figure = ask("lookup_figure", key="heatmaps/heatmaps/gambler")
    assert not error and figure["caption"]
    error, code = ask("lookup_code", ref=CODE)
    assert not error and code["source"].startswith("def value_iteration(")
    assert code["placeholder"] == f"{{{{ code:{CODE} }}}}"
    error, message = ask("lookup_code", ref="algorithms/mdp/dynamic_programming.py::no_such")
    assert error and "no_such" in message
    assert ask("lookup_code", ref="../forge.toml::x")[0]  # only algorithms/ may be read
    error, section = ask("read_notes_section", heading="Derivations")
    assert not error and section["text"]
    error, message = ask("read_notes_section", heading="nope")
    assert error and "derivations" in message
    assert ask("lookup_fact")[1] == "the input needs 'key', a non-empty string"
    assert ask("rm_rf", path="/")[0]
