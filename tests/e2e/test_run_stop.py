"""``imx run`` stops everything it started, whatever happens to its output or how it is stopped.

Found by a user: ``make run 2>&1 | tee run.log``, then Ctrl-C, left the broker and the worker
running, because Ctrl-C also ended ``tee`` and the next progress line failed on the broken pipe.
Each case here runs ``imx run`` with its own broker (a free port in ``IMX_BOOTSTRAP`` where
nothing serves) and its own ``IMX_HOME``, and ends with no process of that home alive.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from imx.kafka.localbroker import free_port
from tests.support.proc import kill_all, processes_mentioning

pytestmark = pytest.mark.e2e

READY = "simulating at"  # the run's progress line once the worker is ready
STOP_WITHIN_S = 90.0


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMX_")}
    env.update(IMX_HOME=str(home), IMX_BOOTSTRAP=f"127.0.0.1:{free_port()}",
               IMX_WEB_PORT=str(free_port()))  # fmt: skip
    if "IMX_JAR_CACHE" in os.environ:
        env["IMX_JAR_CACHE"] = os.environ["IMX_JAR_CACHE"]
    return env


def _read_until(fd: int, marker: str, timeout_s: float) -> str:
    """Read ``fd`` until ``marker`` appears (or fail with what was read)."""
    seen = b""
    deadline = time.monotonic() + timeout_s
    while marker.encode() not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {marker!r} within {timeout_s:.0f} s:\n{seen.decode()[-3000:]}"
        ready, _, _ = select.select([fd], [], [], min(left, 1.0))
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # a pty whose other side is gone
                chunk = b""
            assert chunk, f"output ended before {marker!r}:\n{seen.decode()[-3000:]}"
            seen += chunk
    return seen.decode(errors="replace")


@contextlib.contextmanager
def _run(
    home: Path, *, terminal: bool, sigint: signal.Handlers = signal.SIG_DFL
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``imx run`` writing to a pipe (or a terminal) that the test reads; yields (process, fd).

    ``sigint``: the SIGINT disposition it inherits, whatever the test runner's own is; a shell
    script's background job hands SIGINT on ignored (``SIG_IGN``).
    """
    if terminal:
        reader, writer = pty.openpty()
    else:
        reader, writer = os.pipe()
    process = subprocess.Popen(  # its own session: signals reach it only when the test says so
        [sys.executable, "-m", "imx.cli.main", "run"],
        env=_env(home),
        stdin=subprocess.DEVNULL,
        stdout=writer,
        stderr=writer,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, sigint),  # noqa: PLW1509 - no threads in the child yet
    )
    os.close(writer)
    try:
        yield process, reader
    finally:
        with contextlib.suppress(OSError):
            os.close(reader)
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        kill_all(processes_mentioning(f"IMX_HOME={home}"))


def _stopped_cleanly(process: subprocess.Popen[bytes], home: Path) -> None:
    try:
        process.wait(timeout=STOP_WITHIN_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"imx run did not stop within {STOP_WITHIN_S:.0f} s")
    deadline = time.monotonic() + 10
    while processes_mentioning(f"IMX_HOME={home}") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_mentioning(f"IMX_HOME={home}") == set(), (
        "a process of this run (broker or worker) is still alive"
    )


Stop = Callable[[subprocess.Popen[bytes], int], None]


def _ctrl_c_after_the_pipe_closed(process: subprocess.Popen[bytes], fd: int) -> None:
    os.close(fd)  # `tee` is gone
    process.send_signal(signal.SIGINT)


def _ctrl_c_twice(process: subprocess.Popen[bytes], fd: int) -> None:
    process.send_signal(signal.SIGINT)
    _read_until(fd, "stopping", 60)
    process.send_signal(signal.SIGINT)  # impatient: must not cut the shutdown short


def _terminal_gone(process: subprocess.Popen[bytes], fd: int) -> None:
    os.close(fd)  # the terminal window closed: writes fail with EIO, SIGHUP arrives
    process.send_signal(signal.SIGHUP)


@pytest.mark.parametrize(
    ("stop", "terminal", "sigint"),
    [
        pytest.param(_ctrl_c_after_the_pipe_closed, False, signal.SIG_DFL, id="ctrl-c-pipe-closed"),
        pytest.param(_ctrl_c_twice, False, signal.SIG_DFL, id="ctrl-c-twice"),
        pytest.param(_terminal_gone, True, signal.SIG_DFL, id="sighup-terminal-gone"),
        # Started from a script's background job: SIGINT arrives ignored, and a stop request
        # sent before the live view's loop was up used to be dropped (the run went on).
        pytest.param(_ctrl_c_twice, False, signal.SIG_IGN, id="sigint-from-a-background-job"),
    ],
)
def test_a_running_job_stops_everything(
    tmp_path: Path, stop: Stop, *, terminal: bool, sigint: signal.Handlers
) -> None:
    home = tmp_path / "home"
    with _run(home, terminal=terminal, sigint=sigint) as (process, fd):
        _read_until(fd, READY, 150)
        stop(process, fd)
        _stopped_cleanly(process, home)


def test_sigterm_while_starting_stops_what_was_started(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with _run(home, terminal=False) as (process, fd):
        _read_until(fd, "Kafka serves at", 150)  # the broker runs, the worker is yet to come
        process.send_signal(signal.SIGTERM)
        _stopped_cleanly(process, home)
        assert process.returncode != 0, "an interrupted run is not a success"
