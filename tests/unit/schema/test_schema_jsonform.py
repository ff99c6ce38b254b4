"""The JSON form: precise errors with field paths, defaults, timestamps, and round trips."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given

from imx.schema.jsonform import (
    JsonFormError,
    delivery_to_json,
    disclosure_to_json,
    from_json,
    to_json,
)
from imx.schema.loader import REPORT_TYPES, SchemaSet, default_schemas
from imx.schema.timeformat import format_timestamp, is_date, parse_timestamp

from .samples import DOCUMENT, ENRICHMENT, PERSON, report_json
from .strategies import any_report

pytestmark = pytest.mark.unit


def error_of(obj: Any) -> JsonFormError:
    with pytest.raises(JsonFormError) as caught:
        from_json(obj, default_schemas())
    return caught.value


@pytest.mark.parametrize("type_name", REPORT_TYPES)
def test_minimal_reports_get_every_default(type_name: str, schemas: SchemaSet) -> None:
    report = from_json(report_json(type_name), default_schemas())
    assert report["type"] == type_name
    expected = ["type", *(f["name"] for f in schemas.report(type_name).parsed["fields"])]
    assert list(report) == expected
    assert report["occurred_at"] == datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    assert report["reported_at"] is None
    assert report["location"] == {"lat": 42.3, "lon": 21.65, "place": None}
    assert (report["impact"], report["handling"]) == ("LOW", "H0")
    assert (report["source_reliability"], report["information_assessment"]) == ("X", "4")
    assert report["related_event_ids"] == []
    assert report["response"] is None
    assert report["notes"] is None


def test_nested_records_get_their_defaults_too() -> None:
    report = from_json(report_json(), default_schemas())
    assert report["suspects"] == [
        {
            **PERSON,
            "birth_date": None,
            "nationality": None,
            "sex": None,
            "documents": [],
            "phones": [],
            "birth_year": None,
        }
    ]
    assert report["vehicle"] is None


def test_null_members_take_the_default_like_absent_ones() -> None:
    members = {
        "impact": None,
        "handling": None,
        "source_reliability": None,
        "information_assessment": None,
        "related_event_ids": None,
        "reported_at": None,
        "vehicle": None,
        "notes": None,
    }
    report = from_json(report_json(**members), default_schemas())
    assert report == from_json(report_json(), default_schemas())
    assert (report["impact"], report["information_assessment"]) == ("LOW", "4")
    assert report["related_event_ids"] == []


def test_default_lists_are_not_shared_between_reports() -> None:
    first, second = (
        from_json(report_json(), default_schemas()),
        from_json(report_json(), default_schemas()),
    )
    first["related_event_ids"].append("x")
    assert second["related_event_ids"] == []


@pytest.mark.parametrize(
    ("obj", "field", "reason"),
    [
        ([], "", "expected an object, got array"),
        ({"event_id": "x"}, "type", "missing required member"),
        ({"type": 3}, "type", "expected a string, got number"),
        ({"type": "Sighting"}, "type", "unknown report type 'Sighting'"),
    ],
)
def test_type_errors(obj: Any, field: str, reason: str) -> None:
    error = error_of(obj)
    assert error.field == field
    assert reason in error.reason


def test_unknown_members_are_refused_by_name() -> None:
    error = error_of(report_json(colour="red", age=3))
    assert (error.field, error.reason) == ("age", "unknown member(s) 'age', 'colour'")
    obj = report_json()
    obj["suspects"][0]["documents"] = [DOCUMENT, {**DOCUMENT, "expiry": "2030-01-01"}]
    error = error_of(obj)
    assert error.field == "suspects[0].documents[1].expiry"
    assert str(error) == "suspects[0].documents[1].expiry: unknown member(s) 'expiry'"


def test_missing_required_members_name_their_path() -> None:
    obj = report_json()
    del obj["suspects"][0]["category"]
    assert error_of(obj).field == "suspects[0].category"
    obj = report_json()
    obj["suspects"][0]["documents"] = [DOCUMENT, {"kind": "VISA", "number": "1"}]
    error = error_of(obj)
    assert (error.field, error.reason) == (
        "suspects[0].documents[1].issuing_country",
        "missing required member",
    )
    obj = report_json()
    del obj["location"]["lat"]
    assert error_of(obj).field == "location.lat"
    obj = report_json()
    del obj["occurred_at"]
    assert error_of(obj).field == "occurred_at"


@pytest.mark.parametrize(
    ("members", "field", "reason"),
    [
        ({"smuggled_persons": "4"}, "smuggled_persons", "expected an integer, got '4'"),
        ({"smuggled_persons": 4.0}, "smuggled_persons", "expected an integer, got 4.0"),
        ({"smuggled_persons": True}, "smuggled_persons", "expected an integer, got boolean"),
        ({"smuggled_persons": 2**31}, "smuggled_persons", "outside -2147483648..2147483647"),
        ({"smuggled_persons": None}, "smuggled_persons", "expected an integer, got null"),
        ({"location": {"lat": "42", "lon": 1}}, "location.lat", "expected a number, got string"),
        ({"location": {"lat": True, "lon": 1}}, "location.lat", "expected a number, got boolean"),
        ({"location": {"lat": float("nan"), "lon": 1}}, "location.lat", "finite"),
        ({"location": [42.3, 21.65]}, "location", "expected an object, got array"),
        ({"suspects": {"given_name": "A"}}, "suspects", "expected an array, got object"),
        ({"suspects": [PERSON, 7]}, "suspects[1]", "expected an object, got number"),
        ({"status": "CAUGHT"}, "status", "expected one of ARRESTED|IDENTIFIED|WANTED|AT_LARGE"),
        (
            {"status": None},
            "status",
            "expected one of ARRESTED|IDENTIFIED|WANTED|AT_LARGE, got null",
        ),
        ({"impact": "low"}, "impact", "expected one of LOW|MEDIUM|HIGH|VERY_HIGH, got 'low'"),
        ({"handling": 0}, "handling", "expected one of H0|H1|H2|H3, got 0"),
        ({"notes": 5}, "notes", "expected a string, got number"),
        ({"related_event_ids": ["a", None]}, "related_event_ids[1]", "expected a string, got null"),
        ({"vehicle": {"plate": 1}}, "vehicle.plate", "expected a string, got number"),
        ({"suspects": [{**PERSON, "sex": "Y"}]}, "suspects[0].sex", "expected one of M|F|X"),
        ({"suspects": [{**PERSON, "birth_year": "1990"}]}, "suspects[0].birth_year", "integer"),
    ],
)
def test_wrong_json_types_and_enum_values(members: dict[str, Any], field: str, reason: str) -> None:
    error = error_of(report_json(**members))
    assert error.field == field
    assert reason in error.reason


def test_booleans_must_be_json_booleans() -> None:
    error = error_of(report_json("CrisisSituation", urgent="yes"))
    assert (error.field, error.reason) == ("urgent", "expected true or false, got string")
    assert (
        from_json(report_json("CrisisSituation", urgent=False), default_schemas())["urgent"]
        is False
    )


def test_integers_are_accepted_for_coordinates_as_floats() -> None:
    report = from_json(
        report_json(location={"lat": 42, "lon": -21, "place": "x"}), default_schemas()
    )
    assert report["location"] == {"lat": 42.0, "lon": -21.0, "place": "x"}
    assert isinstance(report["location"]["lat"], float)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T08:00:00Z", datetime(2024, 5, 1, 8, 0, tzinfo=UTC)),
        ("2024-05-01t08:00:00z", datetime(2024, 5, 1, 8, 0, tzinfo=UTC)),
        ("2024-05-01T10:00:00+02:00", datetime(2024, 5, 1, 8, 0, tzinfo=UTC)),
        ("2024-05-01T00:30:00-05:30", datetime(2024, 5, 1, 6, 0, tzinfo=UTC)),
        ("2024-05-01T08:00:00-00:00", datetime(2024, 5, 1, 8, 0, tzinfo=UTC)),
        ("2024-05-01T08:00:00.5Z", datetime(2024, 5, 1, 8, 0, 0, 500000, tzinfo=UTC)),
        ("2024-05-01T08:00:00.123999999Z", datetime(2024, 5, 1, 8, 0, 0, 123000, tzinfo=UTC)),
        ("2024-12-31T23:30:00-01:00", datetime(2025, 1, 1, 0, 30, tzinfo=UTC)),
    ],
)
def test_rfc3339_timestamps_become_utc_milliseconds(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC
    assert from_json(report_json(occurred_at=text), default_schemas())["occurred_at"] == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2024-05-01T08:00:00", "no time zone offset"),
        ("2024-05-01T08:00:00.000", "no time zone offset"),
        ("2024-05-01 08:00:00Z", "not an RFC 3339 timestamp"),
        ("2024-05-01", "not an RFC 3339 timestamp"),
        ("1714550400", "not an RFC 3339 timestamp"),
        ("2024-05-01T08:00Z", "not an RFC 3339 timestamp"),
        ("2024-05-01T08:00:00+0200", "not an RFC 3339 timestamp"),
        ("2024-02-30T08:00:00Z", "not a valid date and time"),
        ("2024-05-01T24:00:00Z", "not a valid date and time"),
        ("2024-05-01T23:59:60Z", "not a valid date and time"),
        ("2024-05-01T08:00:00+24:00", "offset out of range"),
        ("2024-05-01T08:00:00+01:60", "offset out of range"),
        ("0001-01-01T00:00:00+01:00", "not a valid date and time"),
    ],
)
def test_bad_timestamps_are_refused_with_the_reason(text: str, reason: str) -> None:
    error = error_of(report_json(reported_at=text))
    assert error.field == "reported_at"
    assert reason in error.reason


def test_timestamps_must_be_strings() -> None:
    error = error_of(report_json(occurred_at=1714550400000))
    assert error.reason == "expected an RFC 3339 timestamp string, got number"


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("1990-02-28", True),
        ("2000-02-29", True),
        ("1990-02-29", False),
        ("1990-2-28", False),
        ("19900228", False),
        ("1990-02-28T00:00:00Z", False),
        (" 1990-02-28", False),
    ],
)
def test_birth_dates_are_calendar_dates(text: str, valid: bool) -> None:
    assert is_date(text) is valid
    obj = report_json(suspects=[{**PERSON, "birth_date": text}])
    if valid:
        assert from_json(obj, default_schemas())["suspects"][0]["birth_date"] == text
    else:
        error = error_of(obj)
        assert error.field == "suspects[0].birth_date"
        assert "expected a date YYYY-MM-DD" in error.reason


def test_to_json_writes_every_member_with_utc_millisecond_timestamps() -> None:
    report = from_json(report_json(reported_at="2024-05-01T08:00:00.5+01:00"), default_schemas())
    rendered = to_json(report, default_schemas())
    assert next(iter(rendered)) == "type"
    assert rendered["occurred_at"] == "2024-05-01T08:00:00.000Z"
    assert rendered["reported_at"] == "2024-05-01T07:00:00.500Z"
    assert rendered["notes"] is None
    assert rendered["vehicle"] is None
    assert rendered["suspects"][0]["birth_year"] is None
    assert set(rendered) == set(report)


def test_format_timestamp_converts_other_zones_and_refuses_naive() -> None:
    moment = datetime(2024, 5, 1, 10, 0, 0, 999999, tzinfo=timezone(timedelta(hours=2)))
    assert format_timestamp(moment) == "2024-05-01T08:00:00.999Z"
    assert format_timestamp(datetime(999, 1, 2, tzinfo=UTC)) == "0999-01-02T00:00:00.000Z"
    with pytest.raises(ValueError, match="naive"):
        format_timestamp(datetime(2024, 5, 1))  # noqa: DTZ001 - the case under test


@given(report=any_report())
def test_json_form_round_trips_through_text(report: dict[str, Any]) -> None:
    text = json.dumps(to_json(report, default_schemas()))
    assert from_json(json.loads(text), default_schemas()) == report


def _delivery(report: dict[str, Any] | None) -> dict[str, Any]:
    now = datetime(2024, 5, 1, 8, 0, 1, 250000, tzinfo=UTC)
    return {
        "delivery_id": "d1",
        "recipient": "gpd-oc",
        "kind": "report",
        "rules": ["chain"],
        "incident_id": "i1",
        "duplicate_of": None,
        "report": report,
        "correlation": None,
        "enrichment": ENRICHMENT,
        "timing": {
            "occurred_at": report["occurred_at"] if report else None,
            "reported_at": None,
            "ingested_at": now,
            "delivered_at": now,
        },
    }


def test_delivery_json_has_the_section_6_shape() -> None:
    report = from_json(report_json("VehicleSighting"), default_schemas())
    rendered = delivery_to_json(_delivery(report), default_schemas())
    assert list(rendered) == [
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
    ]
    assert rendered["report"] == to_json(report, default_schemas())
    assert next(iter(rendered["report"])) == "type"
    assert rendered["timing"] == {
        "occurred_at": "2024-05-01T08:00:00.000Z",
        "reported_at": None,
        "ingested_at": "2024-05-01T08:00:01.250Z",
        "delivered_at": "2024-05-01T08:00:01.250Z",
    }
    assert rendered["enrichment"]["section_impact"] == "HIGH"
    json.dumps(rendered)


def test_correlation_delivery_json_has_null_report() -> None:
    delivery = _delivery(None) | {
        "kind": "correlation",
        "incident_id": None,
        "enrichment": None,
        "correlation": {
            "correlation_id": "c1",
            "entity_kind": "phone",
            "entity_key": "38160111222",
            "event_ids": ["e1", "e2"],
            "units": ["bps-presevo"],
        },
    }
    rendered = delivery_to_json(delivery, default_schemas())
    assert rendered["report"] is None
    assert rendered["correlation"]["entity_kind"] == "phone"
    assert rendered["timing"]["occurred_at"] is None


def test_disclosure_json() -> None:
    rendered = disclosure_to_json(
        {
            "audit_id": "a1",
            "event_id": "e1",
            "correlation_id": None,
            "recipient": "gpd-satit",
            "rules": ["analytics"],
            "justification": "analytics: national risk analysis, pseudonymised",
            "at": datetime(2024, 5, 1, 8, 0, tzinfo=UTC),
            "contains_personal_data": True,
            "pseudonymised": True,
        },
        default_schemas(),
    )
    assert rendered["at"] == "2024-05-01T08:00:00.000Z"
    assert rendered["correlation_id"] is None
    assert rendered["pseudonymised"] is True
