"""Code in posts, traceable like numbers: ``{{ code:PATH::SYMBOL }}`` and ``{{ code:PATH:A-B }}``
are filled with the exact source and a reference to it at the drafted commit, recorded in the
front matter, and ``forge check`` flags code whose source changed since."""

from __future__ import annotations

import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest

from forge_cli.check import check_week
from forge_cli.code_refs import (CodeSource, UnknownCode, as_block, code_source, fingerprints,
                                 resolve, source_root, stale_references, week_code_symbols)
from forge_cli.config import load_settings
from forge_cli.draft_context import DraftContext, build_context, parse_sections
from forge_cli.drafting import DraftJob, draft_provenance, draft_week, fill, prompt_for
from forge_cli.facts import FactsTable
from forge_cli.posts import posts_dir, render_post, split_front_matter

SOLVER = '''"""A toy solver, the fixture the code references point into."""

import functools


def helper(x):
    return x


@functools.cache
def solve(n: int) -> int:
    """Sum 1..n. A docstring may hold a fence: ```text```."""
    return sum(range(n + 1))


class Solver:
    """Steps."""

    def step(self, x):
        return x + 1

    @staticmethod
    def reset():
        return 0


def _private():
    return None
'''
SOLVE = "\n".join(SOLVER.splitlines()[9:13])  # decorator, def, docstring, body
SOLVE_KEY = "algorithms/toy/solver.py::solve"


@pytest.fixture
def code_project(project):
    """A project whose ``algorithms/`` is a small fixture: one area, a week importing from it."""
    files = {
        "algorithms/__init__.py": "",
        "algorithms/toy/__init__.py": "from .solver import Solver, solve\n",
        "algorithms/toy/solver.py": SOLVER,
        "algorithms/toy/other.py": "def unused():\n    return 1\n",
        "algorithms/toy/extra.py": "class Shared:\n    pass\n",
        "algorithms/weeks/__init__.py": "",
        "algorithms/weeks/shared.py": "def later():\n    from algorithms.toy.extra import Shared\n",
        "algorithms/weeks/week01/__init__.py": "",
        "algorithms/weeks/week01/experiments.py": (
            "from algorithms.toy import solve\nfrom algorithms.weeks.shared import later\n\n"
            "def run():\n    from algorithms.toy import other\n"),
    }
    for name, text in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    return project


def git(*args: str, cwd: Path) -> str:
    command = ["git", "-c", "user.name=forge", "-c", "user.email=forge@example.org", *args]
    result = subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True)
    return result.stdout.strip()


def committed(root: Path) -> str:
    git("init", "--quiet", cwd=root)
    git("add", "-A", cwd=root)
    git("commit", "--quiet", "-m", "fixture", cwd=root)
    return git("rev-parse", "HEAD", cwd=root)


def ref(key: str) -> str:
    return f"{{{{ code:{key} }}}}"


def fill_here(text: str) -> tuple[str, list[str], list[str]]:
    """``fill`` with the code source of the project in the current folder."""
    return fill(text, context_for(code_source(load_settings())))


def context_for(source: CodeSource | None) -> DraftContext:
    """Only what ``fill`` and ``draft_provenance`` read: no runs, facts, tables or figures."""
    return DraftContext.model_construct(edition="scientist", tables=[], figures=[],
                                        facts=FactsTable(week=1, facts={}), run_ids=[],
                                        profile="smoke", code_source=source)


# ---- finding the lines ------------------------------------------------------------------------

def test_symbols_span_decorators_docstrings_and_methods(code_project):
    lines = SOLVER.splitlines()
    excerpt = resolve(code_project, SOLVE_KEY)
    assert (excerpt.start, excerpt.end) == (10, 13) and excerpt.source == SOLVE
    assert lines[excerpt.start - 1] == "@functools.cache"
    step = resolve(code_project, "algorithms/toy/solver.py::Solver.step")
    assert step.source == "    def step(self, x):\n        return x + 1"
    reset = resolve(code_project, "algorithms/toy/solver.py::Solver.reset")
    assert reset.source.splitlines()[0] == "    @staticmethod"
    whole = resolve(code_project, "algorithms/toy/solver.py::Solver")
    assert whole.source.endswith("return 0") and whole.start == 16
    helper = resolve(code_project, "algorithms/toy/solver.py:6-7")
    assert helper.source == "def helper(x):\n    return x"
    assert resolve(code_project, "algorithms/toy/solver.py:6").source == "def helper(x):"


