"""The shared report checks of ``imx publish`` and the gateway (imx.schema.checks)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from imx.registry import Registry
from imx.schema.cache import SchemaCache
from imx.schema.checks import (
    DUPLICATE_EVENT_ID,
    MALFORMED_JSON,
    SPOOFED_UNIT,
    CheckError,
    check_lines,
)
from imx.schema.codec import decode_report
from imx.schema.loader import SchemaSet
from imx.schema.validation import CLOCK_SKEW, SCHEMA_VIOLATION, UNKNOWN_UNIT

from .samples import ENVELOPE, MINIMAL

NOW = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
UNIT = "bps-presevo"


def report(**members: Any) -> dict[str, Any]:
    out = {
        "type": "UnauthorisedBorderCrossing",
        **ENVELOPE,
        **MINIMAL["UnauthorisedBorderCrossing"],
    }
    out["event_id"] = str(uuid.uuid4())
    out.update(members)
    return out


def check(texts: list[str], schemas: SchemaSet, registry: Registry) -> Any:
    lines = list(enumerate(texts, start=1))
    return check_lines(lines, unit=UNIT, registry=registry, now=NOW, schemas=schemas)


def test_good_reports_are_encoded_in_order(schemas: SchemaSet, registry: Registry) -> None:
    first, second = report(), report(persons=4)
    result = check([json.dumps(first), json.dumps(second)], schemas, registry)
    assert result.ok
    assert [r.event_id for r in result.reports] == [first["event_id"], second["event_id"]]
    assert [r.line for r in result.reports] == [1, 2]
    assert result.reports[0].key == first["event_id"].encode()
    decoded = decode_report(result.reports[1].value, SchemaCache.of(schemas).get, schemas)
    assert decoded["persons"] == 4
    assert decoded["reported_at"] == NOW  # absent reported_at is the publish time


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"type": ', ("", MALFORMED_JSON, "not JSON: Expecting value at column 10")),
        ("[1, 2]", ("", SCHEMA_VIOLATION, "a report must be a JSON object")),
        (json.dumps(report(persons="many")), ("persons", SCHEMA_VIOLATION, "persons: expected")),
        (json.dumps(report(persons=0)), ("persons", SCHEMA_VIOLATION, "persons: 0 is below")),
        (
            json.dumps(report(reporting_unit="ps-vranje")),
            (
                "reporting_unit",
                SPOOFED_UNIT,
                "reporting_unit: 'ps-vranje' is not the publishing unit 'bps-presevo' "
                "(SPOOFED_UNIT)",
            ),
        ),
        (
            json.dumps(report(occurred_at="2024-05-01T09:11:00Z")),
            ("occurred_at", CLOCK_SKEW, "occurred_at: 2024-05-01T09:11:00"),
        ),
    ],
)
def test_each_problem_is_typed(
    text: str, expected: tuple[str, str, str], schemas: SchemaSet, registry: Registry
) -> None:
    field, code, message = expected
    result = check([text], schemas, registry)
    assert not result.reports
    (error,) = [e for e in result.errors if e.code == code]
    assert (error.line, error.field, error.code) == (1, field, code)
    assert error.message.startswith(message)
    assert str(error) == f"line 1: {error.message}"


def test_every_problem_of_every_line_is_reported(schemas: SchemaSet, registry: Registry) -> None:
    twice = report()
    texts = [
        json.dumps(twice),
        json.dumps(report(reporting_unit="no-such-unit", persons=0)),
        json.dumps(twice),
        "not json",
    ]
    result = check(texts, schemas, registry)
    assert result.reports[0].line == 1
    found = {(e.line, e.code) for e in result.errors}
    assert found == {
        (2, UNKNOWN_UNIT),
        (2, SCHEMA_VIOLATION),
        (2, SPOOFED_UNIT),
        (3, DUPLICATE_EVENT_ID),
        (4, MALFORMED_JSON),
    }
    duplicate = next(e for e in result.errors if e.code == DUPLICATE_EVENT_ID)
    assert duplicate.message == f"event_id: {twice['event_id']} already used on line 1"


def test_a_json_syntax_error_names_the_line_of_a_multi_line_document(
    schemas: SchemaSet, registry: Registry
) -> None:
    text = '{\n  "type": "UnauthorisedBorderCrossing",\n  "event_id": x\n}'
    result = check_lines([(1, text)], unit=UNIT, registry=registry, now=NOW, schemas=schemas)
    assert result.errors == [
        CheckError(3, "", MALFORMED_JSON, "not JSON: Expecting value at column 15")
    ]
