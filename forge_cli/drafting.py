"""``forge draft``: post spec + notes + results → Jinja prompt → LLM (or offline drafter) → post.

The pieces, in data-flow order:

- :func:`~forge_cli.draft_context.build_context` gathers a ``DraftContext`` for one post: the
  curriculum's post spec, the week's notes, the facts table, tables and figures from the run
  store, and earlier posts.
- :func:`prompt_for` renders ``templates/system.md.j2`` + ``context.md.j2`` (shared by every
  draft of the week, so it is cached by the API) + ``<edition>.md.j2``.
- The backend writes prose that cites results only through placeholders; :func:`fill`
  replaces them with the stored values, tables and figures.
- :func:`write_post` frames the body (:mod:`~forge_cli.post_frame`: "What to know" box, excerpt
  break, "Reproduce" box) and writes the post into the site with provenance in its front
  matter, never overwriting a post a human has edited or approved since forge drafted it.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from forge_cli.code_refs import (CODE_PLACEHOLDER, UnknownCode, as_block, fill_code,
                                  fingerprints)
from forge_cli.config import Settings
from forge_cli.curriculum import Week
from forge_cli.draft_context import DraftContext, build_context, context_variables
from forge_cli.errors import BadInput, ForgeError
from forge_cli.facts import PLACEHOLDER
from forge_cli.post_frame import figure_block, frame_body, stable_body, table_block
from forge_cli.posts import (BACKUPS_DIR, EDITIONS, HASH_KEY, REVISIONS_DIR, Edition,
                             edition_title, human_edited, is_draft, posts_dir, read_post_text,
                             render_post, split_front_matter, unknown_marker, write_new)
from forge_cli.provenance import git_dirty, git_sha
from forge_cli.store import write_text_atomic
from forge_cli.templating import render, templates_hash


class Prompt(BaseModel):
    system: str
    shared_context: str
    prompt: str


class DraftResult(BaseModel):
    path: Path
    """The post, or the new file in ``blog/revisions/`` when the post was left alone."""
    action: Literal["created", "updated", "unchanged", "revision", "approved", "forced"]
    """``revision``: a human edited the post; ``approved``: the post is approved. Either way the
    post is untouched and the new draft is in ``path``."""
    backup: Path | None = None
    unknown_placeholders: list[str] = []


def prompt_for(settings: Settings, context: DraftContext) -> Prompt:
    """The three parts of an LLM request; ``shared_context`` is identical for a week's drafts."""
    variables = context_variables(context)
    return Prompt(system=render(settings, "system.md.j2", **variables),
                  shared_context=render(settings, "context.md.j2", **variables),
                  prompt=render(settings, f"{context.edition}.md.j2", **variables))


def offline_draft(settings: Settings, context: DraftContext) -> str:
    """A complete post assembled deterministically from the notes and results, no model."""
    return render(settings, f"offline/{context.edition}.md.j2", **context_variables(context))


def fill(text: str, context: DraftContext) -> tuple[str, list[str], list[str]]:
    """Replace placeholders with stored results and code excerpts. Returns (text, keys used:
    fact keys and ``code:KEY`` per excerpt shown, unknown placeholders as ``kind:key``).

    An unknown key (or code that cannot be shown) stays visible in the post as a marked error
    for ``forge check`` to flag: a silently dropped number is worse than a visible hole. One
    pass over the text, so nothing forge inserts (a docstring quoting a placeholder) is filled.
    """
    tables = {table.key: table for table in context.tables}
    figures = {figure.key: figure for figure in context.figures}
    numbers: dict[tuple[str, str], int] = {}  # (kind, key) → N of "Table N" / "Figure N"
    used: list[str] = []
    unknown: list[str] = []

    def number(kind: str, key: str) -> int:
        """Tables and figures are numbered apart, in the order of their first insertion."""
        return numbers.setdefault((kind, key), 1 + sum(k == kind for k, _ in numbers))

    def replace(match: re.Match) -> str:
        if (code_key := match.group(3)) is not None:
            try:
                block = as_block(fill_code(code_key, context.code_source), match.string,
                                 match.start(), match.end())
                used.append(f"code:{code_key}")
                return block
            except UnknownCode:
                unknown.append(f"code:{code_key}")
                return unknown_marker("code", code_key)
        kind, key = match.group(1), match.group(2)
        if kind == "fact" and key in context.facts.facts:
            used.append(key)
            return context.facts.facts[key].formatted()
        if kind == "table" and key in tables:
            return table_block(tables[key], number(kind, key), context)
        if kind == "figure" and key in figures:
            return figure_block(figures[key], number(kind, key), plain_captions.get(key))
        unknown.append(f"{kind}:{key}")
        return unknown_marker(kind, key)

    # the manager edition captions a figure with the notes' plain words where they give them:
    # the runs' captions are written for scientists (γ, θ, ‖·‖∞)
    plain_captions = ({pick.key: _sentence(pick.text) for pick in context.plan.figures if pick.text}
                      if context.edition == "manager" else {})
    return _ANY_PLACEHOLDER.sub(replace, text), list(dict.fromkeys(used)), unknown


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")


