"""The benchmark's input: N realistic reports, encoded once, pre-loaded onto the ingress topics.

The simulator's mix (types, doubles, follow-ups, RFIs, resends, recurring networks) is what the
pipeline meets in service, so it is what both the pipeline and the raw passthrough are given:
the very same records, on the same partitions. ``reported_at`` is the moment each report is
made, immediately before its send.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition

from imx.kafka.connection import Connection
from imx.kafka.publisher import ReportPublisher
from imx.kafka.topology import Topology
from imx.schema.loader import SchemaSet

CHUNK = 10_000


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
    progress: Callable[[int], None] | None = None,
) -> Preloaded:
    """Publish ``count`` reports the way ``imx publish`` does; wait for every acknowledgement.

    Acknowledgements are awaited every ``CHUNK`` reports, so a million pending sends never sit
    in memory at once; ``progress`` is told the count acknowledged after each chunk.
    """
    publisher = ReportPublisher(connection, topology, schemas, timeout_s=timeout_s, linger_ms=20)
    ends: dict[TopicPartition, int] = {}
    total_bytes = 0
    async with publisher:
        for done in range(0, count, CHUNK):
            futures = []
            for _ in range(min(CHUNK, count - done)):
                report = next(reports)
                value = publisher.encode(report)
                total_bytes += len(value)
                key = report["event_id"].encode()
                futures.append(await publisher.send_encoded(report["reporting_unit"], value, key))
            for meta in await asyncio.wait_for(asyncio.gather(*futures), timeout_s):
                tp = TopicPartition(meta.topic, meta.partition)
                ends[tp] = max(ends.get(tp, 0), meta.offset + 1)
            if progress is not None:
                progress(done + len(futures))
    return Preloaded(count, total_bytes, ends)
