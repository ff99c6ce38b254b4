"""Schema evolution through the codec: v1 and v2 writers and readers understand each other.

v1 is the current UnauthorisedBorderCrossing; v2 adds one defaulted field, the kind of change
the compatibility gate allows. Units upgrade one at a time, so both directions must decode.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from imx.schema.cache import SchemaCache
from imx.schema.codec import decode, decode_report, encode, encode_report
from imx.schema.compat import check_compatibility
from imx.schema.loader import DEFAULT_SCHEMA_DIR, AvroSchema, SchemaSet, load_schemas

pytestmark = pytest.mark.unit

ADDED = {
    "name": "weather",
    "type": ["null", "string"],
    "default": None,
    "doc": "Weather at the border section when it happened.",
}
ADDED_WITH_VALUE = {
    "name": "group_sighted_before",
    "type": "boolean",
    "default": False,
    "doc": "Whether the same group was seen earlier.",
}


@pytest.fixture
def v1(schemas: SchemaSet) -> AvroSchema:
    return schemas.report("UnauthorisedBorderCrossing")


@pytest.fixture
def v2_schemas(tmp_path: Path) -> SchemaSet:
    """The repository's schemas with the v2 UnauthorisedBorderCrossing."""
    directory = tmp_path / "schemas"
    shutil.copytree(DEFAULT_SCHEMA_DIR, directory)
    path = directory / "UnauthorisedBorderCrossing.avsc"
    schema = json.loads(path.read_text(encoding="utf-8"))
    schema["fields"] += [ADDED, ADDED_WITH_VALUE]
    path.write_text(json.dumps(schema), encoding="utf-8")
    return load_schemas(directory)


@pytest.fixture
def v2(v2_schemas: SchemaSet) -> AvroSchema:
    return v2_schemas.report("UnauthorisedBorderCrossing")


def test_v2_is_a_new_writer_schema_the_gate_accepts(
    v1: AvroSchema, v2: AvroSchema, v2_schemas: SchemaSet
) -> None:
    assert v2.name == v1.name
    assert v2.fingerprint != v1.fingerprint
    assert check_compatibility(v2_schemas.directory) == []


def test_v1_bytes_decode_with_a_v2_reader(
    golden: dict[str, Any], v1: AvroSchema, v2: AvroSchema
) -> None:
    data = encode(v1, golden)
    datum = decode(data, v2, SchemaCache(known=[v1, v2]).get)
    assert datum["weather"] is None
    assert datum["group_sighted_before"] is False
    assert {"type": golden["type"], **datum} == {
        **golden,
        "weather": None,
        "group_sighted_before": False,
    }


def test_v2_bytes_decode_with_a_v1_reader(
    golden: dict[str, Any], v1: AvroSchema, v2: AvroSchema
) -> None:
    data = encode(v2, {**golden, "weather": "fog", "group_sighted_before": True})
    assert data[2:10] == v2.fingerprint
    datum = decode(data, v1, SchemaCache(known=[v1, v2]).get)
    assert {"type": golden["type"], **datum} == golden


def test_ingress_decoding_reads_any_version_as_the_current_one(
    golden: dict[str, Any], schemas: SchemaSet, v2_schemas: SchemaSet
) -> None:
    """A v1 unit publishes to a v2 pipeline, and a v2 unit to a v1 pipeline."""
    cache = SchemaCache(known=[*schemas.schemas.values(), *v2_schemas.schemas.values()])
    old_bytes = encode_report(golden, schemas)
    new_report = {**golden, "weather": "rain", "group_sighted_before": True}
    new_bytes = encode_report(new_report, v2_schemas)
    assert decode_report(old_bytes, cache.get, v2_schemas) == {
        **golden,
        "weather": None,
        "group_sighted_before": False,
    }
    assert decode_report(new_bytes, cache.get, v2_schemas) == new_report
    assert decode_report(new_bytes, cache.get, schemas) == golden


def test_a_v2_writer_unknown_to_the_reader_is_found_through_the_source(
    golden: dict[str, Any], schemas: SchemaSet, v2: AvroSchema
) -> None:
    class Topic:
        def lookup(self, fingerprint_hex: str) -> str | None:
            return v2.json if fingerprint_hex == v2.fingerprint_hex else None

    data = encode(v2, {**golden, "weather": "fog", "group_sighted_before": True})
    cache = SchemaCache.of(schemas, Topic())
    assert decode_report(data, cache.get, schemas) == golden
