"""What a reviewer catches in a post that a number check does not.

``forge check`` (``check.check_week``) runs these on every post of a week:

- **near-identical**: two posts of one week and edition whose prose is nearly the same (the
  difflib word-sequence ratio of their prose, fills left out, above ``NEAR_IDENTICAL``);
- **brief**: something the post's brief (the curriculum's ``notes_for_agent``) asks for and a
  check can test, per ``BRIEF_RULES``, is missing;
- **unreferenced**: a figure or table the prose never mentions;
- **manager symbols**: math or Greek letters and other symbols in the manager edition.

Each check reads one post's body (front matter removed) and returns messages; line numbers
count from the top of the file. Template stubs left in the week's notes are ``check_notes``'s.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Callable, NamedTuple

from forge_cli.curriculum import load_curriculum
from forge_cli.posts import OFFLINE_BANNER

REVIEW_KINDS = ("near-identical", "brief", "notes stub", "unreferenced", "manager symbols")
"""The kinds of finding this module and ``check_notes`` add."""

NEAR_IDENTICAL = 0.8
"""Two posts whose prose has a word-sequence ratio above this say the same thing twice."""
MIN_WORDS = 40
"""Posts with less prose than this are not compared: a stub is not a duplicate."""

_FENCE = re.compile(r"^\s*(```|~~~)")
_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_CAPTION = re.compile(r"^\s*(?:<figcaption[^>]*>\s*|[*_]+\s*)*(Figure|Fig\.|Table)\s+(\d+)\s*[*_]*"
                      r"\s*[.:—–|]", re.IGNORECASE)
"""A label line: ``**Figure 2.** …``, ``*Table 1: …*``, ``<figcaption>Figure 3 — …``."""
_REFERENCE = re.compile(r"\b(Figures?|Figs?\.|Tables?)\s+(\d+(?:\s*(?:,|and|&|–|-|to)\s*\d+)*)"
                        r"\b(?!\.\d)", re.IGNORECASE)
"""``Figure 2``, ``Figs. 1 and 3``, ``Tables 1–2``; never a book's ``Figure 4.3``."""
_FIGURE_HASH = re.compile(r"\.[0-9a-f]{10}$")


# ---- a post's parts --------------------------------------------------------------------------

class Figure(NamedTuple):
    line: int
    number: int
    key: str
    caption: str


class Table(NamedTuple):
    line: int
    number: int
    columns: list[str]
    data_rows: int
    caption: str
    text: str


class PostParts(NamedTuple):
    """A post body split into what a reader reads and what forge filled in."""

    prose: list[tuple[int, str]]
    """(line number, text) of the lines outside code, tables, figures and their label lines."""
    figures: list[Figure]
    tables: list[Table]
    code_blocks: int


def post_parts(body: str, first_line: int = 1) -> PostParts:
    """Split ``body`` (whose first line is line ``first_line`` of its file) into its parts."""
    lines = body.replace("\r\n", "\n").split("\n")
    prose: list[tuple[int, str]] = []
    figures: list[Figure] = []
    tables: list[Table] = []
    labels: dict[int, tuple[str, int, str]] = {}  # line index -> (kind, number, caption)
    for index, line in enumerate(lines):
        if match := _CAPTION.match(line):
            labels[index] = (match.group(1)[0].lower(), int(match.group(2)),
                             line[match.end():].strip(" *_"))
    fence, code_blocks, index = None, 0, 0
    while index < len(lines):
        line = lines[index]
        if fence:
            if line.strip().startswith(fence):
                fence, code_blocks = None, code_blocks + 1
        elif match := _FENCE.match(line):
            fence = match.group(1)
        elif index + 1 < len(lines) and "|" in line and _TABLE_RULE.match(lines[index + 1]):
            end = index + 2
            while end < len(lines) and lines[end].strip().startswith("|"):
                end += 1
            label = _nearby_label(labels, "t", index - 1, -1) or _nearby_label(labels, "t", end, 1)
            number, caption = label or (len(tables) + 1, "")
            tables.append(Table(first_line + index, number, _cells(line), end - index - 2,
                                caption, "\n".join(lines[index:end])))
            index = end
            continue
        elif index not in labels:
            for image in _IMAGE.finditer(line):
                label = _image_label(image.group(1)) or _nearby_label(labels, "f", index + 1, 1)
                number, caption = label or (len(figures) + 1, image.group(1))
                figures.append(Figure(first_line + index, number, _figure_key(image.group(2)),
                                      caption))
            prose.append((first_line + index, _IMAGE.sub(" ", line)))
        index += 1
    return PostParts(prose, figures, tables, code_blocks)


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def _nearby_label(labels, kind: str, start: int, step: int) -> tuple[int, str] | None:
    """The label of kind ``kind`` on line ``start`` or, past one blank line, the next one."""
    for index in (start, start + step):
        if index in labels and labels[index][0] == kind:
            return labels[index][1:]
    return None


