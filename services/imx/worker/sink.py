"""Exactly-once as a recipient sees it, on top of at-least-once processing.

faust-streaming 0.15.3's ``exactly_once`` mode was measured to duplicate output under kill -9
(docs/decisions.md), so the worker runs ``at_least_once`` and makes the sink idempotent instead:
after a crash the stateful stage re-processes the records after its last committed offset, and
this module remembers what those records already wrote, by reading it back from the output
topics themselves, the only place that knows for sure.

Every record the stateful stage writes carries the header ``imx-src`` (the offset of the input
record that caused it) and ``imx-id`` (the delivery id, or the DLQ marker). Whenever the input
offset is not the one after the last processed (a start, a crash, a partition moving between
workers), ``recover`` reads the outputs written since shortly before that input record was
produced and collects the ids of records caused by it or later ones; ``already`` then answers
whether a re-computed output was written before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import structlog
from aiokafka import TopicPartition

from imx.kafka.connection import Connection
from imx.kafka.reading import assign_all
from imx.worker.emissions import Accepted
from imx.worker.headers import caused, record_headers

log = structlog.get_logger(__name__)

#: Output records are produced after their input; this covers clock differences between the
#: machine that produced the input and the one that writes the output.
CLOCK_MARGIN_MS = 60_000


class IdempotentSink:
    """Which outputs a replayed input record already produced."""

    def __init__(
        self, connection: Connection, outputs: Iterable[str], timeout_s: float = 60.0
    ) -> None:
        self._connection = connection
        self._outputs = tuple(outputs)
        self._timeout_s = timeout_s
        self._next_offset: int | None = None
        self._written: set[str] = set()

    def needs_recovery(self, offset: int) -> bool:
        return offset != self._next_offset

    def processed(self, offset: int) -> None:
        self._next_offset = offset + 1

    def already(self, output_id: str) -> bool:
        return output_id in self._written

    async def recover(self, offset: int, timestamp_ms: int) -> int:
        """Collect the ids written on behalf of input records at ``offset`` or later."""
        since = max(timestamp_ms - CLOCK_MARGIN_MS, 0)
        return self.remember(offset, await self._written_since(since, offset))

    def remember(self, offset: int, written: set[str]) -> int:
        """From now on ``already`` answers from ``written``; the next input expected is ``offset``.

        ``written``: the ids of outputs caused by input ``offset`` or later (``caused_since``).
        """
        self._written = written
        self._next_offset = offset
        log.info("sink recovered", from_offset=offset, outputs_found=len(written))
        return len(written)

    async def _written_since(self, since_ms: int, offset: int) -> set[str]:
        found: set[str] = set()
        consumer = self._connection.reader()
        await asyncio.wait_for(consumer.start(), self._timeout_s)
        try:
            async with asyncio.timeout(self._timeout_s):
                # One metadata request for every output topic: one per topic, each on a new
                # TLS and SCRAM connection, held up a worker's first decision by seconds.
                partitions = await assign_all(self._connection, consumer, self._outputs)
                starts = await consumer.offsets_for_times(dict.fromkeys(partitions, since_ms))
                ends = await consumer.end_offsets(partitions)
                pending = set()
                for tp in partitions:
                    start = starts.get(tp)
                    if start is None or start.offset >= ends[tp]:
                        continue
                    consumer.seek(tp, start.offset)
                    pending.add(tp)
                while pending:
                    batch = await consumer.getmany(*pending, timeout_ms=500)
                    for records in batch.values():
                        found.update(caused_since(records, offset))
                    for tp in list(pending):
                        if await consumer.position(tp) >= ends[tp]:
                            pending.discard(tp)
        finally:
            await consumer.stop()
        return found


def caused_since(records: Iterable[Any], offset: int) -> Iterable[str]:
    """The ``imx-id`` of each of ``records`` that input ``offset`` or a later one caused."""
    for record in records:
        found = caused(record_headers(record))
        if found is not None and found[0] >= offset:
            yield found[1]


class GapReader:
    """Reads input records that the stream consumer passed over without delivering them."""

    def __init__(self, connection: Connection, timeout_s: float = 60.0) -> None:
        self._connection = connection
        self._timeout_s = timeout_s

    async def missed(
        self, topic: str, partition: int, offset: int, processed: int | None
    ) -> list[Accepted]:
        """Records after ``processed`` (or from the start) and before ``offset``, in order."""
        tp = TopicPartition(topic, partition)
        consumer = self._connection.reader()
        await asyncio.wait_for(consumer.start(), self._timeout_s)
        try:
            async with asyncio.timeout(self._timeout_s):
                consumer.assign([tp])
                first = (await consumer.beginning_offsets([tp]))[tp]
                start = first if processed is None else max(processed + 1, first)
                if start >= offset:
                    return []
                consumer.seek(tp, start)
                records: list[Any] = []
                while not records or records[-1].offset < offset - 1:
                    batch = await consumer.getmany(tp, timeout_ms=500)
                    records.extend(r for r in batch.get(tp, ()) if r.offset < offset)
                    if await consumer.position(tp) >= offset:
                        break
        finally:
            await consumer.stop()
        log.warning(
            "input records were passed over by the stream consumer; processing them now",
            topic=topic, partition=partition, first=start, count=len(records),
        )  # fmt: skip
        return [Accepted.of_record(record) for record in records]
