"""A week's study notes, ``notes/weekNN.md``: started from ``templates/notes.md.j2`` (never
overwritten), read as UTF-8, and the per-post picks in their front matter checked before any
draft is written.

The picks (all optional; other front-matter keys are the author's own and left alone)::

    posts:
      1:
        angle: what this post argues, in one or two sentences (the LLM's brief)
        tldr: the post in one sentence          # plain_tldr: the manager edition's, if different
        limitation: the one honest limitation   # both editions state it
        sections: [Key ideas, Walkthrough]      # notes sections of the scientist edition, in order
        plain_sections: [In plain words]        # ... and of the manager edition
        facts: [KEY, KEY: label]                # `forge facts weekN` keys; the first lead
        plain_facts: [KEY]                      # the manager edition's handful (of `facts`)
        figures: [experiment/figure, experiment/figure: what to see in it]
        plain_figures: [...]                    # the manager edition's one or two
        tables: [experiment/table]
        code: [algorithms/PATH.py::SYMBOL, algorithms/PATH.py:FIRST-LAST]
        references: [{title:, url:, why:}]      # else the week's; plain_why: the manager's why
    labels: {KEY: short label}                  # the scientist edition's fact labels
    plain_labels: {KEY: the fact in plain words}
    references: [{title:, url:, why:}]

``headline_facts``, ``headline_figures`` and ``headline_tables`` (the older form) are the default
picks of every post.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from forge_cli.config import Settings
from forge_cli.curriculum import load_curriculum
from forge_cli.errors import BadInput, ForgeError, read_text
from forge_cli.templating import render

PickList = list[str | dict[str, str]]
"""Keys, or ``key: text`` pairs: a fact's label, or what the reader should see in a figure,
table or code excerpt."""


class Reference(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str
    url: str
    """An ``http(s)`` link."""
    why: str
    """One line on why it matters to the post."""
    plain_why: str | None = None
    """The same for the manager edition, in plain words (else ``why``)."""


class PostPicks(BaseModel):
    """One post's picks (``posts: {N: ...}``); a field left out falls back to the week's
    ``headline_*`` picks, then to forge's defaults."""

    model_config = ConfigDict(extra="forbid")

    waiting: str | None = None
    """What the post waits for (an experiment not built yet): ``forge draft`` skips it and says
    so, instead of drafting it from the week's defaults."""
    angle: str | None = None
    tldr: str | None = None
    plain_tldr: str | None = None
    limitation: str | None = None
    sections: list[str] | None = None
    plain_sections: list[str] | None = None
    facts: PickList | None = None
    plain_facts: PickList | None = None
    figures: PickList | None = None
    plain_figures: PickList | None = None
    tables: PickList | None = None
    code: PickList | None = None
    references: list[Reference] | None = None


class NotesPicks(BaseModel):
    """What the notes' front matter chooses for the week's posts."""

    model_config = ConfigDict(extra="ignore")

    headline_facts: PickList | None = None
    headline_figures: PickList | None = None
    headline_tables: PickList | None = None
    posts: dict[int, PostPicks] | None = None
    labels: dict[str, str] | None = None
    plain_labels: dict[str, str] | None = None
    references: list[Reference] | None = None

    def for_post(self, number: int) -> PostPicks:
        return (self.posts or {}).get(number) or PostPicks()


CODE_REFERENCE = re.compile(r"^[\w./-]+\.py(::[A-Za-z_]\w*(\.[A-Za-z_]\w*)*|:\d+(-\d+)?)$")
"""``PATH::SYMBOL`` or ``PATH:FIRST-LAST``, what a ``{{ code:... }}`` placeholder names."""
_URL = re.compile(r"^https?://\S+$")
_KEYS = "fact keys or `key: label` pairs"
_EXPECTED = {
    "headline_facts": f"a list of {_KEYS}", "facts": f"a list of {_KEYS}",
    "plain_facts": f"a list of {_KEYS}",
    "headline_figures": "a list of figure keys (experiment/figure)",
    "figures": "a list of figure keys (experiment/figure, or `key: what it shows`)",
    "plain_figures": "a list of figure keys (experiment/figure, or `key: what it shows`)",
    "headline_tables": "a list of table keys", "tables": "a list of table keys",
    "code": "a list of code references "
            "(algorithms/PATH.py::SYMBOL or algorithms/PATH.py:FIRST-LAST)",
    "sections": "a list of the notes' section headings",
    "plain_sections": "a list of the notes' section headings",
    "posts": "a map of post numbers to each post's picks",
    "labels": "a map of fact keys to labels", "plain_labels": "a map of fact keys to labels",
    "references": "a list of references, each {title, url, why}",
    **{name: "text" for name in ("waiting", "angle", "tldr", "plain_tldr", "limitation", "title",
                                 "url", "why", "plain_why")},
}


