"""Reading everything the pipeline wrote: every feed, the audit log and the DLQ, decoded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition

from imx.cli.read_cmds import dlq_record
from imx.kafka.connection import Connection
from imx.kafka.reading import topic_partitions
from imx.kafka.schemastore import SchemaStore
from imx.kafka.topology import Topology
from imx.schema.codec import decode, decode_delivery
from imx.schema.jsonform import delivery_to_json, disclosure_to_json
from imx.schema.loader import default_schemas


@dataclass
class Outputs:
    deliveries: list[dict[str, Any]] = field(default_factory=list)  # JSON form, section 6
    disclosures: list[dict[str, Any]] = field(default_factory=list)
    dlq: list[dict[str, Any]] = field(default_factory=list)  # `imx dlq --json` form

    def to(self, recipient: str) -> list[dict[str, Any]]:
        return [d for d in self.deliveries if d["recipient"] == recipient]

    def of(self, event_id: str) -> dict[str, list[str]]:
        """Recipient → rules of every report delivery of ``event_id``."""
        return {
            d["recipient"]: d["rules"]
            for d in self.deliveries
            if d["kind"] == "report" and d["report"]["event_id"] == event_id
        }


async def _read(
    connection: Connection, topics: Iterable[str], until: Any, timeout_s: float, settle_s: float
) -> list[Any]:
    consumer = connection.reader()
    await consumer.start()
    try:
        partitions: list[TopicPartition] = []
        for topic in topics:
            partitions.extend(await topic_partitions(connection, topic))
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[Any] = []
        deadline = time.monotonic() + timeout_s
        last_new = time.monotonic()
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            fresh = [r for rs in batch.values() for r in rs]
            if fresh:
                records.extend(fresh)
                last_new = time.monotonic()
            elif until(records) and time.monotonic() - last_new >= settle_s:
                return records
        return records
    finally:
        await consumer.stop()


def collect(
    connection: Connection,
    topology: Topology,
    *,
    deliveries: int,
    dlq: int = 0,
    analysed: set[str] | None = None,
    timeout_s: float = 90.0,
    settle_s: float = 3.0,
) -> Outputs:
    """Read until at least the expected counts arrived and nothing new came for ``settle_s``.

    ``analysed``: also wait until the analytics sector, which receives every accepted report,
    has each of these event ids. Waiting past the expected count is what lets a test see an
    unexpected extra delivery.
    """
    feeds = {topology.feed(u) for u in topology.unit_ids}
    analytics = topology.feed("gpd-satit")
    schemas = default_schemas()
    store = SchemaStore(connection, topology.schemas, schemas)
    seen: dict[tuple[int, int], str] = {}

    def enough(records: list[Any]) -> bool:
        got_feeds = sum(1 for r in records if r.topic in feeds)
        got_dlq = sum(1 for r in records if r.topic == topology.dlq)
        if got_feeds < deliveries or got_dlq < dlq:
            return False
        if analysed:
            for r in records:
                if r.topic == analytics and (r.partition, r.offset) not in seen:
                    report = decode_delivery(r.value, store.lookup, schemas)["report"]
                    seen[r.partition, r.offset] = report["event_id"] if report else ""
            return analysed <= set(seen.values())
        return True

    topics = [*sorted(feeds), topology.audit, topology.dlq]
    records = asyncio.run(_read(connection, topics, enough, timeout_s, settle_s))
    disclosure = schemas.disclosure()
    out = Outputs()
    for record in records:
        if record.topic in feeds:
            delivery = decode_delivery(record.value, store.lookup, schemas)
            out.deliveries.append(delivery_to_json(delivery, schemas))
        elif record.topic == topology.audit:
            out.disclosures.append(
                disclosure_to_json(decode(record.value, disclosure, store.lookup), schemas)
            )
        else:
            out.dlq.append(dlq_record(record.headers, record.value))
    return out
