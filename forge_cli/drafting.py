"""``forge draft``: post spec + notes + results → Jinja prompt → LLM (or offline drafter) → post.

The pieces, in data-flow order:

- :func:`build_context` gathers a :class:`DraftContext` for one post: the curriculum's post spec,
  the week's notes, the facts table, tables and figures from the run store, and earlier posts.
- :func:`prompt_for` renders ``templates/system.md.j2`` + ``context.md.j2`` (shared by every
  draft of the week, so it is cached by the API) + ``<edition>.md.j2``.
- The backend writes prose that cites results only through placeholders; :func:`fill`
  replaces them with the stored values, tables and figures.
- :func:`write_post` writes the post into the site with provenance in its front matter, and never
  overwrites a post a human has edited since forge drafted it.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from forge_cli.config import Settings
from forge_cli.curriculum import Post, Week, load_curriculum
from forge_cli.errors import BadInput, ForgeError
from forge_cli.facts import PLACEHOLDER, FactsTable, build_facts
from forge_cli.runner import environment
from forge_cli.store import RunStore, safe_key, write_text_atomic
from forge_cli.templating import render, templates_hash

Edition = Literal["scientist", "manager"]
EDITIONS: tuple[Edition, ...] = ("scientist", "manager")
POSTS_DIR = Path("docs/posts")
REVISIONS_DIR = Path("revisions")
BACKUPS_DIR = Path("backups")


class FigureRef(BaseModel):
    key: str
    """``<experiment>/<figure key>``: what a ``{{ figure:... }}`` placeholder names."""
    caption: str
    source: Path
    run_id: str
    site_file: str
    """Where the figure lives in the site, relative to the posts folder."""


class TableRef(BaseModel):
    key: str
    columns: list[str]
    rows: list[list[Any]]
    run_id: str


class PostRef(BaseModel):
    week: int
    post: int
    title: str
    file: str
    """File name in the posts folder (posts link to each other relatively)."""


class DraftContext(BaseModel):
    """Everything a draft is written from; tests inspect it directly."""

    week: Week
    post: Post
    edition: Edition
    notes: str
    notes_sections: dict[str, str]
    facts: FactsTable
    tables: list[TableRef]
    figures: list[FigureRef]
    earlier_posts: list[PostRef]
    companion: PostRef
    run_ids: list[str]

    @property
    def file_name(self) -> str:
        return post_file_name(self.week.number, self.post.number, self.edition)


class Prompt(BaseModel):
    system: str
    shared_context: str
    prompt: str


class DraftResult(BaseModel):
    path: Path
    action: Literal["created", "updated", "unchanged", "revision", "forced"]
    backup: Path | None = None
    unknown_placeholders: list[str] = []


def post_file_name(week: int, post: int, edition: str) -> str:
    return f"week{week:02d}-post{post}-{edition}.md"


def posts_dir(settings: Settings) -> Path:
    return settings.path("blog") / POSTS_DIR


def parse_sections(markdown: str) -> dict[str, str]:
    """``## Heading`` → section text (front matter, title and HTML comments dropped)."""
    body = re.sub(r"<!--.*?-->", "", split_front_matter(markdown)[1], flags=re.DOTALL)
    sections: dict[str, str] = {}
    current = None
    for line in body.splitlines():
        if line.startswith("## "):
            current = line[3:].strip().lower()
            sections[current] = ""
        elif current is not None:
            sections[current] += line + "\n"
    return {name: text.strip() for name, text in sections.items()}


