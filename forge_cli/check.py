"""``forge check``: everything that would make a post wrong, flagged before a reader sees it.

Per post of the week: invalid front matter; unknown placeholders; facts whose runs changed since
drafting; code excerpts whose source changed (or is gone) since drafting; numbers in the prose
that come from no fact, run result or note (a model's invented figures); broken figure and cross-post links; equations KaTeX cannot render; and a manager
edition citing a fact its scientist edition does not. What else a reviewer would catch
(near-identical posts, a brief's unmet requirements, figures and tables the text never
mentions, symbols in a manager edition; template stubs left in the notes) is in
``check_review`` and ``check_notes``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Collection
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from forge_cli.check_notes import notes_stubs
from forge_cli.check_review import near_identical, review_problems
from forge_cli.code_refs import source_root, stale_references, valid_record
from forge_cli.config import Settings
from forge_cli.curriculum import load_curriculum
from forge_cli.errors import BadInput
from forge_cli.facts import FactsTable, week_facts
from forge_cli.notes import notes_path
from forge_cli.post_picks import notes_text_fact_keys
from forge_cli.posts import (EDITIONS, HASH_KEY, LINK, UNKNOWN_MARKER, local_targets,
                             parse_post_name, post_file_name, posts_dir, read_post_text,
                             split_front_matter)
from forge_cli.store import RunRecord, RunStore

NUMBER = re.compile(r"(?<![\w.,^_{])[-−]?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(%?)(?![\w])")
SMALL_INTEGERS = set(range(0, 13))
"""Counting words in prose ("two editions", "Figure 3") are not results."""
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)
UNFILLED = re.compile(r"\{\{\s*(\w+):([^}\s]+)\s*\}\}")
"""A placeholder left in a post, of any kind (forge fills the kinds it knows)."""
HTML_TAG = re.compile(r"<[^>]+>")
DISPLAY_MATH = re.compile(r"\$\$(.+?)\$\$", re.DOTALL)
INLINE_MATH = re.compile(r"(?<![\\$])\$(?!\$)([^$\n]+?)(?<!\\)\$")
KATEX = Path("docs/assets/katex/katex.min.js")


class Finding(BaseModel):
    post: str
    kind: str
    message: str


def week_posts(settings: Settings, week: int) -> list[Path]:
    """The week's post files (``weekNN-postP-EDITION.md``)."""
    folder = posts_dir(settings.path("blog"))
    return sorted(path for path in folder.glob(f"week{week:02d}-*.md")
                  if (parse_post_name(path.name) or (None,))[0] == week)


def check_week(settings: Settings, week: int) -> list[Finding]:
    # every post read first (BadInput: not UTF-8): the facts they were drafted from are checked
    parsed = [(path, text, *split_front_matter(text))
              for path in week_posts(settings, week) for text in [read_post_text(path)]]
    drafted_keys = [key for _, _, meta, _ in parsed if isinstance(meta, dict)
                    and isinstance(meta.get("forge"), dict)
                    and isinstance(meta["forge"].get("facts"), dict)
                    for key in meta["forge"]["facts"] if isinstance(key, str)]
    records, facts = _checked_facts(settings, week, None, drafted_keys)
    allowed = _allowed_numbers(settings, week, records, facts)
    findings: list[Finding] = []
    cited: dict[tuple[int, str], set[str]] = {}
    stubs = notes_stubs(settings, week)
    bodies: list[tuple[str, int, str, str]] = []
    for path, text, meta, body in parsed:
        add = lambda kind, message: findings.append(Finding(post=path.name, kind=kind, message=message))  # noqa: E731
        problem = _front_matter_problem(meta)
        if problem:
            add("front matter", problem)
            continue
        provenance = meta["forge"]
        if provenance.get("profile") == "smoke":
            add("smoke profile", "its facts come from smoke runs (seconds long, not meaningful): "
                "run the week with --profile cpu or gpu, then re-draft")
        drafted = provenance.get("facts") or {}
        current = facts.fingerprint(list(drafted))
        for key, runs_hash in drafted.items():
            if key not in current:
                add("stale fact", f"fact '{key}' no longer exists in the run store")
            elif current[key] != runs_hash:
                add("stale fact", f"fact '{key}' comes from newer runs than the draft: re-draft")
        for message in stale_references(source_root(settings), provenance.get("code") or {}):
            add("stale code", message)
        cited[(provenance["post"], provenance["edition"])] = set(drafted)
        for kind, message in _body_problems(settings, body, allowed, path.parent):
            add(kind, message)
        post, edition = provenance["post"], provenance["edition"]
        first_line = text[:len(text) - len(body)].count("\n") + 1
        for kind, message in review_problems(week, post, edition, body, first_line):
            add(kind, message)
        for message in stubs:
            add("notes stub", message)
        bodies.append((path.name, post, edition, body))
    for name, message in near_identical(bodies):
        findings.append(Finding(post=name, kind="near-identical", message=message))
    for (post, edition), keys in cited.items():
        if edition == "manager" and (post, "scientist") in cited:
            for key in sorted(keys - cited[(post, "scientist")]):
                findings.append(Finding(post=post_file_name(week, post, "manager"), kind="editions",
                                        message=f"fact '{key}' is cited by the manager edition only"))
    return findings


