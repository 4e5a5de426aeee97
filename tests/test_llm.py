"""The LLM backends against a local fake of the Messages API (the real ``anthropic`` client talks to
it) and of an OpenAI-compatible endpoint. Nothing leaves 127.0.0.1; no test really sleeps."""

from __future__ import annotations

import math
import random
import subprocess
import sys
from pathlib import Path

import pytest
from messages_api_server import MessagesAPIServer, Reply, messages_api_server  # noqa: F401

from forge_cli.config import LLMSettings, ModelPrice, Settings
from forge_cli.errors import ForgeError
from forge_cli.llm import (CostCapExceeded, LLMError, LLMRequest, ToolCall, ToolResult, ToolSpec,
                           Turn, Usage, cost_usd, max_cost_usd)
from forge_cli.llm_backends import AnthropicBackend, OpenAICompatibleBackend, make_backend

KEY = "sk-ant-test-key"
MODEL = "claude-haiku-4-5"  # default price: input 1.0, output 5.0, cache_write 1.25, cache_read 0.10
SYSTEM = "You write in a plain, precise voice."
SHARED = "Week 3 context: value iteration converged in 120 sweeps. " * 20
PROMPT = "Draft the beginner edition of this week's post."


_BACKENDS: list = []


@pytest.fixture(autouse=True)
def isolated(monkeypatch):
    """The backends a test makes are closed after it."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    yield
    while _BACKENDS:
        _BACKENDS.pop().close()


def opened(backend):
    _BACKENDS.append(backend)
    return backend


def make_settings(base_url: str | None = None, key: str | None = KEY, **llm) -> Settings:
    values = {"ANTHROPIC_API_KEY": key} if key else {}
    llm.setdefault("model", MODEL)
    llm.setdefault("max_retries", 3)
    return Settings(llm=LLMSettings(base_url=base_url, **llm), **values)


def make_request(model: str = MODEL, max_tokens: int = 1000, **changes) -> LLMRequest:
    values = dict(system=SYSTEM, shared_context=SHARED, prompt=PROMPT, model=model,
                  max_tokens=max_tokens, temperature=0.7)
    return LLMRequest(**{**values, **changes})


class Recorder:
    """on_text / on_retry / sleep stand-ins."""

    def __init__(self):
        self.texts: list[str] = []
        self.retries: list[tuple[int, str, float]] = []
        self.sleeps: list[float] = []

    def on_text(self, text: str) -> None:
        self.texts.append(text)

    def on_retry(self, attempt: int, reason: str, wait: float) -> None:
        self.retries.append((attempt, reason, wait))

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def anthropic_backend(server: MessagesAPIServer, recorder: Recorder, **llm) -> AnthropicBackend:
    return opened(AnthropicBackend(make_settings(server.url, **llm), sleep=recorder.sleep,
                                   rng=random.Random(7)))


def generate(backend, recorder: Recorder, request: LLMRequest | None = None):
    return backend.generate(request or make_request(), on_text=recorder.on_text,
                            on_retry=recorder.on_retry)


# -- request shape, streaming, usage -------------------------------------------------------


def test_request_shape(messages_api_server):
    import anthropic

    server = messages_api_server()
    recorder = Recorder()
    response = generate(anthropic_backend(server, recorder), recorder)

    assert server.paths == ["/v1/messages/count_tokens", "/v1/messages"]
    sent = server.requests_to("/v1/messages")[0]
    system = [{"type": "text", "text": SYSTEM},
              {"type": "text", "text": SHARED, "cache_control": {"type": "ephemeral"}}]
    assert sent.body["model"] == MODEL
    assert sent.body["max_tokens"] == 1000
    assert sent.body["stream"] is True
    assert sent.body["system"] == system
    assert sent.body["messages"] == [{"role": "user", "content": PROMPT}]
    # the SDK (>= 1) removed sampling parameters and its API version rejects them
    assert "temperature" not in sent.body
    assert sent.headers["anthropic-version"] == anthropic._constants.ANTHROPIC_API_VERSION
    # SDK 2.x authenticates with a bearer token; older SDKs used x-api-key
    assert (sent.headers.get("x-api-key") == KEY
            or sent.headers.get("authorization") == f"Bearer {KEY}")
    assert sent.headers["x-stainless-retry-count"] == "0"
    counted = server.requests_to("/v1/messages/count_tokens")[0].body
    assert counted["system"] == system and counted["messages"] == sent.body["messages"]
    assert counted["model"] == MODEL
    assert response.provider == "anthropic" and response.model == MODEL
    assert response.stop_reason == "end_turn" and response.retries == 0


def test_streamed_deltas_reach_on_text_in_order(messages_api_server):
    chunks = ["Value ", "iteration ", "sweeps ", "the ", "whole ", "state ", "space."]
    server = messages_api_server([Reply(chunks=chunks, stop_reason="max_tokens")])
    recorder = Recorder()
    response = generate(anthropic_backend(server, recorder), recorder)
    assert recorder.texts == chunks
    assert response.text == "".join(chunks)
    assert response.stop_reason == "max_tokens"


def test_usage_with_cache_tokens_and_cost(messages_api_server):
    write = {"input_tokens": 1200, "output_tokens": 350,
             "cache_creation_input_tokens": 5000, "cache_read_input_tokens": 0}
    read = {**write, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 5000}
    server = messages_api_server([Reply(usage=write), Reply(usage=read)])
    recorder = Recorder()
    backend = anthropic_backend(server, recorder)

    first, second = generate(backend, recorder), generate(backend, recorder)

    assert first.usage.model_dump(exclude={"cost_usd"}) == {**write, "estimated": False}
    assert second.usage.cache_read_input_tokens == 5000
    # haiku: (1200 * 1.0 + 350 * 5.0 + 5000 * 1.25) / 1e6 and (1200 + 1750 + 5000 * 0.10) / 1e6
    assert first.usage.cost_usd == pytest.approx(0.0092)
    assert second.usage.cost_usd == pytest.approx(0.00345)


def test_cost_is_none_without_a_price(messages_api_server):
    server = messages_api_server()
    recorder = Recorder()
    response = generate(anthropic_backend(server, recorder), recorder,
                        make_request(model="claude-unpriced"))
    assert response.usage.cost_usd is None
    assert cost_usd(Usage(input_tokens=10), None) is None
    price = ModelPrice(input=3.0, output=15.0, cache_write=3.75, cache_read=0.30)
    usage = Usage(input_tokens=1_000_000, output_tokens=100_000,
                  cache_creation_input_tokens=200_000, cache_read_input_tokens=2_000_000)
    assert cost_usd(usage, price) == pytest.approx(3.0 + 1.5 + 0.75 + 0.6)


def test_non_streaming_json_from_the_fake_server(messages_api_server):
    """The fake also answers plain (non-streamed) requests, for other callers of the SDK."""
    import anthropic

    server = messages_api_server([Reply(text="Plain answer.", usage={"input_tokens": 7})])
    with anthropic.Anthropic(api_key=KEY, base_url=server.url, max_retries=0) as client:
        message = client.messages.create(model=MODEL, max_tokens=10,
                                         messages=[{"role": "user", "content": "hi"}])
    assert message.content[0].text == "Plain answer."
    assert message.usage.input_tokens == 7 and message.stop_reason == "end_turn"


def test_concurrent_drafts_share_one_backend(messages_api_server):
    """Drafting runs a week's editions in threads on one backend (and one SDK client)."""
    from concurrent.futures import ThreadPoolExecutor

    server = messages_api_server([Reply.overloaded()])  # one of them has to retry
    recorder = Recorder()
    backend = anthropic_backend(server, recorder)
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda _: backend.generate(make_request()), range(6)))
    assert all(response.text == Reply().text for response in responses)
    assert sum(response.retries for response in responses) == 1
    assert len(server.requests_to("/v1/messages")) == 7


