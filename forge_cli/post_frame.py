"""The frame forge puts around and into every post body, whoever wrote the body.

- A "What to know" box of the post's headline facts opens both editions, then the excerpt
  break, so the blog index shows the box and a "Continue reading" link, not the whole post.
  An untouched offline draft keeps its "Offline draft" note first.
- Tables and figures are numbered in the order the body inserts them ("Table 1", "Figure 1"),
  so the text can refer to them by number; a table's caption says how its numbers were made
  (deterministic, one run; one seed's run; mean and spread over seeds).
- A "Reproduce" box closes the post: the exact ``forge run`` command, the run ids and the git
  sha the draft was made from.

The boxes are templates (``templates/partials/what_to_know.md.j2``, ``reproduce.md.j2``), so
their wording is editable without Python; the table and figure blocks are Markdown structure
(``md_in_html``) and live here.
"""

from __future__ import annotations

import html
import re
from typing import Any

from algorithms.experiment import experiments_for
from forge_cli.config import Settings
from forge_cli.draft_context import DraftContext, FigureRef, TableRef, context_variables, headlines
from forge_cli.posts import EXCERPT_BREAK, OFFLINE_BANNER
from forge_cli.templating import render

WHAT_TO_KNOW_FACTS = 5
"""At most this many headline facts in the box (the notes' first picks)."""
_CHECKOUT = re.compile(r"git checkout [0-9a-f]{7,40}[^\n]*")
"""The one line of the Reproduce box that names the git sha (it changes with every commit)."""


# ---- the boxes -------------------------------------------------------------------------------

def frame_body(settings: Settings, context: DraftContext, body: str,
               provenance: dict[str, Any]) -> str:
    """``body`` with the "What to know" box and the excerpt break on top (after an offline
    draft's note) and the "Reproduce" box at the end. A break the body carries itself is
    dropped: the excerpt is always the box."""
    body = "\n".join(line for line in body.strip("\n").splitlines()
                     if line.strip() != EXCERPT_BREAK)
    banner, rest = _split_offline_banner(body)
    box = render(settings, "partials/what_to_know.md.j2", edition=context.edition,
                 facts=what_to_know(context)).strip()
    reproduce = render(settings, "partials/reproduce.md.j2", **reproduce_variables(
        settings, context, provenance)).strip()
    head = [part for part in (banner, box, EXCERPT_BREAK) if part]
    return "\n\n".join([*head, rest.strip("\n"), reproduce]) + "\n"


def _split_offline_banner(body: str) -> tuple[str, str]:
    """(the offline draft's note block, the rest) when the body opens with the note."""
    lines = body.splitlines()
    if not lines or lines[0].strip() != OFFLINE_BANNER:
        return "", body
    end = 1
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith((" ", "\t"))):
        end += 1
    return "\n".join(lines[:end]).rstrip(), "\n".join(lines[end:])


def what_to_know(context: DraftContext) -> list[dict[str, str]]:
    """The box's items, label and stated value, from the notes' headline facts (their first
    :data:`WHAT_TO_KNOW_FACTS`); labels are the edition's (``fact_label``)."""
    label = context_variables(context)["fact_label"]
    keys = list(headlines(context)["facts"])[:WHAT_TO_KNOW_FACTS]
    return [{"key": key, "label": label(key), "value": context.facts.facts[key].formatted()}
            for key in keys]


def reproduce_variables(settings: Settings, context: DraftContext,
                        provenance: dict[str, Any]) -> dict[str, Any]:
    """What ``reproduce.md.j2`` states: the commands, the runs and the code they came from."""
    from forge_cli.store import RunStore

    wanted = set(context.run_ids)
    records = [record for record in RunStore(settings.path("runs")).latest(
        context.week.number, context.profile).records if record.id in wanted]
    registry = experiments_for(context.week.number)
    seeded = [r for r in records if getattr(registry.get(r.experiment), "seeded", True)]
    seeds = sorted({record.seed for record in seeded}) or [0]
    ran = sorted({record.experiment for record in records})
    only = f" --only {','.join(ran)}" if ran and set(ran) != set(registry) else ""
    week = f"week{context.week.number}"
    sha = provenance.get("git_sha")
    # the other weeks whose facts the post cites (``weekN/`` keys) run first, at the same profile
    cited: dict[int, set[str]] = {}
    for fact in context.facts.facts.values():
        if fact.week is not None and fact.week != context.week.number:
            cited.setdefault(fact.week, set()).add(fact.experiment)
    upstream = [f"forge run week{n} --profile {context.profile} --only {','.join(sorted(e))}"
                for n, e in sorted(cited.items())]
    return {"upstream_commands": upstream,
            "run_command": f"forge run {week} --profile {context.profile} "
                           f"--seeds {seeds_text(seeds)}{only}",
            "draft_command": f"forge draft {week} --post {context.post.number} "
                             f"--edition {context.edition} --profile {context.profile}",
            "git_sha": sha, "git_short": sha[:12] if sha else None,
            "git_dirty": bool(provenance.get("git_dirty")), "run_ids": context.run_ids,
            "profile": context.profile, "edition": context.edition}


