"""What one edition of one post uses: the notes' picks for it (:mod:`forge_cli.notes`), resolved
against one profile's runs.

- A pick the runs lack (a smaller profile, a renamed metric) is left out.
- The notes sections an edition is built from may place figures, tables and code themselves
  (``{{ figure:KEY }}`` on a line of the prose; one the runs lack is left out with its line);
  those are not placed again. The rest are numbered after
  them, in the order the post inserts them, so that the text can say "Figure 3" and mean the
  figure forge's frame captions "Figure 3".
- A pick left out falls back to the week's ``headline_*`` picks, then to forge's defaults (every
  figure, the tables of at most 20 rows, the facts when there are few); an empty list picks
  none.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from algorithms.experiment import experiments_for
from forge_cli.code_refs import CODE_PLACEHOLDER
from forge_cli.curriculum import Week
from forge_cli.errors import BadInput
from forge_cli.facts import PLACEHOLDER, FactsTable
from forge_cli.notes import NotesPicks, PickList, PostPicks, Reference, notes_picks
from forge_cli.posts import split_front_matter

DEFAULT_SECTIONS = {"scientist": ["key ideas", "derivations", "experiments", "surprises",
                                  "open questions"],
                    "manager": ["in plain words", "why it matters"]}
"""The notes sections an edition is built from when the post's picks name none (those present)."""
MANAGER_FIGURES = 2
"""A manager edition without ``plain_figures`` shows the post's first figures, this many."""
DEFAULT_FACTS = 12
"""Without fact picks, a week's facts are all shown only when there are at most this many."""
DEFAULT_TABLE_ROWS = 20


class Section(BaseModel):
    title: str
    """The heading as the notes write it."""
    text: str


class Pick(BaseModel):
    key: str
    text: str = ""
    """A fact's label in this edition; for a figure, table or code excerpt, what the reader
    should see in it (the notes' ``key: text``), or ""."""
    number: int | None = None
    """Figures and tables: the number the post's frame gives it ("Figure 2")."""
    name: str = ""
    """Code: the symbol (or ``lines A-B``); figures: the caption's opening words."""


class Sibling(BaseModel):
    """Another post of the week, for the prompt: what it covers, so this one does not."""

    number: int
    title: str
    angle: str


class PostPlan(BaseModel):
    """One edition of one post: the prose it is built from and what it cites."""

    waiting: str = ""
    """What the post waits for; not drafted while this is set (the notes' ``waiting``)."""
    angle: str = ""
    tldr: str = ""
    limitation: str = ""
    opening: str = ""
    """The notes' ``## Post N`` section (else the angle): the post's own first paragraphs."""
    sections: list[Section] = []
    facts: list[Pick] = []
    figures: list[Pick] = []
    """The figures the sections do not place themselves, numbered."""
    tables: list[Pick] = []
    code: list[Pick] = []
    placed: list[str] = []
    """``kind:key`` of the figures, tables and code the sections place inline, in order."""
    references: list[Reference] = []
    single_run: bool = True
    """Every fact cited comes from one run of one seed (a deterministic experiment or a single
    seed)."""
    seeds_in_run: int = 1
    """The most seeds a cited fact's seed study ran inside its run (its value is their mean)."""
    deterministic: bool = False
    """Every fact cited comes from an experiment with no randomness in it (run once, no seeds)."""
    other_posts: list[Sibling] = []

    @property
    def all_figures(self) -> list[str]:
        return [p.removeprefix("figure:") for p in self.placed if p.startswith("figure:")] + [
            pick.key for pick in self.figures]

    @property
    def all_code(self) -> list[Pick]:
        """The code the post shows: what its sections place, then the rest."""
        return [Pick(key=p.removeprefix("code:"), name=_code_name(p.removeprefix("code:")))
                for p in self.placed if p.startswith("code:")] + self.code

    @property
    def facts_table_number(self) -> int:
        """The number of the table of cited facts a template puts after every other table."""
        return len(self.all_tables) + 1

    @property
    def all_tables(self) -> list[str]:
        return [p.removeprefix("table:") for p in self.placed if p.startswith("table:")] + [
            pick.key for pick in self.tables]


