"""The benchmark's input: N realistic reports, encoded once, pre-loaded onto the ingress topics.

The simulator's mix (types, doubles, follow-ups, RFIs, resends, recurring networks) is what the
pipeline meets in service, so it is what both the pipeline and the raw passthrough are given:
the very same records, on the same partitions. ``reported_at`` is the moment each report is
made, immediately before its send.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition

from imx.kafkaio import make_producer
from imx.schema.codec import encode_report
from imx.schema.loader import REPORT_TYPES, SchemaSet
from imx.schemastore import SchemaStore
from imx.topology import Topology


@dataclass(frozen=True)
class Preloaded:
    """What was pre-loaded: how many records, their bytes, and where each partition ends."""

    count: int
    total_bytes: int
    ends: dict[TopicPartition, int]


async def preload(
    bootstrap: str,
    topology: Topology,
    schemas: SchemaSet,
    reports: Iterator[dict[str, Any]],
    *,
    count: int,
    timeout_s: float = 60.0,
) -> Preloaded:
    """Publish ``count`` reports the way ``imx publish`` does; wait for every acknowledgement."""
    producer = make_producer(bootstrap, linger_ms=20)
    await asyncio.wait_for(producer.start(), timeout_s)
    try:
        store = SchemaStore(bootstrap, topology.schemas, schemas)
        await asyncio.wait_for(
            store.ensure_published(producer, [schemas.report(t) for t in REPORT_TYPES]),
            timeout_s,
        )
        futures = []
        total_bytes = 0
        for _ in range(count):
            report = next(reports)
            value = encode_report(report, schemas)
            total_bytes += len(value)
            topic = topology.ingress(report["reporting_unit"])
            key = report["event_id"].encode()
            futures.append(await asyncio.wait_for(producer.send(topic, value, key=key), timeout_s))
        acknowledged = await asyncio.wait_for(asyncio.gather(*futures), timeout_s)
    finally:
        await asyncio.wait_for(producer.stop(), timeout_s)
    ends: dict[TopicPartition, int] = {}
    for meta in acknowledged:
        tp = TopicPartition(meta.topic, meta.partition)
        ends[tp] = max(ends.get(tp, 0), meta.offset + 1)
    return Preloaded(count, total_bytes, ends)
