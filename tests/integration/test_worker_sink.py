"""The worker's guards against lost and repeated output, on a real broker."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.admin import NewTopic

from imx.kafka.connection import Connection
from imx.worker.headers import ID as ID_HEADER
from imx.worker.headers import SRC as SRC_HEADER
from imx.worker.sink import GapReader, IdempotentSink

pytestmark = pytest.mark.integration


async def _topic_with(
    connection: Connection, topic: str, records: list[tuple[bytes, list]]
) -> None:
    admin = connection.admin()
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    producer = connection.producer()
    await producer.start()
    try:
        for value, headers in records:
            await producer.send_and_wait(topic, value, headers=headers)
    finally:
        await producer.stop()


def test_gap_reader_returns_exactly_the_records_passed_over(
    connection: Connection, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}accepted"
    asyncio.run(_topic_with(connection, topic, [(f"r{n}".encode(), []) for n in range(10)]))
    reader = GapReader(connection, timeout_s=30)

    def offsets(offset: int, processed: int | None) -> list[int]:
        return [r.offset for r in asyncio.run(reader.missed(topic, 0, offset, processed))]

    assert offsets(8, processed=2) == [3, 4, 5, 6, 7]
    assert offsets(8, processed=None) == list(range(8)), "never processed: from the start"
    assert offsets(3, processed=2) == [], "no gap"
    assert offsets(3, processed=6) == [], "a replay from behind the state: nothing missed"


def test_sink_recovery_finds_what_replayed_inputs_already_wrote(
    connection: Connection, topic_prefix: str
) -> None:
    feed = f"{topic_prefix}feed"
    written = [
        (b"x", [(SRC_HEADER, str(src).encode()), (ID_HEADER, f"d{src}".encode())])
        for src in (4, 5, 6, 7)
    ]
    asyncio.run(_topic_with(connection, feed, [*written, (b"no headers", [])]))
    sink = IdempotentSink(connection, [feed], timeout_s=30)
    assert sink.needs_recovery(6)
    asyncio.run(sink.recover(6, timestamp_ms=0))
    assert [sink.already(f"d{src}") for src in (4, 5, 6, 7)] == [False, False, True, True]
    assert not sink.needs_recovery(6)
    sink.processed(6)
    assert not sink.needs_recovery(7)
    assert sink.needs_recovery(9), "a jump in input offsets means records were passed over"