def check_post_picks(picks: NotesPicks, week: Week, titles: dict[str, str], path: Path,
                     repeated: set[str] = frozenset()) -> None:
    """BadInput (one line) for picks of a post the week lacks, or naming a notes section the
    notes do not have or have more than once (``repeated``: lower-cased headings)."""
    numbers = [post.number for post in week.posts]
    for number, post in (picks.posts or {}).items():
        if number not in numbers:
            raise BadInput(f"{path}: front matter 'posts' has picks for post {number}, but week "
                           f"{week.number} has posts {', '.join(map(str, numbers))}")
        if post.facts is not None and post.plain_facts is not None:
            chosen = {key for item in post.facts
                      for key in ([item] if isinstance(item, str) else item)}
            for item in post.plain_facts:
                for key in [item] if isinstance(item, str) else item:
                    if key not in chosen:
                        raise BadInput(f"{path}: front matter 'posts.{number}.plain_facts' names "
                                       f"{key!r}, which is not among the post's facts (both "
                                       "editions state the same numbers)")
        for field in ("sections", "plain_sections"):
            for title in getattr(post, field) or []:
                if title.strip().lower() not in titles:
                    raise BadInput(f"{path}: front matter 'posts.{number}.{field}' names "
                                   f"{title!r}, but the notes have no '## {title}' section")
    for number in numbers:
        post = picks.for_post(number)
        for field, edition in (("sections", "scientist"), ("plain_sections", "manager")):
            names = getattr(post, field)
            if names is None:  # the edition's defaults, those present
                names = [name for name in DEFAULT_SECTIONS[edition] if name in titles]
            for title in names:
                if title.strip().lower() in repeated:
                    raise BadInput(f"{path}: post {number}'s {edition} edition is built from "
                                   f"'## {titles[title.strip().lower()]}', but the notes have "
                                   "more than one such section: give each its own heading")


def plan_post(picks: NotesPicks, week: Week, number: int, edition: str, facts: FactsTable,
              figures: dict[str, str], tables: dict[str, int],
              sections: dict[str, Section]) -> PostPlan:
    """The plan of post ``number``'s ``edition``. ``figures`` maps figure keys to captions,
    ``tables`` table keys to row counts, ``sections`` the notes' lower-cased headings to their
    section."""
    post = picks.for_post(number)
    manager = edition == "manager"
    experiments = experiments_for(week.number)
    opening = sections.get(f"post {number}")
    names = post.plain_sections if manager else post.sections
    if names is None:
        names = [name for name in DEFAULT_SECTIONS[edition] if name in sections]
    chosen = [_runs_have(sections[name.strip().lower()], figures, tables) for name in names]
    inline = "\n".join([opening.text if opening else "", *(s.text for s in chosen)])
    placed = _placed(inline, figures, tables)

    fact_picks = _pairs(_either(post.facts, picks.headline_facts))
    if fact_picks is None:
        fact_picks = {key: "" for key in facts.facts} if len(facts.facts) <= DEFAULT_FACTS else {}
    labels = {key: label for source in (picks.labels or {}, _pairs(picks.headline_facts) or {},
                                        fact_picks) for key, label in source.items() if label}
    plain = picks.plain_labels or {}
    if manager and (plain_facts := _pairs(post.plain_facts)) is not None:
        plain = {**plain, **{key: label for key, label in plain_facts.items() if label}}
        fact_picks = plain_facts
    cited = [key for key in fact_picks if key in facts.facts]

    figure_picks = _pairs(_either(post.figures, picks.headline_figures))
    if figure_picks is None:
        figure_picks = {key: "" for key in sorted(figures)}
    if manager:
        plain_figures = _pairs(post.plain_figures)
        figure_picks = plain_figures if plain_figures is not None else dict(
            [(key, text) for key, text in figure_picks.items() if key in figures][:MANAGER_FIGURES])
    # The manager edition shows no result tables and no code (its sections may still place one).
    table_picks = _pairs(_either(post.tables, picks.headline_tables))
    if table_picks is None:
        table_picks = {key: "" for key, rows in tables.items() if rows <= DEFAULT_TABLE_ROWS}
    table_picks = {} if manager else table_picks
    code_picks = {} if manager else (_pairs(post.code) or {})

    def numbered(kind: str, chosen: dict[str, str], known) -> list[Pick]:
        start = sum(1 for item in placed if item.startswith(kind + ":"))
        keys = [key for key in chosen if key in known and f"{kind}:{key}" not in placed]
        return [Pick(key=key, text=chosen[key], number=start + i + 1,
                     name=_opening_words(figures.get(key, "")) if kind == "figure" else "")
                for i, key in enumerate(keys)]

    return PostPlan(
        waiting=post.waiting or "",
        angle=post.angle or (opening.text if opening else ""),
        tldr=(post.plain_tldr or post.tldr or "") if manager else (post.tldr or ""),
        limitation=post.limitation or "",
        opening=opening.text if opening else (post.angle or ""),
        sections=chosen,
        facts=[Pick(key=key, text=(plain.get(key) if manager else None) or labels.get(key, ""))
               for key in cited],
        figures=numbered("figure", figure_picks, figures),
        tables=numbered("table", table_picks, tables),
        code=[Pick(key=key, text=text, name=_code_name(key)) for key, text in code_picks.items()
              if f"code:{key}" not in placed],
        placed=placed,
        references=_either(post.references, picks.references) or [],
        single_run=all(facts.facts[key].n <= 1 and facts.facts[key].seeds_in_run <= 1
                       for key in cited),
        seeds_in_run=max([facts.facts[key].seeds_in_run for key in cited], default=1),
        deterministic=bool(cited) and all(
            not getattr(_experiments(facts.facts[key].week, week.number, experiments).get(
                facts.facts[key].experiment), "seeded", True) for key in cited),
        other_posts=[Sibling(number=other.number, title=other.title,
                             angle=_angle(picks.for_post(other.number),
                                          sections.get(f"post {other.number}")))
                     for other in week.posts if other.number != number])


