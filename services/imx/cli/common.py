"""What every command shares: errors that carry an exit code, and progress output."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

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


@contextlib.contextmanager
def job_failures(name: str) -> Iterator[None]:
    """Turn what can end a long-running job (``imx run``, ``imx bench``) into one-line errors.

    The job stops everything it started before re-raising, so Ctrl-C is reported as such.
    """
    from imx.processes import RunError  # noqa: PLC0415 - only the jobs load the run machinery

    try:
        yield
    except KeyboardInterrupt as exc:
        msg = f"interrupted; everything {name} had started was stopped"
        raise CliError(msg) from exc
    except RunError as exc:
        raise CliError(str(exc)) from exc
    except Exception as exc:  # aiokafka's errors share no common base class
        msg = f"{name} failed: {exc!r}"
        raise CliError(msg) from exc
