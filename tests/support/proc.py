"""Running ``imx`` as a subprocess in tests, always bounded in time."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

IMX = [sys.executable, "-m", "imx.cli.main"]


def run_imx(
    args: Sequence[str],
    env: dict[str, str],
    *,
    stdin: str | None = None,
    timeout: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*IMX, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def processes_mentioning(text: str) -> set[int]:
    """Processes (other than this one) whose environment or command line contains ``text``.

    A private ``IMX_HOME`` or an ``imx-bench-`` temporary folder marks everything a run
    started: brokers, workers, gateways and outboxes alike, whatever their parent.
    """
    marker = text.encode()
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            seen = (entry / "environ").read_bytes() + (entry / "cmdline").read_bytes()
            if marker in seen:
                found.add(int(entry.name))
    return found


def kill_all(pids: Iterable[int]) -> None:
    """SIGKILL what a failed run left behind, so the session goes on clean."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
