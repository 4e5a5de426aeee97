"""The LLM backends, and :func:`make_backend` which picks one (or none: the offline drafter).

* :class:`AnthropicBackend` — the official ``anthropic`` SDK, streaming, with the week's shared
  context marked for prompt caching so every edition/post of a week reuses it.
* :class:`OpenAICompatibleBackend` — any OpenAI-compatible ``/chat/completions`` endpoint
  (Ollama, vLLM, llama.cpp server) through the official ``openai`` SDK, streaming.

Both speak tool use (Anthropic ``tool_use`` blocks, chat-completions ``tool_calls``), mapping the
provider-neutral turns and tools of :class:`~forge_cli.llm.LLMRequest` to their wire format.
The SDKs are imported inside the backends, never at module import, so the CLI's start-up stays
fast.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from typing import Any

from forge_cli.config import Settings
from forge_cli.errors import BadInput, ForgeError
from forge_cli.llm import (Backend, LLMRequest, LLMResponse, TextCallback, ToolCall, Usage,
                           cost_usd, estimate_tokens, max_cost_usd, request_texts)
from forge_cli.llm_retry import (Failure, RetryingBackend, StreamIncomplete,
                                 sdk_transport_failure, status_failure, transport_failure)

COUNT_TOKENS_TIMEOUT_S = 30.0
LOCAL_API_KEY = "not-needed"
"""What the openai SDK sends when OPENAI_API_KEY is unset: local servers ignore the key, and the
SDK refuses to start without one."""


def make_backend(settings: Settings, provider: str | None = None, *,
                 sleep: Callable[[float], None] | None = None) -> Backend | None:
    """The backend for ``provider`` (default ``settings.llm.provider``), or None for the offline
    drafter. auto: anthropic when ANTHROPIC_API_KEY is set, else None. Nothing heavy is imported
    here; each request names its model."""
    provider = provider or settings.llm.provider
    key = settings.anthropic_api_key.get_secret_value() if settings.anthropic_api_key else ""
    if provider == "auto":
        provider = "anthropic" if key else "offline"
    if provider == "offline":
        return None
    if provider == "anthropic":
        if not key:
            raise ForgeError("ANTHROPIC_API_KEY is not set: export it to draft with the "
                             "anthropic provider, or set llm.provider to \"offline\"")
        return AnthropicBackend(settings, sleep=sleep)
    if provider == "openai":
        return OpenAICompatibleBackend(settings, sleep=sleep)
    raise BadInput(f"unknown LLM provider {provider!r} "
                   "(expected auto, anthropic, openai or offline)")


class AnthropicBackend(RetryingBackend):
    """Claude through the official SDK, streaming, with the shared context cached.

    ``estimate`` asks ``/v1/messages/count_tokens`` for the exact input size; when that fails
    (an endpoint without it, a network problem) it falls back to a character-based estimate
    (``len / 3.5``).

    ``temperature`` is not sent: the SDK (1.x and later) removed the sampling parameters, and the
    API version it speaks rejects them; the request's temperature is used by the OpenAI backend.
    """

    name = "anthropic"

    def _make_client(self) -> Any:
        import anthropic

        key = self.settings.anthropic_api_key
        return anthropic.Anthropic(
            api_key=key.get_secret_value() if key else None,
            base_url=self.settings.llm.base_url or None,
            max_retries=0,
            timeout=self.settings.llm.timeout_s)

    @staticmethod
    def request_params(request: LLMRequest) -> dict[str, Any]:
        """The Messages API parameters shared by ``count_tokens`` and the streamed request. The
        tools come first in the cached prefix and are the same for every draft of a week."""
        params: dict[str, Any] = {
            "model": request.model,
            "system": [
                {"type": "text", "text": request.system},
                {"type": "text", "text": request.shared_context,
                 "cache_control": {"type": "ephemeral"}},
            ],
            "messages": anthropic_messages(request),
        }
        if request.tools:
            params["tools"] = [tool.model_dump() for tool in request.tools]
        return params

    def count_tokens(self, request: LLMRequest) -> int | None:
        """Input tokens as counted by the API, or None when counting is not available."""
        try:
            result = self.client.messages.count_tokens(
                **self.request_params(request),
                timeout=min(COUNT_TOKENS_TIMEOUT_S, self.settings.llm.timeout_s))
            return int(result.input_tokens)
        except Exception:  # best effort: any failure falls back to the character estimate
            return None

    def estimate(self, request: LLMRequest) -> tuple[int, float | None]:
        """Input tokens (``count_tokens``, else ``len / 3.5``) and the maximum cost in USD."""
        tokens = self.count_tokens(request)
        if tokens is None:
            tokens = estimate_tokens(*request_texts(request))
        return tokens, max_cost_usd(tokens, request.max_tokens, self.price(request.model))

    def _attempt(self, request: LLMRequest, on_text: TextCallback | None) -> LLMResponse:
        finished = False
        with self.client.messages.stream(max_tokens=request.max_tokens,
                                         **self.request_params(request)) as stream:
            for event in stream:
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    if on_text is not None:
                        on_text(event.delta.text)
                elif event.type == "message_stop":
                    finished = True
            if not finished:
                raise StreamIncomplete("the stream ended before message_stop")
            message = stream.get_final_message()
        text = "".join(block.text for block in message.content if block.type == "text")
        calls = [ToolCall(id=block.id, name=block.name,
                          input=block.input if isinstance(block.input, dict) else {})
                 for block in message.content if block.type == "tool_use"]
        raw = message.usage
        usage = Usage(input_tokens=raw.input_tokens or 0,
                      output_tokens=raw.output_tokens or 0,
                      cache_creation_input_tokens=raw.cache_creation_input_tokens or 0,
                      cache_read_input_tokens=raw.cache_read_input_tokens or 0)
        usage.cost_usd = cost_usd(usage, self.price(request.model))
        return LLMResponse(text=text, provider=self.name, model=message.model or request.model,
                           usage=usage, stop_reason=message.stop_reason, retries=0,
                           tool_calls=calls)

    def _classify(self, exc: Exception) -> Failure | None:
        import anthropic

        if (failure := sdk_transport_failure(exc, anthropic)) is not None:
            return failure
        if isinstance(exc, anthropic.APIStatusError):
            body = exc.body if isinstance(exc.body, dict) else {}
            error = body.get("error") if isinstance(body.get("error"), dict) else {}
            error_type = getattr(exc, "type", None) or error.get("type")
            detail = (getattr(exc, "api_message", None) or error.get("message")
                      or exc.message or str(exc))
            return status_failure(exc.status_code, exc.response.headers, error_type, detail)
        return transport_failure(exc)


def anthropic_messages(request: LLMRequest) -> list[dict[str, Any]]:
    """The prompt, then each turn: the model's text and ``tool_use`` blocks, forge's
    ``tool_result`` blocks followed by its text."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": request.prompt}]
    for turn in request.turns:
        blocks: list[dict[str, Any]] = [
            {"type": "tool_result", "tool_use_id": result.call_id, "content": result.content,
             **({"is_error": True} if result.is_error else {})}
            for result in turn.tool_results]
        if turn.text:
            blocks.append({"type": "text", "text": turn.text})
        blocks += [{"type": "tool_use", "id": call.id, "name": call.name, "input": call.input}
                   for call in turn.tool_calls]
        plain = len(blocks) == 1 and blocks[0]["type"] == "text"
        messages.append({"role": turn.role, "content": turn.text if plain else blocks})
    return messages


