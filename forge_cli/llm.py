"""The LLM backend layer: send one prepared prompt to a model, return its text and usage.

Two backends share one retry policy and one cost cap:

* :class:`AnthropicBackend` — the official ``anthropic`` SDK, streaming, with the week's shared
  context marked for prompt caching so every edition/post of a week reuses it.
* :class:`OpenAICompatibleBackend` — any OpenAI-compatible ``/chat/completions`` endpoint
  (Ollama, vLLM, llama.cpp server) over plain HTTP with server-sent events.

``anthropic`` and the HTTP client are imported inside the backends, never at module import, so the
CLI's start-up stays fast. :func:`make_backend` decides which backend (if any) to use; ``None``
means the caller falls back to the offline drafter.

Retries (429, 529, 5xx, timeouts, dropped connections, streams that break midway) are done here,
not by the SDK, so each one can be reported through ``on_retry(attempt, reason, wait_s)``. A retry
restarts the request from the beginning: text already passed to ``on_text`` is sent again, so a
live display should clear what it has shown when ``on_retry`` is called.
"""

from __future__ import annotations

import email.utils
import json
import math
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from forge_cli.config import ModelPrice, Settings
from forge_cli.errors import BadInput, ForgeError

TextCallback = Callable[[str], None]
RetryCallback = Callable[[int, str, float], None]
"""``on_retry(attempt, reason, wait_s)``: attempt is 1 for the first retry; reason is short, e.g.
``"429 rate limited"``, ``"529 overloaded"``, ``"timeout"``, ``"stream interrupted"``."""

CHARS_PER_TOKEN = 3.5
"""Rough characters per token for estimates when the endpoint cannot count tokens."""
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 60.0
RETRY_AFTER_MAX_S = 300.0
"""A server's ``retry-after`` is honoured as given, up to this many seconds."""
COUNT_TOKENS_TIMEOUT_S = 30.0

_RETRYABLE_STATUS = {
    408: "408 request timeout",
    429: "429 rate limited",
    500: "500 server error",
    502: "502 bad gateway",
    503: "503 service unavailable",
    504: "504 gateway timeout",
    529: "529 overloaded",
}
_NOT_RETRYABLE_5XX = {501, 505}
# Error types that an Anthropic stream can report mid-way (in an ``error`` event, HTTP status 200).
_RETRYABLE_ERROR_TYPES = {
    "overloaded_error": "overloaded",
    "rate_limit_error": "rate limited",
    "api_error": "server error",
    "timeout_error": "timeout",
}


# --------------------------------------------------------------------------------------------
# Public data types