def build_context(settings: Settings, week_number: int, post_number: int,
                  edition: Edition) -> DraftContext:
    week = load_curriculum().week(week_number)
    try:
        post = week.post(post_number)
    except KeyError:
        raise BadInput(f"week {week.number} has no post {post_number} "
                       f"(it has {len(week.posts)})") from None
    notes_file = settings.path("notes") / f"{week.slug}.md"
    if not notes_file.is_file():
        raise ForgeError(f"no notes for week {week.number}: write {notes_file} first "
                         f"(`forge notes {week.slug}` starts it)")
    records = RunStore(settings.path("runs")).latest(week.number)
    if not records:
        raise ForgeError(f"no runs for week {week.number}: run `forge run {week.slug}` first")
    # Tables and figures come from one run per experiment (the lowest seed); facts from all seeds.
    representative = {}
    for record in records:
        representative.setdefault(record.experiment, record)
    tables = [TableRef(key=f"{record.experiment}/{entry.key}", run_id=record.id,
                       **{k: v for k, v in record.table(entry.key).items() if k in ("columns", "rows")})
              for record in representative.values() for entry in record.tables]
    figures = [FigureRef(key=f"{record.experiment}/{entry.key}", caption=entry.caption,
                         source=record.path / entry.file, run_id=record.id,
                         site_file=f"figures/{week.slug}/{safe_key(record.experiment + '/' + entry.key)}.png")
               for record in representative.values() for entry in record.figures]
    notes = notes_file.read_text(encoding="utf-8")
    existing = {path.name for path in posts_dir(settings).glob("*.md")}
    earlier = []
    for number in post.connects_to:
        for other in load_curriculum().week(number).posts:
            name = post_file_name(number, other.number, edition)
            if name in existing and (number, other.number) != (week.number, post.number):
                earlier.append(PostRef(week=number, post=other.number, title=other.title, file=name))
    companion_edition = "manager" if edition == "scientist" else "scientist"
    return DraftContext(
        week=week, post=post, edition=edition, notes=notes, notes_sections=parse_sections(notes),
        facts=build_facts(week.number, records), tables=tables, figures=figures,
        earlier_posts=earlier,
        companion=PostRef(week=week.number, post=post.number, title=post.title,
                          file=post_file_name(week.number, post.number, companion_edition)),
        run_ids=sorted(record.id for record in records))


def prompt_for(settings: Settings, context: DraftContext) -> Prompt:
    """The three parts of an LLM request; ``shared_context`` is identical for a week's drafts."""
    variables = context_variables(context)
    return Prompt(system=render(settings, "system.md.j2", **variables),
                  shared_context=render(settings, "context.md.j2", **variables),
                  prompt=render(settings, f"{context.edition}.md.j2", **variables))


def offline_draft(settings: Settings, context: DraftContext) -> str:
    """A complete post assembled deterministically from the notes and results, no model."""
    return render(settings, f"offline/{context.edition}.md.j2", **context_variables(context))


def context_variables(context: DraftContext) -> dict[str, Any]:
    headline = headlines(context)
    return {"week": context.week, "post": context.post, "edition": context.edition,
            "notes": context.notes, "sections": context.notes_sections,
            "facts": list(context.facts.facts.values()), "tables": context.tables,
            "figures": context.figures, "earlier_posts": context.earlier_posts,
            "companion": context.companion,
            "headline_facts": list(headline["facts"]), "headline_figures": headline["figures"],
            "headline_tables": headline["tables"],
            "fact_label": lambda key: headline["facts"].get(key) or key,
            "fact_ref": lambda key: f"{{{{ fact:{key} }}}}",
            "table_ref": lambda key: f"{{{{ table:{key} }}}}",
            "figure_ref": lambda key: f"{{{{ figure:{key} }}}}"}


def headlines(context: DraftContext) -> dict[str, Any]:
    """What the posts lead with: the author's picks in the notes' front matter, else defaults
    (every figure, the tables of at most 20 rows, and the facts when there are few). Picks that
    the current runs lack (a smaller profile, a renamed metric) are left out."""
    meta = split_front_matter(context.notes)[0] or {}
    facts: dict[str, str] = {}
    for item in meta.get("headline_facts") or (
            list(context.facts.facts) if len(context.facts.facts) <= 12 else []):
        facts.update(item if isinstance(item, dict) else {item: ""})
    figures = {figure.key for figure in context.figures}
    tables = {table.key for table in context.tables}
    return {"facts": {key: label for key, label in facts.items() if key in context.facts.facts},
            "figures": [key for key in meta.get("headline_figures") or sorted(figures)
                        if key in figures],
            "tables": [key for key in meta.get("headline_tables") or
                       [t.key for t in context.tables if len(t.rows) <= 20] if key in tables]}


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
        return f"**[unknown {kind}: {key}]**"

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

def split_front_matter(text: str) -> tuple[dict[str, Any] | None, str]:
    """(front matter or None, body). The body is exactly what follows the closing ``---``."""
    import yaml

    if not text.startswith("---\n"):
        return None, text
    end = text.find("\n---\n", 4)
    if end < 0:
        return None, text
    try:
        meta = yaml.safe_load(text[4:end])
    except yaml.YAMLError:
        return None, text[end + 5:]
    return (meta if isinstance(meta, dict) else None), text[end + 5:]


