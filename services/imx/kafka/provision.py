"""Provisioning as ``admin``: the contract topics, then every schema imx writes released.

``imx topics ensure``, ``imx run``, ``imx bench`` and the tests provision the same way. Only
``admin`` may write ``imx.schemas`` (CONTRACT.md section 10), so a deployment is not ready for
its producers until this has run: a unit's producer never adds a schema itself.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from imx.kafka.admin import EnsureResult, ensure_topics
from imx.kafka.connection import Connection, started
from imx.kafka.reading import broker_count
from imx.kafka.schemastore import SchemaStore
from imx.kafka.topology import TopicSpec, Topology
from imx.schema.loader import load_schemas, released_schemas


@dataclass(frozen=True)
class Provisioned:
    topics: EnsureResult
    schemas_published: int


async def provision(
    connection: Connection,
    topology: Topology,
    schemas_dir: Path,
    timeout_s: float = 30.0,
    extra: tuple[TopicSpec, ...] = (),
) -> Provisioned:
    """Create or verify the topics (and ``extra``), then release the schemas onto the topic.

    The current schemas and every released version: a consumer meeting a record written by an
    older unit system can resolve its fingerprint. Nothing is published when a topic differs
    from the contract.
    """
    if topology.fit_cluster:
        topology = topology.fitted(await broker_count(connection, timeout_s))
    result = await ensure_topics(connection, [*topology.specs(), *extra], timeout_s)
    if not result.ok:
        return Provisioned(result, 0)
    current = load_schemas(schemas_dir)
    schemas = [
        s for version in (current, *released_schemas(schemas_dir)) for s in version.written()
    ]
    store = SchemaStore(connection, topology.schemas, current)
    async with started(connection.producer(), timeout_s) as producer, asyncio.timeout(timeout_s):
        while True:
            try:
                written = await store.ensure_published(producer, schemas)
                break
            except LookupError:
                # On a cluster a topic just created reaches the brokers' metadata one by one:
                # the one asked may not know the schema topic yet.
                if topology.schemas not in result.created:
                    raise
                await asyncio.sleep(0.2)
    return Provisioned(result, len(written))
