"""Stop requests (Ctrl-C, SIGTERM, SIGHUP) for long-running commands, so they shut down in order.

Two layers: while the asyncio loop of a job runs, ``stop_on_signals`` turns each into setting a
stop event; outside it (starting the broker, the worker, the final summary),
``interrupt_on_signals`` turns SIGINT, SIGTERM and SIGHUP into KeyboardInterrupt, so the job's
``finally`` stops what it started instead of the process dying with it running.
SIGHUP is a stop request too: the terminal went away, not the reason to leave a JVM behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

#: What ``signal.signal`` takes: a function, ``SIG_IGN`` or ``SIG_DFL``.
Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """Set ``stop`` on SIGINT, SIGTERM or SIGHUP while inside; restore the handling after.

    Without this, Ctrl-C raises KeyboardInterrupt wherever the loop happens to be, and the
    producer, the worker and the broker would be abandoned rather than stopped.
    """
    loop = asyncio.get_running_loop()
    previous = {number: signal.getsignal(number) for number in STOP_SIGNALS}
    for number in STOP_SIGNALS:
        loop.add_signal_handler(number, stop.set)
    try:
        yield
    finally:
        for number in STOP_SIGNALS:
            loop.remove_signal_handler(number)
            signal.signal(number, previous[number])


def _interrupt(_number: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _handled(numbers: tuple[signal.Signals, ...], handler: Handler) -> Iterator[None]:
    previous = {number: signal.getsignal(number) for number in numbers}
    for number in numbers:
        signal.signal(number, handler)
    try:
        yield
    finally:
        for number, before in previous.items():
            signal.signal(number, before)


def interrupt_on_signals() -> contextlib.AbstractContextManager[None]:
    """SIGINT, SIGTERM and SIGHUP raise KeyboardInterrupt while inside.

    SIGINT too, although Python's own handler does the same: a process started from a script's
    background job inherits SIGINT *ignored* (POSIX shells do that without job control), and
    Python then installs no handler, so a Ctrl-C-style stop request sent to ``imx run`` before
    its loop's own handlers were up was silently dropped and the run went on.
    """
    return _handled(STOP_SIGNALS, _interrupt)


def ignoring_stop_signals() -> contextlib.AbstractContextManager[None]:
    """While stopping what was started: a second Ctrl-C, SIGTERM or SIGHUP must not cut it short."""
    return _handled(STOP_SIGNALS, signal.SIG_IGN)
