"""The LLM backends, and :func:`make_backend` which picks one (or none: the offline drafter).

* :class:`AnthropicBackend` — the official ``anthropic`` SDK, streaming, with the week's shared
  context marked for prompt caching so every edition/post of a week reuses it.
* :class:`OpenAICompatibleBackend` — any OpenAI-compatible ``/chat/completions`` endpoint
  (Ollama, vLLM, llama.cpp server) over plain HTTP with server-sent events.

``anthropic`` and the HTTP client are imported inside the backends, never at module import, so the
CLI's start-up stays fast.
"""

from __future__ import annotations

import json
import os
import random
import threading
from collections.abc import Callable
from typing import Any

from forge_cli.config import Settings
from forge_cli.errors import BadInput, ForgeError
from forge_cli.llm import (Backend, LLMRequest, LLMResponse, TextCallback, Usage, cost_usd,
                           estimate_tokens, max_cost_usd)
from forge_cli.llm_retry import (Failure, RetryingBackend, StatusFailure, StreamIncomplete,
                                 one_line, status_failure, transport_failure)

COUNT_TOKENS_TIMEOUT_S = 30.0


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
    (``len / 3.5``). The SDK's own retries are off (``max_retries=0``): this class retries so that
    each retry can be reported.

    ``temperature`` is not sent: the SDK (1.x and later) removed the sampling parameters, and the
    API version it speaks rejects them; the request's temperature is used by the OpenAI backend.
    """

    name = "anthropic"

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] | None = None,
                 rng: random.Random | None = None):
        super().__init__(settings, sleep=sleep, rng=rng)
        self._client: Any = None
        self._client_lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The SDK client, made on first use (drafts may run in threads; they share it)."""
        with self._client_lock:
            if self._client is None:
                self._client = self._make_client()
        return self._client

    def close(self) -> None:
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

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
        """The Messages API parameters shared by ``count_tokens`` and the streamed request."""
        return {
            "model": request.model,
            "system": [
                {"type": "text", "text": request.system},
                {"type": "text", "text": request.shared_context,
                 "cache_control": {"type": "ephemeral"}},
            ],
            "messages": [{"role": "user", "content": request.prompt}],
        }

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
            tokens = estimate_tokens(request.system, request.shared_context, request.prompt)
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
        raw = message.usage
        usage = Usage(input_tokens=raw.input_tokens or 0,
                      output_tokens=raw.output_tokens or 0,
                      cache_creation_input_tokens=raw.cache_creation_input_tokens or 0,
                      cache_read_input_tokens=raw.cache_read_input_tokens or 0)
        usage.cost_usd = cost_usd(usage, self.price(request.model))
        return LLMResponse(text=text, provider=self.name, model=message.model or request.model,
                           usage=usage, stop_reason=message.stop_reason, retries=0)

    def _classify(self, exc: Exception) -> Failure | None:
        import anthropic

        if isinstance(exc, StreamIncomplete):
            return Failure(True, "stream interrupted", str(exc))
        if isinstance(exc, anthropic.APITimeoutError):
            return Failure(True, "timeout", "no response in time")
        if isinstance(exc, anthropic.APIConnectionError):
            cause = exc.__cause__ or exc
            return Failure(True, "connection error", one_line(cause) or type(cause).__name__)
        if isinstance(exc, anthropic.APIStatusError):
            body = exc.body if isinstance(exc.body, dict) else {}
            error = body.get("error") if isinstance(body.get("error"), dict) else {}
            error_type = getattr(exc, "type", None) or error.get("type")
            detail = (getattr(exc, "api_message", None) or error.get("message")
                      or exc.message or str(exc))
            return status_failure(exc.status_code, exc.response.headers, error_type, detail)
        return transport_failure(exc)


def _import_httpx() -> Any:
    """httpx2 (what anthropic>=1 installs) or httpx: the same API."""
    try:
        import httpx2 as httpx
    except ImportError:
        import httpx
    return httpx


