"""Worker processes for e2e tests: started in their own process group, always stopped.

faust can hang on shutdown, so stopping is SIGTERM, a bounded wait, then SIGKILL of the group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from imx.localkafka import free_port
from tests.support.proc import IMX

STOP_GRACE_S = 20.0
READY_TIMEOUT_S = 60.0


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    web_port: int
    log: Path

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}/metrics"

    def metrics(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:  # noqa: S310
            body: bytes = response.read()
            return body.decode()

    def wait_serving(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                msg = f"worker exited with {self.process.returncode}:\n{self.tail()}"
                raise RuntimeError(msg)
            with contextlib.suppress(OSError):
                self.metrics()
                return
            time.sleep(0.3)
        msg = f"worker did not serve /metrics within {timeout_s}s:\n{self.tail()}"
        raise RuntimeError(msg)

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def kill(self) -> None:
        """kill -9 the whole process group: a crash, not a shutdown."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.kill()


def start_worker(env: dict[str, str], logdir: Path, name: str = "worker") -> WorkerProcess:
    port = free_port()
    log = logdir / f"{name}-{port}.log"
    handle = log.open("wb")
    with handle:
        process = subprocess.Popen(
            [*IMX, "--log-level", "INFO", "worker", "--web-port", str(port)],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return WorkerProcess(process, port, log)


@contextlib.contextmanager
def running_worker(
    env: dict[str, str], logdir: Path, name: str = "worker"
) -> Iterator[WorkerProcess]:
    worker = start_worker(env, logdir, name)
    try:
        worker.wait_serving()
        yield worker
    finally:
        worker.stop()
