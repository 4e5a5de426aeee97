"""``forge draft``: post spec + notes + results → Jinja prompt → LLM (or offline drafter) → post.

The pieces, in data-flow order:

- :func:`~forge_cli.draft_context.build_context` gathers a ``DraftContext`` for one post: the
  curriculum's post spec, the week's notes, the facts table, tables and figures from the run
  store, and earlier posts.
- :func:`prompt_for` renders ``templates/system.md.j2`` + ``context.md.j2`` (shared by every
  draft of the week, so it is cached by the API) + ``<edition>.md.j2``.
- The backend writes prose that cites results only through placeholders; :func:`fill`
  replaces them with the stored values, tables and figures.
- :func:`write_post` writes the post into the site with provenance in its front matter, and never
  overwrites a post a human has edited or approved since forge drafted it.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from forge_cli.config import Settings
from forge_cli.curriculum import Week
from forge_cli.draft_context import DraftContext, TableRef, build_context, context_variables
from forge_cli.errors import BadInput, ForgeError
from forge_cli.facts import PLACEHOLDER
from forge_cli.posts import (BACKUPS_DIR, EDITIONS, HASH_KEY, REVISIONS_DIR, Edition, human_edited,
                             is_draft, posts_dir, read_post_text, render_post, split_front_matter,
                             unknown_marker, write_new)
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
    """Replace placeholders with stored results. Returns (text, fact keys used, unknown keys).

    An unknown key stays visible in the post as a marked error for ``forge check`` to flag: a
    silently dropped number is worse than a visible hole.
    """
    tables = {table.key: table for table in context.tables}
    figures = {figure.key: figure for figure in context.figures}
    used: list[str] = []
    unknown: list[str] = []

    def replace(match: re.Match) -> str:
        kind, key = match.group(1), match.group(2)
        if kind == "fact" and key in context.facts.facts:
            used.append(key)
            return context.facts.facts[key].formatted()
        if kind == "table" and key in tables:
            return markdown_table(tables[key])
        if kind == "figure" and key in figures:
            figure = figures[key]
            return f"![{figure.caption}]({figure.site_file})"  # the site captions it
        unknown.append(f"{kind}:{key}")
        return unknown_marker(kind, key)

    return PLACEHOLDER.sub(replace, text), list(dict.fromkeys(used)), unknown


def markdown_table(table: TableRef) -> str:
    from forge_cli.results import format_number

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return format_number(value)
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(table.columns) + " |",
             "|" + "|".join("---" for _ in table.columns) + "|"]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in table.rows]
    return "\n".join(lines)


# ---- posts on disk -------------------------------------------------------------------------

def post_meta(context: DraftContext, provenance: dict[str, Any]) -> dict[str, Any]:
    """The front matter forge writes for a post (the content hash is added on rendering)."""
    return {
        "title": context.post.title,
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

    return old_body == body and stable(old_meta) == stable(meta)


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
    return {"provider": provider, "model": model, "usage": usage,
            "run_ids": context.run_ids, "profile": context.profile,
            "git_sha": git_sha(settings.root), "git_dirty": git_dirty(settings.root),
            "template_hash": templates_hash(settings),
            "facts": context.facts.fingerprint(facts_used),
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
               profile: str | None = None) -> list[DraftOutcome]:
    """Draft ``jobs`` of a week. Contexts are built (and bad input reported) before any call.

    ``on_text(job, delta)``, ``on_retry(job, attempt, reason, wait_s)`` and
    ``on_estimate(job, input_tokens, max_cost_usd)`` report each LLM call as it goes. With an
    LLM the first draft runs alone so the week's shared context is written to the prompt cache;
    the others then run concurrently and read it. A failed call leaves the post on disk
    untouched and is reported in its outcome; the other drafts still finish.
    """
    from forge_cli.llm import LLMRequest
    from forge_cli.llm_backends import make_backend

    backend = make_backend(settings, provider=provider)
    contexts = [build_context(settings, week_number, job.post, job.edition, profile)
                for job in jobs]
    for context in contexts:  # a post forge cannot read fails here, before anything is written
        if (post := posts_dir(settings.path("blog")) / context.file_name).exists():
            read_post_text(post)

    def run(job: DraftJob, context: DraftContext) -> DraftOutcome:
        if backend is None:
            raw, used_provider, used_model, usage = offline_draft(settings, context), "offline", None, {}
        else:
            prompt = prompt_for(settings, context)
            request = LLMRequest(system=prompt.system, shared_context=prompt.shared_context,
                                 prompt=prompt.prompt, model=model or settings.llm.model,
                                 max_tokens=settings.llm.max_tokens,
                                 temperature=settings.llm.temperature)
            try:
                response = backend.generate(
                    request, on_text=(lambda delta: on_text(job, delta)) if on_text else None,
                    on_retry=(lambda *args: on_retry(job, *args)) if on_retry else None,
                    on_estimate=(lambda *args: on_estimate(job, *args)) if on_estimate else None)
            except ForgeError as error:
                return DraftOutcome(job=job, error=str(error), provider=backend.name,
                                    model=request.model)
            raw, used_provider, used_model = response.text, response.provider, response.model
            usage = response.usage.model_dump()
        body, used, unknown = fill(raw, context)
        meta = draft_provenance(settings, context, used_provider, used_model, usage, used)
        result = write_post(settings, context, body.rstrip() + "\n", meta, force=force)
        return DraftOutcome(job=job, result=result.model_copy(update={"unknown_placeholders": unknown}),
                            provider=used_provider, model=used_model, usage=usage)

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