_ANY_PLACEHOLDER = re.compile(f"{PLACEHOLDER.pattern}|{CODE_PLACEHOLDER.pattern}")
"""Groups 1-2: a fact, table or figure's kind and key; group 3: a code reference."""


# ---- posts on disk -------------------------------------------------------------------------

def post_meta(context: DraftContext, provenance: dict[str, Any]) -> dict[str, Any]:
    """The front matter forge writes for a post (the content hash is added on rendering)."""
    return {
        "title": edition_title(context.post.title, context.edition),
        "date": date.today(),
        "categories": [f"Week {context.week.number}", context.edition.capitalize(),
                       context.week.topic],
        "authors": ["forge"],
        "slug": context.file_name.removesuffix(".md"),
        "draft": True,
        "forge": {"week": context.week.number, "post": context.post.number,
                  "edition": context.edition, "companion": context.companion.file, **provenance},
    }


# What differs between two drafts of the same text without making them different drafts.
_VOLATILE = {"date", "draft", "drafted_at", "git_sha", "git_dirty", HASH_KEY}


def _same_draft(old_meta: dict[str, Any], old_body: str, meta: dict[str, Any], body: str) -> bool:
    def stable(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        forge = values.get("forge") if isinstance(values.get("forge"), dict) else {}
        return ({key: value for key, value in values.items() if key not in {*_VOLATILE, "forge"}},
                {key: value for key, value in forge.items() if key not in _VOLATILE})

    return stable_body(old_body) == stable_body(body) and stable(old_meta) == stable(meta)


def write_post(settings: Settings, context: DraftContext, body: str, provenance: dict[str, Any],
               force: bool = False) -> DraftResult:
    """Write a drafted post, never losing a human's edit or approval.

    - a new post, or the post on disk is exactly what forge drafted: (over)write it;
    - the post is approved: leave it alone (even with ``force``) and write the new draft to
      ``blog/revisions/``;
    - a human edited it (any character forge wrote, front matter included): write the new draft
      to ``blog/revisions/`` and leave the post alone, unless ``force``, which first saves the
      edited post to ``blog/backups/``.

    Revision and backup files are created exclusively: they never overwrite one another.
    """
    blog = settings.path("blog")
    target = posts_dir(blog) / context.file_name
    meta = post_meta(context, provenance)
    body = frame_body(settings, context, body, provenance)
    text = render_post(meta, body)
    _copy_figures(blog, context)
    if not target.exists():
        write_text_atomic(target, text)
        return DraftResult(path=target, action="created")
    old_text = read_post_text(target)
    old_meta, old_body = split_front_matter(old_text)
    edited = human_edited(old_text)
    if not edited and _same_draft(old_meta, old_body, meta, body):
        return DraftResult(path=target, action="unchanged")
    if old_meta is not None and not is_draft(old_meta):
        revision = write_new(blog / REVISIONS_DIR, target.name, text.encode("utf-8"))
        return DraftResult(path=revision, action="approved")
    if not edited:
        write_text_atomic(target, text)
        return DraftResult(path=target, action="updated")
    if not force:
        revision = write_new(blog / REVISIONS_DIR, target.name, text.encode("utf-8"))
        return DraftResult(path=revision, action="revision")
    backup = write_new(blog / BACKUPS_DIR, target.name, old_text.encode("utf-8"))
    write_text_atomic(target, text)
    return DraftResult(path=target, action="forced", backup=backup)


def _copy_figures(blog: Path, context: DraftContext) -> None:
    """Figures are named by their content, so one already in place is the same image."""
    for figure in context.figures:
        target = posts_dir(blog) / figure.site_file
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.tmp")
            partial.write_bytes(figure.source.read_bytes())
            partial.replace(target)


def draft_provenance(settings: Settings, context: DraftContext, provider: str,
                     model: str | None, usage: dict[str, Any],
                     facts_used: list[str]) -> dict[str, Any]:
    """``facts_used`` as :func:`fill` returns it: ``code:KEY`` entries are the code shown."""
    code = [key.removeprefix("code:") for key in facts_used if key.startswith("code:")]
    return {"provider": provider, "model": model, "usage": usage,
            "run_ids": context.run_ids, "profile": context.profile,
            "git_sha": git_sha(settings.root), "git_dirty": git_dirty(settings.root),
            "template_hash": templates_hash(settings),
            "facts": context.facts.fingerprint(facts_used),
            "code": fingerprints(code, context.code_source),
            "drafted_at": datetime.now(UTC).isoformat(timespec="seconds")}


# ---- drafting a week -----------------------------------------------------------------------

class DraftJob(BaseModel):
    post: int
    edition: Edition

    @property
    def label(self) -> str:
        return f"post {self.post} · {self.edition}"


class DraftOutcome(BaseModel):
    job: DraftJob
    result: DraftResult | None = None
    error: str | None = None
    provider: str
    model: str | None = None
    usage: dict[str, Any] = {}
    """The LLM's usage over every request of the draft, with ``rounds`` and ``tool_calls``."""
    findings: list[str] = []
    """What forge's check still found in the last round's text (LLM drafts only)."""
    waiting: str | None = None
    """Not drafted: the notes say what the post waits for."""


def plan_jobs(week: Week, post: str, edition: str) -> list[DraftJob]:
    posts = [p.number for p in week.posts] if post == "all" else [_post_number(week, post)]
    if edition not in (*EDITIONS, "all"):
        raise BadInput(f"unknown edition {edition!r}: expected scientist, manager or all")
    editions = EDITIONS if edition == "all" else (edition,)
    return [DraftJob(post=p, edition=e) for p in posts for e in editions]


def _post_number(week: Week, post: str) -> int:
    if not post.isdigit() or int(post) not in [p.number for p in week.posts]:
        choices = "|".join(str(p.number) for p in week.posts)
        raise BadInput(f"week {week.number} has no post {post!r}: expected {choices} or all")
    return int(post)


def draft_week(settings: Settings, week_number: int, jobs: list[DraftJob],
               provider: str | None = None, model: str | None = None, force: bool = False,
               on_text=None, on_retry=None, on_estimate=None,
               profile: str | None = None, on_round=None) -> list[DraftOutcome]:
    """Draft ``jobs`` of a week. Contexts are built (and bad input reported) before any call.

    With an LLM each post is the draft → check → revise loop of :mod:`forge_cli.agent`.
    ``on_text(job, delta)``, ``on_retry(job, attempt, reason, wait_s)`` and
    ``on_estimate(job, input_tokens, max_cost_usd)`` report each LLM request as it goes,
    ``on_round(job, number, findings)`` each round forge checked. With an LLM the first draft
    runs alone so the week's shared context is written to the prompt cache; the others then run
    concurrently and read it. A failed call (or the cost cap) leaves the post on disk untouched
    and is reported in its outcome; the other drafts still finish.
    """
    from forge_cli.agent import draft_with_agent
    from forge_cli.llm import LLMRequest
    from forge_cli.llm_backends import make_backend

    backend = make_backend(settings, provider=provider)
    contexts = [build_context(settings, week_number, job.post, job.edition, profile)
                for job in jobs]
    for context in contexts:  # a post forge cannot read fails here, before anything is written
        if (post := posts_dir(settings.path("blog")) / context.file_name).exists():
            read_post_text(post)

    def run(job: DraftJob, context: DraftContext) -> DraftOutcome:
        if context.plan.waiting:
            return DraftOutcome(job=job, provider="none", waiting=context.plan.waiting)
        findings: list[str] = []
        if backend is None:
            raw, used_provider, used_model, usage = offline_draft(settings, context), "offline", None, {}
        else:
            prompt = prompt_for(settings, context)
            request = LLMRequest(system=prompt.system, shared_context=prompt.shared_context,
                                 prompt=prompt.prompt, model=model or settings.llm.model,
                                 max_tokens=settings.llm.max_tokens,
                                 temperature=settings.llm.temperature)
            try:
                draft = draft_with_agent(
                    settings, backend, context, request, lambda text: fill(text, context)[0],
                    on_text=(lambda delta: on_text(job, delta)) if on_text else None,
                    on_retry=(lambda *args: on_retry(job, *args)) if on_retry else None,
                    on_estimate=(lambda *args: on_estimate(job, *args)) if on_estimate else None,
                    on_round=(lambda *args: on_round(job, *args)) if on_round else None)
            except ForgeError as error:
                return DraftOutcome(job=job, error=str(error), provider=backend.name,
                                    model=request.model)
            raw, used_provider, used_model = draft.text, draft.provider, draft.model
            usage = {**draft.usage.model_dump(), "rounds": len(draft.rounds),
                     "tool_calls": draft.tool_calls}
            findings = [f"{finding.kind}: {finding.message}"
                        for finding in draft.rounds[-1].findings]
        body, used, unknown = fill(raw, context)
        meta = draft_provenance(settings, context, used_provider, used_model, usage, used)
        result = write_post(settings, context, body.rstrip() + "\n", meta, force=force)
        return DraftOutcome(job=job, result=result.model_copy(update={"unknown_placeholders": unknown}),
                            provider=used_provider, model=used_model, usage=usage,
                            findings=findings)

    pairs = list(zip(jobs, contexts))
    if backend is None or len(pairs) <= 1:
        outcomes = [run(job, context) for job, context in pairs]
    else:
        from concurrent.futures import ThreadPoolExecutor

        first = run(*pairs[0])
        with ThreadPoolExecutor(max_workers=min(4, len(pairs) - 1)) as pool:
            outcomes = [first, *pool.map(lambda pair: run(*pair), pairs[1:])]
    if backend is not None:
        backend.close()
    return outcomes