class LLMRequest(BaseModel):
    """One prompt, ready to send. ``shared_context`` is identical for all drafts of a week and is
    cached by providers that support prompt caching; ``prompt`` is this draft's instructions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    system: str
    shared_context: str
    prompt: str
    model: str
    max_tokens: int = Field(gt=0)
    temperature: float


class Usage(BaseModel):
    input_tokens: int = 0
    """Input tokens billed at the normal rate (for Anthropic: not counting cache writes/reads)."""
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cost_usd: float | None = None
    """None when the model has no price configured (``[llm.prices]``)."""
    estimated: bool = False
    """True when the endpoint reported no usage and the counts are character-based estimates."""


class LLMResponse(BaseModel):
    text: str
    provider: str
    model: str
    usage: Usage
    stop_reason: str | None
    retries: int = 0
    """How many times the request was retried before it succeeded."""


class LLMError(ForgeError):
    """The model could not be reached or refused the request (one line, for the CLI)."""


class CostCapExceeded(ForgeError):
    """The estimated cost of a request is above ``llm.max_cost_usd``; nothing was sent."""


@runtime_checkable
class Backend(Protocol):
    name: str

    def estimate(self, request: LLMRequest) -> tuple[int, float | None]:
        """Input tokens and the estimated maximum cost in USD (None without a price)."""
        ...

    def generate(self, request: LLMRequest, on_text: TextCallback | None = None,
                 on_retry: RetryCallback | None = None) -> LLMResponse:
        ...


def cost_usd(usage: Usage, price: ModelPrice | None) -> float | None:
    """What ``usage`` costs in USD at ``price`` (USD per million tokens); None without a price."""
    if price is None:
        return None
    return (usage.input_tokens * price.input
            + usage.output_tokens * price.output
            + usage.cache_creation_input_tokens * price.cache_write
            + usage.cache_read_input_tokens * price.cache_read) / 1_000_000


def max_cost_usd(input_tokens: int, max_tokens: int, price: ModelPrice | None) -> float | None:
    """An upper bound on a request's cost: every input token at the dearer of the input and
    cache-write rates (the first draft of a week writes the shared context to the cache) plus
    ``max_tokens`` of output."""
    if price is None:
        return None
    return (input_tokens * max(price.input, price.cache_write)
            + max_tokens * price.output) / 1_000_000


def estimate_tokens(*texts: str) -> int:
    """A character-based token estimate (``len / 3.5``), for endpoints that cannot count."""
    return math.ceil(sum(len(text) for text in texts) / CHARS_PER_TOKEN)


# --------------------------------------------------------------------------------------------
# Backend selection


def make_backend(settings: Settings, provider: str | None = None, model: str | None = None, *,
                 sleep: Callable[[float], None] | None = None) -> Backend | None:
    """The backend for ``provider`` (default ``settings.llm.provider``), or None for the offline
    drafter. ``model`` overrides ``settings.llm.model`` as the backend's default model (``.model``).

    auto: anthropic when ANTHROPIC_API_KEY is set, else None. Nothing heavy is imported here."""
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
        return AnthropicBackend(settings, model=model, sleep=sleep)
    if provider == "openai":
        if not settings.llm.base_url:
            raise ForgeError("llm.base_url is not set: the openai provider needs an "
                             "OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1")
        return OpenAICompatibleBackend(settings, model=model, sleep=sleep)
    raise BadInput(f"unknown LLM provider {provider!r} "
                   "(expected auto, anthropic, openai or offline)")


# --------------------------------------------------------------------------------------------
# Retry machinery shared by both backends


@dataclass
class _Failure:
    retryable: bool
    reason: str
    detail: str = ""
    retry_after: float | None = None


class _StreamIncomplete(Exception):
    """The response stream ended before its final event: treated as a dropped connection."""


class _StatusFailure(Exception):
    """An HTTP error status (or an error event inside a stream) from an OpenAI-compatible server."""

    def __init__(self, status: int, headers: Any, error_type: str | None, detail: str):
        super().__init__(detail)
        self.status = status
        self.headers = headers
        self.error_type = error_type
        self.detail = detail


def _one_line(text: object, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _retry_after_s(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``retry-after`` (seconds or an HTTP date)."""
    if headers is None:
        return None
    try:
        if (value := headers.get("retry-after-ms")) is not None:
            return max(0.0, float(value) / 1000)
    except (TypeError, ValueError):
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _status_failure(status: int, headers: Any, error_type: str | None, detail: str) -> _Failure:
    detail = _one_line(detail)
    if status in _RETRYABLE_STATUS:
        return _Failure(True, _RETRYABLE_STATUS[status], detail, _retry_after_s(headers))
    if status >= 500 and status not in _NOT_RETRYABLE_5XX:
        return _Failure(True, f"{status} server error", detail, _retry_after_s(headers))
    if status < 400:  # an error event inside a stream that had started with 200
        if error_type in _RETRYABLE_ERROR_TYPES:
            return _Failure(True, f"{_RETRYABLE_ERROR_TYPES[error_type]} (mid-stream)", detail)
        return _Failure(False, f"{error_type or 'error'} (mid-stream)", detail)
    return _Failure(False, f"{status} {error_type or 'error'}", detail)


