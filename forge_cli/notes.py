"""A week's study notes, ``notes/weekNN.md``: started from ``templates/notes.md.j2`` (never
overwritten), read as UTF-8, and the headline picks in their front matter checked before any
draft is written."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from forge_cli.config import Settings
from forge_cli.curriculum import load_curriculum
from forge_cli.errors import BadInput, ForgeError, read_text
from forge_cli.templating import render


class HeadlinePicks(BaseModel):
    """What the notes' front matter may choose for a week's posts to lead with (each optional;
    other front-matter keys are the author's own and left alone)."""

    model_config = ConfigDict(extra="ignore")

    headline_facts: list[str | dict[str, str]] | None = None
    """Fact keys, or ``key: label`` pairs giving a fact the label a post shows."""
    headline_figures: list[str] | None = None
    """Figure keys (``experiment/figure``)."""
    headline_tables: list[str] | None = None
    """Table keys (``experiment/table``)."""


_EXPECTED = {"headline_facts": "fact keys or `key: label` pairs",
             "headline_figures": "figure keys", "headline_tables": "table keys"}


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


def headline_picks(front_matter: dict[str, Any] | None, path: Path) -> HeadlinePicks:
    """The picks of a notes file's parsed front matter; BadInput naming the key when one is not
    a list of keys (``headline_facts: 5``)."""
    try:
        return HeadlinePicks.model_validate(front_matter or {})
    except ValidationError as error:
        key = str(error.errors()[0]["loc"][0])
        value = repr((front_matter or {}).get(key))
        shown = value if len(value) <= 40 else value[:37] + "..."
        raise BadInput(f"{path}: front matter {key!r} must be a list of {_EXPECTED[key]}, "
                       f"not {shown}") from None
