"""Publishing reports from a test the way `imx publish` does, at a chosen rate."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from imx.kafka.connection import Connection
from imx.kafka.publisher import ReportPublisher
from imx.kafka.topology import Topology
from imx.schema.jsonform import from_json
from imx.schema.loader import default_schemas


async def publish(
    connection: Connection,
    topology: Topology,
    reports: Sequence[dict[str, Any]],
    rate_per_s: float | None = None,
) -> None:
    """Encode JSON-form reports and send each to its unit's ingress topic, keyed by event id."""
    schemas = default_schemas()
    async with ReportPublisher(connection, topology, schemas) as publisher:
        loop = asyncio.get_running_loop()
        started = loop.time()
        for n, item in enumerate(reports):
            report = from_json(item, schemas)
            report["reported_at"] = report["reported_at"] or datetime.now(UTC)
            await publisher.send(report)
            if rate_per_s:
                delay = started + (n + 1) / rate_per_s - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
        await publisher.flush()
