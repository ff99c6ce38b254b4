"""The .avsc files say exactly what CONTRACT.md sections 3, 6 and 8 say."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from imx.schema.compat import check_compatibility
from imx.schema.loader import DEFAULT_SCHEMA_DIR, NAMESPACE, REPORT_TYPES, SchemaSet

pytestmark = pytest.mark.unit

ENVELOPE = [
    "event_id",
    "reporting_unit",
    "occurred_at",
    "reported_at",
    "location",
    "impact",
    "handling",
    "source_reliability",
    "information_assessment",
    "related_event_ids",
    "response",
    "notes",
]
OWN_FIELDS = {
    "UnauthorisedBorderCrossing": [
        "stage",
        "mode",
        "direction",
        "detection",
        "outcome",
        "persons",
        "minors",
        "nationalities",
        "transport",
        "vehicle",
        "facilitators",
    ],
    "MigrantsDetectedInland": [
        "persons",
        "minors",
        "nationalities",
        "place_kind",
        "asylum_intent",
        "transport",
        "vehicle",
        "facilitators",
    ],
    "MigrantSmuggling": ["suspects", "smuggled_persons", "status", "vehicle"],
    "TraffickingInHumanBeings": ["victims", "suspects", "exploitation"],
    "DocumentFraud": ["document", "fraud", "holder"],
    "VehicleSighting": ["vehicle", "context", "persons_on_board"],
    "CrisisSituation": ["kind", "persons", "urgent"],
    "RequestForInformation": ["to_units", "question", "urgency", "about_event_ids"],
    "RfiResponse": ["rfi_id", "answer"],
}
TRANSPORT = ["ON_FOOT", "CAR", "VAN", "TRUCK", "BUS", "TRAIN", "BOAT", "OTHER", "UNKNOWN"]
ENUMS = {
    ("*", "impact"): ["LOW", "MEDIUM", "HIGH", "VERY_HIGH"],
    ("*", "handling"): ["H0", "H1", "H2", "H3"],
    ("*", "source_reliability"): ["A", "B", "C", "X"],
    ("UnauthorisedBorderCrossing", "stage"): ["ATTEMPTED", "ACTUAL"],
    ("UnauthorisedBorderCrossing", "mode"): ["OPEN", "CLANDESTINE"],
    ("UnauthorisedBorderCrossing", "direction"): ["ENTRY", "EXIT", "UNKNOWN"],
    ("UnauthorisedBorderCrossing", "detection"): [
        "BCP_CHECK",
        "BORDER_SURVEILLANCE",
        "INLAND_CHECK",
        "OTHER",
    ],
    ("UnauthorisedBorderCrossing", "outcome"): ["PREVENTED", "APPREHENDED", "ESCAPED", "UNKNOWN"],
    ("UnauthorisedBorderCrossing", "transport"): TRANSPORT,
    ("MigrantsDetectedInland", "transport"): TRANSPORT,
    ("MigrantsDetectedInland", "place_kind"): [
        "ROAD",
        "TRAIN",
        "BUS",
        "SETTLEMENT",
        "ABANDONED_BUILDING",
        "OTHER",
    ],
    ("MigrantSmuggling", "status"): ["ARRESTED", "IDENTIFIED", "WANTED", "AT_LARGE"],
    ("TraffickingInHumanBeings", "exploitation"): ["LABOUR", "SEXUAL", "OTHER", "UNKNOWN"],
    ("DocumentFraud", "fraud"): [
        "FORGED",
        "COUNTERFEIT",
        "IMPOSTOR",
        "FRAUDULENTLY_OBTAINED",
        "STOLEN_BLANK",
    ],
    ("VehicleSighting", "context"): ["SUSPECTED_TRANSPORT", "ABANDONED", "CHECKED", "WANTED"],
    ("CrisisSituation", "kind"): [
        "DEATH",
        "INJURY",
        "MISSING_PERSONS",
        "LARGE_GROUP",
        "VULNERABLE_PERSONS",
        "PUBLIC_ORDER",
        "OTHER",
    ],
    ("RequestForInformation", "urgency"): ["URGENT_8H", "URGENT_3D", "STANDARD_7D"],
    ("Person", "sex"): ["M", "F", "X"],
    ("Person", "category"): ["SUSPECT", "VICTIM", "WITNESS", "OTHER", "UNCLASSIFIED"],
    ("Document", "kind"): ["PASSPORT", "ID_CARD", "RESIDENCE_PERMIT", "VISA", "OTHER"],
    ("Delivery", "kind"): ["report", "correlation"],
    ("Delivery", "rules"): [
        "chain",
        "line",
        "neighbour",
        "crime",
        "analytics",
        "international",
        "rfi",
        "correlation",  # the recipients of a correlation (CONTRACT 5.6, last paragraph)
    ],
    ("Disclosure", "rules"): [
        "chain",
        "line",
        "neighbour",
        "crime",
        "analytics",
        "international",
        "rfi",
        "correlation",  # the recipients of a correlation (CONTRACT 5.6, last paragraph)
    ],
    ("Correlation", "entity_kind"): ["vehicle", "phone", "document", "person"],
    ("Enrichment", "unit_level"): ["LOCAL", "REGIONAL", "NATIONAL", "INTERNATIONAL"],
    ("Enrichment", "unit_line"): [
        "BORDER",
        "GENERAL",
        "CRIMINAL",
        "OPERATIONS",
        "ANALYTICS",
        "INTERNATIONAL",
    ],
    ("Enrichment", "section_impact"): ["LOW", "MEDIUM", "HIGH", "CRITICAL"],
}
RECORD_FIELDS = {
    "Location": ["lat", "lon", "place"],
    "Document": ["kind", "number", "issuing_country"],
    "Vehicle": ["plate", "registration_country", "make", "model", "colour"],
    "Person": [
        "given_name",
        "family_name",
        "birth_date",
        "nationality",
        "sex",
        "category",
        "documents",
        "phones",
        "birth_year",
    ],
    "Delivery": [
        "delivery_id",
        "recipient",
        "kind",
        "rules",
        "incident_id",
        "duplicate_of",
        "report",
        "correlation",
        "enrichment",
        "timing",
    ],
    "Correlation": ["correlation_id", "entity_kind", "entity_key", "event_ids", "units"],
    "Enrichment": [
        "unit_name",
        "unit_level",
        "unit_line",
        "territorial",
        "border_section",
        "section_impact",
    ],
    "Timing": ["occurred_at", "reported_at", "ingested_at", "delivered_at"],
    "Disclosure": [
        "audit_id",
        "event_id",
        "correlation_id",
        "recipient",
        "rules",
        "justification",
        "at",
        "contains_personal_data",
        "pseudonymised",
    ],
}
OPTIONAL = {
    "*": {"reported_at", "response", "notes"},
    "UnauthorisedBorderCrossing": {"vehicle"},
    "MigrantsDetectedInland": {"vehicle"},
    "MigrantSmuggling": {"vehicle"},
    "DocumentFraud": {"holder"},
    "VehicleSighting": {"persons_on_board"},
    "Location": {"place"},
    "Vehicle": {"registration_country", "make", "model", "colour"},
    "Person": {"birth_date", "nationality", "sex", "birth_year"},
    "Delivery": {"incident_id", "duplicate_of", "report", "correlation", "enrichment"},
    "Enrichment": {"territorial", "section_impact"},
    "Timing": {"occurred_at", "reported_at"},
    "Disclosure": {"event_id", "correlation_id"},
}
TIMESTAMPS = {
    "*": {"occurred_at", "reported_at"},
    "Timing": {"occurred_at", "reported_at", "ingested_at", "delivered_at"},
    "Disclosure": {"at"},
}


def _fields(schemas: SchemaSet, name: str) -> dict[str, dict[str, Any]]:
    return {field["name"]: field for field in schemas.get(name).parsed["fields"]}


def _resolve(schemas: SchemaSet, name: str, schema: Any) -> Any:
    named = schemas.get(name).named
    if isinstance(schema, list):
        return [_resolve(schemas, name, branch) for branch in schema]
    return named.get(schema, schema) if isinstance(schema, str) else schema


def _enum_symbols(schemas: SchemaSet, name: str, schema: Any) -> list[str]:
    schema = _resolve(schemas, name, schema)
    if isinstance(schema, list):
        (schema,) = [branch for branch in schema if branch != "null"]
    if schema["type"] == "array":
        return _enum_symbols(schemas, name, schema["items"])
    assert schema["type"] == "enum"
    return list(schema["symbols"])


def test_report_types_are_the_contract_names(schemas: SchemaSet) -> None:
    assert set(REPORT_TYPES) == set(OWN_FIELDS)
    for type_name in REPORT_TYPES:
        assert schemas.report(type_name).name == f"{NAMESPACE}.{type_name}"
        assert (DEFAULT_SCHEMA_DIR / f"{type_name}.avsc").is_file()


@pytest.mark.parametrize("type_name", REPORT_TYPES)
def test_report_has_envelope_then_own_fields(schemas: SchemaSet, type_name: str) -> None:
    assert list(_fields(schemas, type_name)) == ENVELOPE + OWN_FIELDS[type_name]


@pytest.mark.parametrize("type_name", REPORT_TYPES)
def test_envelope_defaults_are_the_contract_defaults(schemas: SchemaSet, type_name: str) -> None:
    fields = _fields(schemas, type_name)
    assert fields["impact"]["default"] == "LOW"
    assert fields["handling"]["default"] == "H0"
    assert fields["source_reliability"]["default"] == "X"
    assert fields["information_assessment"]["type"] == "string"
    assert fields["information_assessment"]["default"] == "4"
    for required in ("event_id", "reporting_unit", "occurred_at", "location"):
        assert "default" not in fields[required], required


@pytest.mark.parametrize("name", list(RECORD_FIELDS))
def test_shared_and_delivery_records_have_contract_fields(schemas: SchemaSet, name: str) -> None:
    assert list(_fields(schemas, name)) == RECORD_FIELDS[name]


@pytest.mark.parametrize(("owner", "field"), list(ENUMS))
def test_enum_symbols_are_exactly_the_contract(schemas: SchemaSet, owner: str, field: str) -> None:
    owners = REPORT_TYPES if owner == "*" else (owner,)
    for name in owners:
        schema = _fields(schemas, name)[field]["type"]
        assert _enum_symbols(schemas, name, schema) == ENUMS[(owner, field)], name


@pytest.mark.parametrize("name", [*REPORT_TYPES, *RECORD_FIELDS])
def test_optional_fields_are_null_first_unions_defaulting_to_null(
    schemas: SchemaSet, name: str
) -> None:
    expected = OPTIONAL.get(name, set()) | (OPTIONAL["*"] if name in REPORT_TYPES else set())
    for field_name, field in _fields(schemas, name).items():
        is_union = isinstance(field["type"], list)
        assert is_union == (field_name in expected), field_name
        if is_union:
            assert field["type"][0] == "null", field_name
            assert field["default"] is None, field_name


@pytest.mark.parametrize("name", [*REPORT_TYPES, *RECORD_FIELDS])
def test_lists_default_to_empty(schemas: SchemaSet, name: str) -> None:
    arrays = [f for f in _fields(schemas, name).values() if _is_array(f["type"])]
    for field in arrays:
        assert field["default"] == [], field["name"]


@pytest.mark.parametrize("name", [*REPORT_TYPES, "Timing", "Disclosure"])
def test_timestamps_are_timestamp_millis(schemas: SchemaSet, name: str) -> None:
    expected = TIMESTAMPS["*"] if name in REPORT_TYPES else TIMESTAMPS[name]
    found = set()
    for field_name, field in _fields(schemas, name).items():
        branches = field["type"] if isinstance(field["type"], list) else [field["type"]]
        for branch in branches:
            if isinstance(branch, dict) and branch.get("logicalType") == "timestamp-millis":
                assert branch["type"] == "long"
                found.add(field_name)
    assert found == expected


def test_every_file_is_documented_in_the_contract_namespace() -> None:
    paths = sorted(DEFAULT_SCHEMA_DIR.glob("*.avsc"))
    assert len(paths) >= len(REPORT_TYPES) + len(RECORD_FIELDS)
    for path in paths:
        raw = json.loads(path.read_text(encoding="utf-8"))
        assert raw["namespace"] == NAMESPACE, path
        assert raw["name"] == path.stem, path
        assert raw.get("doc"), path
        for field in _all_fields(raw):
            assert field.get("doc"), f"{path.name}: {field['name']} has no doc"


def test_the_repository_passes_its_own_compatibility_gate() -> None:
    released = DEFAULT_SCHEMA_DIR / "released"
    assert (released / "v1").is_dir()
    assert check_compatibility(DEFAULT_SCHEMA_DIR, released) == []


def _is_array(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "array"


def _all_fields(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, list):
        for branch in node:
            found += _all_fields(branch)
    elif isinstance(node, dict):
        for field in node.get("fields", []):
            found.append(field)
            found += _all_fields(field["type"])
        if "items" in node:
            found += _all_fields(node["items"])
    return found


def test_released_files_are_copies_of_schema_files_at_release() -> None:
    """v1 is the baseline as released: every v1 file is a schema file of the same name."""
    released = Path(DEFAULT_SCHEMA_DIR / "released" / "v1")
    names = {path.name for path in released.glob("*.avsc")}
    assert names
    assert names <= {path.name for path in DEFAULT_SCHEMA_DIR.glob("*.avsc")}
