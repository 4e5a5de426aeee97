"""The drafting agent: with an LLM backend a post is a bounded draft → check → revise loop.

One round: the model writes the post, calling tools as it goes (:class:`DraftTools` answers
them from the draft's context: facts, tables, figures, code under ``algorithms/``, note
sections) until it returns its text; forge fills the placeholders and runs its own check on the
result (:func:`forge_cli.check.check_text`); each round's text is kept in ``blog/revisions/``.
When the check finds something, the findings go back to the model as the next message
(``templates/revise.md.j2``) and it revises, up to ``llm.max_rounds`` rounds in all. The last
round's text is the draft.

Every request of the loop, tool calls included, is estimated before it is sent and refused when
it would take the draft's spend above ``llm.max_cost_usd``. The offline drafter never loops.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from forge_cli.check import Finding, check_text
from forge_cli.code_refs import UnknownCode, resolve, source_root
from forge_cli.config import Settings
from forge_cli.draft_context import DraftContext
from forge_cli.llm import (Backend, EstimateCallback, LLMError, LLMRequest, RetryCallback,
                           TextCallback, ToolCall, ToolResult, ToolSpec, Turn, Usage)
from forge_cli.posts import REVISIONS_DIR, write_new
from forge_cli.templating import render

MAX_TOOL_STEPS = 8
"""Requests per round that may end in tool calls. A model still calling tools after that is
stopped (an LLMError): the loop stays bounded in requests, not only in rounds."""
MAX_TABLE_ROWS = 50
"""Rows a table lookup returns; the rest are counted, not sent."""
SUGGESTIONS = 5

RoundCallback = Callable[[int, list[Finding]], None]
"""``on_round(number, findings)``, after forge has checked a round's text."""


def _key_input(name: str, description: str) -> dict[str, Any]:
    return {"type": "object", "properties": {name: {"type": "string", "description": description}},
            "required": [name]}


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(name="lookup_fact",
             description="A measured result of this week's runs by its key: value (mean over "
             "seeds), spread (sample standard deviation; 0 for one run), n (runs), unit, and the "
             "placeholder that cites it. Never type the number: write the placeholder.",
             input_schema=_key_input("key", "a fact key, e.g. pi-vs-vi.gridworld4x4.vi.sweeps")),
    ToolSpec(name="list_tables",
             description="The week's result tables: key, columns, number of rows, placeholder.",
             input_schema={"type": "object", "properties": {}}),
    ToolSpec(name="lookup_table",
             description=f"A result table's columns and rows (the first {MAX_TABLE_ROWS}) and "
             "the placeholder that inserts it.",
             input_schema=_key_input("key", "a table key, e.g. book-examples/values/gridworld_4x4")),
    ToolSpec(name="lookup_figure",
             description="A figure's caption (what it shows) and the placeholder that inserts it.",
             input_schema=_key_input("key", "a figure key, e.g. heatmaps/heatmaps/gambler")),
    ToolSpec(name="lookup_code",
             description="The source of a function or class under algorithms/ "
             "('PATH::SYMBOL', 'PATH::Class.method' or 'PATH:START-END'), with its line numbers "
             "and the placeholder that shows it in the post. Never retype code: write the "
             "placeholder.",
             input_schema=_key_input(
                 "ref", "e.g. algorithms/mdp/dynamic_programming.py::value_iteration")),
    ToolSpec(name="read_notes_section",
             description="One section of the author's notes for this week, by its '## ' heading.",
             input_schema=_key_input("heading", "a heading of the notes, e.g. Derivations")),
)


