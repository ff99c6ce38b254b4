"""The simulator's tally: a report counts as published the moment the broker acknowledges it."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from imx.kafka.publisher import ReportPublisher
from imx.simulator.publisher import Pace, Tally, publish_stream

pytestmark = pytest.mark.unit


class _Broker:
    """Stands in for ``ReportPublisher``: every send is acknowledged a moment later."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def __aenter__(self) -> _Broker:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        return None

    async def send(self, report: dict[str, Any]) -> asyncio.Future[Any]:
        self.sent.append(report)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.01, future.set_result, None)
        return future

    async def flush(self) -> None:
        return None


def _as_publisher(broker: _Broker) -> ReportPublisher:
    return cast(ReportPublisher, broker)


def _reports() -> Any:
    while True:
        yield {"type": "UnauthorisedBorderCrossing"}


def test_an_acknowledged_report_is_counted_before_the_next_send() -> None:
    async def scenario() -> tuple[int, int, int]:
        broker, tally, stop = _Broker(), Tally(), asyncio.Event()
        task = asyncio.create_task(
            publish_stream(
                _as_publisher(broker), _reports(), pace=Pace(1.0), stop=stop, tally=tally
            )
        )
        await asyncio.sleep(0.3)  # acknowledged, the next send 0.7 s away: at rest
        at_rest = (len(broker.sent), tally.total)
        stop.set()
        await task
        return (*at_rest, tally.total)

    sent, counted_at_rest, counted_at_end = asyncio.run(scenario())
    assert sent == 1
    assert counted_at_rest == 1, "the acknowledged report must be counted while the run waits"
    assert counted_at_end == 1


def test_a_failed_send_is_not_counted_and_ends_the_stream() -> None:
    class _Failing(_Broker):
        async def send(self, report: dict[str, Any]) -> asyncio.Future[Any]:
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            future.set_exception(OSError("broker gone"))
            return future

    async def scenario() -> Tally:
        tally = Tally()
        with pytest.raises(OSError, match="broker gone"):
            await publish_stream(
                _as_publisher(_Failing()),
                _reports(),
                pace=Pace(100.0),
                stop=asyncio.Event(),
                tally=tally,
            )
        return tally

    assert asyncio.run(scenario()).total == 0