# -- retries ---------------------------------------------------------------------------------


def test_429_then_success_honours_retry_after(messages_api_server):
    server = messages_api_server([Reply.rate_limited(retry_after="0"), Reply(text="ok now")])
    recorder = Recorder()
    response = generate(anthropic_backend(server, recorder), recorder)
    assert response.text == "ok now" and response.retries == 1
    assert recorder.retries == [(1, "429 rate limited", 0.0)]
    assert recorder.sleeps == [0.0]
    assert len(server.requests_to("/v1/messages")) == 2


def test_529_then_success_backs_off_with_jitter(messages_api_server):
    server = messages_api_server([Reply.overloaded(), Reply(text="ok now")])
    recorder = Recorder()
    response = generate(anthropic_backend(server, recorder), recorder)
    assert response.text == "ok now" and response.retries == 1
    [(attempt, reason, wait)] = recorder.retries
    assert (attempt, reason) == (1, "529 overloaded")
    assert 0.5 <= wait < 1.0 and recorder.sleeps == [wait]


def test_500_forever_gives_up_after_max_retries_plus_one(messages_api_server):
    server = messages_api_server([Reply.server_error(500, repeat=True)])
    recorder = Recorder()
    with pytest.raises(LLMError) as raised:
        generate(anthropic_backend(server, recorder, max_retries=3), recorder)
    message = str(raised.value)
    assert "4 attempts" in message and "500" in message and "\n" not in message
    assert len(server.requests_to("/v1/messages")) == 4
    assert [attempt for attempt, _, _ in recorder.retries] == [1, 2, 3]
    for attempt, _, wait in recorder.retries:
        assert 0.5 * 2 ** (attempt - 1) <= wait < 2 ** (attempt - 1)


