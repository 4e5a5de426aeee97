"""The configured LLM as a judge for experiments (``Tracker.llm_judge``): a plain function an
experiment in ``algorithms/`` can call without knowing forge's providers.

``judge_function(settings)`` is None when no provider is configured (``llm.provider`` auto
without ``ANTHROPIC_API_KEY``, or offline): the experiment then uses its offline stand-in and
names it. Otherwise each call sends one short request through the same backend as drafting
(retries on 429/5xx/timeouts, the cost estimate and ``llm.max_cost_usd``, which here caps the
whole run's judging), at temperature 0.
"""

from __future__ import annotations

from typing import Any

from forge_cli.config import Settings


class LLMJudgeFunction:
    """``judge(system, shared, prompt) → text``: ``shared`` is the part every call repeats (a
    constitution), sent as the cacheable context. ``name`` says which model judged; ``calls``,
    ``retries`` and ``cost_usd`` (None without a price) what it took."""

    def __init__(self, backend: Any, model: str, provider: str, max_tokens: int = 16):
        self.backend, self.model, self.max_tokens = backend, model, max_tokens
        self.name = f"LLM judge ({provider}: {model})"
        self.calls, self.retries, self.cost_usd = 0, 0, 0.0

    def __call__(self, system: str, shared: str, prompt: str) -> str:
        from forge_cli.llm import LLMRequest

        request = LLMRequest(system=system, shared_context=shared, prompt=prompt,
                             model=self.model, max_tokens=self.max_tokens, temperature=0.0)
        response = self.backend.generate(request, spent_usd=self.cost_usd or 0.0)
        self.calls += 1
        self.retries += response.retries
        if self.cost_usd is not None:
            self.cost_usd = (None if response.usage.cost_usd is None
                             else self.cost_usd + response.usage.cost_usd)
        return response.text


def judge_function(settings: Settings) -> LLMJudgeFunction | None:
    from forge_cli.llm_backends import make_backend

    backend = make_backend(settings)
    if backend is None:
        return None
    provider = settings.llm.provider
    if provider == "auto":
        provider = "anthropic"
    return LLMJudgeFunction(backend, settings.llm.model, provider)
