"""`imx publish` against a real broker: checked input, single-object Avro, the schema topic."""

from __future__ import annotations

import asyncio

import pytest

from imx.kafka.connection import Connection
from imx.kafka.reading import read_to_end
from imx.kafka.schemastore import SchemaStore
from imx.kafka.topology import Topology
from imx.schema.codec import decode_report, read_fingerprint
from imx.schema.loader import SchemaSet, default_schemas
from imx.settings import Settings
from tests.support.proc import run_imx
from tests.support.reports import crossing, lines, smuggling

pytestmark = pytest.mark.integration


def test_published_report_decodes_through_the_schema_topic_alone(
    settings: Settings, topology: Topology, cli_env: dict[str, str]
) -> None:
    first, second = crossing(), smuggling()
    out = run_imx(["publish", "--unit", "bps-presevo", "-"], cli_env, stdin=lines(first, second))
    # smuggling() is ps-presevo's report: published as bps-presevo it is refused as spoofed.
    assert out.returncode == 2
    assert "line 2: reporting_unit" in out.stderr
    assert "SPOOFED_UNIT" in out.stderr

    out = run_imx(["publish", "--unit", "bps-presevo", "-"], cli_env, stdin=lines(first))
    assert out.returncode == 0, out.stderr
    printed = out.stdout.splitlines()
    assert len(printed) == 1
    assert printed[0].split("\t")[0] == first["event_id"]

    async def read_back() -> dict[str, object]:
        records = await read_to_end(
            Connection.from_settings(settings), topology.ingress("bps-presevo")
        )
        assert len(records) == 1
        assert records[0].key == first["event_id"].encode()
        # A consumer that knows no schema at all: only the fingerprint and imx.schemas.
        store = SchemaStore(
            Connection.from_settings(settings),
            topology.schemas,
            SchemaSet(settings.schemas_dir, {}),
        )
        assert not store.knows(read_fingerprint(records[0].value))
        await store.prepare(records[0].value)
        return decode_report(records[0].value, store.lookup, default_schemas())

    report = asyncio.run(read_back())
    assert report["type"] == "UnauthorisedBorderCrossing"
    assert report["event_id"] == first["event_id"]
    assert report["persons"] == 12
    assert report["reported_at"] is not None, "publish time is the default reported_at"


def test_invalid_lines_are_named_and_nothing_is_sent(
    settings: Settings, topology: Topology, cli_env: dict[str, str]
) -> None:
    good = crossing()
    negative = crossing(persons=-1)
    bad_country = crossing(nationalities=["XXX"])
    text = lines(good, negative) + "{not json\n" + lines(bad_country)
    out = run_imx(["publish", "--unit", "bps-presevo", "-"], cli_env, stdin=text)
    assert out.returncode == 2
    assert "line 2: persons" in out.stderr
    assert "line 3: not JSON" in out.stderr
    assert "line 4: nationalities[0]" in out.stderr
    assert "nothing was published" in out.stderr
    assert out.stdout == ""
    records = asyncio.run(
        read_to_end(Connection.from_settings(settings), topology.ingress("bps-presevo"))
    )
    assert records == []


def test_unknown_member_is_refused_by_name(topology: Topology, cli_env: dict[str, str]) -> None:
    out = run_imx(
        ["publish", "--unit", "bps-presevo", "-"], cli_env, stdin=lines(crossing(colour="red"))
    )
    assert out.returncode == 2
    assert "line 1" in out.stderr
    assert "colour" in out.stderr


def test_no_check_sends_what_the_pipeline_must_reject(
    settings: Settings, topology: Topology, cli_env: dict[str, str]
) -> None:
    negative = crossing(persons=-1)
    text = lines(negative) + "{not json\n"
    out = run_imx(["publish", "--unit", "bps-presevo", "--no-check", "-"], cli_env, stdin=text)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == 2
    records = asyncio.run(
        read_to_end(Connection.from_settings(settings), topology.ingress("bps-presevo"))
    )
    values = sorted(r.value for r in records)
    assert b"{not json" in values
    assert any(v.startswith(b"\xc3\x01") for v in values)


def test_unknown_unit_and_missing_file_are_usage_errors(
    topology: Topology, cli_env: dict[str, str]
) -> None:
    out = run_imx(["publish", "--unit", "no-such-unit", "-"], cli_env, stdin="")
    assert out.returncode == 2
    assert "unknown unit 'no-such-unit'" in out.stderr
    out = run_imx(["publish", "--unit", "bps-presevo", "/nonexistent/reports.jsonl"], cli_env)
    assert out.returncode == 2
    assert "cannot read /nonexistent/reports.jsonl" in out.stderr


def test_publishing_adds_no_schema_to_what_provisioning_released(
    settings: Settings, topology: Topology, cli_env: dict[str, str]
) -> None:
    """Each schema once on the topic, from provisioning; publishing (twice) writes none."""

    def keys() -> list[str]:
        records = asyncio.run(read_to_end(Connection.from_settings(settings), topology.schemas))
        return [r.key.decode() for r in records]

    released = keys()
    assert len(released) == len(set(released)), "every schema once"
    schema = default_schemas().report("UnauthorisedBorderCrossing")
    assert schema.fingerprint_hex in released
    for _ in range(2):
        out = run_imx(["publish", "--unit", "bps-presevo", "-"], cli_env, stdin=lines(crossing()))
        assert out.returncode == 0, out.stderr
    assert keys() == released