def check_text(settings: Settings, week: int, body: str, *, name: str = "draft",
               profile: str | None = None, present: Collection[str] = (),
               post: int | None = None, edition: str | None = None) -> list[Finding]:
    """The findings of one post body held in memory (a draft the agent is revising), against
    ``profile``'s runs: unknown placeholders and keys, unsourced numbers, broken links, math
    KaTeX rejects; given ``post`` and ``edition``, also the brief's unmet requirements,
    unreferenced figures and tables and a manager edition's symbols. ``present`` names files
    that will stand beside the post once it is written (the figures forge copies, the
    companion edition drafted alongside)."""
    records, facts = _checked_facts(settings, week, profile)
    allowed = _allowed_numbers(settings, week, records, facts)
    folder = posts_dir(settings.path("blog"))
    problems = _body_problems(settings, body, allowed, folder, set(present))
    if post is not None and edition is not None:
        problems += review_problems(week, post, edition, body)
    return [Finding(post=name, kind=kind, message=message) for kind, message in problems]


def _checked_facts(settings: Settings, week: int, profile: str | None,
                   drafted: Collection[str] = ()) -> tuple[list[RunRecord], FactsTable]:
    """The week's runs at ``profile`` and what its posts may cite (:func:`week_facts`), with
    the other weeks' facts named by the notes or by ``drafted`` (posts' provenance). A key
    that cannot be read is left out, so a post citing it is a stale fact; notes forge cannot
    read name none here (drafting reports them)."""
    store = RunStore(settings.path("runs"))
    latest = store.latest(week, profile)
    wanted = list(drafted)
    notes = notes_path(settings, week)
    if notes.is_file():
        text = notes.read_text(encoding="utf-8", errors="replace")
        try:
            wanted += notes_text_fact_keys(text, notes)
        except BadInput:
            pass
    return latest.records, week_facts(store, week, latest.profile, latest.records, wanted,
                                      strict=False)


def _body_problems(settings: Settings, body: str, allowed: set[float], folder: Path,
                   present: set[str] = frozenset()) -> list[tuple[str, str]]:
    """(kind, message) for what is wrong in a post body itself, whatever its front matter says."""
    problems = [("unknown key", f"{kind} '{key}' is not in the week's results")
                for kind, key in UNKNOWN_MARKER.findall(body) + UNFILLED.findall(body)]
    for text, value in _numbers(_prose(body)):
        if not _is_allowed(value, text, allowed):
            problems.append(("unsourced number", f"'{text}' matches no fact, run result or note"))
    for target in local_targets(CODE.sub("", body)):
        if target not in present and not (folder / target).exists():
            problems.append(("broken link", f"'{target}' does not exist"))
    problems += [("math", error) for error in _math_errors(settings, body)]
    return problems


def _front_matter_problem(meta: dict[str, Any] | None) -> str | None:
    if meta is None:
        return "missing or unparsable YAML front matter"
    for key, kind in (("title", str), ("date", date), ("categories", list), ("draft", bool),
                      ("forge", dict)):
        if not isinstance(meta.get(key), kind):
            return f"'{key}' is missing or not a {kind.__name__}"
    forge = meta["forge"]
    missing = [k for k in ("week", "post", "edition", HASH_KEY) if k not in forge]
    if missing:
        return f"provenance lacks {', '.join(missing)}"
    if not all(type(forge[key]) is int for key in ("week", "post")):  # not a bool, nor a text
        return "provenance 'week' and 'post' must be numbers"
    if forge["edition"] not in EDITIONS:
        return f"provenance 'edition' must be one of {', '.join(EDITIONS)}"
    facts = forge.get("facts")
    if facts is not None and not (isinstance(facts, dict) and all(
            isinstance(key, str) and isinstance(value, str) for key, value in facts.items())):
        return "provenance 'facts' must map fact keys to run hashes"
    code = forge.get("code")
    if code is not None and not (isinstance(code, dict) and all(
            isinstance(key, str) and valid_record(value) for key, value in code.items())):
        return "provenance 'code' must map code references to {lines: [first, last], sha256}"
    return None