def _image_label(alt: str) -> tuple[int, str] | None:
    match = _CAPTION.match(alt)
    if match and match.group(1)[0].lower() == "f":
        return int(match.group(2)), alt[match.end():].strip()
    return None


def _figure_key(target: str) -> str:
    """The figure's key from its site file:
    ``figures/week01/pi-vs-vi__compare__ms_to_eps.<sha>.png`` -> ``pi-vs-vi/compare/ms_to_eps``."""
    stem = Path(target).name.rsplit(".", 1)[0]
    return _FIGURE_HASH.sub("", stem).replace("__", "/")


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


# ---- near-identical posts ------------------------------------------------------------------------

def reader_prose(body: str) -> str:
    """The prose a reader reads: no fills (figures, tables, code), no offline-draft banner."""
    lines, in_banner = [], False
    for _, line in post_parts(body).prose:
        if line.strip() == OFFLINE_BANNER:
            in_banner = True
        elif in_banner and (line.startswith("    ") or not line.strip()):
            continue
        else:
            in_banner = False
            lines.append(line)
    return "\n".join(lines)


def near_identical(posts: list[tuple[str, int, str, str]]) -> list[tuple[str, str]]:
    """(post name, message) for each post whose prose nearly repeats an earlier post of the same
    edition; ``posts`` holds (name, post number, edition, body) of one week."""
    found = []
    words = [(name, number, edition, _words(reader_prose(body)))
             for name, number, edition, body in sorted(posts, key=lambda p: p[1])]
    for i, (name, number, edition, mine) in enumerate(words):
        for other, other_number, other_edition, theirs in words[:i]:
            if (other_edition != edition or other_number == number
                    or min(len(mine), len(theirs)) < MIN_WORDS):
                continue
            matcher = difflib.SequenceMatcher(None, theirs, mine, autojunk=False)
            if matcher.quick_ratio() <= NEAR_IDENTICAL:  # an upper bound of ratio(), and cheap
                continue
            ratio = matcher.ratio()
            if ratio > NEAR_IDENTICAL:
                found.append((name, f"its prose nearly repeats {other}'s (difflib word-sequence "
                                    f"ratio {ratio:.2f} > {NEAR_IDENTICAL}, figures, tables and "
                                    "code left out): give each post its own angle"))
                break
    return found


# ---- the brief's requirements --------------------------------------------------------------------

_TIME_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?\s?(?:ms|µs|μs|ns|s|secs?|seconds?|"
                          r"milliseconds?|microseconds?|min|minutes?|h|hours?)(?![\w])")
_TIMING_WORDS = {"ms", "wall", "time", "timing", "seconds", "speed", "latency", "runtime"}


def _has_code(parts: PostParts) -> bool:
    return parts.code_blocks > 0


def _has_comparison(parts: PostParts) -> bool:
    return bool(parts.figures) or any(table.data_rows >= 2 for table in parts.tables)


def _has_timing(parts: PostParts) -> bool:
    """A time in the prose or a table, a figure whose key names one (``ms_to_eps``), or a table
    whose header does (``wall time``)."""
    shown = " ".join([text for _, text in parts.prose] + [table.text for table in parts.tables])
    return (bool(_TIME_NUMBER.search(shown))
            or any(_TIMING_WORDS & set(re.split(r"[^a-z]+", figure.key.lower()))
                   for figure in parts.figures)
            or any(_TIMING_WORDS & set(_words(" ".join(table.columns))) for table in parts.tables))


