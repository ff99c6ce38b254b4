"""Worker processes for e2e tests, started and stopped the way `imx run` does it.

faust can hang on shutdown, so stopping is SIGTERM, a bounded wait, then SIGKILL of the group;
a crash is SIGKILL of the group at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

from imx import processes
from imx.kafka.localbroker import free_port
from imx.processes import RunError

READY_TIMEOUT_S = 60.0
#: A worker with no core partition (the second of two) never reports a completed assignment.
ASSIGNED_WITHIN_S = 20.0


class WorkerProcess(processes.Worker):
    @property
    def web_port(self) -> int:
        return self.port

    def wait_serving(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Until /metrics serves and the worker has its partitions, or ASSIGNED_WITHIN_S."""
        try:
            self.wait_ready(timeout_s, ASSIGNED_WITHIN_S, progress=lambda _m: None)
        except RunError as exc:
            raise RuntimeError(str(exc)) from exc

    def kill(self) -> None:
        """kill -9 the whole process group: a crash, not a shutdown."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


def start_worker(
    env: dict[str, str], logdir: Path, name: str = "worker", port: int | None = None
) -> WorkerProcess:
    """A worker on ``port`` (default: any free one); its state folder is named by the port."""
    started = processes.start_worker(env, port or free_port(), logdir / name)
    return WorkerProcess(started.process, started.port, started.log)


@contextlib.contextmanager
def running_worker(
    env: dict[str, str], logdir: Path, name: str = "worker", port: int | None = None
) -> Iterator[WorkerProcess]:
    worker = start_worker(env, logdir, name, port)
    try:
        worker.wait_serving()
        yield worker
    finally:
        worker.stop()
