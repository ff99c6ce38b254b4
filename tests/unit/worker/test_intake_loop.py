"""The intake loop around the alignment, with a consumer that hands a backlog out unevenly."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition

from imx.metrics import Metrics
from imx.worker.intake import IntakeLoop

from .records import Rec

pytestmark = pytest.mark.unit

A, B = TopicPartition("ingress.a", 0), TopicPartition("ingress.b", 0)


class DrainedError(Exception):
    """The fake consumer has nothing left: the test stops the loop here."""


class Consumer:
    """aiokafka's consumer as the intake uses it, draining one partition's buffer at a time.

    That is how aiokafka's fetcher hands out a backlog: every record of the first partition it
    has buffered before any of the next.
    """

    def __init__(self, logs: dict[TopicPartition, list[Rec]], producer: Producer) -> None:
        self.logs, self.producer = logs, producer
        self.positions = dict.fromkeys(logs, 0)
        self._assigned = frozenset(logs)
        self._paused: set[TopicPartition] = set()
        self.commits: list[dict[TopicPartition, int]] = []
        self.idle = 0

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def assignment(self) -> frozenset[TopicPartition]:
        return self._assigned  # one object per assignment, as aiokafka's

    def highwater(self, tp: TopicPartition) -> int:
        return len(self.logs[tp])

    def last_stable_offset(self, tp: TopicPartition) -> int:
        return -1  # read_uncommitted: the highwater counts

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]

    def paused(self) -> set[TopicPartition]:
        return set(self._paused)

    def pause(self, *tps: TopicPartition) -> None:
        self._paused |= set(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self._paused -= set(tps)

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Rec]]:
        out: dict[TopicPartition, list[Rec]] = {}
        for tp, log in self.logs.items():
            if tp in self._paused or max_records == 0:
                continue
            chunk = log[self.positions[tp] : self.positions[tp] + max_records]
            if chunk:
                out[tp] = chunk
                self.positions[tp] += len(chunk)
                max_records -= len(chunk)
        if not out:
            self.idle += 1
            if self.idle > 3:
                raise DrainedError
            await asyncio.sleep(0)
        return out

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        assert all(f.done() for f in self.producer.futures), "committed before the acks"
        self.commits.append(offsets)


class Producer:
    def __init__(self) -> None:
        self.sent: list[Rec] = []
        self.futures: list[asyncio.Future[None]] = []

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, record: Rec) -> asyncio.Future[None]:
        self.sent.append(record)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.001, future.set_result, None)
        self.futures.append(future)
        return future


class Loop(IntakeLoop):
    async def _screen(self, producer: Any, record: Any) -> Any:
        return await producer.send(record)


def _run(logs: dict[TopicPartition, list[Rec]]) -> tuple[Consumer, Producer]:
    producer = Producer()
    consumer = Consumer(logs, producer)
    wiring = SimpleNamespace(
        connection=SimpleNamespace(
            group_consumer=lambda *_topics, **_options: consumer, producer=lambda: producer
        ),
        registry=SimpleNamespace(ids=lambda: ["a", "b"]),
        topology=SimpleNamespace(ingress=lambda u: f"ingress.{u}", intake_group="g"),
        metrics=Metrics(),
        clock=lambda: datetime(2030, 1, 1, tzinfo=UTC),
        session_timeout_s=10.0,
    )
    with pytest.raises(DrainedError):
        asyncio.run(Loop(wiring)._run_once())  # type: ignore[arg-type]
    return consumer, producer


def _log(tp: TopicPartition, stamps: list[int]) -> list[Rec]:
    return [Rec(tp.topic, tp.partition, n, t) for n, t in enumerate(stamps)]


def test_a_backlog_is_forwarded_in_publish_order_and_committed_as_sent() -> None:
    # a: 1,200 reports a second apart, its request last; b: the answer, after the request.
    logs = {A: _log(A, [1_000 * n for n in range(1_201)]), B: _log(B, [1_200_500])}
    consumer, producer = _run(logs)
    sent = [(r.topic, r.offset) for r in producer.sent]
    assert sorted(sent) == sorted((r.topic, r.offset) for rs in logs.values() for r in rs)
    assert sent.index(("ingress.a", 1_200)) < sent.index(("ingress.b", 0))
    assert [r.timestamp for r in producer.sent] == sorted(r.timestamp for r in producer.sent)
    # Each commit is the offset after the last record sent from the partition, never beyond.
    done: dict[TopicPartition, int] = {}
    for commit in consumer.commits:
        for tp, offset in commit.items():
            assert offset > done.get(tp, 0)
            done[tp] = offset
    assert done == {A: 1_201, B: 1}
    assert consumer.paused() == set()


def test_the_answer_read_first_waits_while_its_partition_is_paused() -> None:
    logs = {B: _log(B, [1_200_500]), A: _log(A, [1_000 * n for n in range(1_201)])}
    consumer, producer = _run(logs)
    assert [r.topic for r in producer.sent][-1] == "ingress.b"
    assert [c[B] for c in consumer.commits if B in c] == [1]  # committed once, once sent