@pytest.mark.parametrize("key, why", [
    ("algorithms/toy/solver.py::missing", "defines no top-level missing"),
    ("algorithms/toy/solver.py::helper.inner", "defines no top-level"),
    ("algorithms/toy/solver.py::Solver.missing", "defines no top-level"),
    ("algorithms/toy/solver.py:30-99", "not within"),
    ("algorithms/toy/solver.py:9-3", "not within"),
    ("algorithms/toy/solver.py:0-2", "not within"),
    ("algorithms/toy/gone.py::solve", "does not exist"),
    ("algorithms/toy/solver.py", "expected PATH::SYMBOL"),
    ("algorithms/toy/solver.py::1bad", "not a Python name"),
])
def test_unknown_symbols_and_ranges_are_reported(code_project, key, why):
    with pytest.raises(UnknownCode, match=why):
        resolve(code_project, key)


@pytest.mark.parametrize("key", [
    "../outside.py::f", "/etc/passwd:1-2", "forge.toml:1", "tests/helper.py::f",
    "algorithms/../forge.toml:1", "algorithms/toy/../../outside.py::f",
    "algorithms/toy/notes.txt:1", "algorithms/linked/secret.py::f",
])
def test_paths_outside_the_algorithms_folder_are_rejected(code_project, key):
    (code_project / "outside.py").write_text("def f():\n    pass\n")
    (code_project / "algorithms/toy/notes.txt").write_text("text\n")
    elsewhere = code_project.parent / f"{code_project.name}-elsewhere"
    elsewhere.mkdir(exist_ok=True)
    (elsewhere / "secret.py").write_text("def f():\n    pass\n")
    (code_project / "algorithms/linked").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(UnknownCode):
        resolve(code_project, key)
    text, used, unknown = fill_here(f"See {ref(key)}.")
    assert text == f"See **[unknown code: {key}]**." and unknown == [f"code:{key}"] and not used


# ---- filling a draft -------------------------------------------------------------------------

def test_fill_shows_the_exact_source_and_links_it_at_the_commit(code_project):
    (code_project / "forge.toml").write_text(
        '[wandb]\nmode = "disabled"\n[site]\nrepo_url = "https://example.org/me/forge/"\n')
    sha = committed(code_project)
    source = code_source(load_settings())
    assert source.commit == sha and source.repo_prefix == ""
    text, used, unknown = fill(f"The solver:\n\n{ref(SOLVE_KEY)}\n\nThat is all.\n",
                               context_for(source))
    assert not unknown and used == [f"code:{SOLVE_KEY}"]
    # The docstring holds a three-backtick fence, so the block is fenced with four.
    assert f"````python\n{SOLVE}\n````\n" in text
    assert (f"Source: [`algorithms/toy/solver.py`, lines `10–13`](https://example.org/me/forge/"
            f"blob/{sha}/algorithms/toy/solver.py#L10-L13), at commit `{sha[:7]}`.") in text
    assert text.startswith("The solver:\n\n````python") and text.endswith("\n\nThat is all.\n")
    # Provenance: the lines shown and a hash of exactly them.
    recorded = draft_provenance(load_settings(), context_for(source), "offline", None, {},
                                used)["code"]
    assert recorded == fingerprints([SOLVE_KEY], source)
    assert recorded[SOLVE_KEY]["lines"] == [10, 13] and len(recorded[SOLVE_KEY]["sha256"]) == 64


def test_without_a_repo_url_or_git_the_reference_is_a_plain_line(code_project):
    unversioned, _, _ = fill_here(ref(SOLVE_KEY))
    assert unversioned.endswith("Source: `algorithms/toy/solver.py`, lines `10–13` "
                                "(not under version control).")
    sha = committed(code_project)
    plain, _, _ = fill_here(ref(SOLVE_KEY))
    assert plain.endswith(
        f"Source: `algorithms/toy/solver.py`, lines `10–13`, at commit `{sha[:7]}`.")
    with (code_project / "algorithms/toy/solver.py").open("a") as file:
        file.write("\n# edited after the commit\n")
    dirty, _, _ = fill_here(ref(SOLVE_KEY))
    assert dirty.endswith(f"with uncommitted changes on top of commit `{sha[:7]}`.")