class DraftTools:
    """Answers the model's tool calls from one post's :class:`DraftContext`; an answer is JSON
    text, and a call naming nothing known is an error result that lists what there is."""

    specs = TOOLS

    def __init__(self, settings: Settings, context: DraftContext):
        self.context = context
        self.code_root = (context.code_source.root if context.code_source is not None
                          else source_root(settings))
        self.tables = {table.key: table for table in context.tables}
        self.figures = {figure.key: figure for figure in context.figures}

    def answer(self, call: ToolCall) -> ToolResult:
        handler = getattr(self, f"_{call.name}", None)
        if call.name not in {tool.name for tool in TOOLS} or handler is None:
            return _error(call, f"no tool {call.name!r}; the tools are "
                          + ", ".join(tool.name for tool in TOOLS))
        try:
            return ToolResult(call_id=call.id, content=json.dumps(handler(call.input),
                                                                  ensure_ascii=False))
        except LookupError as why:
            return _error(call, str(why.args[0]))

    def _lookup_fact(self, args: dict[str, Any]) -> dict[str, Any]:
        key = _argument(args, "key")
        facts = self.context.facts.facts
        if key not in facts:
            raise LookupError(_unknown("fact", key, list(facts)))
        fact = facts[key]
        return {"key": key, "value": fact.value, "spread": fact.spread, "n": fact.n,
                "unit": fact.unit, "formatted": fact.formatted(),
                "placeholder": f"{{{{ fact:{key} }}}}"}

    def _list_tables(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"key": table.key, "columns": table.columns, "rows": len(table.rows),
                 "placeholder": f"{{{{ table:{table.key} }}}}"} for table in self.tables.values()]

    def _lookup_table(self, args: dict[str, Any]) -> dict[str, Any]:
        key = _argument(args, "key")
        if key not in self.tables:
            raise LookupError(_unknown("table", key, list(self.tables)))
        table = self.tables[key]
        return {"key": key, "columns": table.columns, "rows": table.rows[:MAX_TABLE_ROWS],
                "rows_not_shown": max(0, len(table.rows) - MAX_TABLE_ROWS),
                "placeholder": f"{{{{ table:{key} }}}}"}

    def _lookup_figure(self, args: dict[str, Any]) -> dict[str, Any]:
        key = _argument(args, "key")
        if key not in self.figures:
            raise LookupError(_unknown("figure", key, list(self.figures)))
        return {"key": key, "caption": self.figures[key].caption,
                "placeholder": f"{{{{ figure:{key} }}}}"}

    def _lookup_code(self, args: dict[str, Any]) -> dict[str, Any]:
        ref = _argument(args, "ref")
        try:
            excerpt = resolve(self.code_root, ref)
        except UnknownCode as why:
            raise LookupError(_unknown("code", ref, self.context.code_symbols, str(why))) from None
        return {"ref": ref, "path": excerpt.path, "lines": [excerpt.start, excerpt.end],
                "source": excerpt.source, "placeholder": f"{{{{ code:{ref} }}}}"}

    def _read_notes_section(self, args: dict[str, Any]) -> dict[str, Any]:
        heading = _argument(args, "heading").strip().removeprefix("## ").strip().lower()
        sections = self.context.notes_sections
        if heading not in sections:
            raise LookupError(_unknown("notes section", heading, list(sections)))
        return {"heading": heading, "text": sections[heading]}


def _argument(args: dict[str, Any], name: str) -> str:
    value = args.get(name)
    if not isinstance(value, str) or not value.strip():
        raise LookupError(f"the input needs {name!r}, a non-empty string")
    return value.strip()


def _unknown(kind: str, key: str, known: list[str], why: str = "") -> str:
    close = difflib.get_close_matches(key, known, n=SUGGESTIONS, cutoff=0.5)
    hint = (f"; did you mean: {', '.join(close)}" if close
            else f"; there are: {', '.join(known[:20])}{' …' if len(known) > 20 else ''}"
            if known else "; there are none")
    return f"no {kind} {key!r}{f' ({why})' if why else ''}{hint}"


def _error(call: ToolCall, message: str) -> ToolResult:
    return ToolResult(call_id=call.id, content=message, is_error=True)


# ---- the loop ----------------------------------------------------------------------------------

class DraftRound(BaseModel):
    number: int
    path: Path
    """The round's text (as the model wrote it, placeholders unfilled) in ``blog/revisions/``."""
    findings: list[Finding]


