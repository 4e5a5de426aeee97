"""Errors that the CLI reports as one line and a non-zero exit code instead of a traceback.

Commands raise them; ``forge_cli.app.run_cli`` is the one place that prints them (exit 2 for
:class:`BadInput`, 1 for the rest). :func:`read_text` is how forge reads a file the user writes,
so a stray byte becomes one of these errors, naming the file, instead of a traceback.
"""

from __future__ import annotations

from pathlib import Path


class ForgeError(Exception):
    """A problem the user can fix (missing setup, a failed call). Exit code 1 unless given."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class BadInput(ForgeError):
    """An argument, option, environment variable or file the user wrote that forge cannot use."""

    exit_code = 2


def read_text(path: Path) -> str:
    """``path`` decoded as UTF-8 (a leading BOM is dropped); BadInput naming the file and the
    offending byte when it is not UTF-8 text, ForgeError when it cannot be read."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise ForgeError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BadInput(not_utf8(path, error)) from None


def not_utf8(path: Path, error: UnicodeDecodeError) -> str:
    """The one-line message for a file that is not UTF-8 text."""
    byte = error.object[error.start]
    return (f"{path} is not UTF-8 text (byte 0x{byte:02X} at offset {error.start}): "
            "save it as UTF-8")
