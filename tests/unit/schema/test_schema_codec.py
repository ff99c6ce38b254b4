"""Single-object encoding: golden bytes, round trips of every type, and typed decode errors."""

from __future__ import annotations

import copy
import io
from datetime import UTC, datetime
from typing import Any

import avro.schema
import pytest
from fastavro import schemaless_writer
from hypothesis import given
from hypothesis import strategies as st

from imx.schema.cache import SchemaCache
from imx.schema.codec import (
    HEADER_SIZE,
    MAGIC,
    EncodingError,
    UndecodableError,
    UnknownSchemaError,
    decode,
    decode_delivery,
    decode_report,
    encode,
    encode_delivery,
    encode_report,
    read_fingerprint,
)
from imx.schema.loader import REPORT_TYPES, SchemaSet, canonical_form, default_schemas

from .samples import ENRICHMENT, correlation_delivery
from .strategies import any_report, reports, timestamps

pytestmark = pytest.mark.unit

# Derived once from GOLDEN_REPORT and checked field by field against the Avro specification:
# c301 | fingerprint | "0b6c…" (len 36 → 0x48) | "bps-presevo" | occurred_at 1714550400123 |
# union 1 + reported_at | lat 42.3, lon 21.65 (LE doubles) | union 1 + "Miratovac" |
# MEDIUM=1 H1=1 B=1 | "2" | [] | null null | ACTUAL=1 CLANDESTINE=1 ENTRY=0 BORDER_SURVEILLANCE=1
# APPREHENDED=1 | 12 → 0x18 | 3 → 0x06 | [AFG, SYR] | ON_FOOT=0 | null | [one Person] .
GOLDEN_HEX = (
    "c301ea87466676ef70214830623663386134652d386435632d346238652d3961"
    "34662d326631633364356537613930166270732d7072657365766ff691d7b2e6"
    "6302c0dffbb2e66366666666662645406666666666a6354002124d697261746f"
    "7661630202020232000000020200020218060406414647065359520000000206"
    "416e610a496c69c4870214313939302d30322d323802064d4b44020200020008"
    "58313233064d4b440002182b3338393730313233343536000000"
)