class OpenAICompatibleBackend(RetryingBackend):
    """Any OpenAI-compatible chat endpoint through the ``openai`` SDK, streamed.

    The system message is the system prompt followed by the shared context. The key is
    ``OPENAI_API_KEY`` when set, else a placeholder local servers ignore. Usage comes from the
    final chunk (``stream_options.include_usage``); servers that do not send it get a
    character-based estimate, marked with ``usage.estimated``. ``estimate`` is always
    character-based (there is no counting endpoint).
    """

    name = "openai"

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] | None = None,
                 rng: random.Random | None = None):
        super().__init__(settings, sleep=sleep, rng=rng)
        if not settings.llm.base_url:
            raise ForgeError("llm.base_url is not set: the openai provider needs an "
                             "OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1")

    def _make_client(self) -> Any:
        import openai

        return openai.OpenAI(api_key=os.environ.get("OPENAI_API_KEY") or LOCAL_API_KEY,
                             base_url=self.settings.llm.base_url, max_retries=0,
                             timeout=self.settings.llm.timeout_s)

    @staticmethod
    def payload(request: LLMRequest) -> dict[str, Any]:
        """The ``chat.completions.create`` parameters (the JSON body the server receives)."""
        params: dict[str, Any] = {
            "model": request.model,
            "messages": openai_messages(request),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.tools:
            params["tools"] = [{"type": "function", "function": {
                "name": tool.name, "description": tool.description,
                "parameters": tool.input_schema}} for tool in request.tools]
        return params

    def estimate(self, request: LLMRequest) -> tuple[int, float | None]:
        """Input tokens estimated from characters (``len / 3.5``) and the maximum cost in USD."""
        tokens = estimate_tokens(*request_texts(request))
        return tokens, max_cost_usd(tokens, request.max_tokens, self.price(request.model))

    def _attempt(self, request: LLMRequest, on_text: TextCallback | None) -> LLMResponse:
        parts: list[str] = []
        calls: dict[int, dict[str, str]] = {}  # tool calls arrive in pieces, by index
        raw_usage: Any = None
        finish: str | None = None
        model = request.model
        with self.client.chat.completions.create(**self.payload(request)) as stream:
            for chunk in stream:
                model = chunk.model or model
                for choice in chunk.choices or []:
                    delta = choice.delta
                    if delta is not None and delta.content:
                        parts.append(delta.content)
                        if on_text is not None:
                            on_text(delta.content)
                    for piece in (delta.tool_calls if delta is not None else None) or []:
                        call = calls.setdefault(piece.index, {"id": "", "name": "", "args": ""})
                        call["id"] = piece.id or call["id"]
                        if piece.function is not None:
                            call["name"] += piece.function.name or ""
                            call["args"] += piece.function.arguments or ""
                    finish = choice.finish_reason or finish
                if chunk.usage:
                    raw_usage = chunk.usage
        if finish is None:  # the SDK ends quietly on a clean EOF without [DONE]
            raise StreamIncomplete("the stream ended before a finish_reason")
        text = "".join(parts)
        if raw_usage:
            details = getattr(raw_usage, "prompt_tokens_details", None)
            cached = int(getattr(details, "cached_tokens", 0) or 0)
            usage = Usage(input_tokens=max(0, int(raw_usage.prompt_tokens or 0) - cached),
                          output_tokens=int(raw_usage.completion_tokens or 0),
                          cache_read_input_tokens=cached)
        else:
            usage = Usage(input_tokens=estimate_tokens(*request_texts(request)),
                          output_tokens=estimate_tokens(text), estimated=True)
        usage.cost_usd = cost_usd(usage, self.price(request.model))
        tool_calls = [ToolCall(id=call["id"] or f"call_{index}", name=call["name"],
                               input=_json_object(call["args"]))
                      for index, call in sorted(calls.items())]
        return LLMResponse(text=text, provider=self.name, model=model, usage=usage,
                           stop_reason=finish, retries=0, tool_calls=tool_calls)

    def _classify(self, exc: Exception) -> Failure | None:
        import openai

        if (failure := sdk_transport_failure(exc, openai)) is not None:
            return failure
        if isinstance(exc, openai.APIStatusError):
            error_type, detail = _openai_error(exc.body, exc.message)
            return status_failure(exc.status_code, exc.response.headers, error_type, detail)
        if isinstance(exc, openai.APIError):  # an error chunk inside a stream that began with 200
            error_type, detail = _openai_error(exc.body, exc.message)
            code = exc.body.get("code") if isinstance(exc.body, dict) else None
            status = code if isinstance(code, int) and code >= 400 else 500
            return status_failure(status, None, error_type, detail)
        return transport_failure(exc)


def openai_messages(request: LLMRequest) -> list[dict[str, Any]]:
    """System (prompt + shared context), the prompt, then each turn: the model's text and
    ``tool_calls``, forge's ``tool`` messages followed by its text."""
    system = request.system
    if request.shared_context:
        system = f"{system}\n\n{request.shared_context}" if system else request.shared_context
    messages: list[dict[str, Any]] = [{"role": "system", "content": system},
                                      {"role": "user", "content": request.prompt}]
    for turn in request.turns:
        if turn.role == "assistant":
            message: dict[str, Any] = {"role": "assistant", "content": turn.text or None}
            if turn.tool_calls:
                message["tool_calls"] = [{"id": call.id, "type": "function", "function": {
                    "name": call.name, "arguments": json.dumps(call.input)}}
                    for call in turn.tool_calls]
            messages.append(message)
            continue
        messages += [{"role": "tool", "tool_call_id": result.call_id, "content": result.content}
                     for result in turn.tool_results]
        if turn.text:
            messages.append({"role": "user", "content": turn.text})
    return messages


def _json_object(arguments: str) -> dict[str, Any]:
    """A tool call's arguments; {} when a (small, local) model sent something else: the tool
    then answers that its input is missing, and the model can try again."""
    try:
        value = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _openai_error(body: Any, fallback: str) -> tuple[str | None, str]:
    """(error type, message) from the error body the SDK kept: OpenAI's ``{"message", "type"}``
    (with or without an ``error`` wrapper), Ollama's plain string, else the SDK's message."""
    if isinstance(body, dict) and "error" in body:
        body = body["error"]
    if isinstance(body, dict):
        return (body.get("type") or (str(body["code"]) if body.get("code") else None),
                str(body.get("message") or fallback))
    if isinstance(body, str) and body.strip():
        return None, body.strip()
    return None, fallback