def _transport_failure(exc: BaseException) -> _Failure | None:
    """Timeouts and connection errors raised by httpx / httpx2 (e.g. while reading a stream)."""
    for name in ("httpx2", "httpx"):
        module = sys.modules.get(name)
        if module is None:
            continue
        if isinstance(exc, module.TimeoutException):
            return _Failure(True, "timeout", _one_line(exc) or type(exc).__name__)
        if isinstance(exc, module.TransportError):
            return _Failure(True, "connection error", _one_line(exc) or type(exc).__name__)
    return None


T = TypeVar("T")


class _RetryingBackend:
    name = "?"

    def __init__(self, settings: Settings, model: str | None = None, *,
                 sleep: Callable[[float], None] | None = None, rng: random.Random | None = None):
        self.settings = settings
        self.model = model or settings.llm.model
        self.sleep = sleep or time.sleep
        self.rng = rng or random.Random()

    # -- to be provided by subclasses
    def estimate(self, request: LLMRequest) -> tuple[int, float | None]:
        raise NotImplementedError

    def _attempt(self, request: LLMRequest, on_text: TextCallback | None) -> LLMResponse:
        raise NotImplementedError

    def _classify(self, exc: Exception) -> _Failure | None:
        raise NotImplementedError

    # -- shared
    def close(self) -> None:
        """Release connections (a backend may still be used afterwards: it reconnects)."""

    def price(self, model: str) -> ModelPrice | None:
        return self.settings.llm.prices.get(model)

    def backoff_s(self, attempt: int, failure: _Failure) -> float:
        """``retry-after`` when the server sent one, else exponential backoff with jitter:
        base 1 s doubling per attempt, capped at 60 s, times a random factor in [0.5, 1)."""
        if failure.retry_after is not None:
            return min(failure.retry_after, RETRY_AFTER_MAX_S)
        delay = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
        return delay * (0.5 + 0.5 * self.rng.random())

    def check_cost(self, request: LLMRequest) -> tuple[int, float | None]:
        tokens, estimate = self.estimate(request)
        cap = self.settings.llm.max_cost_usd
        if estimate is not None and estimate > cap:
            raise CostCapExceeded(
                f"estimated cost ${estimate:.4f} ({tokens} input + up to {request.max_tokens} "
                f"output tokens of {request.model}) is above llm.max_cost_usd = ${cap:.2f}; "
                "nothing was sent")
        return tokens, estimate

    def generate(self, request: LLMRequest, on_text: TextCallback | None = None,
                 on_retry: RetryCallback | None = None) -> LLMResponse:
        """Check the cost cap, then send ``request`` (retrying as configured) and return the
        reply. Raises CostCapExceeded before sending anything, LLMError when it fails."""
        self.check_cost(request)
        response, retries = self._with_retries(lambda: self._attempt(request, on_text), on_retry)
        return response.model_copy(update={"retries": retries})

    def _with_retries(self, call: Callable[[], T], on_retry: RetryCallback | None) -> tuple[T, int]:
        max_retries = max(0, self.settings.llm.max_retries)
        retries = 0
        while True:
            try:
                return call(), retries
            except Exception as exc:
                failure = self._classify(exc)
                if failure is None:
                    raise
                detail = f": {failure.detail}" if failure.detail else ""
                if not failure.retryable:
                    hint = " (check the API key)" if failure.reason.startswith("401") else ""
                    raise LLMError(f"{self.name}: {failure.reason}{detail}{hint}") from exc
                if retries >= max_retries:
                    attempts = retries + 1
                    raise LLMError(f"{self.name}: gave up after {attempts} attempt"
                                   f"{'s' if attempts != 1 else ''}; last failure: "
                                   f"{failure.reason}{detail}") from exc
                retries += 1
                wait = self.backoff_s(retries, failure)
                if on_retry is not None:
                    on_retry(retries, failure.reason, wait)
                self.sleep(wait)