def text_hash(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def human_edited(path: Path) -> bool:
    """True when the body on disk differs from what forge last drafted there."""
    meta, body = split_front_matter(path.read_text(encoding="utf-8"))
    recorded = ((meta or {}).get("forge") or {}).get("text_sha256")
    return recorded != text_hash(body)


def compose_post(context: DraftContext, body: str, provenance: dict[str, Any]) -> str:
    import yaml

    meta = {
        "title": context.post.title,
        "date": date.today(),
        "categories": [f"Week {context.week.number}", context.edition.capitalize(),
                       context.week.topic],
        "authors": ["forge"],
        "slug": context.file_name.removesuffix(".md"),
        "draft": True,
        "forge": {"week": context.week.number, "post": context.post.number,
                  "edition": context.edition, "companion": context.companion.file,
                  **provenance, "text_sha256": text_hash(body)},
    }
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=100)
    return f"---\n{front}---\n{body}"


def write_post(settings: Settings, context: DraftContext, body: str, provenance: dict[str, Any],
               force: bool = False) -> DraftResult:
    """Write a drafted post, never losing a human edit.

    - new post, or the post on disk is exactly what forge drafted: (over)write it;
    - a human edited it: write the new draft to ``blog/revisions/`` and leave the post alone,
      unless ``force``, which first copies the edited post to ``blog/backups/``.
    """
    target = posts_dir(settings) / context.file_name
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    text = compose_post(context, body, provenance)
    _copy_figures(settings, context)
    if not target.exists():
        write_text_atomic(target, text)
        return DraftResult(path=target, action="created")
    if not human_edited(target):
        if split_front_matter(target.read_text(encoding="utf-8"))[1] == body:
            return DraftResult(path=target, action="unchanged")
        write_text_atomic(target, text)
        return DraftResult(path=target, action="updated")
    if not force:
        revision = settings.path("blog") / REVISIONS_DIR / f"{target.stem}.{stamp}.md"
        write_text_atomic(revision, text)
        return DraftResult(path=revision, action="revision")
    backup = settings.path("blog") / BACKUPS_DIR / f"{target.stem}.{stamp}.md"
    backup.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(target, backup)
    write_text_atomic(target, text)
    return DraftResult(path=target, action="forced", backup=backup)


def _copy_figures(settings: Settings, context: DraftContext) -> None:
    for figure in context.figures:
        target = posts_dir(settings) / figure.site_file
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_bytes() != figure.source.read_bytes():
            shutil.copyfile(figure.source, target)


def provenance(settings: Settings, context: DraftContext, provider: str, model: str | None,
               usage: dict[str, Any], facts_used: list[str]) -> dict[str, Any]:
    return {"provider": provider, "model": model, "usage": usage,
            "run_ids": context.run_ids, "git_sha": environment(settings.root)["git_sha"],
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
               on_text=None, on_retry=None, on_done=None, on_estimate=None) -> list[DraftOutcome]:
    """Draft ``jobs`` of a week. Contexts are built (and bad input reported) before any call.

    With an LLM the first draft runs alone so the week's shared context is written to the
    prompt cache; the others then run concurrently and read it. A failed call leaves the post on
    disk untouched and is reported in its outcome; the other drafts still finish.
    """
    from forge_cli.llm import LLMRequest, make_backend

    backend = make_backend(settings, provider=provider, model=model)
    contexts = [build_context(settings, week_number, job.post, job.edition) for job in jobs]

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
                if on_estimate:
                    on_estimate(job, *backend.estimate(request))
                response = backend.generate(
                    request, on_text=(lambda delta: on_text(job, delta)) if on_text else None,
                    on_retry=(lambda *args: on_retry(job, *args)) if on_retry else None)
            except ForgeError as error:
                outcome = DraftOutcome(job=job, error=str(error), provider=backend.name,
                                       model=request.model)
                if on_done:
                    on_done(outcome)
                return outcome
            raw, used_provider, used_model = response.text, response.provider, response.model
            usage = response.usage.model_dump()
        body, used, _unknown = fill(raw, context)
        meta = provenance(settings, context, used_provider, used_model, usage, used)
        result = write_post(settings, context, body.rstrip() + "\n", meta, force=force)
        outcome = DraftOutcome(job=job, result=result.model_copy(update={"unknown_placeholders": _unknown}),
                               provider=used_provider, model=used_model, usage=usage)
        if on_done:
            on_done(outcome)
        return outcome

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
