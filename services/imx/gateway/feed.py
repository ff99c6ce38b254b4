"""Reading a unit's feed for the gateway: one consumer per open stream or poll, bounded memory.

Each stream has its own consumer outside any group (``Connection.reader``: committed records
only), so a slow client only ever holds up its own consumer: while its socket drains, its
generator waits and the consumer is not polled, so it buffers at most one fetch
(``FETCH_MAX_BYTES``).
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio
from aiokafka import TopicPartition
from aiokafka.errors import OffsetOutOfRangeError

from imx.gateway import cursor
from imx.kafka.connection import Connection
from imx.kafka.schemastore import SchemaStore
from imx.schema.codec import CodecError, decode_delivery
from imx.schema.jsonform import delivery_to_json
from imx.schema.loader import SchemaSet

#: Per partition and per fetch: a feed record is a few KiB, the largest possible one 1 MiB
#: (the broker still returns one record batch larger than this, so nothing gets stuck).
PARTITION_FETCH_BYTES = 256 * 1024
FETCH_MAX_BYTES = 1024 * 1024
BATCH_RECORDS = 200


class FeedGone(Exception):  # noqa: N818 - a state of the feed, not a failure of the gateway
    """Records at the reader's position expired while it read."""


@dataclass(frozen=True)
class FeedEvent:
    """One record of the feed as the gateway sends it: its id and its JSON form."""

    id: str
    event: str  # "delivery", or "undecodable" for a value no schema decodes
    data: dict[str, Any]

    def sse(self) -> str:
        text = json.dumps(self.data, ensure_ascii=False, separators=(",", ":"))
        return f"event: {self.event}\nid: {self.id}\ndata: {text}\n\n"

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "event": self.event, "data": self.data}


class FeedReader:
    """A consumer over every partition of one feed topic; ``close`` always runs to the end."""

    def __init__(
        self,
        connection: Connection,
        topic: str,
        partitions: list[TopicPartition],
        store: SchemaStore,
        schemas: SchemaSet,
    ) -> None:
        self.topic = topic
        self._partitions = {tp.partition: tp for tp in partitions}
        self._store = store
        self._schemas = schemas
        self._timeout_s = connection.request_timeout_s
        self._consumer = connection.reader(
            max_partition_fetch_bytes=PARTITION_FETCH_BYTES,
            fetch_max_bytes=FETCH_MAX_BYTES,
            # Never skip silently: a position that retention overtook ends the stream, and the
            # client's reconnect is answered 409 with where the feed now begins.
            auto_offset_reset="none",
        )
        self._started = False
        self.positions: cursor.Positions = {}
        self.beginnings: cursor.Positions = {}
        self.ends: cursor.Positions = {}

    async def open(self) -> None:
        """Connect, and learn where each partition begins and ends now."""
        with anyio.fail_after(self._timeout_s):
            await self._consumer.start()
            self._started = True
            tps = list(self._partitions.values())
            self._consumer.assign(tps)
            begins = await self._consumer.beginning_offsets(tps)
            ends = await self._consumer.end_offsets(tps)
        self.beginnings = {tp.partition: begins[tp] for tp in tps}
        self.ends = {tp.partition: ends[tp] for tp in tps}

    def seek(self, positions: Mapping[int, int]) -> None:
        for partition, offset in positions.items():
            self._consumer.seek(self._partitions[partition], offset)
        self.positions = dict(positions)

    async def fetch(self, timeout_s: float, max_records: int = BATCH_RECORDS) -> list[FeedEvent]:
        """The next records (at most ``max_records``), each with its event id; [] when idle.

        FeedGone when retention removed the records at a partition's position.
        """
        try:
            batch = await self._consumer.getmany(
                timeout_ms=int(timeout_s * 1000), max_records=max_records
            )
        except OffsetOutOfRangeError as exc:
            msg = f"{self.topic} no longer holds the records at the stream's position"
            raise FeedGone(msg) from exc
        # By time across partitions, but each partition strictly in offset order: producer
        # timestamps need not grow within a partition, and the ids rely on offset order.
        records = heapq.merge(*batch.values(), key=lambda r: r.timestamp)
        events = []
        for record in records:
            self.positions[record.partition] = record.offset + 1
            event_id = cursor.event_id(record.partition, record.offset, self.positions)
            events.append(await self._render(event_id, record))
        return events

    async def caught_up(self, ends: Mapping[int, int]) -> bool:
        """True once the consumer has passed ``ends`` on every partition."""
        for partition, end in ends.items():
            if await self._consumer.position(self._partitions[partition]) < end:
                return False
        return True

    async def close(self) -> None:
        if not self._started:
            return
        self._started = False
        with anyio.CancelScope(shield=True), anyio.move_on_after(self._timeout_s):
            await self._consumer.stop()

    async def _render(self, event_id: str, record: Any) -> FeedEvent:
        value = record.value or b""
        try:
            await self._store.prepare(value)
            delivery = decode_delivery(value, self._store.lookup, self._schemas)
        except CodecError as exc:
            detail = {"code": exc.code, "detail": str(exc)}
            return FeedEvent(event_id, "undecodable", detail)
        return FeedEvent(event_id, "delivery", delivery_to_json(delivery, self._schemas))
