"""Publishing the simulated stream the way ``imx publish`` does, at a steady rate.

Each report goes to its unit's ingress topic, keyed by ``event_id``, Avro single-object encoded,
through the idempotent producer; every writer schema is on ``imx.schemas`` before the first
report. Sends are pipelined (the producer batches them) but bounded: a broker that stops
acknowledging makes the loop wait instead of piling up reports in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

from imx.kafka.publisher import ReportPublisher


class StreamPublisher(Protocol):
    """What ``publish_stream`` sends through: the one publisher, or ``imx run --outbox``'s."""

    async def __aenter__(self) -> Any: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    async def send(self, report: dict[str, Any]) -> asyncio.Future[Any]: ...

    async def flush(self) -> None: ...


#: Reports sent but not yet acknowledged before the loop waits for the oldest one.
MAX_IN_FLIGHT = 500


@dataclass
class Tally:
    """Reports published so far, by type."""

    by_type: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.by_type.values())

    def summary(self) -> str:
        counts = " ".join(f"{name}={count}" for name, count in sorted(self.by_type.items()))
        return f"published {self.total} reports: {counts or 'none'}"


@dataclass(frozen=True)
class Pace:
    """How fast and how long: ``rate`` reports per second, for ``duration_s`` (None: no end)."""

    rate: float
    duration_s: float | None = None


async def publish_stream(
    publisher: ReportPublisher | StreamPublisher,
    reports: Iterator[dict[str, Any]],
    *,
    pace: Pace,
    stop: asyncio.Event,
    tally: Tally,
    timeout_s: float = 30.0,
) -> Tally:
    """Publish ``reports`` at ``pace`` until the duration ends or ``stop`` is set.

    ``tally`` counts each report the moment the broker acknowledges it, so a caller can show
    progress that agrees with what a consumer of the ingress topics has seen.
    """
    async with publisher:
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = None if pace.duration_s is None else started + pace.duration_s
        in_flight: deque[tuple[str, asyncio.Future[Any]]] = deque()
        sent = 0
        while not stop.is_set():
            due = started + sent / pace.rate
            if deadline is not None and due >= deadline:
                break
            if due > loop.time():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), due - loop.time())
                continue
            report = next(reports)
            future = await publisher.send(report)
            future.add_done_callback(functools.partial(_count, tally, report["type"]))
            in_flight.append((report["type"], future))
            sent += 1
            await _settle(in_flight, tally, timeout_s, keep=MAX_IN_FLIGHT)
        await publisher.flush()
        await _settle(in_flight, tally, timeout_s, keep=0)
    return tally


async def _settle(
    in_flight: deque[tuple[str, asyncio.Future[Any]]], tally: Tally, timeout_s: float, keep: int
) -> None:
    """Forget acknowledged sends in order; wait for the oldest while more than ``keep`` are open.

    A failed send raises here: the idempotent producer has already retried it. Counting is
    ``_count``'s, the moment the broker acknowledges.
    """
    while in_flight and (in_flight[0][1].done() or len(in_flight) > keep):
        _type_name, future = in_flight.popleft()
        await asyncio.wait_for(future, timeout_s)


def _count(tally: Tally, type_name: str, future: asyncio.Future[Any]) -> None:
    """Count a report as published when the broker acknowledges it, not at the next send.

    Counted at the next send, the latest report stayed uncounted until then (up to a pacing
    interval), while the worker had already read it: ``imx run`` showed one more report in than
    published at every refresh.
    """
    if not future.cancelled() and future.exception() is None:
        tally.by_type[type_name] += 1