def crc64_avro(data: bytes) -> bytes:
    """The Avro specification's CRC-64-AVRO (Rabin) fingerprint, written out independently."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp.to_bytes(8, "little")


def test_golden_bytes(golden: dict[str, Any], schemas: SchemaSet) -> None:
    data = encode_report(golden, schemas)
    assert data.hex() == GOLDEN_HEX


def test_golden_header_is_marker_plus_crc64_of_canonical_form(
    golden: dict[str, Any], schemas: SchemaSet
) -> None:
    schema = schemas.report("UnauthorisedBorderCrossing")
    pcf = canonical_form(schema.parsed).encode()
    data = bytes.fromhex(GOLDEN_HEX)
    assert data[:2] == b"\xc3\x01" == MAGIC
    assert data[2:HEADER_SIZE] == crc64_avro(pcf) == schema.fingerprint
    assert read_fingerprint(data) == schema.fingerprint_hex


def test_canonical_form_drops_docs_defaults_and_logical_types(schemas: SchemaSet) -> None:
    pcf = canonical_form(schemas.get("Timing").parsed)
    assert pcf == (
        '{"name":"rs.mup.imx.Timing","type":"record","fields":['
        '{"name":"occurred_at","type":["null","long"]},'
        '{"name":"reported_at","type":["null","long"]},'
        '{"name":"ingested_at","type":"long"},'
        '{"name":"delivered_at","type":"long"}]}'
    )


@pytest.mark.parametrize("name", ["Location", "Document", "Vehicle", "Person", "Correlation"])
def test_fingerprint_agrees_with_the_avro_package_where_it_is_correct(
    schemas: SchemaSet, name: str
) -> None:
    # The avro package keeps {"type": "long"} for logical types in its canonical form, against
    # the specification; for schemas without logical types it is a second implementation.
    schema = schemas.get(name)
    assert avro.schema.parse(schema.json).fingerprint("CRC-64-AVRO") == schema.fingerprint


def test_golden_decodes_back(golden: dict[str, Any], cache: SchemaCache) -> None:
    assert decode_report(bytes.fromhex(GOLDEN_HEX), cache.get, default_schemas()) == golden


@pytest.mark.parametrize("type_name", REPORT_TYPES)
@given(data=st.data())
def test_every_report_type_round_trips(
    type_name: str, data: st.DataObject, schemas: SchemaSet
) -> None:
    report = data.draw(reports(type_name))
    cache = SchemaCache.of(schemas)
    encoded = encode_report(report, schemas)
    assert read_fingerprint(encoded) == schemas.report(type_name).fingerprint_hex
    assert decode_report(encoded, cache.get, schemas) == report


@given(report=any_report())
def test_naming_union_branches_does_not_change_the_bytes(
    report: dict[str, Any], schemas: SchemaSet
) -> None:
    # encode names the record of a union field (vehicle, holder) for speed; fastavro given the
    # plain dict finds the branch itself and must write the very same bytes
    schema = schemas.report(report["type"])
    plain = io.BytesIO()
    schemaless_writer(plain, schema.parsed, report)
    assert encode_report(report, schemas)[HEADER_SIZE:] == plain.getvalue()


@given(report=any_report(), ingested=timestamps, delivered=timestamps)
def test_report_deliveries_round_trip_with_the_report_type(
    report: dict[str, Any], ingested: datetime, delivered: datetime, schemas: SchemaSet
) -> None:
    delivery = {
        "delivery_id": "d",
        "recipient": "gpd-oc",
        "kind": "report",
        "rules": ["chain", "analytics"],
        "incident_id": report["event_id"],
        "duplicate_of": None,
        "report": report,
        "correlation": None,
        "enrichment": ENRICHMENT,
        "timing": {
            "occurred_at": report["occurred_at"],
            "reported_at": report["reported_at"],
            "ingested_at": ingested,
            "delivered_at": delivered,
        },
    }
    encoded = encode_delivery(delivery, schemas)
    assert encode_delivery(delivery, schemas, checked=False) == encoded  # the worker's fast path
    decoded = decode_delivery(encoded, SchemaCache.of(schemas).get, default_schemas())
    assert decoded == delivery


def test_correlation_delivery_and_disclosure_round_trip(schemas: SchemaSet) -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    delivery = correlation_delivery(now)
    cache = SchemaCache.of(schemas)
    assert (
        decode_delivery(encode_delivery(delivery, schemas), cache.get, default_schemas())
        == delivery
    )
    disclosure = {
        "audit_id": "a1",
        "event_id": None,
        "correlation_id": "c1",
        "recipient": "gpd-sbpok",
        "rules": ["crime"],
        "justification": "crime: organised-crime service and territorial directorate",
        "at": now,
        "contains_personal_data": True,
        "pseudonymised": False,
    }
    schema = schemas.disclosure()
    assert decode(encode(schema, disclosure), schema, cache.get) == disclosure


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "shorter than the 10-byte"),
        (b"\xc3\x01\x00\x00\x00\x00\x00\x00\x00", "shorter than the 10-byte"),
        (b"\xc3\x02" + bytes(8) + b"\x00", "not the single-object marker"),
        (b"{" + bytes(20), "not the single-object marker"),
    ],
)
def test_framing_errors_are_undecodable(data: bytes, reason: str, cache: SchemaCache) -> None:
    with pytest.raises(UndecodableError, match=reason) as caught:
        decode_report(data, cache.get, default_schemas())
    assert caught.value.code == "UNDECODABLE"


def test_truncated_body_is_undecodable(golden: dict[str, Any], cache: SchemaCache) -> None:
    data = encode_report(golden, default_schemas())
    with pytest.raises(UndecodableError, match="body does not decode"):
        decode_report(data[:-5], cache.get, default_schemas())
    with pytest.raises(UndecodableError, match="body does not decode"):
        decode_report(data[:HEADER_SIZE], cache.get, default_schemas())


def test_trailing_bytes_are_undecodable(golden: dict[str, Any], cache: SchemaCache) -> None:
    with pytest.raises(UndecodableError, match="1 bytes left over"):
        decode_report(
            encode_report(golden, default_schemas()) + b"\x00", cache.get, default_schemas()
        )


def test_unknown_fingerprint_is_unknown_schema(golden: dict[str, Any]) -> None:
    data = encode_report(golden, default_schemas())
    with pytest.raises(UnknownSchemaError) as caught:
        decode_report(data, SchemaCache().get, default_schemas())
    assert caught.value.code == "UNKNOWN_SCHEMA"
    assert caught.value.fingerprint == data[2:10].hex()


def test_a_known_schema_that_is_not_a_report_is_unknown_schema(
    schemas: SchemaSet, cache: SchemaCache
) -> None:
    location = schemas.get("Location")
    data = encode(location, {"lat": 1.0, "lon": 2.0, "place": None})
    with pytest.raises(UnknownSchemaError, match=r"rs\.mup\.imx\.Location is not a report type"):
        decode_report(data, cache.get, default_schemas())


@given(body=st.binary(max_size=200), type_name=st.sampled_from(REPORT_TYPES))
def test_arbitrary_bodies_never_raise_anything_but_codec_errors(
    body: bytes, type_name: str, schemas: SchemaSet
) -> None:
    data = MAGIC + schemas.report(type_name).fingerprint + body
    try:
        report = decode_report(data, SchemaCache.of(schemas).get, schemas)
    except UndecodableError:
        return
    assert report["type"] == type_name


@given(data=st.binary(max_size=40))
def test_arbitrary_bytes_never_raise_anything_but_codec_errors(data: bytes) -> None:
    with pytest.raises((UndecodableError, UnknownSchemaError)):
        decode_report(data, SchemaCache().get, default_schemas())


def test_encoding_a_datum_that_does_not_fit_fails_loudly(
    golden: dict[str, Any], schemas: SchemaSet
) -> None:
    broken = copy.deepcopy(golden)
    broken["persons"] = "twelve"
    with pytest.raises(EncodingError, match="persons"):
        encode_report(broken, schemas)
    del broken["persons"]
    with pytest.raises(EncodingError):
        encode_report({**golden, "stage": "MAYBE"}, schemas)
    with pytest.raises(EncodingError, match="not a report type"):
        encode_report({**golden, "type": "Person"}, schemas)


def test_unchecked_encoding_still_refuses_what_it_cannot_write(
    golden: dict[str, Any], schemas: SchemaSet
) -> None:
    schema = schemas.report("UnauthorisedBorderCrossing")
    with pytest.raises((TypeError, ValueError)):
        encode(schema, {**golden, "persons": "twelve"}, checked=False)
    with pytest.raises((TypeError, ValueError)):
        encode(schema, {**golden, "stage": "MAYBE"}, checked=False)


def test_decode_with_an_explicit_reader_uses_the_lookup(
    golden: dict[str, Any], schemas: SchemaSet
) -> None:
    asked: list[str] = []
    schema = schemas.report("UnauthorisedBorderCrossing")

    def lookup(fingerprint: str) -> Any:
        asked.append(fingerprint)
        return schema

    datum = decode(encode(schema, golden), schema, lookup)
    assert asked == [schema.fingerprint_hex]
    assert {"type": "UnauthorisedBorderCrossing", **datum} == golden
