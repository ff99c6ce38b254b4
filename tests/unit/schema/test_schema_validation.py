"""CONTRACT.md section 5.1 checks: every range at its limit, unknown units, and the clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given

from imx.registry import Registry
from imx.schema.jsonform import from_json
from imx.schema.loader import REPORT_TYPES, default_schemas
from imx.schema.validation import (
    CLOCK_SKEW,
    SCHEMA_VIOLATION,
    UNKNOWN_UNIT,
    Violation,
    check_clock,
    validate_report,
)

from .samples import DOCUMENT, PERSON, report_json
from .strategies import any_report

pytestmark = pytest.mark.unit

UUID = "0b6c8a4e-8d5c-4b8e-9a4f-2f1c3d5e7a90"
VEHICLE = {"plate": "VR123AB"}


def report(type_name: str = "MigrantSmuggling", **members: Any) -> dict[str, Any]:
    return from_json(report_json(type_name, **members), default_schemas())


def problems(registry: Registry, type_name: str = "MigrantSmuggling", **members: Any) -> list[Any]:
    return [(v.code, v.field) for v in validate_report(report(type_name, **members), registry)]


@pytest.mark.parametrize("type_name", REPORT_TYPES)
def test_minimal_reports_are_valid(registry: Registry, type_name: str) -> None:
    assert validate_report(report(type_name), registry) == []


@given(generated=any_report())
def test_generated_valid_reports_of_every_type_pass(
    generated: dict[str, Any], registry: Registry
) -> None:
    assert validate_report(generated, registry) == []


@pytest.mark.parametrize(
    ("members", "field", "limit"),
    [
        ({"location": {"lat": 0, "lon": 0, "place": "p"}}, "location.place", 200),
        ({}, "response", 2000),
        ({}, "notes", 4000),
        ({"suspects": [PERSON]}, "suspects[0].given_name", 200),
        ({"suspects": [PERSON]}, "suspects[0].family_name", 200),
        ({"suspects": [{**PERSON, "phones": ["1"]}]}, "suspects[0].phones[0]", 32),
        (
            {"suspects": [{**PERSON, "documents": [DOCUMENT]}]},
            "suspects[0].documents[0].number",
            64,
        ),
        ({"vehicle": VEHICLE}, "vehicle.plate", 32),
        ({"vehicle": VEHICLE}, "vehicle.make", 100),
        ({"vehicle": VEHICLE}, "vehicle.model", 100),
        ({"vehicle": VEHICLE}, "vehicle.colour", 100),
    ],
)
def test_text_limits_allow_the_limit_and_refuse_one_more(
    registry: Registry, members: dict[str, Any], field: str, limit: int
) -> None:
    at_limit = _set(report(**members), field, "é" * limit)
    assert validate_report(at_limit, registry) == []
    over = _set(report(**members), field, "é" * (limit + 1))
    assert validate_report(over, registry) == [
        Violation(SCHEMA_VIOLATION, field, f"{limit + 1} characters, over the limit of {limit}")
    ]


@pytest.mark.parametrize(
    ("type_name", "field", "limit"),
    [("RequestForInformation", "question", 4000), ("RfiResponse", "answer", 4000)],
)
def test_question_and_answer_limits(
    registry: Registry, type_name: str, field: str, limit: int
) -> None:
    assert problems(registry, type_name, **{field: "q" * limit}) == []
    assert problems(registry, type_name, **{field: "q" * (limit + 1)}) == [
        (SCHEMA_VIOLATION, field)
    ]


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (90.0, True),
        (-90.0, True),
        (90.0001, False),
        (-90.0001, False),
        (float("nan"), False),
    ],
)
def test_latitude_range(registry: Registry, value: float, valid: bool) -> None:
    built = report()
    built["location"]["lat"] = value
    expected = [] if valid else [(SCHEMA_VIOLATION, "location.lat")]
    assert [(v.code, v.field) for v in validate_report(built, registry)] == expected


@pytest.mark.parametrize(
    ("value", "valid"),
    [(180.0, True), (-180.0, True), (180.0001, False), (-180.0001, False), (float("inf"), False)],
)
def test_longitude_range(registry: Registry, value: float, valid: bool) -> None:
    built = report()
    built["location"]["lon"] = value
    found = validate_report(built, registry)
    assert found == (
        [] if valid else [Violation(SCHEMA_VIOLATION, "location.lon", found[0].detail)]
    )
    if not valid:
        assert "outside -180..180" in found[0].detail


@pytest.mark.parametrize(
    ("type_name", "field", "minimum"),
    [
        ("UnauthorisedBorderCrossing", "persons", 1),
        ("UnauthorisedBorderCrossing", "minors", 0),
        ("MigrantsDetectedInland", "persons", 1),
        ("MigrantsDetectedInland", "minors", 0),
        ("MigrantsDetectedInland", "asylum_intent", 0),
        ("MigrantSmuggling", "smuggled_persons", 0),
        ("TraffickingInHumanBeings", "victims", 1),
        ("VehicleSighting", "persons_on_board", 0),
        ("CrisisSituation", "persons", 0),
    ],
)
def test_counts_allow_their_minimum_and_refuse_one_less(
    registry: Registry, type_name: str, field: str, minimum: int
) -> None:
    assert problems(registry, type_name, **{field: minimum}) == []
    assert problems(registry, type_name, **{field: minimum - 1}) == [(SCHEMA_VIOLATION, field)]


def test_persons_on_board_may_be_unknown(registry: Registry) -> None:
    assert problems(registry, "VehicleSighting", persons_on_board=None) == []


def test_required_lists_must_not_be_empty(registry: Registry) -> None:
    assert problems(registry, "MigrantSmuggling", suspects=[]) == [(SCHEMA_VIOLATION, "suspects")]
    assert problems(registry, "RequestForInformation", to_units=[]) == [
        (SCHEMA_VIOLATION, "to_units")
    ]
    assert problems(registry, "TraffickingInHumanBeings", suspects=[]) == []


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        ("SRB", True),
        ("AFG", True),
        ("MKD", True),
        ("srb", False),
        ("SR", False),
        ("SRBI", False),
        ("XKX", False),
        ("XXX", False),
        ("S1B", False),
        ("", False),
    ],
)
def test_country_codes_are_iso_alpha3(registry: Registry, code: str, valid: bool) -> None:
    members = {
        "suspects": [
            {**PERSON, "nationality": code, "documents": [{**DOCUMENT, "issuing_country": code}]}
        ],
        "vehicle": {"plate": "X1", "registration_country": code},
    }
    expected = [
        (SCHEMA_VIOLATION, "suspects[0].nationality"),
        (SCHEMA_VIOLATION, "suspects[0].documents[0].issuing_country"),
        (SCHEMA_VIOLATION, "vehicle.registration_country"),
    ]
    assert problems(registry, **members) == ([] if valid else expected)
    found = problems(registry, "UnauthorisedBorderCrossing", nationalities=["SRB", code])
    assert found == ([] if valid else [(SCHEMA_VIOLATION, "nationalities[1]")])


def test_document_fraud_checks_its_document_and_holder(registry: Registry) -> None:
    found = problems(
        registry,
        "DocumentFraud",
        document={**DOCUMENT, "issuing_country": "YUG", "number": " "},
        holder={**PERSON, "birth_date": "1990-02-28", "nationality": "SCG"},
    )
    assert found == [
        (SCHEMA_VIOLATION, "document.number"),
        (SCHEMA_VIOLATION, "document.issuing_country"),
        (SCHEMA_VIOLATION, "holder.nationality"),
    ]


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (UUID, True),
        (UUID.upper(), True),
        ("00000000-0000-0000-0000-000000000000", True),
        (UUID.replace("-", ""), False),
        ("{" + UUID + "}", False),
        ("urn:uuid:" + UUID, False),
        (UUID[:-1], False),
        (UUID[:-1] + "g", False),
        ("event-1", False),
    ],
)
def test_event_ids_are_uuids(registry: Registry, value: str, valid: bool) -> None:
    assert problems(registry, event_id=value) == ([] if valid else [(SCHEMA_VIOLATION, "event_id")])
    found = problems(registry, related_event_ids=[UUID, value])
    assert found == ([] if valid else [(SCHEMA_VIOLATION, "related_event_ids[1]")])
    found = problems(registry, "RequestForInformation", about_event_ids=[value])
    assert found == ([] if valid else [(SCHEMA_VIOLATION, "about_event_ids[0]")])
    found = problems(registry, "RfiResponse", rfi_id=value)
    assert found == ([] if valid else [(SCHEMA_VIOLATION, "rfi_id")])


def test_bad_birth_date_from_the_wire_is_a_violation(registry: Registry) -> None:
    built = report()
    built["suspects"][0]["birth_date"] = "1990-02-30"
    assert [(v.code, v.field) for v in validate_report(built, registry)] == [
        (SCHEMA_VIOLATION, "suspects[0].birth_date")
    ]


@pytest.mark.parametrize("value", ["0", "5", "", "A", " 4"])
def test_information_assessment_is_one_to_four(registry: Registry, value: str) -> None:
    assert problems(registry, information_assessment=value) == [
        (SCHEMA_VIOLATION, "information_assessment")
    ]


@pytest.mark.parametrize(
    ("type_name", "members", "field"),
    [
        ("VehicleSighting", {"vehicle": {"plate": "  "}}, "vehicle.plate"),
        ("RequestForInformation", {"question": ""}, "question"),
        ("RfiResponse", {"answer": "\n"}, "answer"),
    ],
)
def test_identifying_and_required_text_must_not_be_blank(
    registry: Registry, type_name: str, members: dict[str, Any], field: str
) -> None:
    assert problems(registry, type_name, **members) == [(SCHEMA_VIOLATION, field)]


def test_unknown_units_are_named(registry: Registry) -> None:
    assert problems(registry, reporting_unit="bps-atlantis") == [(UNKNOWN_UNIT, "reporting_unit")]
    found = validate_report(
        report("RequestForInformation", to_units=["gpd-oc", "Gpd-oc", "pd-vranje"]), registry
    )
    assert found == [Violation(UNKNOWN_UNIT, "to_units[1]", "unit 'Gpd-oc' is not in the registry")]


def test_every_problem_is_reported_at_once(registry: Registry) -> None:
    found = problems(
        registry,
        "UnauthorisedBorderCrossing",
        event_id="x",
        reporting_unit="nowhere",
        persons=0,
        minors=-1,
        nationalities=["serbia"],
        location={"lat": 91, "lon": 0, "place": "p" * 201},
    )
    assert sorted(found) == sorted(
        [
            (SCHEMA_VIOLATION, "event_id"),
            (UNKNOWN_UNIT, "reporting_unit"),
            (SCHEMA_VIOLATION, "persons"),
            (SCHEMA_VIOLATION, "minors"),
            (SCHEMA_VIOLATION, "nationalities[0]"),
            (SCHEMA_VIOLATION, "location.lat"),
            (SCHEMA_VIOLATION, "location.place"),
        ]
    )


NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TEN = timedelta(minutes=10)
MS = timedelta(milliseconds=1)


@pytest.mark.parametrize(
    ("occurred", "reported", "skewed"),
    [
        (NOW, None, False),
        (NOW - timedelta(days=3), None, False),
        (NOW + TEN, None, False),
        (NOW + TEN + MS, None, True),
        (NOW, NOW - TEN, False),
        (NOW, NOW - TEN - MS, True),
        (NOW - timedelta(hours=1), NOW - timedelta(hours=2), True),
        (NOW - timedelta(hours=2), NOW - timedelta(hours=1), False),
    ],
)
def test_clock_skew_tolerates_exactly_ten_minutes(
    occurred: datetime, reported: datetime | None, skewed: bool
) -> None:
    built = report(reported_at=None)
    built["occurred_at"], built["reported_at"] = occurred, reported
    found = check_clock(built, NOW)
    if skewed:
        assert found is not None
        assert (found.code, found.field) == (CLOCK_SKEW, "occurred_at")
        assert "more than 10 minutes after" in found.detail
    else:
        assert found is None


def test_clock_skew_names_which_clock() -> None:
    built = report()
    built["occurred_at"], built["reported_at"] = NOW + TEN + MS, NOW + TEN + MS
    found = check_clock(built, NOW)
    assert found is not None
    assert "the time of processing 2024-05-01T12:00:00.000Z" in found.detail
    built["occurred_at"], built["reported_at"] = NOW, NOW - TEN - MS
    found = check_clock(built, NOW)
    assert found is not None
    assert "reported_at 2024-05-01T11:49:59.999Z" in found.detail


def test_clock_check_refuses_a_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        check_clock(report(), datetime(2024, 5, 1))  # noqa: DTZ001 - the case under test


def _set(target: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Set a dotted/indexed field path like `suspects[0].phones[0]` in a domain dict."""
    node: Any = target
    parts = path.replace("]", "").replace("[", ".").split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    last = parts[-1]
    if last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return target