class AgentDraft(BaseModel):
    text: str
    """The last round's answer, placeholders unfilled."""
    provider: str
    model: str
    usage: Usage
    """Every request of the loop together."""
    rounds: list[DraftRound]
    tool_calls: int


def review(settings: Settings, context: DraftContext, filled: str) -> list[Finding]:
    """forge's check of one round's filled text, the brief's requirements included; the figures
    forge copies beside the post and the companion edition drafted alongside count as present."""
    present = [figure.site_file for figure in context.figures] + [context.companion.file]
    return check_text(settings, context.week.number, filled, name=context.file_name,
                      profile=context.profile, present=present, post=context.post.number,
                      edition=context.edition)


def draft_with_agent(settings: Settings, backend: Backend, context: DraftContext,
                     request: LLMRequest, fill_text: Callable[[str], str], *,
                     on_text: TextCallback | None = None, on_retry: RetryCallback | None = None,
                     on_estimate: EstimateCallback | None = None,
                     on_round: RoundCallback | None = None) -> AgentDraft:
    """Run the draft → check → revise loop for one post (``fill_text`` replaces a text's
    placeholders). Raises CostCapExceeded before a request that would take the loop's spend
    above the cap, LLMError when a request fails or the model keeps calling tools."""
    tools = DraftTools(settings, context)
    max_rounds = settings.llm.max_rounds
    turns: list[Turn] = []
    usage: Usage | None = None
    spent, calls = 0.0, 0
    rounds: list[DraftRound] = []
    for number in range(1, max_rounds + 1):
        for step in range(MAX_TOOL_STEPS + 1):
            response = backend.generate(
                request.model_copy(update={"turns": tuple(turns), "tools": tools.specs}),
                on_text=on_text, on_retry=on_retry, on_estimate=on_estimate, spent_usd=spent)
            usage = response.usage if usage is None else usage.plus(response.usage)
            spent += response.usage.cost_usd or 0.0
            if not response.tool_calls:
                break
            if step == MAX_TOOL_STEPS:
                raise LLMError(f"{backend.name}: the model was still calling tools after "
                               f"{MAX_TOOL_STEPS} requests in round {number}; nothing written")
            calls += len(response.tool_calls)
            turns += [Turn(role="assistant", text=response.text, tool_calls=response.tool_calls),
                      Turn(role="user", tool_results=[tools.answer(call)
                                                      for call in response.tool_calls])]
        text = response.text
        if not text.strip():
            raise LLMError(f"{backend.name}: the model returned an empty post in round {number}")
        findings = review(settings, context, fill_text(text))
        path = _keep_round(settings, context, number, text, findings)
        rounds.append(DraftRound(number=number, path=path, findings=findings))
        if on_round is not None:
            on_round(number, findings)
        if not findings or number == max_rounds:
            break
        turns += [Turn(role="assistant", text=text),
                  Turn(role="user", text=render(settings, "revise.md.j2", findings=findings,
                                                round=number, max_rounds=max_rounds))]
    return AgentDraft(text=text, provider=response.provider, model=response.model, usage=usage,
                      rounds=rounds, tool_calls=calls)


def _keep_round(settings: Settings, context: DraftContext, number: int, text: str,
                findings: list[Finding]) -> Path:
    """Save a round's text to ``blog/revisions/<post>.round<N>.<time>.md`` (created exclusively,
    never overwriting), with what forge's check found in it in a closing HTML comment."""
    lines = [f"- {finding.kind}: {finding.message}".replace("--", "- -") for finding in findings]
    verdict = "\n".join(lines) if lines else "nothing"
    data = f"{text.rstrip()}\n\n<!-- forge check, round {number}:\n{verdict}\n-->\n"
    name = f"{Path(context.file_name).stem}.round{number}.md"
    return write_new(settings.path("blog") / REVISIONS_DIR, name, data.encode("utf-8"))
