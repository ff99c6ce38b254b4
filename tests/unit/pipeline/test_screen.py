"""Intake screening (CONTRACT.md 5.1): every code, its limits, and which failure wins."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from imx.pipeline.screen import MAX_VALUE_BYTES, Rejection, screen
from imx.schema.cache import SchemaCache
from imx.schema.codec import encode, encode_report
from imx.schema.loader import REPORT_TYPES, default_schemas

from .conftest import T0, Build
from .scenario import eid

pytestmark = pytest.mark.unit

PUBLISHED = T0 + timedelta(minutes=1)
NOW = T0 + timedelta(minutes=2)
MS = timedelta(milliseconds=1)
TOLERANCE = timedelta(minutes=10)
SCHEMAS = default_schemas()
LOOKUP = SchemaCache.of(SCHEMAS).get


def run(value: bytes | None, unit: str, registry, **times: Any) -> dict[str, Any] | Rejection:
    moments = {"published_at": PUBLISHED, "now": NOW, **times}
    return screen(value, unit, registry=registry, writer_lookup=LOOKUP, schemas=SCHEMAS, **moments)


def code_of(result: dict[str, Any] | Rejection) -> str:
    assert isinstance(result, Rejection), f"accepted: {result}"
    return result.code


def suspect(build: Build, **fields: Any) -> dict[str, Any]:
    """A person as the codec returns it: with the schema's `birth_year` member."""
    return {**build.person(**fields), "birth_year": None}


def valid(build: Build, type_: str, **fields: Any) -> dict[str, Any]:
    """A report of `type_` that passes every check when published by bps-presevo."""
    required: dict[str, dict[str, Any]] = {
        "MigrantSmuggling": {"suspects": [suspect(build, nationality="AFG")]},
        "DocumentFraud": {"document": build.document(issuing_country="AFG")},
        "VehicleSighting": {"vehicle": build.vehicle()},
        "RequestForInformation": {"to_units": ["ps-vranje"]},
        "RfiResponse": {"rfi_id": eid("some-request")},
    }
    return build.report(type_, event_id=eid(type_), **{**required.get(type_, {}), **fields})


def sized(build: Build, size: int) -> bytes:
    """A valid crossing report of exactly `size` bytes, padded with nationalities and place."""
    report = valid(build, "UnauthorisedBorderCrossing")
    report["location"]["place"] = "p" * 100  # 64..8191 characters: a 2-byte length
    report["nationalities"] = ["AFG"] * (
        (size - len(encode_report(report, default_schemas()))) // 4
    )
    while (missing := size - len(encode_report(report, default_schemas()))) < 0:
        report["nationalities"].pop()  # each is 4 bytes; the count's own length may grow
    report["location"]["place"] += "p" * missing
    assert len(report["location"]["place"]) <= 200
    value = encode_report(report, default_schemas())
    assert len(value) == size
    return value


@pytest.mark.parametrize("type_", REPORT_TYPES)
def test_a_valid_report_passes_as_a_domain_dict_with_reported_at_from_publish_time(
    build, registry, type_
) -> None:
    report = valid(build, type_)
    assert report["reported_at"] is None
    result = run(encode_report(report, default_schemas()), "bps-presevo", registry)
    assert result == {**report, "reported_at": PUBLISHED}


def test_a_given_reported_at_is_kept(build, registry) -> None:
    report = valid(build, "CrisisSituation", reported_at=T0 + timedelta(seconds=30))
    result = run(encode_report(report, default_schemas()), "bps-presevo", registry)
    assert result == report


def test_a_late_report_passes(build, registry) -> None:
    old = T0 - timedelta(days=30)
    report = valid(build, "CrisisSituation", occurred_at=old, reported_at=old)
    assert run(encode_report(report, default_schemas()), "bps-presevo", registry) == report


def test_exactly_256_kib_passes_and_one_byte_more_is_too_large(build, registry) -> None:
    assert MAX_VALUE_BYTES == 256 * 1024
    fits = run(sized(build, 256 * 1024), "bps-presevo", registry)
    assert isinstance(fits, dict)
    assert len(fits["nationalities"]) > 60_000
    over = run(sized(build, 256 * 1024 + 1), "bps-presevo", registry)
    assert over == Rejection("TOO_LARGE", "262145 bytes is over the 262144-byte limit")


def test_size_is_checked_before_decoding(registry) -> None:
    assert code_of(run(b"\x00" * (MAX_VALUE_BYTES + 1), "bps-presevo", registry)) == "TOO_LARGE"


def _mangled(value: bytes, how: str) -> bytes | None:
    return {
        "tombstone": None,
        "empty": b"",
        "short header": value[:9],
        "header only": value[:10],
        "wrong marker": b"\xc3\x02" + value[2:],
        "truncated body": value[:-1],
        "trailing byte": value + b"\x00",
        "not avro at all": b'{"type": "UnauthorisedBorderCrossing"}',
    }[how]


