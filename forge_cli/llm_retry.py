"""The retry policy and cost cap every LLM backend shares.

Retries (429, 529, 5xx, timeouts, dropped connections, streams that break midway) are done here,
not by a client library, so each one can be reported through ``on_retry(attempt, reason,
wait_s)``. A retry restarts the request from the beginning: text already passed to ``on_text`` is
sent again, so a live display should clear what it has shown when ``on_retry`` is called.
"""

from __future__ import annotations

import email.utils
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from forge_cli.config import ModelPrice, Settings
from forge_cli.llm import (CostCapExceeded, EstimateCallback, LLMError, LLMRequest, LLMResponse,
                           RetryCallback, TextCallback)

BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 60.0
RETRY_AFTER_MAX_S = 300.0
"""A server's ``retry-after`` is honoured as given, up to this many seconds."""

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


@dataclass
class Failure:
    retryable: bool
    reason: str
    detail: str = ""
    retry_after: float | None = None


class StreamIncomplete(Exception):
    """The response stream ended before its final event: treated as a dropped connection."""


def one_line(text: object, limit: int = 300) -> str:
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


def status_failure(status: int, headers: Any, error_type: str | None, detail: str) -> Failure:
    detail = one_line(detail)
    if status in _RETRYABLE_STATUS:
        return Failure(True, _RETRYABLE_STATUS[status], detail, _retry_after_s(headers))
    if status >= 500 and status not in _NOT_RETRYABLE_5XX:
        return Failure(True, f"{status} server error", detail, _retry_after_s(headers))
    if status < 400:  # an error event inside a stream that had started with 200
        if error_type in _RETRYABLE_ERROR_TYPES:
            return Failure(True, f"{_RETRYABLE_ERROR_TYPES[error_type]} (mid-stream)", detail)
        return Failure(False, f"{error_type or 'error'} (mid-stream)", detail)
    return Failure(False, f"{status} {error_type or 'error'}", detail)


def transport_failure(exc: BaseException) -> Failure | None:
    """Timeouts and connection errors raised by httpx / httpx2 (e.g. while reading a stream)."""
    for name in ("httpx2", "httpx"):
        module = sys.modules.get(name)
        if module is None:
            continue
        if isinstance(exc, module.TimeoutException):
            return Failure(True, "timeout", one_line(exc) or type(exc).__name__)
        if isinstance(exc, module.TransportError):
            return Failure(True, "connection error", one_line(exc) or type(exc).__name__)
    return None


def sdk_transport_failure(exc: BaseException, sdk: Any) -> Failure | None:
    """The failures the official SDKs (``anthropic``, ``openai``) share by name: a stream cut
    short, a timeout, a lost connection; None for anything else (a status error, say)."""
    if isinstance(exc, StreamIncomplete):
        return Failure(True, "stream interrupted", str(exc))
    if isinstance(exc, sdk.APITimeoutError):
        return Failure(True, "timeout", "no response in time")
    if isinstance(exc, sdk.APIConnectionError):
        cause = exc.__cause__ or exc
        return Failure(True, "connection error", one_line(cause) or type(cause).__name__)
    return None


class RetryingBackend:
    """What a backend shares: its SDK client, the cost cap, the retry loop and its backoff. A
    subclass provides ``name``, ``_make_client``, ``estimate``, ``_attempt`` (one try) and
    ``_classify`` (which failures to retry). The SDK's own retries stay off: retrying here lets
    each retry be reported."""

    name = "?"

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] | None = None,
                 rng: random.Random | None = None):
        self.settings = settings
        self.sleep = sleep or time.sleep
        self.rng = rng or random.Random()
        self._client: Any = None
        self._client_lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The SDK client, made on first use (drafts may run in threads; they share it)."""
        with self._client_lock:
            if self._client is None:
                self._client = self._make_client()
        return self._client

    def _make_client(self) -> Any:
        raise NotImplementedError

    def estimate(self, request: LLMRequest) -> tuple[int, float | None]:
        raise NotImplementedError

    def _attempt(self, request: LLMRequest, on_text: TextCallback | None) -> LLMResponse:
        raise NotImplementedError

    def _classify(self, exc: Exception) -> Failure | None:
        raise NotImplementedError

    def close(self) -> None:
        """Release connections (a backend may still be used afterwards: it reconnects)."""
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def price(self, model: str) -> ModelPrice | None:
        return self.settings.llm.prices.get(model)

    def backoff_s(self, attempt: int, failure: Failure) -> float:
        """``retry-after`` when the server sent one, else exponential backoff with jitter:
        base 1 s doubling per attempt, capped at 60 s, times a random factor in [0.5, 1)."""
        if failure.retry_after is not None:
            return min(failure.retry_after, RETRY_AFTER_MAX_S)
        delay = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
        return delay * (0.5 + 0.5 * self.rng.random())

    def generate(self, request: LLMRequest, on_text: TextCallback | None = None,
                 on_retry: RetryCallback | None = None,
                 on_estimate: EstimateCallback | None = None,
                 spent_usd: float = 0.0) -> LLMResponse:
        """Estimate the request once (reported through ``on_estimate``), refuse it when the
        estimate plus ``spent_usd`` (what the draft's earlier requests cost) is above
        ``llm.max_cost_usd``, then send it, retrying as configured. Raises CostCapExceeded
        before sending anything, LLMError when it fails."""
        tokens, cost = self.estimate(request)
        if on_estimate is not None:
            on_estimate(tokens, cost)
        cap = self.settings.llm.max_cost_usd
        if cost is not None and spent_usd + cost > cap:
            earlier = (f" on top of ${spent_usd:.4f} this draft already spent"
                       if spent_usd > 0 else "")
            raise CostCapExceeded(
                f"estimated cost ${cost:.4f} ({tokens} input + up to {request.max_tokens} "
                f"output tokens of {request.model}){earlier} is above llm.max_cost_usd = "
                f"${cap:.2f}; {'this request was not sent' if earlier else 'nothing was sent'}")
        retries = 0
        while True:
            try:
                response = self._attempt(request, on_text)
                return response.model_copy(update={"retries": retries})
            except Exception as exc:
                failure = self._classify(exc)
                if failure is None:
                    raise
                detail = f": {failure.detail}" if failure.detail else ""
                if not failure.retryable:
                    hint = " (check the API key)" if failure.reason.startswith("401") else ""
                    raise LLMError(f"{self.name}: {failure.reason}{detail}{hint}") from exc
                if retries >= max(0, self.settings.llm.max_retries):
                    attempts = retries + 1
                    raise LLMError(f"{self.name}: gave up after {attempts} attempt"
                                   f"{'s' if attempts != 1 else ''}; last failure: "
                                   f"{failure.reason}{detail}") from exc
                retries += 1
                wait = self.backoff_s(retries, failure)
                if on_retry is not None:
                    on_retry(retries, failure.reason, wait)
                self.sleep(wait)