def test_backoff_is_capped_at_60_seconds(messages_api_server):
    server = messages_api_server([Reply.server_error(503, repeat=True)])
    recorder = Recorder()
    with pytest.raises(LLMError):
        generate(anthropic_backend(server, recorder, max_retries=8), recorder)
    assert max(recorder.sleeps) <= 60.0
    assert recorder.sleeps[-1] >= 30.0  # 2 ** 7 capped to 60, times a factor in [0.5, 1)


def test_401_fails_at_once_with_the_api_message(messages_api_server):
    server = messages_api_server([Reply.unauthorized()])
    recorder = Recorder()
    with pytest.raises(LLMError) as raised:
        generate(anthropic_backend(server, recorder), recorder)
    assert "401" in str(raised.value) and "invalid x-api-key" in str(raised.value)
    assert len(server.requests_to("/v1/messages")) == 1
    assert recorder.retries == [] and recorder.sleeps == []


def test_400_is_not_retried(messages_api_server):
    server = messages_api_server([Reply.error(400, "max_tokens: too large")])
    recorder = Recorder()
    with pytest.raises(LLMError, match="max_tokens: too large"):
        generate(anthropic_backend(server, recorder), recorder)
    assert len(server.requests_to("/v1/messages")) == 1


@pytest.mark.parametrize("broken, reason", [
    (Reply.dropped(after=2), "connection error"),
    (Reply.dropped(after=2, clean_close=True), "stream interrupted"),
    (Reply(stream_error="overloaded_error", drop_after=2), "overloaded (mid-stream)"),
], ids=["connection-reset", "clean-eof-without-message_stop", "error-event"])
def test_broken_stream_is_retried_from_the_start(messages_api_server, broken, reason):
    text = "One two three four five."
    server = messages_api_server([broken, Reply(text=text)])
    recorder = Recorder()
    response = generate(anthropic_backend(server, recorder), recorder)
    assert response.text == text and response.retries == 1
    assert recorder.retries[0][1] == reason
    # the partial text was shown, then the whole answer again after the retry
    assert recorder.texts[:2] == ["Hello ", "from "]
    assert "".join(recorder.texts[2:]) == text


def test_timeout_is_retried(messages_api_server):
    server = messages_api_server([Reply(delay_s=1.0), Reply(text="in time")])
    recorder = Recorder()
    backend = anthropic_backend(server, recorder, timeout_s=0.2)
    response = generate(backend, recorder)
    assert response.text == "in time"
    assert recorder.retries[0][1] == "timeout"