@pytest.mark.parametrize(
    "how",
    [
        "tombstone",
        "empty",
        "short header",
        "header only",
        "wrong marker",
        "truncated body",
        "trailing byte",
        "not avro at all",
    ],
)
def test_what_is_not_single_object_avro_is_undecodable(build, registry, how) -> None:
    value = encode_report(valid(build, "UnauthorisedBorderCrossing"), default_schemas())
    result = run(_mangled(value, how), "bps-presevo", registry)
    assert code_of(result) == "UNDECODABLE"
    assert isinstance(result, Rejection)
    assert result.detail


def test_an_unknown_fingerprint_is_unknown_schema(build, registry) -> None:
    value = encode_report(valid(build, "UnauthorisedBorderCrossing"), default_schemas())
    unknown = value[:2] + bytes(b ^ 0xFF for b in value[2:10]) + value[10:]
    result = run(unknown, "bps-presevo", registry)
    assert code_of(result) == "UNKNOWN_SCHEMA"
    assert isinstance(result, Rejection)
    assert unknown[2:10].hex() in result.detail


def test_a_known_schema_that_is_not_a_report_is_unknown_schema(registry) -> None:
    value = encode(SCHEMAS.get("Location"), {"lat": 42.3, "lon": 21.65, "place": None})
    assert code_of(run(value, "bps-presevo", registry)) == "UNKNOWN_SCHEMA"


def test_a_report_published_on_another_units_topic_is_spoofed(build, registry) -> None:
    report = valid(build, "UnauthorisedBorderCrossing", reporting_unit="ps-vranje")
    result = run(encode_report(report, default_schemas()), "bps-presevo", registry)
    assert code_of(result) == "SPOOFED_UNIT"
    assert isinstance(result, Rejection)
    assert result.detail.startswith("reporting_unit:")
    assert "ps-vranje" in result.detail
    assert "bps-presevo" in result.detail


@pytest.mark.parametrize(
    "fields",
    [
        {"minors": -1},
        {"reporting_unit": "ghost"},
        {"occurred_at": NOW + timedelta(hours=5)},
        {"minors": -1, "lat": 95.0, "nationalities": ["XXX"], "occurred_at": NOW + TOLERANCE * 2},
    ],
    ids=["bad value", "unknown unit", "clock skew", "everything"],
)
def test_spoofing_wins_over_every_later_check(build, registry, fields) -> None:
    report = valid(build, "UnauthorisedBorderCrossing", **{"reporting_unit": "ps-vranje", **fields})
    assert (
        code_of(run(encode_report(report, default_schemas()), "bps-presevo", registry))
        == "SPOOFED_UNIT"
    )


def _place(length: int) -> dict[str, Any]:
    return {"location": {"lat": 42.3, "lon": 21.65, "place": "x" * length}}


@pytest.mark.parametrize(
    ("type_", "fields", "field"),
    [
        ("UnauthorisedBorderCrossing", {"minors": -1}, "minors"),
        ("UnauthorisedBorderCrossing", {"persons": 0}, "persons"),
        ("MigrantsDetectedInland", {"asylum_intent": -1}, "asylum_intent"),
        ("UnauthorisedBorderCrossing", {"lat": 90.000001}, "location.lat"),
        ("UnauthorisedBorderCrossing", {"lat": -90.5}, "location.lat"),
        ("UnauthorisedBorderCrossing", {"lon": 180.5}, "location.lon"),
        ("UnauthorisedBorderCrossing", {"lon": -180.000001}, "location.lon"),
        ("UnauthorisedBorderCrossing", {"nationalities": ["AFG", "XXX"]}, "nationalities[1]"),
        ("MigrantSmuggling", {"suspects": []}, "suspects"),
        ("RequestForInformation", {"to_units": []}, "to_units"),
        ("CrisisSituation", {"notes": "n" * 4001}, "notes"),
        ("CrisisSituation", {"response": "r" * 2001}, "response"),
        ("CrisisSituation", {"related_event_ids": ["not-a-uuid"]}, "related_event_ids[0]"),
    ],
)
def test_values_out_of_range_are_schema_violations_naming_the_field(
    build, registry, type_, fields, field
) -> None:
    report = valid(build, type_, **fields)
    result = run(encode_report(report, default_schemas()), "bps-presevo", registry)
    assert code_of(result) == "SCHEMA_VIOLATION"
    assert isinstance(result, Rejection)
    assert result.detail.startswith(f"{field}:")