class BriefRule(NamedTuple):
    asks: str
    """A regular expression over the brief (case-insensitive): the words that ask for it."""
    needs: str
    """What the post must then show, as the finding says it."""
    present: Callable[[PostParts], bool]
    editions: tuple[str, ...]
    """The editions that must show it."""


BRIEF_RULES: tuple[BriefRule, ...] = (
    BriefRule(r"\bcode\b|\bimplement\w*", "a fenced code block", _has_code, ("scientist",)),
    BriefRule(r"\bcompar\w*|\bvs\.?(?=\s)|\bversus\b|\bcontrast\w*|\btrade-offs?\b",
              "a comparison table (2 or more rows) or a figure", _has_comparison, ("scientist",)),
    BriefRule(r"\bwall[- ]?(?:clock )?time\b|\btiming\b|\bspeed\b|\bbenchmark\w*|"
              r"\bperformance metrics\b",
              "a time (a number in ms, s, ...) or a timing figure or table", _has_timing,
              ("scientist",)),
)
"""What a brief may ask for that a check can test. Add a row to check one more thing: the words
that ask for it, what must be present, a test of the post's parts, and the editions it binds."""


def unmet_brief(body: str, edition: str, brief: str, first_line: int = 1) -> list[str]:
    """What ``brief`` asks for that the post (of ``edition``) does not show, each message quoting
    the brief's sentence with the asking words in **bold**."""
    parts = post_parts(body, first_line)
    unmet = []
    for rule in BRIEF_RULES:
        asked = re.search(rule.asks, brief, re.IGNORECASE)
        if asked and edition in rule.editions and not rule.present(parts):
            unmet.append(f'the brief asks "{_sentence(brief, asked)}": the {edition} edition '
                         f"needs {rule.needs} and has none")
    return unmet


def _sentence(text: str, match: re.Match) -> str:
    start = 0
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        start = text.index(sentence, start)
        if start <= match.start() < start + len(sentence):
            cut = match.start() - start, match.end() - start
            return f"{sentence[:cut[0]]}**{sentence[cut[0]:cut[1]]}**{sentence[cut[1]:]}"
        start += len(sentence)
    return match.group(0)


def post_brief(week: int, post: int) -> str | None:
    """The post's brief from the curriculum; None for a post the curriculum does not have."""
    try:
        return load_curriculum().week(week).post(post).notes_for_agent
    except (KeyError, ValueError):
        return None


def review_problems(week: int, post: int, edition: str, body: str,
                    first_line: int = 1) -> list[tuple[str, str]]:
    """(kind, message) for what one post's body lacks or hides from its reader: the brief's
    unmet requirements, unreferenced figures and tables, a manager edition's symbols."""
    brief = post_brief(week, post)
    problems = [("brief", message) for message in unmet_brief(body, edition, brief, first_line)
                ] if brief else []
    problems += [("unreferenced", message) for message in unreferenced(body, first_line)]
    if edition == "manager":
        problems += [("manager symbols", message) for message in manager_symbols(body, first_line)]
    return problems


# ---- figures and tables the text never mentions ------------------------------------------------

def unreferenced(body: str, first_line: int = 1) -> list[str]:
    """Each figure and table the prose never refers to: by its number ("Figure 2", "Table 1"),
    its key (``pi-vs-vi/compare/ms_to_eps``) or its caption's title ("Gambler's problem")."""
    parts = post_parts(body, first_line)
    text = "\n".join(line for _, line in parts.prose)
    lowered = " ".join(text.lower().split())
    cited: dict[str, set[int]] = {"f": set(), "t": set()}
    for match in _REFERENCE.finditer(text):
        cited[match.group(1)[0].lower()] |= _numbers_in(match.group(2))
    found = []
    for figure in parts.figures:
        if not (figure.number in cited["f"] or figure.key in text
                or _title_cited(figure.caption, lowered)):
            found.append(f"figure {figure.number} ('{figure.key}', line {figure.line}) is never "
                         f"referred to: say in the text what Figure {figure.number} shows")
    for table in parts.tables:
        if not (table.number in cited["t"] or _title_cited(table.caption, lowered)):
            shown = _short(" | ".join(table.columns), 40)
            found.append(f"table {table.number} ('{shown}', line {table.line}) is never referred "
                         f"to: say in the text what Table {table.number} shows")
    return found