def test_links_name_the_file_inside_a_larger_repository(code_project, monkeypatch):
    nested = code_project / "site-project"
    shutil.copytree(code_project / "algorithms", nested / "algorithms")
    (nested / "forge.toml").write_text(
        '[wandb]\nmode = "disabled"\n[site]\nrepo_url = "https://x.org/r"\n')
    sha = committed(code_project)
    source = code_source(load_settings(nested))
    assert source.root == nested and source.repo_prefix == "site-project/"
    text, _, _ = fill(ref(SOLVE_KEY), context_for(source))
    assert f"https://x.org/r/blob/{sha}/site-project/algorithms/toy/solver.py#L10-L13" in text


def test_a_code_block_gets_lines_of_its_own_and_the_placeholders_indent():
    block = "```python\ndef f():\n\n    pass\n```\n\nSource: here."
    in_list = "- the step:\n    {{ code:x }}\n- next"
    start = in_list.index("{{")
    placed = as_block(block, in_list, start, in_list.index("}}") + 2)
    assert placed == "```python\n    def f():\n\n        pass\n    ```\n\n    Source: here."
    inline = "Here {{ code:x }} ends."
    placed = as_block(block, inline, 5, inline.index("}}") + 2)
    assert placed.startswith("\n\n```python\n") and placed.endswith("Source: here.\n\n")


def test_the_inserted_source_is_not_filled_again(code_project):
    quoted = f"Writes {{{{ fact:a.b }}}} and {ref(SOLVE_KEY)}."
    (code_project / "algorithms/toy/quoting.py").write_text(f'def cite():\n    """{quoted}"""\n')
    text, used, unknown = fill_here(ref("algorithms/toy/quoting.py::cite"))
    assert quoted in text
    assert not unknown and used == ["code:algorithms/toy/quoting.py::cite"]


def test_fill_without_a_code_source_marks_the_placeholder_unknown():
    text, _, unknown = fill(ref(SOLVE_KEY), context_for(None))
    assert text == f"**[unknown code: {SOLVE_KEY}]**" and unknown == [f"code:{SOLVE_KEY}"]


# ---- what the model is offered ---------------------------------------------------------------

def test_the_weeks_code_symbols_are_what_its_experiments_import(code_project):
    assert week_code_symbols(code_project, 1) == [
        "algorithms/toy/extra.py::Shared",  # through the shared week module
        "algorithms/toy/other.py::unused",  # a submodule, imported inside a function
        "algorithms/toy/solver.py::helper", "algorithms/toy/solver.py::solve",
        "algorithms/toy/solver.py::Solver"]  # the package re-exports it from solver.py
    assert week_code_symbols(code_project, 9) == []


def test_week_one_offers_value_iteration():
    symbols = week_code_symbols(Path(__file__).resolve().parents[1], 1)
    assert "algorithms/mdp/dynamic_programming.py::value_iteration" in symbols
    assert "algorithms/mdp/mdp.py::TabularMDP" in symbols
    assert not [symbol for symbol in symbols if "/weeks/" in symbol or "::_" in symbol]


# ---- stale code --------------------------------------------------------------------------------

def test_stale_references_after_the_source_changes(code_project):
    source = code_source(load_settings())
    keys = [SOLVE_KEY, "algorithms/toy/solver.py:6-7", "algorithms/toy/other.py::unused"]
    recorded = fingerprints(keys, source)
    assert set(recorded) == set(keys) and stale_references(code_project, recorded) == []
    solver = code_project / "algorithms/toy/solver.py"
    solver.write_text("# a new first line moves every symbol down\n" + SOLVER)
    stale = stale_references(code_project, recorded)
    # The symbol moved, unchanged: still what the post shows. The range now shows other lines.
    assert stale == ["code 'algorithms/toy/solver.py:6-7' changed since drafting "
                     "(lines 6–7 then, 6–7 now): re-draft"]
    solver.write_text(SOLVER.replace("sum(range(n + 1))", "n * (n + 1) // 2"))
    assert any(f"code '{SOLVE_KEY}' changed" in message
               for message in stale_references(code_project, recorded))
    solver.write_text(SOLVER.replace("def solve", "def total"))
    assert any("defines no top-level solve" in message
               for message in stale_references(code_project, recorded))
    (code_project / "algorithms/toy/other.py").unlink()
    assert any("'algorithms/toy/other.py::unused' is gone: algorithms/toy/other.py does not exist"
               in message for message in stale_references(code_project, recorded))


