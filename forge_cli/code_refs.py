"""Code in posts, traceable like numbers: ``{{ code:PATH::SYMBOL }}`` and ``{{ code:PATH:A-B }}``.

A post never carries code typed by a model. It names a top-level function or class (or
``Class.method``) of a file under ``algorithms/``, found with :mod:`ast` (decorators and docstring
included), or a line range of that file; forge fills the placeholder at draft time with the
source lines in a fenced block and a reference to the file at the commit drafted from: a link
``<repo_url>/blob/<sha>/<path>#L<a>-L<b>`` when ``[site] repo_url`` is set, else a plain line.

The post's front matter records, per reference, the lines shown and a hash of them
(:func:`fingerprints`); ``forge check`` re-reads the source and flags each reference whose
lines changed, or whose symbol or file is gone (:func:`stale_references`).

The source is the project's own ``algorithms/`` when it has one, else the ``algorithms`` package
forge runs (a scratch project drafts from the installed code).
"""

from __future__ import annotations

import ast
import hashlib
import re
import textwrap
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel

import algorithms
from forge_cli.config import Settings
from forge_cli.errors import ForgeError
from forge_cli.provenance import git_sha, run_git

CODE_PLACEHOLDER = re.compile(r"\{\{\s*code:([A-Za-z0-9_./:\-]+)\s*\}\}")
"""``{{ code:algorithms/mdp/dynamic_programming.py::value_iteration }}`` or ``…py:120-160``."""
SOURCE_FOLDER = "algorithms"
_RANGE = re.compile(r"^(?P<path>.+?):(?P<start>\d+)(?:-(?P<end>\d+))?$")
_SYMBOL = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


class UnknownCode(Exception):
    """A code reference that names nothing forge can show; the message says why."""


class CodeSource(BaseModel):
    """Where code references are read from, and the commit a post's links point at."""

    root: Path
    """The folder holding ``algorithms/``."""
    commit: str | None = None
    """The commit checked out at ``root``; None outside git."""
    repo_prefix: str = ""
    """``root``'s path inside its git repository ("" at the top), so links name the right file."""
    repo_url: str | None = None


class CodeExcerpt(BaseModel):
    key: str
    """What the placeholder says after ``code:``."""
    path: str
    """Relative to the source root, ``algorithms/…``."""
    start: int
    end: int
    """1-based, inclusive."""
    source: str
    """The lines exactly as in the file (newline-joined, no final newline)."""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.source.encode("utf-8")).hexdigest()


def source_root(settings: Settings) -> Path:
    """The project's folder when it holds ``algorithms/``, else the installed package's parent."""
    if (settings.root / SOURCE_FOLDER).is_dir():
        return settings.root
    return Path(algorithms.__file__).resolve().parents[1]


def code_source(settings: Settings) -> CodeSource:
    root = source_root(settings)
    prefix = ""
    if (commit := git_sha(root)) is not None:
        result = run_git(["rev-parse", "--show-prefix"], root, timeout=20.0)
        prefix = result.stdout.strip() if result.returncode == 0 else ""
    return CodeSource(root=root, commit=commit, repo_prefix=prefix,
                      repo_url=settings.site.repo_url)


# ---- resolving a reference ---------------------------------------------------------------------

def resolve(root: Path, key: str) -> CodeExcerpt:
    """The lines ``key`` names under ``root``; UnknownCode when they cannot be shown."""
    if "::" in key:
        path, symbol = key.split("::", 1)
        if not _SYMBOL.match(symbol):
            raise UnknownCode(f"{symbol!r} is not a Python name (Name or Class.method)")
        lines = _read_lines(root, path)
        span = symbol_span(_parse(lines, path), symbol)
        if span is None:
            raise UnknownCode(f"{path} defines no top-level {symbol}")
        start, end = span
    elif match := _RANGE.match(key):
        path = match["path"]
        start, end = int(match["start"]), int(match["end"] or match["start"])
        lines = _read_lines(root, path)
        if not 1 <= start <= end <= len(lines):
            raise UnknownCode(f"lines {start}-{end} are not within {path} ({len(lines)} lines)")
    else:
        raise UnknownCode("expected PATH::SYMBOL or PATH:START-END")
    return CodeExcerpt(key=key, path=path, start=start, end=end,
                       source="\n".join(lines[start - 1:end]))