def test_a_place_over_200_characters_is_a_schema_violation(build, registry) -> None:
    at_limit = valid(build, "CrisisSituation", **_place(200))
    assert isinstance(
        run(encode_report(at_limit, default_schemas()), "bps-presevo", registry), dict
    )
    over = valid(build, "CrisisSituation", **_place(201))
    assert (
        code_of(run(encode_report(over, default_schemas()), "bps-presevo", registry))
        == "SCHEMA_VIOLATION"
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"lat": 90.0, "lon": 180.0},
        {"lat": -90.0, "lon": -180.0},
        {"notes": "n" * 4000, "response": "r" * 2000},
        {"persons": 0},
    ],
)
def test_values_at_their_limits_pass(build, registry, fields) -> None:
    report = valid(build, "CrisisSituation", **fields)
    assert isinstance(run(encode_report(report, default_schemas()), "bps-presevo", registry), dict)


def test_every_violation_of_the_first_kind_is_named(build, registry) -> None:
    report = valid(build, "UnauthorisedBorderCrossing", minors=-1, lat=91.0)
    result = run(encode_report(report, default_schemas()), "bps-presevo", registry)
    assert isinstance(result, Rejection)
    assert result.code == "SCHEMA_VIOLATION"
    assert "minors:" in result.detail
    assert "location.lat:" in result.detail


def test_an_unknown_addressee_is_an_unknown_unit(build, registry) -> None:
    report = valid(build, "RequestForInformation", to_units=["ps-vranje", "nowhere"])
    result = run(encode_report(report, default_schemas()), "bps-presevo", registry)
    assert code_of(result) == "UNKNOWN_UNIT"
    assert isinstance(result, Rejection)
    assert result.detail.startswith("to_units[1]:")
    assert "nowhere" in result.detail


def test_a_unit_missing_from_the_registry_on_its_own_topic_is_an_unknown_unit(
    build, registry
) -> None:
    report = valid(build, "UnauthorisedBorderCrossing", reporting_unit="ghost")
    result = run(encode_report(report, default_schemas()), "ghost", registry)
    assert code_of(result) == "UNKNOWN_UNIT"
    assert isinstance(result, Rejection)
    assert result.detail.startswith("reporting_unit:")


def test_bad_values_are_reported_before_unknown_units(build, registry) -> None:
    report = valid(build, "RequestForInformation", to_units=["nowhere"], notes="n" * 4001)
    assert (
        code_of(run(encode_report(report, default_schemas()), "bps-presevo", registry))
        == "SCHEMA_VIOLATION"
    )


def test_bad_values_and_unknown_units_are_reported_before_the_clock(build, registry) -> None:
    future = NOW + timedelta(hours=1)
    bad = valid(build, "UnauthorisedBorderCrossing", minors=-1, occurred_at=future)
    assert (
        code_of(run(encode_report(bad, default_schemas()), "bps-presevo", registry))
        == "SCHEMA_VIOLATION"
    )
    unknown = valid(build, "RequestForInformation", to_units=["nowhere"], occurred_at=future)
    assert (
        code_of(run(encode_report(unknown, default_schemas()), "bps-presevo", registry))
        == "UNKNOWN_UNIT"
    )


def test_occurred_at_up_to_ten_minutes_after_processing_passes(build, registry) -> None:
    edge = NOW + TOLERANCE
    report = valid(build, "CrisisSituation", occurred_at=edge, reported_at=edge)
    assert run(encode_report(report, default_schemas()), "bps-presevo", registry) == report


def test_occurred_at_a_millisecond_more_than_ten_minutes_ahead_is_clock_skew(
    build, registry
) -> None:
    ahead = NOW + TOLERANCE + MS
    report = valid(build, "CrisisSituation", occurred_at=ahead, reported_at=ahead)
    result = run(encode_report(report, default_schemas()), "bps-presevo", registry)
    assert code_of(result) == "CLOCK_SKEW"
    assert isinstance(result, Rejection)
    assert result.detail.startswith("occurred_at:")


@pytest.mark.parametrize(("lead", "code"), [(TOLERANCE, None), (TOLERANCE + MS, "CLOCK_SKEW")])
def test_occurred_at_after_reported_at_by_more_than_ten_minutes_is_clock_skew(
    build, registry, lead, code
) -> None:
    reported = T0 - timedelta(hours=1)
    report = valid(build, "CrisisSituation", occurred_at=reported + lead, reported_at=reported)
    result = run(encode_report(report, default_schemas()), "bps-presevo", registry)
    assert (code_of(result) if code else result) == (code or report)


@pytest.mark.parametrize(("lead", "code"), [(TOLERANCE, None), (TOLERANCE + MS, "CLOCK_SKEW")])
def test_a_missing_reported_at_is_checked_as_the_publish_time(build, registry, lead, code) -> None:
    published = T0 - timedelta(hours=1)
    report = valid(build, "CrisisSituation", occurred_at=published + lead)
    result = run(
        encode_report(report, default_schemas()), "bps-presevo", registry, published_at=published
    )
    if code is None:
        assert result == {**report, "reported_at": published}
    else:
        assert code_of(result) == code