# --------------------------------------------------------------------------------------------
# Anthropic


class AnthropicBackend(_RetryingBackend):
    """Claude through the official SDK, streaming, with the shared context cached.

    ``estimate`` asks ``/v1/messages/count_tokens`` for the exact input size; when that fails
    (an endpoint without it, a network problem) it falls back to a character-based estimate
    (``len / 3.5``). The SDK's own retries are off (``max_retries=0``): this class retries so that
    each retry can be reported.

    ``temperature`` is not sent: the SDK (1.x and later) removed the sampling parameters, and the
    API version it speaks rejects them; the request's temperature is used by the OpenAI backend.
    """

    name = "anthropic"

    def __init__(self, settings: Settings, model: str | None = None, *,
                 sleep: Callable[[float], None] | None = None, rng: random.Random | None = None,
                 client: Any = None):
        super().__init__(settings, model, sleep=sleep, rng=rng)
        self._client = client
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
                raise _StreamIncomplete("the stream ended before message_stop")
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

    def _classify(self, exc: Exception) -> _Failure | None:
        import anthropic

        if isinstance(exc, _StreamIncomplete):
            return _Failure(True, "stream interrupted", str(exc))
        if isinstance(exc, anthropic.APITimeoutError):
            return _Failure(True, "timeout", "no response in time")
        if isinstance(exc, anthropic.APIConnectionError):
            cause = exc.__cause__ or exc
            return _Failure(True, "connection error", _one_line(cause) or type(cause).__name__)
        if isinstance(exc, anthropic.APIStatusError):
            body = exc.body if isinstance(exc.body, dict) else {}
            error = body.get("error") if isinstance(body.get("error"), dict) else {}
            error_type = getattr(exc, "type", None) or error.get("type")
            detail = (getattr(exc, "api_message", None) or error.get("message")
                      or exc.message or str(exc))
            return _status_failure(exc.status_code, exc.response.headers, error_type, detail)
        return _transport_failure(exc)


# --------------------------------------------------------------------------------------------
# OpenAI-compatible


def _import_httpx() -> Any:
    """httpx2 (what anthropic>=1 installs) or httpx: the same API."""
    try:
        import httpx2 as httpx
    except ImportError:
        import httpx
    return httpx


class OpenAICompatibleBackend(_RetryingBackend):
    """Any OpenAI-compatible chat endpoint: ``POST {base_url}/chat/completions`` streamed.

    The system message is the system prompt followed by the shared context. ``OPENAI_API_KEY`` is
    sent as a bearer token when set. Usage comes from the final chunk (``stream_options.
    include_usage``); servers that do not send it get a character-based estimate, marked with
    ``usage.estimated``. ``estimate`` is always character-based (there is no counting endpoint).
    """

    name = "openai"

    def __init__(self, settings: Settings, model: str | None = None, *,
                 sleep: Callable[[float], None] | None = None, rng: random.Random | None = None):
        super().__init__(settings, model, sleep=sleep, rng=rng)
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
                    raise _StatusFailure(response.status_code, response.headers, error_type,
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
                        raise _StreamIncomplete(f"malformed chunk {_one_line(data, 80)!r}") from None
                    if chunk.get("error"):
                        error_type, detail = _openai_error(chunk, 200)
                        code = chunk["error"].get("code") if isinstance(chunk["error"], dict) else None
                        status = code if isinstance(code, int) and code >= 400 else 500
                        raise _StatusFailure(status, None, error_type, detail)
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
            raise _StreamIncomplete("the stream ended before [DONE]")
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

    def _classify(self, exc: Exception) -> _Failure | None:
        if isinstance(exc, _StreamIncomplete):
            return _Failure(True, "stream interrupted", str(exc))
        if isinstance(exc, _StatusFailure):
            return _status_failure(exc.status, exc.headers, exc.error_type, exc.detail)
        return _transport_failure(exc)


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