def _prose(body: str) -> str:
    body = CODE.sub(" ", body)
    body = LINK.sub(lambda m: m.group(0).split("](")[0], body)  # keep link text, drop targets
    return HTML_TAG.sub(" ", body)


def _numbers(text: str) -> list[tuple[str, float]]:
    found = []
    for match in NUMBER.finditer(text):
        digits = match.group(1).replace(",", "") + (match.group(2) or "")
        value = float(digits) * (-1 if match.group(0)[0] in "-−" else 1)
        found.append((match.group(0), value))
    return found


def _is_allowed(value: float, text: str, allowed: set[float]) -> bool:
    value = abs(value)  # the allowed set holds magnitudes: a sign is prose, not a new number
    if value.is_integer() and value in SMALL_INTEGERS:
        return True
    decimals = len(text.split(".")[1].rstrip("%")) if "." in text else 0
    factors = (1, 100) if text.endswith("%") else (1,)  # "45%" may state a stored 0.45
    return any(round(candidate * factor, decimals) == round(value, decimals)
               for candidate in allowed for factor in factors)


def _allowed_numbers(settings: Settings, week: int, records: list[RunRecord], facts) -> set[float]:
    values: set[float] = set()

    def collect(item: Any) -> None:
        if isinstance(item, bool):
            return
        if isinstance(item, (int, float)):
            values.add(abs(float(item)))
        elif isinstance(item, dict):
            for value in item.values():
                collect(value)
        elif isinstance(item, (list, tuple)):
            for value in item:
                collect(value)
        elif isinstance(item, str):
            values.update(abs(v) for _, v in _numbers(item))

    for record in records:
        collect(record.summary)
        collect(record.config)
        for entry in record.tables:
            table = record.table(entry.key)
            collect(table["rows"])
            collect(table["columns"])
        collect([figure.caption for figure in record.figures])
    for fact in facts.facts.values():
        values.update((abs(fact.value), abs(fact.spread)))
    notes = notes_path(settings, week)
    if notes.is_file():
        collect(notes.read_text(encoding="utf-8", errors="replace"))  # drafting rejects bad bytes
    curriculum = load_curriculum()
    collect(curriculum.week(week).model_dump_json())
    # a draft links earlier posts by their titles ("Decision Making 101"): numbers of the plan
    collect([post.title for other in curriculum.weeks for post in other.posts])
    return {v for v in values if v == v}  # drop NaN


def _math_errors(settings: Settings, body: str) -> list[str]:
    """KaTeX's own verdict on every equation (through node), else a brace-balance check."""
    text = CODE.sub(" ", body)
    equations = [(m, True) for m in DISPLAY_MATH.findall(text)]
    equations += [(m, False) for m in INLINE_MATH.findall(DISPLAY_MATH.sub(" ", text))]
    if not equations:
        return []
    katex = settings.path("blog") / KATEX
    node = shutil.which("node")
    if node and katex.is_file():
        script = ("const katex=require(process.argv[1]);let out=[];"
                  "for(const [tex,display] of JSON.parse(require('fs').readFileSync(0,'utf8'))){"
                  "try{katex.renderToString(tex,{displayMode:display,throwOnError:true})}"
                  "catch(e){out.push(e.message.split('\\n')[0])}}console.log(JSON.stringify(out))")
        result = subprocess.run([node, "-e", script, str(katex.resolve())], capture_output=True,
                                text=True, input=json.dumps(equations), timeout=60)
        if result.returncode == 0:
            return json.loads(result.stdout)
    errors = []
    for tex, _ in equations:
        depth = 0
        for char in re.sub(r"\\[{}]", "", tex):
            depth += {"{": 1, "}": -1}.get(char, 0)
            if depth < 0:
                break
        if depth != 0:
            errors.append(f"unbalanced braces in ${tex.strip()[:60]}$")
    return errors
