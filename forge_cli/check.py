"""``forge check``: everything that would make a post wrong, flagged before a reader sees it.

Per post of the week: invalid front matter; unknown placeholders; facts whose runs changed since
drafting; numbers in the prose that come from no fact, run result or note (a model's invented
figures); broken figure and cross-post links; equations KaTeX cannot render; and a manager
edition citing a fact its scientist edition does not.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from forge_cli.config import Settings
from forge_cli.curriculum import load_curriculum
from forge_cli.drafting import posts_dir, split_front_matter
from forge_cli.facts import build_facts
from forge_cli.store import RunRecord, RunStore

NUMBER = re.compile(r"(?<![\w.,^_{])[-−]?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(%?)(?![\w])")
SMALL_INTEGERS = set(range(0, 13))
"""Counting words in prose ("two editions", "Figure 3") are not results."""
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HTML_TAG = re.compile(r"<[^>]+>")
DISPLAY_MATH = re.compile(r"\$\$(.+?)\$\$", re.DOTALL)
INLINE_MATH = re.compile(r"(?<![\\$])\$(?!\$)([^$\n]+?)(?<!\\)\$")
KATEX = Path("docs/assets/katex/katex.min.js")


class Finding(BaseModel):
    post: str
    kind: str
    message: str


def check_week(settings: Settings, week: int) -> list[Finding]:
    posts = sorted(posts_dir(settings).glob(f"week{week:02d}-*.md"))
    records = RunStore(settings.path("runs")).latest(week)
    facts = build_facts(week, records)
    allowed = _allowed_numbers(settings, week, records, facts)
    findings: list[Finding] = []
    cited: dict[tuple[int, str], set[str]] = {}
    for path in posts:
        meta, body = split_front_matter(path.read_text(encoding="utf-8"))
        add = lambda kind, message: findings.append(Finding(post=path.name, kind=kind, message=message))  # noqa: E731
        problem = _front_matter_problem(meta)
        if problem:
            add("front matter", problem)
            continue
        provenance = meta["forge"]
        for marker in re.findall(r"\*\*\[unknown (\w+): ([^\]]+)\]\*\*|\{\{\s*(\w+):([^}\s]+)\s*\}\}", body):
            kind, key = (marker[0], marker[1]) if marker[0] else (marker[2], marker[3])
            add("unknown key", f"{kind} '{key}' is not in the week's results")
        drafted = provenance.get("facts") or {}
        current = facts.fingerprint(list(drafted))
        for key, runs_hash in drafted.items():
            if key not in current:
                add("stale fact", f"fact '{key}' no longer exists in the run store")
            elif current[key] != runs_hash:
                add("stale fact", f"fact '{key}' comes from newer runs than the draft: re-draft")
        cited[(provenance["post"], provenance["edition"])] = set(drafted)
        prose = _prose(body)
        for text, value in _numbers(prose):
            if not _is_allowed(value, text, allowed):
                add("unsourced number", f"'{text}' matches no fact, run result or note")
        for target in LINK.findall(CODE.sub("", body)):
            if re.match(r"^[a-z][a-z0-9+.-]*:|^#", target):
                continue
            if not (path.parent / target.split("#")[0]).exists():
                add("broken link", f"'{target}' does not exist")
        for error in _math_errors(settings, body):
            add("math", error)
    for (post, edition), keys in cited.items():
        if edition == "manager" and (post, "scientist") in cited:
            for key in sorted(keys - cited[(post, "scientist")]):
                findings.append(Finding(post=f"week{week:02d}-post{post}-manager.md", kind="editions",
                                        message=f"fact '{key}' is cited by the manager edition only"))
    return findings


def _front_matter_problem(meta: dict[str, Any] | None) -> str | None:
    if meta is None:
        return "missing or unparsable YAML front matter"
    for key, kind in (("title", str), ("date", date), ("categories", list), ("draft", bool),
                      ("forge", dict)):
        if not isinstance(meta.get(key), kind):
            return f"'{key}' is missing or not a {kind.__name__}"
    missing = [k for k in ("week", "post", "edition", "text_sha256") if k not in meta["forge"]]
    return f"provenance lacks {', '.join(missing)}" if missing else None


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
    notes = settings.path("notes") / f"week{week:02d}.md"
    if notes.is_file():
        collect(notes.read_text(encoding="utf-8"))
    collect(load_curriculum().week(week).model_dump_json())
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