def test_connection_refused_is_retried_then_reported(messages_api_server):
    server = messages_api_server()
    url = server.url
    server.close()
    recorder = Recorder()
    backend = opened(AnthropicBackend(make_settings(url, max_retries=2), sleep=recorder.sleep))
    with pytest.raises(LLMError, match="3 attempts.*connection error"):
        generate(backend, recorder)
    assert len(recorder.retries) == 2


# -- cost estimate and cap -----------------------------------------------------------------------


def test_estimate_uses_count_tokens_and_prices(messages_api_server):
    server = messages_api_server(count_tokens=1000)
    backend = anthropic_backend(server, Recorder())
    tokens, cost = backend.estimate(make_request(max_tokens=2000))
    assert tokens == 1000
    # input at the cache-write rate (the upper bound) + max_tokens of output
    assert cost == pytest.approx((1000 * 1.25 + 2000 * 5.0) / 1e6)
    assert max_cost_usd(1000, 2000, None) is None


def test_estimate_falls_back_to_characters_without_count_tokens(messages_api_server):
    server = messages_api_server(count_tokens=None)  # 404, like an endpoint without it
    backend = anthropic_backend(server, Recorder())
    tokens, _ = backend.estimate(make_request())
    assert tokens == math.ceil((len(SYSTEM) + len(SHARED) + len(PROMPT)) / 3.5)


def test_cost_cap_stops_the_request_before_it_is_sent(messages_api_server):
    server = messages_api_server(count_tokens=200_000)
    recorder = Recorder()
    backend = anthropic_backend(server, recorder, max_cost_usd=0.05)
    with pytest.raises(CostCapExceeded) as raised:
        generate(backend, recorder, make_request(max_tokens=8000))
    message = str(raised.value)
    assert "$0.05" in message and "$0.2900" in message and "\n" not in message
    assert server.requests_to("/v1/messages") == []
    assert recorder.texts == []


def test_generate_counts_tokens_once_and_reports_the_estimate(messages_api_server):
    server = messages_api_server(count_tokens=1000)
    estimates = []
    anthropic_backend(server, Recorder()).generate(
        make_request(max_tokens=2000), on_estimate=lambda *args: estimates.append(args))
    assert estimates == [(1000, pytest.approx((1000 * 1.25 + 2000 * 5.0) / 1e6))]
    assert server.paths == ["/v1/messages/count_tokens", "/v1/messages"]


# -- backend selection -----------------------------------------------------------------------


def test_make_backend_rules():
    with_key = make_settings(key=KEY)
    without_key = make_settings(key=None)
    assert make_backend(without_key) is None  # auto, no key: the offline drafter
    auto = make_backend(with_key)
    assert isinstance(auto, AnthropicBackend) and auto.name == "anthropic"
    assert make_backend(with_key, "offline") is None
    with pytest.raises(ForgeError, match="ANTHROPIC_API_KEY is not set"):
        make_backend(without_key, "anthropic")
    with pytest.raises(ForgeError, match="base_url"):
        make_backend(with_key, "openai")
    openai = make_backend(make_settings("http://127.0.0.1:9/v1", key=None), "openai")
    assert isinstance(openai, OpenAICompatibleBackend) and openai.name == "openai"
    configured = make_settings(key=KEY, provider="offline")
    assert make_backend(configured) is None
    assert isinstance(make_backend(configured, "anthropic"), AnthropicBackend)
    with pytest.raises(ForgeError, match="unknown LLM provider"):
        make_backend(with_key, "gemini")


def test_importing_the_module_or_making_a_backend_does_not_import_anthropic():
    code = ("import sys; import forge_cli.llm_backends as llm; from forge_cli.config import Settings, "
            "LLMSettings; "
            "llm.make_backend(Settings(ANTHROPIC_API_KEY='k', llm=LLMSettings(provider='auto'))); "
            "llm.make_backend(Settings(llm=LLMSettings(provider='openai', base_url='http://x/v1'))); "
            "print('anthropic' in sys.modules, 'openai' in sys.modules, 'httpx' in sys.modules, "
            "'httpx2' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[1], timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False"] * 4


# -- OpenAI-compatible -----------------------------------------------------------------------


