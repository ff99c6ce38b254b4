"""Loading schema files into standalone schemas: inlining, naming rules and load errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import avro.schema
import pytest

from imx.schema.loader import (
    DEFAULT_SCHEMA_DIR,
    REPORT_TYPES,
    AvroSchema,
    SchemaLoadError,
    SchemaSet,
    canonical_form,
    default_schemas,
    fingerprint,
    load_schemas,
)

pytestmark = pytest.mark.unit

# The CRC-64-AVRO fingerprint of the schema "int", from the Avro specification's Java
# reference (SchemaNormalization.parsingFingerprint64 = 0x7275d51a3f395c8f), in wire order.
INT_FINGERPRINT = bytes.fromhex("8f5c393f1ad57572")


def _write(directory: Path, schema: dict[str, Any], name: str | None = None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name or schema['name']}.avsc").write_text(json.dumps(schema))


def _record(name: str, *fields: tuple[str, Any]) -> dict[str, Any]:
    return {
        "type": "record",
        "name": name,
        "namespace": "t",
        "fields": [{"name": n, "type": t} for n, t in fields],
    }


def _definitions(node: Any, found: list[str]) -> list[str]:
    """Full names of every inline definition in a standalone schema, in document order."""
    if isinstance(node, list):
        for branch in node:
            _definitions(branch, found)
    elif isinstance(node, dict):
        if node.get("type") in ("record", "enum", "fixed"):
            found.append(node["name"])
        for field in node.get("fields", []):
            _definitions(field["type"], found)
        for key in ("items", "values"):
            if key in node:
                _definitions(node[key], found)
        if isinstance(node.get("type"), dict | list):
            _definitions(node["type"], found)
    return found


def test_fingerprint_matches_the_avro_reference_vector() -> None:
    assert canonical_form({"type": "int"}) == '"int"'
    assert fingerprint({"type": "int"}) == INT_FINGERPRINT


def test_every_file_loads_and_the_getters_answer(schemas: SchemaSet) -> None:
    for type_name in REPORT_TYPES:
        assert schemas.report(type_name) is schemas.get(f"rs.mup.imx.{type_name}")
    assert schemas.delivery().name == "rs.mup.imx.Delivery"
    assert schemas.disclosure().name == "rs.mup.imx.Disclosure"
    assert [s.short_name for s in schemas.written()] == [*REPORT_TYPES, "Delivery", "Disclosure"]
    assert schemas.get("Person") is schemas.get("rs.mup.imx.Person")
    assert default_schemas() is schemas


def test_report_refuses_types_that_are_not_reports(schemas: SchemaSet) -> None:
    with pytest.raises(KeyError):
        schemas.report("Person")
    with pytest.raises(KeyError):
        schemas.report("Nothing")


def test_delivery_defines_each_named_type_once_and_refers_to_it_after(schemas: SchemaSet) -> None:
    standalone = json.loads(schemas.delivery().json)
    defined = _definitions(standalone, [])
    assert len(defined) == len(set(defined))
    assert {f"rs.mup.imx.{t}" for t in REPORT_TYPES} <= set(defined)
    assert defined.index("rs.mup.imx.Person") < defined.index("rs.mup.imx.MigrantSmuggling")
    # MigrantSmuggling comes after UnauthorisedBorderCrossing defined Person: a reference.
    smuggling = next(
        branch
        for branch in standalone["fields"][6]["type"]
        if isinstance(branch, dict) and branch["name"].endswith("MigrantSmuggling")
    )
    suspects = next(f for f in smuggling["fields"] if f["name"] == "suspects")
    assert suspects["type"]["items"] == "rs.mup.imx.Person"


@pytest.mark.parametrize("type_name", [*REPORT_TYPES, "Delivery", "Disclosure"])
def test_standalone_json_is_readable_by_the_reference_implementation(
    schemas: SchemaSet, type_name: str
) -> None:
    schema = schemas.get(type_name)
    parsed = avro.schema.parse(schema.json)
    assert parsed.fullname == schema.name
    assert AvroSchema.from_json(schema.json).fingerprint == schema.fingerprint


def test_fingerprints_differ_between_types(schemas: SchemaSet) -> None:
    prints = [schema.fingerprint for schema in schemas.schemas.values()]
    assert len(prints) == len(set(prints))
    assert all(len(p) == 8 for p in prints)


def test_loader_ignores_subfolders(tmp_path: Path) -> None:
    _write(tmp_path, _record("A", ("x", "int")))
    _write(tmp_path / "released" / "v1", _record("B", ("x", "int")))
    assert list(load_schemas(tmp_path).schemas) == ["t.A"]


def test_references_across_files_are_inlined(tmp_path: Path) -> None:
    _write(tmp_path, _record("Inner", ("x", "int")))
    _write(tmp_path, _record("Outer", ("a", "t.Inner"), ("b", ["null", "Inner"])))
    outer = json.loads(load_schemas(tmp_path).get("t.Outer").json)
    assert outer["fields"][0]["type"]["name"] == "t.Inner"
    assert outer["fields"][1]["type"] == ["null", "t.Inner"]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([_record("A", ("x", "t.Missing"))], "unknown type t.Missing"),
        ([_record("A", ("x", "int"))], "must be named A.avsc"),
        ([{"type": "string"}], "one named type"),
        (
            [_record("A", ("x", "int"), ("y", {"type": "enum", "name": "A", "symbols": ["Z"]}))],
            "defined twice",
        ),
        (
            [{**_record("A"), "fields": [{"name": "x", "type": "int", "default": "no"}]}],
            "t.A: not a valid standalone Avro schema",
        ),
    ],
)
def test_bad_schema_files_fail_naming_the_culprit(
    tmp_path: Path, files: list[dict[str, Any]], message: str
) -> None:
    for schema in files:
        name = "Wrong" if message.startswith("must be named") else schema.get("name", "X")
        _write(tmp_path, schema, name)
    with pytest.raises(SchemaLoadError, match=message):
        load_schemas(tmp_path)


def test_unreadable_json_and_empty_directories_fail(tmp_path: Path) -> None:
    with pytest.raises(SchemaLoadError, match=r"no \.avsc files"):
        load_schemas(tmp_path)
    (tmp_path / "A.avsc").write_text("{not json")
    with pytest.raises(SchemaLoadError, match=r"A\.avsc: cannot read schema"):
        load_schemas(tmp_path)


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        '"int"',
        '{"type": "record", "name": "R", "fields": [{"name": "x", "type": "nope"}]}',
    ],
)
def test_published_schema_text_must_be_a_valid_named_schema(text: str) -> None:
    with pytest.raises(SchemaLoadError):
        AvroSchema.from_json(text)


def test_default_directory_is_the_repository_schemas_folder() -> None:
    assert DEFAULT_SCHEMA_DIR.name == "schemas"
    assert (DEFAULT_SCHEMA_DIR / "Delivery.avsc").is_file()