def _read_lines(root: Path, path: str) -> list[str]:
    """The file's lines; only a ``.py`` file inside ``root/algorithms`` may be read."""
    relative = PurePosixPath(path)
    if (relative.is_absolute() or "\\" in path or ".." in relative.parts
            or relative.parts[:1] != (SOURCE_FOLDER,) or relative.suffix != ".py"):
        raise UnknownCode(f"{path!r} is not a Python file under {SOURCE_FOLDER}/")
    folder = (root / SOURCE_FOLDER).resolve()
    file = (root / relative).resolve()
    if not file.is_relative_to(folder):  # a symbolic link out of the source folder
        raise UnknownCode(f"{path!r} leads outside {SOURCE_FOLDER}/")
    try:
        return file.read_bytes().decode("utf-8").splitlines()
    except FileNotFoundError:
        raise UnknownCode(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        why = getattr(error, "strerror", None) or error
        raise UnknownCode(f"{path} cannot be read ({why})") from None


def _parse(lines: list[str], path: str) -> ast.Module:
    try:
        return ast.parse("\n".join(lines), filename=path)
    except (SyntaxError, ValueError) as error:
        raise UnknownCode(f"{path} is not valid Python ({error})") from None


def symbol_span(tree: ast.Module, symbol: str) -> tuple[int, int] | None:
    """(first, last) line of a top-level definition, or of ``Class.method`` (any depth of
    classes), decorators and docstring included; the last definition wins, as in Python."""
    body: list[ast.stmt] = tree.body
    node = None
    for name in symbol.split("."):
        if node is not None and not isinstance(node, ast.ClassDef):
            return None  # only classes have members worth quoting
        found = [item for item in body if isinstance(item, _DEFINITIONS) and item.name == name]
        if not found:
            return None
        node = found[-1]
        body = node.body
    first = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
    return first, node.end_lineno


# ---- what a post shows and records -------------------------------------------------------------

def render_excerpt(excerpt: CodeExcerpt, source: CodeSource) -> str:
    """A fenced ``python`` block of the lines (dedented, so a method reads like a function) and
    the line saying where they are."""
    code = textwrap.dedent(excerpt.source)
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)  # a fence inside the source must not close the block
    return f"{fence}python\n{code}\n{fence}\n\n{_reference_line(excerpt, source)}"


def _reference_line(excerpt: CodeExcerpt, source: CodeSource) -> str:
    # Path, line numbers and commit sit in code spans: they are not results `forge check` should
    # look for in the runs.
    where = f"`{excerpt.path}`, lines `{excerpt.start}–{excerpt.end}`"
    if source.commit is None:
        return f"Source: {where} (not under version control)."
    commit = f"commit `{source.commit[:7]}`"
    if _uncommitted(source, excerpt.path):  # a link at the commit would show other lines
        return f"Source: {where}, with uncommitted changes on top of {commit}."
    if source.repo_url:
        url = (f"{source.repo_url.rstrip('/')}/blob/{source.commit}/{source.repo_prefix}"
               f"{excerpt.path}#L{excerpt.start}-L{excerpt.end}")
        return f"Source: [{where}]({url}), at {commit}."
    return f"Source: {where}, at {commit}."


def _uncommitted(source: CodeSource, path: str) -> bool:
    """True unless git says the file is exactly as committed."""
    try:
        result = run_git(["status", "--porcelain", "--", path], source.root, timeout=20.0)
    except ForgeError:
        return True
    return result.returncode != 0 or bool(result.stdout.strip())


def fill_code(key: str, source: CodeSource | None) -> str:
    """The Markdown for one placeholder; UnknownCode when it names nothing showable."""
    if source is None:
        raise UnknownCode("no code source in this draft's context")
    return render_excerpt(resolve(source.root, key), source)


