"""``imx topics ensure``: create or verify every contract topic."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from imx.cli.common import EXIT_FAILURE, EXIT_OK, CliError, acting_as, connect, kafka_failure
from imx.kafka.admin import EnsureResult, ensure_topics
from imx.kafka.connection import Connection, started
from imx.kafka.schemastore import SchemaStore
from imx.kafka.topology import Topology
from imx.registry import RegistryError, load_registry
from imx.schema.loader import load_schemas, released_schemas
from imx.security.principals import ADMIN
from imx.settings import Settings


def register(commands: Any) -> None:
    topics = commands.add_parser("topics", help="manage the contract topics")
    sub = topics.add_subparsers(dest="topics_command", required=True, metavar="ACTION")
    ensure = sub.add_parser("ensure", help="create or verify every topic (idempotent)")
    ensure.set_defaults(handler=_ensure)


def _ensure(_args: argparse.Namespace, settings: Settings) -> int:
    settings = acting_as(settings, ADMIN)
    try:
        registry = load_registry(settings.registry_path)
    except RegistryError as exc:
        msg = f"registry: {exc}"
        raise CliError(msg) from exc
    topology = Topology.from_settings(settings, registry.ids())
    connection = connect(settings)
    try:
        result, published = asyncio.run(_provision(settings, connection, topology))
    except Exception as exc:  # aiokafka's connection errors share no common base class
        doing = "ensuring the topics"
        raise kafka_failure(doing, connection, exc) from exc
    for name in result.created:
        print(f"created  {name}")
    for name in result.verified:
        print(f"verified {name}")
    for problem in result.mismatched:
        print(f"MISMATCH {problem}")
    if published:
        print(f"published {published} writer schema(s) to {topology.schemas}")
    print(
        f"{len(result.created)} created, {len(result.verified)} verified, "
        f"{len(result.mismatched)} mismatched"
    )
    return EXIT_OK if result.ok else EXIT_FAILURE


async def _provision(
    settings: Settings, connection: Connection, topology: Topology
) -> tuple[EnsureResult, int]:
    """Create or verify the topics, then release every schema imx writes onto ``imx.schemas``.

    The current schemas and every released version: a consumer meeting a record written by an
    older unit system can resolve its fingerprint.
    """
    result = await ensure_topics(connection, topology.specs(), settings.request_timeout_s)
    if not result.ok:
        return result, 0
    current = load_schemas(settings.schemas_dir)
    schemas = [
        s
        for version in (current, *released_schemas(settings.schemas_dir))
        for s in version.written()
    ]
    store = SchemaStore(connection, topology.schemas, current)
    async with started(connection.producer(), settings.request_timeout_s) as producer:
        written = await asyncio.wait_for(
            store.ensure_published(producer, schemas), settings.request_timeout_s
        )
    return result, len(written)
