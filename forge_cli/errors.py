"""Errors that the CLI reports as one line and a non-zero exit code instead of a traceback."""


class ForgeError(Exception):
    """A problem the user can fix (bad input, missing setup). ``exit_code`` 2 means bad usage."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class BadInput(ForgeError):
    exit_code = 2
