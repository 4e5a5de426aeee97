"""``forge approve``: the human gate between a draft and the published blog.

A post is approved only when ``forge check`` finds nothing wrong with it and its author has
rewritten the offline drafter's text (its "Offline draft" note is gone); ``force`` approves it
anyway. Approving changes the ``draft:`` line of each post and nothing else, and either every
requested post is approved or none is.
"""

from __future__ import annotations

from forge_cli.check import check_week
from forge_cli.config import Settings
from forge_cli.errors import ForgeError
from forge_cli.posts import (PostInfo, find_post, has_offline_banner, read_post_text, set_draft,
                             split_front_matter)


def approval_problems(settings: Settings, week: int, posts: list[PostInfo]) -> dict[str, list[str]]:
    """Per post name, what stops it from being approved (no entry: nothing)."""
    problems: dict[str, list[str]] = {}
    for finding in check_week(settings, week):
        problems.setdefault(finding.post, []).append(f"{finding.kind}: {finding.message}")
    wanted = {post.name for post in posts}
    for post in posts:
        if has_offline_banner(split_front_matter(read_post_text(post.path))[1]):
            problems.setdefault(post.name, []).insert(0, "still the offline draft")
    return {name: found for name, found in problems.items() if name in wanted}


def approve_posts(settings: Settings, week: int, wanted: list[tuple[int, str]],
                  force: bool = False) -> list[PostInfo]:
    """Approve the week's posts ``wanted`` as (post number, edition) pairs; ForgeError, with
    nothing changed, when one is missing or (unless ``force``) not ready."""
    blog = settings.path("blog")
    posts = [find_post(blog, week, number, edition) for number, edition in wanted]
    problems = {} if force else approval_problems(settings, week, posts)
    if problems:
        refused = "; ".join(
            f"{name}: {found[0]}" + (f" (+{len(found) - 1} more)" if found[1:] else "")
            for name, found in problems.items())
        raise ForgeError(f"not approved, {len(problems)} post(s) not ready: {refused}. Fix them "
                         f"(`forge check week{week}` lists every problem) "
                         "or approve anyway with --force")
    for post in posts:
        set_draft(post.path, False)
    return [post.model_copy(update={"draft": False}) for post in posts]