def _numbers_in(text: str) -> set[int]:
    """``1, 2 and 4`` -> {1, 2, 4}; ``1–3`` -> {1, 2, 3}."""
    tokens = re.findall(r"\d+|[–-]|\bto\b", text)
    numbers = {int(token) for token in tokens if token.isdigit()}
    for before, token, after in zip(tokens, tokens[1:], tokens[2:]):
        if not token.isdigit() and before.isdigit() and after.isdigit():
            numbers.update(range(int(before), min(int(after), int(before) + 50) + 1))
    return numbers


def _title_cited(caption: str, lowered_text: str) -> bool:
    """Whether the caption's title (its words before the first ':', '.' or ',', 2 to 8 words,
    parentheses dropped) stands in the text."""
    title = re.split(r":\s|\.\s|,\s|;\s|\s[—–]\s", caption.strip(), maxsplit=1)[0]
    words = re.sub(r"\([^)]*\)", " ", title).lower().split()
    return 2 <= len(words) <= 8 and " ".join(words) in lowered_text


# ---- symbols in the manager edition ------------------------------------------------------------

_MATH = re.compile(r"\$\$.+?\$\$|\\\(.+?\\\)|\\\[.+?\\\]"
                   r"|(?<![\\$])\$(?=[^\s$])[^$\n]*?[^\s$\\]\$(?!\d)", re.DOTALL)
"""TeX math; a ``$`` that opens before a space or closes after one is money ("$100 from $50")."""
_SYMBOL = re.compile(r"[\u0370-\u03ff\u1f00-\u1fff∞‖∑∏∫∂∇∈∉∀∃√∝⊂⊆∪∩]")
"""Greek letters and the mathematical symbols a plain-language reader is not expected to read."""
_UNIT = re.compile(r"μ[sm](?!\w)")
"""μs, μm: a unit, not a symbol."""


def manager_symbols(body: str, first_line: int = 1) -> list[str]:
    """Math and symbols a manager edition shows (prose, captions, table cells; code aside).

    The rule is the simplest honest one: every symbol is flagged, since a check cannot tell
    whether the sentence around it explains it in plain words."""
    text = _visible(body)
    found = [(match.start(), "math " + _short(match.group(0), 30))
             for match in _MATH.finditer(text)]
    rest = _UNIT.sub("  ", _MATH.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text))
    found += [(match.start(), match.group(0)) for match in _SYMBOL.finditer(rest)]
    if not found:
        return []
    seen: dict[str, list[int]] = {}
    for start, what in sorted(found):
        seen.setdefault(what, []).append(first_line + text.count("\n", 0, start))
    items = [f"{what} (line {lines[0]}" + (f", {len(lines)}×)" if len(lines) > 1 else ")")
             for what, lines in seen.items()]
    shown = ", ".join(items[:6]) + (f", +{len(items) - 6} more" if len(items) > 6 else "")
    first = min(found)[0]
    snippet = " ".join(text[max(0, first - 25):first + 25].split())
    return [f"uses symbols a manager reader is not told about: {shown}; first in '…{snippet}…': "
            "say it in plain words or leave it to the scientist edition"]


def _visible(body: str) -> str:
    """What a reader sees of ``body``, line for line: code, comments, link targets and HTML
    tags blanked (image captions and table cells kept)."""
    lines = body.replace("\r\n", "\n").split("\n")
    fence = None
    for index, line in enumerate(lines):
        if fence:
            fence = None if line.strip().startswith(fence) else fence
        elif match := _FENCE.match(line):
            fence = match.group(1)
        else:
            continue
        lines[index] = ""
    text = "\n".join(lines)
    text = re.sub(r"<!--.*?-->", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.DOTALL)
    text = re.sub(r"`[^`\n]*`", " ", text)
    text = re.sub(r"(!?\[[^\]]*\])\([^)\n]*\)", r"\1", text)
    return re.sub(r"<[^>\n]+>", " ", text)



def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."