def openai_backend(server: MessagesAPIServer, recorder: Recorder, **llm) -> OpenAICompatibleBackend:
    return opened(OpenAICompatibleBackend(make_settings(server.openai_url, key=None, **llm),
                                          sleep=recorder.sleep, rng=random.Random(7)))


def test_openai_compatible_end_to_end(messages_api_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    chunks = ["Policy ", "iteration ", "alternates."]
    server = messages_api_server([Reply(chunks=chunks, usage={"input_tokens": 900,
                                                               "output_tokens": 40})])
    recorder = Recorder()
    response = generate(openai_backend(server, recorder), recorder)

    [sent] = server.requests_to("/v1/chat/completions")
    assert sent.headers["authorization"] == "Bearer sk-local"
    assert sent.body == {
        "model": MODEL,
        "messages": [{"role": "system", "content": f"{SYSTEM}\n\n{SHARED}"},
                     {"role": "user", "content": PROMPT}],
        "max_tokens": 1000, "temperature": 0.7, "stream": True,
        "stream_options": {"include_usage": True}}
    assert recorder.texts == chunks and response.text == "".join(chunks)
    assert response.provider == "openai" and response.stop_reason == "stop"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (900, 40)
    assert not response.usage.estimated
    assert response.usage.cost_usd == pytest.approx((900 * 1.0 + 40 * 5.0) / 1e6)


def test_openai_without_usage_estimates_and_says_so(messages_api_server):
    server = messages_api_server([Reply(text="abcdefg", openai_usage=False)])
    recorder = Recorder()
    response = generate(openai_backend(server, recorder), recorder,
                        make_request(model="llama3.1:8b"))
    # no OPENAI_API_KEY: a placeholder the SDK needs and local servers ignore
    assert server.requests[0].headers["authorization"] == "Bearer not-needed"
    assert response.usage.estimated
    assert response.usage.output_tokens == math.ceil(7 / 3.5)
    assert response.usage.cost_usd is None  # no price for a local model


def test_openai_retries_and_errors(messages_api_server):
    server = messages_api_server([Reply.rate_limited(retry_after="2"), Reply.dropped(after=1),
                                  Reply(text="fine")])
    recorder = Recorder()
    response = generate(openai_backend(server, recorder), recorder)
    assert response.text == "fine" and response.retries == 2
    assert [(a, r) for a, r, _ in recorder.retries] == [(1, "429 rate limited"),
                                                       (2, "connection error")]
    assert recorder.sleeps[0] == 2.0

    server = messages_api_server([Reply.error(404, "model 'nope' not found")])
    with pytest.raises(LLMError, match="404.*model 'nope' not found"):
        generate(openai_backend(server, recorder), recorder)
    assert len(server.requests) == 1


def test_openai_cost_cap(messages_api_server):
    server = messages_api_server()
    backend = openai_backend(server, Recorder(), max_cost_usd=0.0001)
    with pytest.raises(CostCapExceeded):
        backend.generate(make_request())
    assert server.requests == []


# -- tool use and conversations (the agent loop's requests) -----------------------------------

LOOKUP = ToolSpec(name="lookup_fact", description="A measured result by key.",
                  input_schema={"type": "object", "properties": {"key": {"type": "string"}},
                                "required": ["key"]})


def conversation(call_id: str) -> tuple[Turn, ...]:
    """The model asked for a fact; forge answered it and added a finding."""
    return (Turn(role="assistant", text="Let me check.",
                 tool_calls=[ToolCall(id=call_id, name="lookup_fact", input={"key": "a.b"})]),
            Turn(role="user", tool_results=[ToolResult(call_id=call_id, content='{"value": 1}')]),
            Turn(role="assistant", text="Draft one."),
            Turn(role="user", text="forge found: fact 'x' is unknown"))


def test_anthropic_tool_use_and_turns(messages_api_server):
    server = messages_api_server([Reply.tool_use("lookup_fact", {"key": "a.b"}, id="toolu_9",
                                                 text="Let me check."), Reply(text="Done.")])
    recorder = Recorder()
    backend = anthropic_backend(server, recorder)
    asked = generate(backend, recorder, make_request(tools=(LOOKUP,)))
    assert asked.tool_calls == [ToolCall(id="toolu_9", name="lookup_fact", input={"key": "a.b"})]
    assert asked.text == "Let me check." and asked.stop_reason == "tool_use"

    generate(backend, recorder, make_request(tools=(LOOKUP,), turns=conversation("toolu_9")))
    first, second = (request.body for request in server.requests_to("/v1/messages"))
    assert first["tools"] == second["tools"] == [LOOKUP.model_dump()]
    assert second["messages"] == [
        {"role": "user", "content": PROMPT},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_9", "name": "lookup_fact", "input": {"key": "a.b"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_9", "content": '{"value": 1}'}]},
        {"role": "assistant", "content": "Draft one."},
        {"role": "user", "content": "forge found: fact 'x' is unknown"}]
    counted = server.requests_to("/v1/messages/count_tokens")[-1].body
    assert counted["tools"] == second["tools"] and counted["messages"] == second["messages"]


