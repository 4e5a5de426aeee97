"""The 16-week study plan as validated data: weeks, topics, papers, experiments and blog posts.

The data ships as ``forge_cli/data/curriculum.toml`` (generated once from the study plan and checked
by hand; the plan itself is not read at runtime). ``load_curriculum()`` reads and validates it once
per process. Week references typed by users (``week3``, ``week03``, ``3``) go through
``parse_week``, which raises ``UnknownWeekError`` with a one-line message for anything else.

Imports only the standard library and pydantic: the CLI imports this module at start-up.
"""

from __future__ import annotations

import functools
import re
import tomllib
from importlib import resources
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

__all__ = [
    "FIRST_WEEK",
    "LAST_WEEK",
    "Curriculum",
    "Post",
    "UnknownWeekError",
    "Week",
    "load_curriculum",
    "parse_week",
]

FIRST_WEEK = 1
LAST_WEEK = 16
PHASES = 4

_DATA_PACKAGE = "forge_cli.data"
_DATA_FILE = "curriculum.toml"

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
"""A non-empty string (surrounding whitespace is stripped first, so blank strings are rejected)."""
WeekNumber = Annotated[int, Field(ge=FIRST_WEEK, le=LAST_WEEK, strict=True)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]


class UnknownWeekError(ValueError):
    """A week reference that is not one of week1 … week16. The message is a single line."""


# At most two significant digits: int() of a 5000-digit reference would raise ValueError.
_WEEK_REF = re.compile(r"(?:week)?0*([0-9]{1,2})", re.IGNORECASE)


def _unknown(ref: object) -> UnknownWeekError:
    # repr() keeps the message on one line even for input containing newlines.
    shown = repr(ref) if not isinstance(ref, str) or len(ref) <= 30 else repr(ref[:27] + "...")
    return UnknownWeekError(
        f"unknown week {shown}: expected week{FIRST_WEEK} … week{LAST_WEEK} (e.g. 'week3')"
    )


def parse_week(ref: str | int) -> int:
    """The week number for ``ref``: an int, or a string such as ``week3``, ``week03``, ``3``.

    Surrounding whitespace is ignored and ``week`` is case-insensitive. Anything else, or a number
    outside 1..16, raises ``UnknownWeekError``.
    """
    if isinstance(ref, bool):  # bool is an int subclass; True is not "week 1"
        raise _unknown(ref)
    if isinstance(ref, int):
        number = ref
    elif isinstance(ref, str) and (m := _WEEK_REF.fullmatch(ref.strip())):
        number = int(m.group(1))
    else:
        raise _unknown(ref)
    if not FIRST_WEEK <= number <= LAST_WEEK:
        raise _unknown(ref)
    return number


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Post(_Frozen):
    """One blog post of a week (each is drafted in a scientist and a manager edition)."""

    number: Annotated[int, Field(ge=1, strict=True)]
    title: Text
    notes_for_agent: Text
    """The plan's brief for the drafting agent ("Notes for Agent"; "Content" in one-post weeks)."""
    connects_to: list[WeekNumber] = []
    """Weeks (earlier than or equal to this post's week) whose material the notes refer back to."""
    connects_to_posts: list[Annotated[int, Field(ge=1, strict=True)]] = []
    """Other posts of the same week that the notes refer to ("Reference ... from Blog 1")."""

    @field_validator("connects_to", "connects_to_posts")
    @classmethod
    def _no_duplicates(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError(f"duplicate entries in {value}")
        return value


class Week(_Frozen):
    number: WeekNumber
    phase: Annotated[int, Field(ge=1, le=PHASES, strict=True)]
    phase_title: Text
    title: Text
    topic: Slug
    """Short tag for blog categories, e.g. ``mdp``, ``policy-optimization``."""
    topics: Annotated[list[Text], Field(min_length=1)]
    """Study topics; nested bullets are flattened to ``"Group: item"``."""
    papers: list[Text]
    experiments: Annotated[list[Text], Field(min_length=1)]
    wandb: Text
    """What to track in W&B for this week's experiments."""
    posts: Annotated[list[Post], Field(min_length=1, max_length=2)]

    @model_validator(mode="after")
    def _check_posts(self) -> Week:
        numbers = [post.number for post in self.posts]
        expected = list(range(1, len(self.posts) + 1))
        if numbers != expected:
            raise ValueError(
                f"week {self.number}: posts must be numbered {expected}, got {numbers}"
            )
        for post in self.posts:
            for other in post.connects_to_posts:
                if other == post.number or other not in numbers:
                    raise ValueError(
                        f"week {self.number} post {post.number}: connects_to_posts {other} is not "
                        f"another post of this week"
                    )
        return self

    @property
    def slug(self) -> str:
        """``week01`` … ``week16``: the name used for folders and files of this week."""
        return f"week{self.number:02d}"

    @property
    def connects_to(self) -> list[int]:
        """Earlier weeks any of this week's posts refers to, in order of first mention."""
        return list(dict.fromkeys(n for post in self.posts for n in post.connects_to
                                  if n != self.number))

    def post(self, number: int) -> Post:
        """Post ``number`` (1-based) of this week; ``KeyError`` if there is none."""
        for post in self.posts:
            if post.number == number:
                return post
        raise KeyError(f"week {self.number} has no post {number} (it has {len(self.posts)})")


class Curriculum(_Frozen):
    weeks: list[Week]

    @model_validator(mode="after")
    def _check_weeks(self) -> Curriculum:
        numbers = [week.number for week in self.weeks]
        expected = list(range(FIRST_WEEK, LAST_WEEK + 1))
        if numbers != expected:
            raise ValueError(
                f"weeks must be exactly {FIRST_WEEK}..{LAST_WEEK} in order, got {numbers}"
            )
        phases = [week.phase for week in self.weeks]
        if phases != sorted(phases):
            raise ValueError(f"phases must not decrease from week to week, got {phases}")
        for week in self.weeks:
            for post in week.posts:
                later = [n for n in post.connects_to if n > week.number]
                if later:
                    raise ValueError(
                        f"week {week.number} post {post.number}: connects_to {later} points at a "
                        f"later week"
                    )
        return self

    def week(self, ref: str | int) -> Week:
        """The week for ``ref`` (see ``parse_week``); raises ``UnknownWeekError``."""
        return self.weeks[parse_week(ref) - FIRST_WEEK]


@functools.cache
def load_curriculum() -> Curriculum:
    """The shipped curriculum, read from ``forge_cli/data/curriculum.toml`` and validated (once)."""
    text = resources.files(_DATA_PACKAGE).joinpath(_DATA_FILE).read_text(encoding="utf-8")
    return Curriculum.model_validate(tomllib.loads(text))
