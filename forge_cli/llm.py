"""The LLM interface: one prepared prompt in, the model's text and usage out, and what it costs.

A request may carry a conversation after its prompt (``turns``: the model's earlier answers and
tool calls, forge's tool results and check findings) and the tools the model may call; the loop
that drives them is :mod:`forge_cli.agent`. The types here are provider-neutral: each backend
maps them to its own wire format.

The backends that implement :class:`Backend` live in :mod:`forge_cli.llm_backends` (Claude
through the ``anthropic`` SDK, and any OpenAI-compatible endpoint); the retry policy and cost cap
they share live in :mod:`forge_cli.llm_retry`. Nothing here imports a client library.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from forge_cli.config import ModelPrice
from forge_cli.errors import ForgeError

TextCallback = Callable[[str], None]
RetryCallback = Callable[[int, str, float], None]
"""``on_retry(attempt, reason, wait_s)``: attempt is 1 for the first retry; reason is short, e.g.
``"429 rate limited"``, ``"529 overloaded"``, ``"timeout"``, ``"stream interrupted"``."""
EstimateCallback = Callable[[int, "float | None"], None]
"""``on_estimate(input_tokens, max_cost_usd)``, called once per request before it is sent."""

CHARS_PER_TOKEN = 3.5
"""Rough characters per token for estimates when the endpoint cannot count tokens."""


class ToolSpec(BaseModel):
    """A tool the model may call: its name, what it answers, and a JSON schema of its input."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str
    input_schema: dict[str, Any]


class ToolCall(BaseModel):
    """One call the model asked for; ``id`` pairs it with its result."""

    id: str
    name: str
    input: dict[str, Any]


class ToolResult(BaseModel):
    call_id: str
    content: str
    is_error: bool = False


class Turn(BaseModel):
    """One message after the prompt: the model's (its text and tool calls) or forge's (the
    results of those calls, and text such as the findings of a check)."""

    role: Literal["assistant", "user"]
    text: str = ""
    tool_calls: list[ToolCall] = []
    tool_results: list[ToolResult] = []


class LLMRequest(BaseModel):
    """One prompt, ready to send. ``shared_context`` is identical for all drafts of a week and is
    cached by providers that support prompt caching; ``prompt`` is this draft's instructions;
    ``turns`` is the conversation since, oldest first; ``tools`` what the model may call."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    system: str
    shared_context: str
    prompt: str
    model: str
    max_tokens: int = Field(gt=0)
    temperature: float
    turns: tuple[Turn, ...] = ()
    tools: tuple[ToolSpec, ...] = ()


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

    def plus(self, other: Usage) -> Usage:
        """The usage of two requests together (a draft's rounds and tool calls); the cost is
        None when either has none."""
        both = (None if self.cost_usd is None or other.cost_usd is None
                else self.cost_usd + other.cost_usd)
        return Usage(input_tokens=self.input_tokens + other.input_tokens,
                     output_tokens=self.output_tokens + other.output_tokens,
                     cache_creation_input_tokens=(self.cache_creation_input_tokens
                                                  + other.cache_creation_input_tokens),
                     cache_read_input_tokens=(self.cache_read_input_tokens
                                              + other.cache_read_input_tokens),
                     cost_usd=both, estimated=self.estimated or other.estimated)


class LLMResponse(BaseModel):
    text: str
    provider: str
    model: str
    usage: Usage
    stop_reason: str | None
    retries: int = 0
    """How many times the request was retried before it succeeded."""
    tool_calls: list[ToolCall] = []
    """The tools the model asked to call; empty when ``text`` is its answer."""


class LLMError(ForgeError):
    """The model could not be reached or refused the request (one line, for the CLI)."""


class CostCapExceeded(ForgeError):
    """The estimated cost of a request, with what the draft spent before it, is above
    ``llm.max_cost_usd``; the request was not sent."""


@runtime_checkable
class Backend(Protocol):
    name: str

    def estimate(self, request: LLMRequest) -> tuple[int, float | None]:
        """Input tokens and the estimated maximum cost in USD (None without a price)."""
        ...

    def generate(self, request: LLMRequest, on_text: TextCallback | None = None,
                 on_retry: RetryCallback | None = None,
                 on_estimate: EstimateCallback | None = None,
                 spent_usd: float = 0.0) -> LLMResponse:
        """Estimate the cost once (``on_estimate(input_tokens, max_cost_usd)``), refuse it when
        ``spent_usd`` (what the draft spent so far) plus the estimate is above the cap, then send
        the request and return the reply."""
        ...

    def close(self) -> None:
        """Release connections (a backend may still be used afterwards: it reconnects)."""
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


def request_texts(request: LLMRequest) -> list[str]:
    """Every piece of text a request sends (tool schemas and call inputs as JSON), for a
    character-based estimate."""
    texts = [request.system, request.shared_context, request.prompt]
    texts += [json.dumps(tool.model_dump()) for tool in request.tools]
    for turn in request.turns:
        texts.append(turn.text)
        texts += [json.dumps(call.input) for call in turn.tool_calls]
        texts += [result.content for result in turn.tool_results]
    return texts
