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

from imx.kafka.connection import Connection
from imx.kafka.publisher import ReportPublisher
from imx.kafka.topology import Topology
from imx.schema.loader import SchemaSet


@dataclass(frozen=True)
class Preloaded:
    """What was pre-loaded: how many records, their bytes, and where each partition ends."""

    count: int
    total_bytes: int
    ends: dict[TopicPartition, int]


async def preload(
    connection: Connection,
    topology: Topology,
    schemas: SchemaSet,
    reports: Iterator[dict[str, Any]],
    *,
    count: int,
    timeout_s: float = 60.0,
) -> Preloaded:
    """Publish ``count`` reports the way ``imx publish`` does; wait for every acknowledgement."""
    publisher = ReportPublisher(connection, topology, schemas, timeout_s=timeout_s, linger_ms=20)
    async with publisher:
        futures = []
        total_bytes = 0
        for _ in range(count):
            report = next(reports)
            value = publisher.encode(report)
            total_bytes += len(value)
            key = report["event_id"].encode()
            futures.append(await publisher.send_encoded(report["reporting_unit"], value, key))
        acknowledged = await asyncio.wait_for(asyncio.gather(*futures), timeout_s)
    ends: dict[TopicPartition, int] = {}
    for meta in acknowledged:
        tp = TopicPartition(meta.topic, meta.partition)
        ends[tp] = max(ends.get(tp, 0), meta.offset + 1)
    return Preloaded(count, total_bytes, ends)