def as_block(markdown: str, text: str, start: int, end: int) -> str:
    """``markdown`` fitted where ``text[start:end]`` stands: a fenced block needs lines of its
    own, so it is set apart from prose sharing its line, and is indented like the placeholder
    (in a list item, say)."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    before = text[line_start:start]
    after = text[end:] if line_end == -1 else text[end:line_end]
    indent = "" if before.strip() else before
    first, *rest = markdown.split("\n")
    block = "\n".join([first, *(indent + line if line else line for line in rest)])
    return ("\n\n" if before.strip() else "") + block + ("\n\n" if after.strip() else "")


def fingerprints(keys: list[str], source: CodeSource | None) -> dict[str, dict[str, Any]]:
    """Per code reference that resolves: the lines shown and their sha256, for the post's
    provenance."""
    if source is None:
        return {}
    recorded: dict[str, dict[str, Any]] = {}
    for key in dict.fromkeys(keys):
        try:
            excerpt = resolve(source.root, key)
        except UnknownCode:
            continue
        recorded[key] = {"lines": [excerpt.start, excerpt.end], "sha256": excerpt.sha256}
    return recorded


def valid_record(record: Any) -> bool:
    """The shape :func:`fingerprints` writes: ``{"lines": [a, b], "sha256": "…"}``."""
    return (isinstance(record, dict) and isinstance(record.get("sha256"), str)
            and isinstance(record.get("lines"), list) and len(record["lines"]) == 2
            and all(type(line) is int for line in record["lines"]))


def stale_references(root: Path, recorded: dict[str, Any]) -> list[str]:
    """One message per recorded reference whose source is no longer what the post shows."""
    messages = []
    for key, record in recorded.items():
        try:
            excerpt = resolve(root, key)
        except UnknownCode as why:
            messages.append(f"code '{key}' is gone: {why}: re-draft")
            continue
        if excerpt.sha256 != record["sha256"]:
            then, now = record["lines"], f"{excerpt.start}–{excerpt.end}"
            messages.append(f"code '{key}' changed since drafting (lines {then[0]}–{then[1]} "
                            f"then, {now} now): re-draft")
    return messages


# ---- what the model may quote ------------------------------------------------------------------

def week_code_symbols(root: Path, week: int) -> list[str]:
    """``PATH::SYMBOL`` for the public top-level functions and classes of every
    ``algorithms/<area>/<module>.py`` the week's experiment package imports (and the shared
    ``algorithms/weeks/*.py`` modules it imports), files by path, symbols in file order."""
    package = root / SOURCE_FOLDER / "weeks" / f"week{week:02d}"
    queue = sorted(package.glob("*.py")) if package.is_dir() else []
    seen, modules = set(queue), set()
    while queue:
        for module in _imported_files(root, queue.pop()):
            relative = module.relative_to(root).parts
            if relative[1] == "weeks":
                if module not in seen:  # a shared week module: follow its imports too
                    seen.add(module)
                    queue.append(module)
            elif len(relative) == 3 and relative[1] != "data":
                modules.add(module)
    symbols = []
    for module in sorted(modules):
        try:
            tree = ast.parse(module.read_text(encoding="utf-8"), filename=str(module))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            continue
        path = module.relative_to(root).as_posix()
        symbols += [f"{path}::{node.name}" for node in tree.body
                    if isinstance(node, _DEFINITIONS) and not node.name.startswith("_")]
    return symbols


def _imported_files(root: Path, file: Path) -> set[Path]:
    """The files under ``root/algorithms`` that ``file`` imports from (static imports, anywhere
    in the file); a name taken from a package is traced to the module its ``__init__`` got it
    from."""
    try:
        tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return set()
    found: set[Path] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {path for alias in node.names if (path := _module_file(root, alias.name))}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                found |= _name_source(root, node.module, alias.name)
    return found


def _module_file(root: Path, module: str) -> Path | None:
    if module.split(".")[0] != SOURCE_FOLDER:
        return None
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _name_source(root: Path, module: str, name: str) -> set[Path]:
    """The file defining ``module.name``: a submodule, the module itself, or (one hop through a
    package's ``__init__``) the module the package re-exports it from."""
    if submodule := _module_file(root, f"{module}.{name}"):
        return {submodule}
    file = _module_file(root, module)
    if file is None:
        return set()
    if file.name != "__init__.py":
        return {file}
    try:
        tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and any(a.name == name for a in node.names):
            origin = node.module or ""
            if node.level:  # ``from .dynamic_programming import …``: relative to the package
                package = module.split(".")[:len(module.split(".")) - node.level + 1]
                origin = ".".join([*package, origin] if origin else package)
            if (source := _module_file(root, origin)) is not None:
                return {source}
    return set()
