"""How ``forge weeks`` looks: the 16-week overview and one week's detail, sized for 80 columns
and still whole at 60 (titles wrap at words; numbers, experiment names and keys never break)."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from forge_cli.status import WeekStatus


def weeks_table(statuses: list[WeekStatus]) -> Table:
    table = _table("forge curriculum: where each week stands")
    table.caption = ("plan: the study plan's experiments covered by implemented ones; "
                     "missing: their numbers in the plan (`forge weeks week4` lists them)")
    table.caption_justify = "left"
    table.add_column("week", justify="right", no_wrap=True)
    table.add_column("title", min_width=14)  # "Constitutional", the longest word, stays whole
    table.add_column("plan", justify="right", no_wrap=True)
    table.add_column("missing", no_wrap=True)
    for column in ("runs", "drafts", "approved"):
        table.add_column(column, justify="right", no_wrap=True)
    for status in statuses:
        # A week with nothing implemented misses everything: its 0/N says so already.
        missing = ",".join(map(str, status.missing)) if status.covered else ""
        table.add_row(str(status.week), status.title, f"{len(status.covered)}/{len(status.plan)}",
                      missing, str(status.runs), str(status.drafts), str(status.approved))
    return table


def week_detail(status: WeekStatus) -> RenderableType:
    """Each planned experiment, numbered as in the plan, with the experiments that cover it."""
    table = _table(f"study plan: {len(status.covered)} of {len(status.plan)} experiments covered")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("planned experiment", ratio=1)
    names = [name for names in status.covered_by.values() for name in names]
    table.add_column("covered by", min_width=max(map(len, names), default=7))
    for number, planned in enumerate(status.plan, 1):
        covered_by = status.covered_by.get(number)
        table.add_row(str(number), planned, Text(", ".join(covered_by)) if covered_by
                      else Text("missing", style="yellow"))
    parts: list[RenderableType] = [Text(f"week {status.week} · {status.title}", style="bold"),
                                   table]
    if status.unplanned:
        parts.append(Text(f"also implemented, beyond the plan: {', '.join(status.unplanned)}"))
    parts.append(Text(f"runs {status.runs} · posts {status.posts} planned, {status.drafts} "
                      f"draft(s), {status.approved} approved"))
    return Group(*parts)


def _table(title: str) -> Table:
    # No vertical rules and single gaps: the columns a narrow terminal needs for the titles.
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                 pad_edge=False, collapse_padding=True)
