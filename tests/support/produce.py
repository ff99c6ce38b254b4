"""Publishing reports from a test the way `imx publish` does, at a chosen rate."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from imx.kafkaio import make_producer
from imx.schema.codec import encode_report
from imx.schema.jsonform import from_json
from imx.schema.loader import REPORT_TYPES, default_schemas
from imx.schemastore import SchemaStore
from imx.topology import Topology


async def publish(
    bootstrap: str,
    topology: Topology,
    reports: Sequence[dict[str, Any]],
    rate_per_s: float | None = None,
) -> None:
    """Encode JSON-form reports and send each to its unit's ingress topic, keyed by event id."""
    schemas = default_schemas()
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        store = SchemaStore(bootstrap, topology.schemas, schemas)
        await store.ensure_published(producer, [schemas.report(t) for t in REPORT_TYPES])
        loop = asyncio.get_running_loop()
        started = loop.time()
        for n, item in enumerate(reports):
            report = from_json(item)
            report["reported_at"] = report["reported_at"] or datetime.now(UTC)
            await producer.send(
                topology.ingress(report["reporting_unit"]),
                encode_report(report),
                key=report["event_id"].encode(),
            )
            if rate_per_s:
                delay = started + (n + 1) / rate_per_s - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
        await producer.flush()
    finally:
        await producer.stop()
