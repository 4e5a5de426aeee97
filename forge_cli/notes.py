"""``forge notes``: start a week's study notes from ``templates/notes.md.j2``, never overwriting."""

from __future__ import annotations

import os
from pathlib import Path

from forge_cli.config import Settings
from forge_cli.curriculum import load_curriculum
from forge_cli.errors import ForgeError
from forge_cli.templating import render


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