def write_post(project: Path, body: str, code: dict) -> Path:
    meta = {"title": "Toy", "date": date(2026, 1, 1), "categories": ["Week 1"], "draft": True,
            "forge": {"week": 1, "post": 1, "edition": "scientist", "facts": {}, "code": code}}
    path = posts_dir(project / "blog") / "week01-post1-scientist.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_post(meta, body))
    return path


def test_check_flags_each_stale_code_reference(code_project):
    settings = load_settings()
    assert source_root(settings) == code_project
    source = code_source(settings)
    body, used, _ = fill(f"{ref(SOLVE_KEY)}\n\n{ref('algorithms/toy/other.py::unused')}\n",
                         context_for(source))
    write_post(code_project, body, draft_provenance(settings, context_for(source), "offline",
                                                    None, {}, used)["code"])
    assert [f for f in check_week(settings, 1) if f.kind in ("stale code", "unknown key")] == []
    solver = code_project / "algorithms/toy/solver.py"
    solver.write_text(SOLVER.replace("range(n + 1)", "range(n)"))
    (code_project / "algorithms/toy/other.py").unlink()
    stale = [f for f in check_week(settings, 1) if f.kind == "stale code"]
    assert len(stale) == 2 and {f.post for f in stale} == {"week01-post1-scientist.md"}
    write_post(code_project, body, {SOLVE_KEY: {"lines": "10-13"}})
    assert "front matter" in [f.kind for f in check_week(settings, 1)]


# ---- pseudocode from the notes ---------------------------------------------------------------

PSEUDOCODE = """```pseudocode
## one sweep (a comment, not a heading)
for each state s:
    V(s) ← max_a Σ p(s', r | s, a) [r + γ V(s')]   {{ not a placeholder }}
```"""


def test_a_pseudocode_block_in_the_notes_is_never_split_into_sections():
    notes = f"# Notes\n\n## Derivations\n\nThe loop:\n\n{PSEUDOCODE}\n\n## Surprises\n\nNone.\n"
    sections = parse_sections(notes)
    assert sections["derivations"] == f"The loop:\n\n{PSEUDOCODE}"
    assert set(sections) == {"derivations", "surprises"}


def test_offline_drafts_quote_code_and_pseudocode_and_record_them(project):
    """Week 1 drafted offline from smoke runs and notes whose post 1 picks value iteration and
    quotes a pseudocode block: the post shows both intact, records the code, and check finds
    nothing stale."""
    from forge_cli.runner import RunPlan, run_plan

    repo = Path(__file__).resolve().parents[1]
    run_plan(RunPlan(week=1, profile="smoke", only=["book-examples"]), load_settings())
    key = "algorithms/mdp/dynamic_programming.py::value_iteration"
    (project / "notes").mkdir()
    (project / "notes/week01.md").write_text(
        f"---\nweek: 1\nposts:\n  1:\n    sections: [Walkthrough]\n    code: ['{key}']\n---\n"
        f"# Week 1\n\n## Walkthrough\n\nOne sweep, in pseudocode:\n\n{PSEUDOCODE}\n")
    shutil.copytree(repo / "blog", project / "blog",
                    ignore=shutil.ignore_patterns("site", ".cache", "posts"))
    context = build_context(load_settings(), 1, 1, "scientist")
    assert key in context.code_symbols
    assert ref(key) in prompt_for(load_settings(), context).shared_context
    [outcome] = draft_week(load_settings(), 1, [DraftJob(post=1, edition="scientist")])
    meta, body = split_front_matter(outcome.result.path.read_text())
    assert PSEUDOCODE in body
    shown = resolve(repo, key)
    assert f"```python\n{shown.source}\n```" in body
    assert "Source: `algorithms/mdp/dynamic_programming.py`" in body
    recorded = {"lines": [shown.start, shown.end], "sha256": shown.sha256}
    assert meta["forge"]["code"] == {key: recorded}
    assert not [f for f in check_week(load_settings(), 1) if f.kind == "stale code"]
