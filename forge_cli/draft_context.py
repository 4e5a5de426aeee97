"""What a draft is written from: the post spec, the week's notes, facts, tables and figures.

:func:`build_context` gathers a :class:`DraftContext` for one post (bad input is reported here,
before any model is called); :func:`context_variables` is what the Jinja templates see.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from forge_cli.code_refs import CodeSource, code_source, week_code_symbols
from forge_cli.config import Settings
from forge_cli.curriculum import Post, Week, load_curriculum
from forge_cli.errors import BadInput, ForgeError
from forge_cli.facts import FactsTable, week_facts
from forge_cli.notes import notes_path, notes_picks, read_notes
from forge_cli.post_picks import PostPlan, Section, check_post_picks, notes_fact_keys, plan_post
from forge_cli.posts import (Edition, front_matter_span, post_file_name, posts_dir,
                             split_front_matter)
from forge_cli.store import RunStore, safe_key


class FigureRef(BaseModel):
    key: str
    """``<experiment>/<figure key>``: what a ``{{ figure:... }}`` placeholder names."""
    caption: str
    source: Path
    run_id: str
    site_file: str
    """Where the figure lives in the site, relative to the posts folder. The name carries a hash
    of the image, so a newer run's figure never replaces the one an approved post shows."""


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
    profile: str
    """The profile every fact, table and figure comes from (RunStore.latest picks one)."""
    code_source: CodeSource | None = None
    """Where ``{{ code:... }}`` placeholders are read from (None: they stay unknown)."""
    code_symbols: list[str] = []
    """``PATH::SYMBOL`` of the algorithms the week's experiments import: what prompts offer."""
    plan: PostPlan = PostPlan()
    """What this edition of the post uses: the notes' picks resolved against the runs."""

    @property
    def file_name(self) -> str:
        return post_file_name(self.week.number, self.post.number, self.edition)


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def parse_sections(markdown: str) -> dict[str, str]:
    """``## Heading`` (lower-cased) → section text."""
    return {name: section.text for name, section in notes_sections(markdown).items()}


def notes_sections(markdown: str) -> dict[str, Section]:
    """Lower-cased ``## Heading`` → the section, heading as written (front matter, title and
    HTML comments dropped). A line in a fenced block (pseudocode, say) is never a heading. Of
    headings written more than once (:func:`repeated_headings`) the last is kept."""
    return {title.lower(): Section(title=title, text="\n".join(lines).strip())
            for title, lines in _heading_blocks(markdown)}


def repeated_headings(markdown: str) -> set[str]:
    """The lower-cased ``## Heading`` s written more than once: a post that picks one cannot
    say which it means."""
    seen: set[str] = set()
    repeated: set[str] = set()
    for title, _ in _heading_blocks(markdown):
        (repeated if title.lower() in seen else seen).add(title.lower())
    return repeated


def _heading_blocks(markdown: str) -> list[tuple[str, list[str]]]:
    """(heading as written, its lines) for every ``## `` heading outside fenced blocks, in order."""
    body = re.sub(r"<!--.*?-->", "", split_front_matter(markdown)[1], flags=re.DOTALL)
    blocks: list[tuple[str, list[str]]] = []
    fence = None  # the fence that opened the code block being read
    for line in body.splitlines():
        if marker := _FENCE.match(line):
            if fence is None:
                fence = marker.group(1)
            elif marker.group(1).startswith(fence) and not line.strip().strip(fence[0]):
                fence = None
        if fence is None and line.startswith("## "):
            blocks.append((line[3:].strip(), []))
        elif blocks:
            blocks[-1][1].append(line)
    return blocks