def seeds_text(seeds: list[int]) -> str:
    """``--seeds`` as the runner parses it: a range ``0-4`` when contiguous, else ``0,2,5``."""
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))


def stable_body(body: str) -> str:
    """``body`` with the git sha line blanked: a re-draft after a commit that changed nothing
    else is the same draft (the sha is provenance, like ``drafted_at``)."""
    return _CHECKOUT.sub("git checkout", body)


# ---- numbered tables and figures -------------------------------------------------------------

def figure_block(figure: FigureRef, number: int, caption: str | None = None) -> str:
    """A numbered, captioned figure: the image (zoomable: the site wraps it in a lightbox link)
    and ``Figure N: caption`` under it. ``caption`` replaces the run's own caption (the manager
    edition's plain words from the notes)."""
    caption = f"Figure {number}: {caption or figure.caption}".strip()
    alt = re.sub(r"\s+", " ", caption).replace("[", "(").replace("]", ")")
    return (f'<figure class="forge-figure" markdown="span">\n'
            f"![{alt}]({figure.site_file}){{ loading=lazy }}\n"
            f"<figcaption>{html.escape(caption, quote=False)}</figcaption>\n"
            f"</figure>")


def table_block(table: TableRef, number: int, context: DraftContext) -> str:
    """A numbered table in a horizontally scrollable box: ``Table N: caption (how the numbers
    were made)`` above it, column units from the experiment's declared units."""
    from forge_cli.results import format_number

    experiment = experiments_for(context.week.number).get(table.key.split("/", 1)[0])
    headers = [_with_unit(column, experiment) for column in table.columns]

    def cell(value: Any) -> str:
        text = format_number(value) if isinstance(value, float) else str(value)
        return text.replace("|", "\\|")

    rows = ["| " + " | ".join(cell(h) for h in headers) + " |",
            "|" + "|".join("---" for _ in headers) + "|"]
    rows += ["| " + " | ".join(cell(value) for value in row) + " |" for row in table.rows]
    caption = f"{table_caption(table)} ({table_provenance(table, context)})"
    # The label line stands right above the table (one blank line between), where readers and
    # forge check (check_review.post_parts) look for it; the stylesheet styles it as a caption.
    return (f'<div class="forge-table" markdown>\n\n**Table {number}:** {caption}\n\n'
            + "\n".join(rows) + "\n\n</div>")


def table_caption(table: TableRef) -> str:
    """The table's own caption when it has one, else its name in words
    (``book/gridworld5x5_optimal_values`` → "Gridworld5x5 optimal values")."""
    caption = getattr(table, "caption", "") or ""
    if caption:
        return caption.rstrip(".")
    name = table.key.rsplit("/", 1)[-1].replace("_", " ").strip()
    return name[:1].upper() + name[1:]


def table_provenance(table: TableRef, context: DraftContext) -> str:
    """How a table's numbers were made: "deterministic, one run", "one run, the first of 3
    seeds", or the spread the table itself reports over its seeds."""
    name = table.key.split("/", 1)[0]
    experiment = experiments_for(context.week.number).get(name)
    if experiment is not None and not experiment.seeded:
        return "deterministic, one run"
    columns = [str(column).lower() for column in table.columns]
    n = _seeds_in_table(table, columns)
    over = f"over {n} seeds" if n else "over seeds"
    if "mean" in columns and "ci95" in columns:
        return f"mean and 95% confidence half-width {over}"
    if "mean" in columns and "std" in columns:
        return f"mean ± std {over}"
    # The table comes from one run per experiment, the lowest seed's (draft_context).
    seeds = max((f.n for f in context.facts.facts.values() if f.experiment == name), default=1)
    return f"one run, the first of {seeds} seeds" if seeds > 1 else "one run"


def _seeds_in_table(table: TableRef, columns: list[str]) -> int | None:
    """The seed count of a seed study's table: the length of its ``per_seed`` cells."""
    if "per_seed" not in columns or not table.rows:
        return None
    cell = table.rows[0][columns.index("per_seed")]
    return len(cell) if isinstance(cell, list) else len(str(cell).split())


def _with_unit(column: Any, experiment: Any) -> str:
    """``column (unit)`` when the experiment declares a unit for it that its name lacks."""
    name = str(column)
    if experiment is None:
        return name
    unit = experiment.unit(name) or experiment.unit(f"_.{name}")
    if not unit or unit.lower() in re.split(r"[\s_]+", name.lower()):
        return name
    return f"{name} ({unit})"