def test_openai_tool_calls_stream_in_pieces_and_turns_map_to_tool_messages(messages_api_server):
    server = messages_api_server([Reply.tool_use("lookup_fact", {"key": "a.b"}, id="call_3"),
                                  Reply(text="Done.")])
    recorder = Recorder()
    backend = openai_backend(server, recorder)
    asked = generate(backend, recorder, make_request(tools=(LOOKUP,)))
    assert asked.tool_calls == [ToolCall(id="call_3", name="lookup_fact", input={"key": "a.b"})]
    assert asked.text == "" and asked.stop_reason == "tool_calls"

    generate(backend, recorder, make_request(tools=(LOOKUP,), turns=conversation("call_3")))
    sent = server.requests_to("/v1/chat/completions")[-1].body
    assert sent["tools"] == [{"type": "function", "function": {
        "name": "lookup_fact", "description": LOOKUP.description,
        "parameters": LOOKUP.input_schema}}]
    assert sent["messages"][2:] == [
        {"role": "assistant", "content": "Let me check.", "tool_calls": [
            {"id": "call_3", "type": "function",
             "function": {"name": "lookup_fact", "arguments": '{"key": "a.b"}'}}]},
        {"role": "tool", "tool_call_id": "call_3", "content": '{"value": 1}'},
        {"role": "assistant", "content": "Draft one."},
        {"role": "user", "content": "forge found: fact 'x' is unknown"}]


def test_the_cap_counts_what_the_draft_already_spent(messages_api_server):
    server = messages_api_server(count_tokens=1000)
    backend = anthropic_backend(server, Recorder(), max_cost_usd=0.02)
    request = make_request(max_tokens=2000)  # estimated at (1000 × 1.25 + 2000 × 5) / 1e6
    backend.generate(request, spent_usd=0.008)  # $0.01125 + $0.008 fits under $0.02
    with pytest.raises(CostCapExceeded) as raised:
        backend.generate(request, spent_usd=0.009)
    assert "on top of $0.0090 this draft already spent" in str(raised.value)
    assert "this request was not sent" in str(raised.value)
    assert len(server.requests_to("/v1/messages")) == 1


def test_usage_adds_up_and_an_unpriced_request_leaves_the_cost_unknown():
    one = Usage(input_tokens=10, output_tokens=5, cache_read_input_tokens=3, cost_usd=0.5)
    two = Usage(input_tokens=1, output_tokens=2, cache_creation_input_tokens=4, cost_usd=0.25,
                estimated=True)
    both = one.plus(two)
    assert (both.input_tokens, both.output_tokens, both.cache_creation_input_tokens,
            both.cache_read_input_tokens) == (11, 7, 4, 3)
    assert both.cost_usd == pytest.approx(0.75) and both.estimated
    assert one.plus(Usage()).cost_usd is None


def test_openai_mid_stream_error_chunk_is_retried(messages_api_server):
    """An error chunk inside a 200 stream (vLLM, llama.cpp) goes through the same classification."""
    server = messages_api_server([Reply(stream_error="server_error"), Reply(text="fine")])
    recorder = Recorder()
    response = generate(openai_backend(server, recorder), recorder)
    assert response.text == "fine" and recorder.retries[0][1] == "500 server error"
