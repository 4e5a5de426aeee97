"""Template stubs left in a week's notes, flagged on every post drafted from them.

``forge notes`` starts a week's notes from ``templates/notes.md.j2``: a list item per topic,
paper and experiment waiting for its text (``- Value iteration and policy iteration:``) and
comments saying what each section is for. Notes that still hold those, or TODO markers, make
posts about nothing; ``forge check`` reports them with the lines to fix.
"""

from __future__ import annotations

import re

from forge_cli.config import Settings
from forge_cli.curriculum import load_curriculum
from forge_cli.errors import ForgeError
from forge_cli.notes import notes_path
from forge_cli.templating import render

_LIST_STUB = re.compile(r"^\s*(?:[-*+]|\d+\.)\s+\S.*:\s*$")
"""A template list item waiting for its text: ``- Value iteration and policy iteration:``."""
_TODO = re.compile(r"\b(?:TODO|TBD|FIXME)\b")


def notes_stubs(settings: Settings, week: int) -> list[str]:
    """One message naming the week's stubs (:func:`stub_lines`), or none."""
    stubs = stub_lines(settings, week)
    if not stubs:
        return []
    path = notes_path(settings, week)
    try:
        name = path.relative_to(settings.root).as_posix()
    except ValueError:
        name = str(path)
    shown = ", ".join(f"line {line} '{_short(text)}'" for line, text in stubs[:3])
    more = f", +{len(stubs) - 3} more" if len(stubs) > 3 else ""
    return [f"drafted from {name}, which still holds {len(stubs)} template stub(s) or TODO(s) "
            f"({shown}{more}): fill them in or delete them, then re-draft"]


def stub_lines(settings: Settings, week: int) -> list[tuple[int, str]]:
    """(line, text) of what the week's notes still hold of the ``forge notes`` template (its
    empty list items and its instruction comments, as the template wrote them) and of TODO
    markers, in line order. Notes that are missing or unreadable are for drafting to report."""
    try:
        notes = notes_path(settings, week).read_text(encoding="utf-8").replace("\r\n", "\n")
    except (OSError, UnicodeDecodeError):
        return []
    try:
        template = render(settings, "notes.md.j2", week=load_curriculum().week(week))
    except ForgeError:
        template = ""  # a user's broken template: the TODO markers are still found
    items = {line.strip() for line in template.split("\n") if _LIST_STUB.match(line)}
    comments = {" ".join(c.split()) for c in re.findall(r"<!--.*?-->", template, re.DOTALL)}
    lines = notes.split("\n")
    stubs: dict[int, str] = {}
    for index, line in enumerate(lines):
        if (line.strip() in items and not _has_children(lines, index)) or _TODO.search(line):
            stubs[index + 1] = line.strip()
    for match in re.finditer(r"<!--.*?-->", notes, re.DOTALL):
        if " ".join(match.group(0).split()) in comments:
            stubs.setdefault(notes.count("\n", 0, match.start()) + 1, match.group(0))
    return sorted(stubs.items())


def _has_children(lines: list[str], index: int) -> bool:
    """Whether the list item on ``lines[index]`` goes on, indented, on the lines below it."""
    indent = len(lines[index]) - len(lines[index].lstrip())
    for line in lines[index + 1:]:
        if line.strip():
            return len(line) - len(line.lstrip()) > indent
    return False


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 40 else text[:37] + "..."