class OpenAICompatibleBackend(RetryingBackend):
    """Any OpenAI-compatible chat endpoint: ``POST {base_url}/chat/completions`` streamed.

    The system message is the system prompt followed by the shared context. ``OPENAI_API_KEY`` is
    sent as a bearer token when set. Usage comes from the final chunk (``stream_options.
    include_usage``); servers that do not send it get a character-based estimate, marked with
    ``usage.estimated``. ``estimate`` is always character-based (there is no counting endpoint).
    """

    name = "openai"

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] | None = None,
                 rng: random.Random | None = None):
        super().__init__(settings, sleep=sleep, rng=rng)
        if not settings.llm.base_url:
            raise ForgeError("llm.base_url is not set: the openai provider needs an "
                             "OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1")
        self.url = settings.llm.base_url.rstrip("/") + "/chat/completions"

    @staticmethod
    def payload(request: LLMRequest) -> dict[str, Any]:
        system = request.system
        if request.shared_context:
            system = f"{system}\n\n{request.shared_context}" if system else request.shared_context
        return {
            "model": request.model,
            "messages": [{"role": "system", "content": system},
                         {"role": "user", "content": request.prompt}],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }

    def estimate(self, request: LLMRequest) -> tuple[int, float | None]:
        """Input tokens estimated from characters (``len / 3.5``) and the maximum cost in USD."""
        tokens = estimate_tokens(request.system, request.shared_context, request.prompt)
        return tokens, max_cost_usd(tokens, request.max_tokens, self.price(request.model))

    def _attempt(self, request: LLMRequest, on_text: TextCallback | None) -> LLMResponse:
        httpx = _import_httpx()
        headers = {"Accept": "text/event-stream"}
        if key := os.environ.get("OPENAI_API_KEY"):
            headers["Authorization"] = f"Bearer {key}"
        parts: list[str] = []
        raw_usage: dict[str, Any] | None = None
        finish: str | None = None
        done = False
        model = request.model
        with httpx.Client(timeout=self.settings.llm.timeout_s) as client:
            with client.stream("POST", self.url, json=self.payload(request),
                               headers=headers) as response:
                if response.status_code >= 400:
                    response.read()
                    error_type, detail = _openai_error(response.text, response.status_code)
                    raise StatusFailure(response.status_code, response.headers, error_type,
                                         detail)
                for line in response.iter_lines():
                    line = line.strip()
                    if not line.startswith("data:"):
                        continue
                    data = line[len("data:"):].strip()
                    if data == "[DONE]":
                        done = True
                        break
                    try:
                        chunk = json.loads(data)
                    except json.JSONDecodeError:
                        raise StreamIncomplete(f"malformed chunk {one_line(data, 80)!r}") from None
                    if chunk.get("error"):
                        error_type, detail = _openai_error(chunk, 200)
                        code = chunk["error"].get("code") if isinstance(chunk["error"], dict) else None
                        status = code if isinstance(code, int) and code >= 400 else 500
                        raise StatusFailure(status, None, error_type, detail)
                    model = chunk.get("model") or model
                    for choice in chunk.get("choices") or []:
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            parts.append(text)
                            if on_text is not None:
                                on_text(text)
                        finish = choice.get("finish_reason") or finish
                    if chunk.get("usage"):
                        raw_usage = chunk["usage"]
        if not done and finish is None:
            raise StreamIncomplete("the stream ended before [DONE]")
        text = "".join(parts)
        if raw_usage:
            cached = int((raw_usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
            usage = Usage(input_tokens=max(0, int(raw_usage.get("prompt_tokens") or 0) - cached),
                          output_tokens=int(raw_usage.get("completion_tokens") or 0),
                          cache_read_input_tokens=cached)
        else:
            usage = Usage(input_tokens=estimate_tokens(request.system, request.shared_context,
                                                       request.prompt),
                          output_tokens=estimate_tokens(text), estimated=True)
        usage.cost_usd = cost_usd(usage, self.price(request.model))
        return LLMResponse(text=text, provider=self.name, model=model, usage=usage,
                           stop_reason=finish, retries=0)

    def _classify(self, exc: Exception) -> Failure | None:
        if isinstance(exc, StreamIncomplete):
            return Failure(True, "stream interrupted", str(exc))
        if isinstance(exc, StatusFailure):
            return status_failure(exc.status, exc.headers, exc.error_type, exc.detail)
        return transport_failure(exc)


def _openai_error(body: str | dict[str, Any], status: int) -> tuple[str | None, str]:
    """(error type, message) from an OpenAI-style error body (``{"error": {...}}`` or Ollama's
    ``{"error": "..."}``), falling back to the raw text."""
    data: Any = body
    if isinstance(body, str):
        try:
            data = json.loads(body)
        except json.JSONDecodeError:
            return None, body.strip() or f"HTTP {status}"
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return error.get("type") or error.get("code"), str(error.get("message") or error)
    if isinstance(error, str):
        return None, error
    return None, str(data) or f"HTTP {status}"