def notes_path(settings: Settings, week: int) -> Path:
    return settings.path("notes") / f"week{week:02d}.md"


def create_notes(settings: Settings, week: int) -> Path:
    """Write the notes skeleton for ``week``; refuses if the file exists (nothing is lost)."""
    path = notes_path(settings, week)
    if path.exists():
        raise ForgeError(f"{path} already exists: forge never overwrites notes")
    text = render(settings, "notes.md.j2", week=load_curriculum().week(week))
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: a file created since the check above is still never overwritten.
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), "w",
                   encoding="utf-8") as f:
        f.write(text)
    return path


def read_notes(settings: Settings, week: int) -> str:
    """The week's notes as text: ForgeError when there are none yet, BadInput when they are
    not UTF-8 text."""
    path = notes_path(settings, week)
    if not path.is_file():
        raise ForgeError(f"no notes for week {week}: write {path} first "
                         f"(`forge notes week{week}` starts it)")
    return read_text(path)


def notes_picks(front_matter: dict[str, Any] | None, path: Path) -> NotesPicks:
    """The picks of a notes file's parsed front matter; BadInput naming the key when one has
    the wrong shape (``headline_facts: 5``, ``posts: {1: {figurs: []}}``), a code reference is
    malformed or a reference's link is not http(s)."""
    data = front_matter or {}
    try:
        picks = NotesPicks.model_validate(data)
    except ValidationError as error:
        raise BadInput(f"{path}: {_explain(error.errors()[0], data)}") from None
    for number, post in (picks.posts or {}).items():
        for item in post.code or []:
            for ref in [item] if isinstance(item, str) else item:
                if not CODE_REFERENCE.match(ref):
                    raise BadInput(f"{path}: front matter 'posts.{number}.code' names {ref!r}: "
                                   f"expected {_EXPECTED['code'].removeprefix('a list of ')}")
    references = [("references", ref) for ref in picks.references or []]
    references += [(f"posts.{n}.references", ref)
                   for n, post in (picks.posts or {}).items() for ref in post.references or []]
    for where, reference in references:
        if not _URL.match(reference.url):
            raise BadInput(f"{path}: front matter '{where}' links {reference.title!r} to "
                           f"{reference.url!r}: expected an http(s) link")
    return picks



def _explain(error: dict[str, Any], data: dict[str, Any]) -> str:
    """One line naming the front-matter key a pydantic error is about and what it must be."""
    walked: list[Any] = []  # the loc's items that name something in the data (not union tags)
    value: Any = data
    for item in error["loc"]:
        if isinstance(value, dict) and (item in value or str(item) in value):
            item = item if item in value else str(item)
            value = value[item]
        elif isinstance(value, list) and isinstance(item, int) and 0 <= item < len(value):
            value = value[item]
        else:
            break
        walked.append(item)
    if error["type"] == "extra_forbidden" and walked:
        model = Reference if "references" in walked else PostPicks
        return (f"front matter '{_dotted(walked[:-1])}' has no key {walked[-1]!r} "
                f"(expected {', '.join(model.model_fields)})")
    if error["type"] == "missing":
        return (f"front matter '{_dotted(walked)}' lacks {error['loc'][-1]!r} "
                "(each reference has a title, url and why)")
    named = [i for i, item in enumerate(walked) if isinstance(item, str) and item in _EXPECTED]
    if not named:
        return "front matter must be a map of keys to values"
    end = named[-1] + 1
    if walked[named[-1]] == "posts" and len(walked) > end:  # one post's picks, not a map
        end += 1
        expected = f"a map of picks ({', '.join(PostPicks.model_fields)})"
    else:
        expected = _EXPECTED[walked[named[-1]]]
    shown = data
    for item in walked[:end]:
        shown = shown[item]
    text = repr(shown)
    text = text if len(text) <= 40 else text[:37] + "..."
    return f"front matter '{_dotted(walked[:end])}' must be {expected}, not {text}"


def _dotted(items: list[Any]) -> str:
    return ".".join(str(item) for item in items)
