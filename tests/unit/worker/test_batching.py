"""The core's batches (worker/batching.py) on faust's in-memory test stream: no broker."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import faust
import pytest

from imx.worker.batching import ready_batches

pytestmark = pytest.mark.unit

#: The fallback wake-up of these tests: far longer than any batch may take to go.
WITHIN_S = 5.0


class Taken:
    """What the agent saw: each batch's values with the moment it was handed on."""

    def __init__(self) -> None:
        self.batches: list[tuple[float, list[Any]]] = []
        self.events: list[Any] = []

    def values(self) -> list[Any]:
        return [value for _, batch in self.batches for value in batch]


@pytest.fixture
def taken() -> Taken:
    return Taken()


def batching_agent(
    taken: Taken,
    size: int,
    *,
    within: float = WITHIN_S,
    quiet: float = 0.005,
    fail_on: object = None,
) -> Any:
    app = faust.App(
        f"batching-{id(taken)}", broker="kafka://127.0.0.1:9", store="memory://", web_enabled=False
    )

    @app.agent()
    async def agent(stream: Any) -> None:
        async for batch in ready_batches(stream, size, within, quiet):
            taken.batches.append((time.monotonic(), [event.value for event in batch]))
            taken.events.extend(batch)
            if fail_on is not None and fail_on in (event.value for event in batch):
                msg = "the batch's body failed"
                raise RuntimeError(msg)

    return agent


async def _until(condition: Any, timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            msg = f"not reached within {timeout_s} s"
            raise AssertionError(msg)
        await asyncio.sleep(0.005)


def run(test: Any) -> None:
    asyncio.run(asyncio.wait_for(test(), 20))


def test_a_lone_event_goes_at_once_not_when_the_timer_fires(taken: Taken) -> None:
    async def test() -> None:
        async with batching_agent(taken, 8).test_context() as agent:
            sent = time.monotonic()
            await agent.put("alone")
            await _until(lambda: taken.batches)
            went, values = taken.batches[0]
            assert values == ["alone"]
            assert went - sent < 0.5, f"waited {went - sent:.3f} s for a batch of one"

    run(test)


def test_every_event_goes_once_in_order_and_no_batch_is_over_its_size(taken: Taken) -> None:
    async def test() -> None:
        async with batching_agent(taken, 4, within=0.3).test_context() as agent:
            for value in range(30):
                await agent.put(value)
            await _until(lambda: len(taken.values()) == 30, timeout_s=5.0)
            assert taken.values() == list(range(30))
            assert all(1 <= len(batch) <= 4 for _, batch in taken.batches)

    run(test)


def test_a_batch_is_acked_after_its_body_and_not_when_the_body_fails(taken: Taken) -> None:
    async def test() -> None:
        async with batching_agent(taken, 4, fail_on="bad").test_context() as agent:
            await agent.put("good")
            await _until(lambda: taken.events and taken.events[0].message.acked)
            await agent.put("bad")  # the agent crashes on it (faust logs the error)
            await _until(lambda: len(taken.events) == 2)
            await asyncio.sleep(0.2)  # time for any ack that would follow
            assert [e.message.acked for e in taken.events] == [True, False]

    run(test)


def test_reports_close_together_wait_for_the_timer_as_a_batch(taken: Taken) -> None:
    within_s = 0.4
    app = faust.App("batching-timer", broker="kafka://127.0.0.1:9", web_enabled=False)
    done: list[float] = []

    @app.agent()
    async def agent(stream: Any) -> None:
        async for batch in ready_batches(stream, 64, within_s, 0.05):
            taken.batches.append((time.monotonic(), [event.value for event in batch]))
            if len(taken.batches) == 1:
                await asyncio.sleep(0.1)  # the next reports queue up meanwhile
            done.append(time.monotonic())

    async def test() -> None:
        async with agent.test_context() as running:
            await running.put("first")
            await _until(lambda: taken.batches)
            for value in range(6):
                await running.put(value)
            await _until(lambda: len(taken.values()) == 7, timeout_s=3 * within_s + 2)
            (_, first), (went, second), *_ = taken.batches
            assert first == ["first"]
            assert len(second) >= 2, taken.batches  # under load: not one by one
            assert went - done[0] > within_s / 2, "reports that came close together went at once"

    run(test)
