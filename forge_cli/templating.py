"""Strict Jinja rendering of the user-editable templates in ``templates/``.

A missing variable is an error, never an empty string: a prompt that silently lost its results
table would produce a confident post about nothing. A project may override any single template:
its own ``templates/`` folder is searched first, then the templates forge ships with.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from forge_cli.config import Settings
from forge_cli.errors import BadInput, ForgeError, not_utf8

BUILTIN_TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def template_folders(settings: Settings) -> list[Path]:
    folders = [settings.path("templates"), BUILTIN_TEMPLATES]
    return [folder for i, folder in enumerate(folders)
            if folder.is_dir() and folder.resolve() not in {f.resolve() for f in folders[:i]}]


@cache
def _environment(folders: tuple[Path, ...]):
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folders), undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True, autoescape=False)


def render(settings: Settings, name: str, **context: Any) -> str:
    import jinja2

    folders = tuple(template_folders(settings))
    try:
        return _environment(folders).get_template(name).render(**context)
    except jinja2.TemplateNotFound:
        raise ForgeError(f"template {name!r} not found in {', '.join(map(str, folders))}") from None
    except jinja2.UndefinedError as error:
        raise ForgeError(f"template {name}: {error.message}") from None
    except jinja2.TemplateSyntaxError as error:
        raise ForgeError(f"template {error.filename or name}:{error.lineno}: {error.message}") from None
    except UnicodeDecodeError as error:  # a user's template saved in another encoding
        path = next((folder / name for folder in folders if (folder / name).is_file()), name)
        raise BadInput(not_utf8(path, error)) from None


def templates_hash(settings: Settings) -> str:
    """A hash of every template a draft could have used, for provenance."""
    digest = hashlib.sha256()
    for folder in template_folders(settings):
        for path in sorted(folder.rglob("*.j2")):
            digest.update(path.relative_to(folder).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
