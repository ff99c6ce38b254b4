"""What every command shares: errors that carry an exit code, and progress output."""

from __future__ import annotations

import sys

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A failure to report in one line, with the exit code it maps to."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def progress(message: str) -> None:
    """Progress goes to stderr so stdout stays machine-readable."""
    print(message, file=sys.stderr, flush=True)