def build_context(settings: Settings, week_number: int, post_number: int,
                  edition: Edition, profile: str | None = None) -> DraftContext:
    week = load_curriculum().week(week_number)
    try:
        post = week.post(post_number)
    except KeyError:
        raise BadInput(f"week {week.number} has no post {post_number} "
                       f"(it has {len(week.posts)})") from None
    notes_file = notes_path(settings, week.number)
    if not notes_file.is_file():
        raise ForgeError(f"no notes for week {week.number}: write {notes_file} first "
                         f"(`forge notes {week.slug}` starts it)")
    store = RunStore(settings.path("runs"))
    latest = store.latest(week.number, profile)
    if not latest.records:
        raise ForgeError(latest.why_empty())
    records = latest.records
    # Tables and figures come from one run per experiment (the lowest seed); facts from all seeds.
    representative = {}
    for record in records:
        representative.setdefault(record.experiment, record)
    tables = [_table_ref(record, entry)
              for record in representative.values() for entry in record.tables]
    figures = [_figure_ref(week, record, entry)
               for record in representative.values() for entry in record.figures]
    notes = read_notes(settings, week.number)
    # A bad pick fails here, before anything is written.
    front_matter = split_front_matter(notes)[0]
    if front_matter is None and front_matter_span(notes) is not None:
        raise BadInput(f"{notes_file}: the front matter is not a YAML mapping (`key: value` lines)")
    picks = notes_picks(front_matter, notes_file)
    sections = notes_sections(notes)
    check_post_picks(picks, week, {name: s.title for name, s in sections.items()}, notes_file,
                     repeated_headings(notes))
    facts = week_facts(store, week.number, latest.profile, records,
                       notes_fact_keys(picks, notes), where=f"{notes_file}: ")
    plan = plan_post(picks, week, post.number, edition, facts,
                     {figure.key: figure.caption for figure in figures},
                     {table.key: len(table.rows) for table in tables}, sections)
    existing = {path.name for path in posts_dir(settings.path("blog")).glob("*.md")}
    earlier = []
    for number in post.connects_to:
        for other in load_curriculum().week(number).posts:
            name = post_file_name(number, other.number, edition)
            if name in existing and (number, other.number) != (week.number, post.number):
                earlier.append(PostRef(week=number, post=other.number, title=other.title, file=name))
    companion_edition = "manager" if edition == "scientist" else "scientist"
    return DraftContext(
        week=week, post=post, edition=edition, notes=notes,
        notes_sections={name: section.text for name, section in sections.items()},
        facts=facts, tables=tables, figures=figures, plan=plan,
        earlier_posts=earlier,
        companion=PostRef(week=week.number, post=post.number, title=post.title,
                          file=post_file_name(week.number, post.number, companion_edition)),
        run_ids=_run_ids(records, facts), profile=latest.profile,
        code_source=(source := code_source(settings)),
        code_symbols=week_code_symbols(source.root, week.number))


def _run_ids(records, facts: FactsTable) -> list[str]:
    """The runs the post's numbers come from: the week's, and those of the other weeks' facts."""
    other = [run for fact in facts.facts.values() if fact.week != facts.week for run in fact.run_ids]
    return sorted({*(record.id for record in records), *other})


def _table_ref(record, entry) -> TableRef:
    table = record.table(entry.key)
    try:
        return TableRef(key=f"{record.experiment}/{entry.key}", run_id=record.id,
                        columns=table["columns"], rows=table["rows"])
    except ValidationError:
        raise BadInput(f"{record.path / entry.file}: not a table of named columns and rows "
                       "(a corrupt run: run the experiment again)") from None


def _figure_ref(week: Week, record, entry) -> FigureRef:
    source = record.path / entry.file
    try:
        digest = hashlib.sha256(source.read_bytes()).hexdigest()[:10]
    except OSError as error:
        raise BadInput(f"{source}: cannot read the figure ({error.strerror or error}): "
                       "a corrupt run, run the experiment again") from None
    name = f"{safe_key(record.experiment + '/' + entry.key)}.{digest}{source.suffix}"
    return FigureRef(key=f"{record.experiment}/{entry.key}", caption=entry.caption, source=source,
                     run_id=record.id, site_file=f"figures/{week.slug}/{name}")


def context_variables(context: DraftContext) -> dict[str, Any]:
    plan = context.plan
    labels = {pick.key: pick.text for pick in plan.facts}
    return {"week": context.week, "post": context.post, "edition": context.edition,
            "notes": context.notes, "sections": context.notes_sections,
            "facts": list(context.facts.facts.values()), "tables": context.tables,
            "figures": context.figures, "earlier_posts": context.earlier_posts,
            "companion": context.companion, "profile": context.profile, "plan": plan,
            "headline_facts": list(labels), "headline_figures": plan.all_figures,
            "headline_tables": plan.all_tables,
            "fact_label": lambda key: labels.get(key) or key,
            "fact_ref": lambda key: f"{{{{ fact:{key} }}}}",
            "table_ref": lambda key: f"{{{{ table:{key} }}}}",
            "figure_ref": lambda key: f"{{{{ figure:{key} }}}}",
            "code_symbols": context.code_symbols,
            "code_ref": lambda key: f"{{{{ code:{key} }}}}"}


def headlines(context: DraftContext) -> dict[str, Any]:
    """What the post leads with, in the notes' order: its facts (key → this edition's label),
    figures and tables (see :mod:`forge_cli.post_picks`)."""
    plan = context.plan
    return {"facts": {pick.key: pick.text for pick in plan.facts},
            "figures": plan.all_figures, "tables": plan.all_tables}
