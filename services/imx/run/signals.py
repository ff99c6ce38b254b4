"""Ctrl-C and SIGTERM as a stop request, so long-running commands can shut down in order."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """Set ``stop`` on SIGINT or SIGTERM while inside; restore the default handling after.

    Without this, Ctrl-C raises KeyboardInterrupt wherever the loop happens to be, and the
    producer, the worker and the broker would be abandoned rather than stopped.
    """
    loop = asyncio.get_running_loop()
    for number in STOP_SIGNALS:
        loop.add_signal_handler(number, stop.set)
    try:
        yield
    finally:
        for number in STOP_SIGNALS:
            loop.remove_signal_handler(number)
