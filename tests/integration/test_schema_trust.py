"""Schemas are released, not self-registered (CONTRACT.md section 10), on the secured broker.

A producer whose writer schema is not on ``imx.schemas`` fails before sending, naming it; a
unit cannot add one; a reader trusts a schema record only when the fingerprint recomputed from
it equals its key, and counts the others.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

from imx.kafka.admin import ensure_topics
from imx.kafka.connection import Connection, started
from imx.kafka.publisher import ReportPublisher
from imx.kafka.reading import read_to_end
from imx.kafka.schemastore import SchemaNotReleasedError, SchemaStore
from imx.kafka.topology import Topology
from imx.registry import load_registry
from imx.schema.loader import SchemaSet, default_schemas
from imx.security.principals import unit_principal
from imx.settings import Settings
from tests.support.reports import crossing
from tests.support.secured import SecuredBroker

pytestmark = pytest.mark.integration


def test_a_producer_fails_before_sending_when_its_schema_is_not_released(
    settings: Settings, session_broker: SecuredBroker
) -> None:
    # Topics without provisioning's schema release (and the ACLs granted for a unit).
    topology = Topology.from_settings(settings, load_registry().ids())
    admin = Connection.from_settings(settings)
    assert asyncio.run(ensure_topics(admin, topology.specs())).ok

    async def publish() -> None:
        async with ReportPublisher(admin, topology, default_schemas()) as publisher:
            await publisher.send(crossing())

    with pytest.raises(SchemaNotReleasedError) as raised:
        asyncio.run(publish())
    message = str(raised.value)
    assert "UnauthorisedBorderCrossing" in message
    assert topology.schemas in message
    assert "imx topics ensure" in message
    assert asyncio.run(read_to_end(admin, topology.ingress("bps-presevo"))) == []
    assert asyncio.run(read_to_end(admin, topology.schemas)) == [], "nothing self-registered"


def test_a_unit_cannot_add_a_schema(
    topology: Topology, principal_settings: Callable[[str], Settings]
) -> None:
    unit = Connection.from_settings(principal_settings(unit_principal("bps-presevo")))
    schema = default_schemas().report("UnauthorisedBorderCrossing")

    async def write() -> None:
        async with started(unit.producer(), 30) as producer:
            await producer.send_and_wait(
                topology.schemas, schema.json.encode(), key=schema.fingerprint_hex.encode()
            )

    with pytest.raises(Exception, match="TopicAuthorizationFailed"):
        asyncio.run(write())


def test_a_schema_record_whose_key_is_not_its_fingerprint_is_ignored_and_counted(
    settings: Settings, topology: Topology
) -> None:
    admin = Connection.from_settings(settings)
    genuine = default_schemas().report("UnauthorisedBorderCrossing")
    # A look-alike under the genuine key: a CRC-64 collision would look like this to a reader
    # that took keys on trust.
    forged = json.loads(genuine.json)
    forged["doc"] = "forged"
    forged_fields = [f for f in forged["fields"] if f["name"] != "persons"]
    forged["fields"] = forged_fields

    async def forge_and_read() -> tuple[list[str], bool]:
        async with started(admin.producer(), 30) as producer:
            await producer.send_and_wait(
                topology.schemas,
                json.dumps(forged).encode(),
                key=genuine.fingerprint_hex.encode(),
            )
            await producer.send_and_wait(topology.schemas, b"{not json", key=b"0" * 16)
        ignored: list[str] = []
        store = SchemaStore(
            admin, topology.schemas, SchemaSet(settings.schemas_dir, {}), ignored.append
        )
        await store.refresh(force=True)
        return ignored, store.knows(genuine.fingerprint_hex)

    ignored, known = asyncio.run(forge_and_read())
    assert sorted(ignored) == ["fingerprint_mismatch", "unparseable"]
    # The genuine record, released by provisioning, is still the one the key resolves to.
    assert known