def notes_fact_keys(picks: NotesPicks, notes: str) -> list[str]:
    """Every fact key the notes name, in order: the front matter's picks and labels, then the
    ``{{ fact:KEY }}`` placeholders of the body (outside HTML comments). What
    :func:`forge_cli.facts.week_facts` is asked for: the ``weekN/`` keys among them."""
    keys = [*_keys(picks.headline_facts), *(picks.labels or {}), *(picks.plain_labels or {})]
    for post in (picks.posts or {}).values():
        keys += [*_keys(post.facts), *_keys(post.plain_facts)]
    body = re.sub(r"<!--.*?-->", "", split_front_matter(notes)[1], flags=re.DOTALL)
    keys += [match.group(2) for match in PLACEHOLDER.finditer(body) if match.group(1) == "fact"]
    return list(dict.fromkeys(keys))


def notes_text_fact_keys(text: str, path: Path) -> list[str]:
    """:func:`notes_fact_keys` of a notes file's ``text`` (its front matter parsed here;
    BadInput, naming ``path``, for picks of the wrong shape)."""
    return notes_fact_keys(notes_picks(split_front_matter(text)[0], path), text)


def _keys(items: PickList | None) -> list[str]:
    return list(_pairs(items) or {})


def _experiments(fact_week: int | None, week: int, own: dict) -> dict:
    """The registry a fact's experiment is in: another week's, for a ``weekN/`` fact."""
    return own if fact_week in (None, week) else experiments_for(fact_week)


def _pairs(items: PickList | None) -> dict[str, str] | None:
    """``[KEY, {KEY: text}]`` → ``{KEY: text}`` in order; None (the defaults apply) when the
    notes pick nothing, as opposed to an empty list (pick none)."""
    if items is None:
        return None
    pairs: dict[str, str] = {}
    for item in items:
        pairs.update(item if isinstance(item, dict) else {item: ""})
    return pairs


def _either(first: PickList | None, second: PickList | None) -> PickList | None:
    return first if first is not None else second


def _runs_have(section: Section, figures: dict[str, str], tables: dict[str, int]) -> Section:
    """``section`` without the lines that place only a figure or table the runs lack: like a
    pick the runs lack, it is left out (a smaller profile, an experiment not run yet)."""
    def missing(line: str) -> bool:
        match = PLACEHOLDER.fullmatch(line.strip())
        return bool(match) and match.group(1) in ("figure", "table") and match.group(2) not in (
            figures if match.group(1) == "figure" else tables)

    lines = [line for line in section.text.split("\n") if not missing(line)]
    return section.model_copy(update={"text": re.sub(r"\n{3,}", "\n\n", "\n".join(lines))})


def _placed(text: str, figures: dict[str, str], tables: dict[str, int]) -> list[str]:
    """``kind:key`` of each figure, table and code excerpt ``text`` places, in order (a figure
    or table the runs lack is not numbered by the frame, so it is not counted)."""
    found = [(m.start(), f"{m.group(1)}:{m.group(2)}") for m in PLACEHOLDER.finditer(text)
             if (m.group(1) == "figure" and m.group(2) in figures)
             or (m.group(1) == "table" and m.group(2) in tables)]
    found += [(m.start(), f"code:{m.group(1)}") for m in CODE_PLACEHOLDER.finditer(text)]
    return [item for _, item in sorted(found)]


def _code_name(key: str) -> str:
    if "::" in key:
        return key.split("::", 1)[1]
    return "lines " + key.rsplit(":", 1)[1]


def _opening_words(caption: str) -> str:
    """A caption's first clause ("Gridworld 4×4 (Example 4.1), γ = 1"), for a figure the notes
    say nothing about."""
    return caption.split(": ", 1)[0].split(". ", 1)[0].strip().rstrip(".")


def _angle(post: PostPicks, opening: Section | None) -> str:
    return post.angle or (opening.text if opening else "")
