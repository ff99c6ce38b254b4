"""The gateway for e2e tests: served in-process by uvicorn on a free port, and an SSE client.

The server runs in a background thread with its own event loop and is stopped at teardown;
the SSE client is httpx streaming in a thread, parsing the event stream as a browser would.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from imx.kafka.localbroker import free_port

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 20.0


@contextlib.contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 and yield its base URL; stop it (and wait) on exit."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="gateway", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                msg = f"the gateway did not start on port {port} in {START_TIMEOUT_S} s"
                raise RuntimeError(msg)
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(STOP_TIMEOUT_S)
        assert not thread.is_alive(), "the gateway did not stop"


@dataclass
class Event:
    event: str
    id: str
    data: str


@dataclass
class FeedStream:
    """Reads ``GET /v1/feed`` in a thread until stopped, ``max_events`` arrived, or it fails."""

    base: str
    token: str
    params: dict[str, str] = field(default_factory=dict)
    last_event_id: str | None = None
    max_events: int | None = None
    events: list[Event] = field(default_factory=list)
    comments: int = 0
    status: int | None = None
    error: BaseException | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _opened: threading.Event = field(default_factory=threading.Event)

    def start(self, timeout_s: float = 20.0) -> FeedStream:
        self._thread = threading.Thread(target=self._run, name="sse", daemon=True)
        self._thread.start()
        if not self._opened.wait(timeout_s):
            msg = "the event stream did not open"
            raise RuntimeError(msg)
        if self.error is not None:
            raise self.error
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            assert not self._thread.is_alive(), "the SSE client did not stop"

    def wait(self, timeout_s: float) -> None:
        """Until the stream ended (``max_events`` arrived) or ``timeout_s`` passed."""
        assert self._thread is not None
        self._thread.join(timeout_s)

    def join(self, timeout_s: float) -> None:
        assert self._thread is not None
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), f"the stream did not end in {timeout_s} s"

    @property
    def ids(self) -> list[str]:
        return [e.id for e in self.events]

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = self.last_event_id
        timeout = httpx.Timeout(10.0, read=30.0)
        try:
            with httpx.stream(
                "GET", f"{self.base}/v1/feed", params=self.params, headers=headers, timeout=timeout
            ) as response:
                self.status = response.status_code
                self._opened.set()
                if response.status_code != 200:
                    response.read()
                    return
                self._parse(response.iter_lines())
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self.error = exc
        finally:
            self._opened.set()

    def _parse(self, lines: Iterator[str]) -> None:
        current: dict[str, Any] = {}
        for line in lines:
            if self._stop.is_set():
                return
            if not line:
                if "data" in current:
                    self.events.append(
                        Event(
                            current.get("event", "message"), current.get("id", ""), current["data"]
                        )
                    )
                    if self.max_events is not None and len(self.events) >= self.max_events:
                        return
                current = {}
            elif line.startswith(":"):
                self.comments += 1
            else:
                name, _, value = line.partition(":")
                current[name] = value.removeprefix(" ")
