"""`imx tail` and `imx dlq` read what the pipeline writes; schema evolution through the topic."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from imx.kafka.connection import Connection
from imx.kafka.reading import read_to_end
from imx.kafka.schemastore import SchemaStore
from imx.kafka.topology import Topology
from imx.pipeline.delivery import Timing, report_delivery
from imx.pipeline.enrich import enrich
from imx.pipeline.incidents import IncidentDecision
from imx.registry import load_registry
from imx.schema.codec import decode_report, encode, encode_delivery
from imx.schema.jsonform import from_json
from imx.schema.loader import default_schemas, load_schemas
from imx.settings import Settings
from tests.support.proc import run_imx
from tests.support.reports import crossing

pytestmark = pytest.mark.integration


async def _produce(connection: Connection, topic: str, value: bytes, **extra: object) -> None:
    producer = connection.producer()
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, **extra)
    finally:
        await producer.stop()


def test_tail_prints_the_contract_delivery_form(
    settings: Settings, topology: Topology, cli_env: dict[str, str]
) -> None:
    registry = load_registry(settings.registry_path)
    report = from_json(crossing(), default_schemas())
    report["reported_at"] = report["occurred_at"]
    now = datetime.now(UTC)
    delivery = report_delivery(
        "gpd-oc",
        ["chain"],
        report=report,
        incident=IncidentDecision(report["event_id"], None),
        enrichment=enrich(registry, report),
        timing=Timing(report["occurred_at"], report["reported_at"], now, now),
    )
    value = encode_delivery(delivery, default_schemas())
    asyncio.run(
        _produce(Connection.from_settings(settings), topology.feed("gpd-oc"), value, key=b"k")
    )

    out = run_imx(["tail", "gpd-oc", "--from-beginning", "--json", "--max", "1"], cli_env)
    assert out.returncode == 0, out.stderr
    printed = json.loads(out.stdout)
    assert set(printed) == {
        "delivery_id", "recipient", "kind", "rules", "incident_id", "duplicate_of",
        "report", "correlation", "enrichment", "timing",
    }  # fmt: skip
    assert printed["recipient"] == "gpd-oc"
    assert printed["rules"] == ["chain"]
    assert printed["report"]["type"] == "UnauthorisedBorderCrossing"
    assert printed["report"]["event_id"] == report["event_id"]
    assert printed["enrichment"]["border_section"] == "rs-mk"
    assert printed["timing"]["delivered_at"].endswith("Z")

    human = run_imx(["tail", "gpd-oc", "--from-beginning", "--max", "1"], cli_env)
    assert human.returncode == 0, human.stderr
    assert f"gpd-oc [chain] UnauthorisedBorderCrossing {report['event_id']}" in human.stdout


def test_tail_stops_when_idle_and_refuses_unknown_units(
    topology: Topology, cli_env: dict[str, str]
) -> None:
    out = run_imx(["tail", "gpd-oc", "--idle-timeout", "1"], cli_env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""
    out = run_imx(["tail", "nobody", "--idle-timeout", "1"], cli_env)
    assert out.returncode == 2


def test_dlq_json_carries_the_headers_and_the_original_bytes(
    settings: Settings, topology: Topology, cli_env: dict[str, str]
) -> None:
    original = b"\x00\x01 not avro"
    headers = [
        ("imx-error-code", b"UNDECODABLE"),
        ("imx-error-detail", b"starts with 0001"),
        ("imx-source-topic", topology.ingress("bps-rujan").encode()),
        ("imx-source-partition", b"2"),
        ("imx-source-offset", b"17"),
        ("imx-unit", b"bps-rujan"),
    ]
    asyncio.run(
        _produce(Connection.from_settings(settings), topology.dlq, original, headers=headers)
    )
    out = run_imx(["dlq", "--json", "--from-beginning", "--idle-timeout", "2"], cli_env)
    assert out.returncode == 0, out.stderr
    (line,) = out.stdout.splitlines()
    assert json.loads(line) == {
        "code": "UNDECODABLE",
        "detail": "starts with 0001",
        "source_topic": topology.ingress("bps-rujan"),
        "source_partition": 2,
        "source_offset": 17,
        "unit": "bps-rujan",
        "value_b64": base64.b64encode(original).decode(),
    }


def test_a_newer_writer_is_read_with_the_current_schema_via_the_topic(
    settings: Settings, topology: Topology, tmp_path: Path
) -> None:
    """A unit already on v2 (one added, defaulted field) is read by a v1 pipeline."""
    newer = tmp_path / "schemas"
    shutil.copytree(settings.schemas_dir, newer, ignore=shutil.ignore_patterns("released"))
    path = newer / "UnauthorisedBorderCrossing.avsc"
    definition = json.loads(path.read_text())
    definition["fields"].append(
        {"name": "escort", "type": ["null", "string"], "default": None, "doc": "v2 field"}
    )
    path.write_text(json.dumps(definition))
    v2 = load_schemas(newer).report("UnauthorisedBorderCrossing")
    assert v2.fingerprint != default_schemas().report("UnauthorisedBorderCrossing").fingerprint

    report = from_json(crossing(), default_schemas())
    report["escort"] = "police van"
    value = encode(v2, report)

    async def scenario() -> dict[str, object]:
        producer = Connection.from_settings(settings).producer()
        await producer.start()
        try:
            writer = SchemaStore(
                Connection.from_settings(settings), topology.schemas, load_schemas(newer)
            )
            await writer.ensure_published(producer, [v2])
            await producer.send_and_wait(topology.ingress("bps-presevo"), value)
        finally:
            await producer.stop()
        (record,) = await read_to_end(
            Connection.from_settings(settings), topology.ingress("bps-presevo")
        )
        reader = SchemaStore(
            Connection.from_settings(settings), topology.schemas, default_schemas()
        )
        await reader.prepare(record.value)
        return decode_report(record.value, reader.lookup, default_schemas())

    decoded = asyncio.run(scenario())
    assert decoded["event_id"] == report["event_id"]
    assert "escort" not in decoded
