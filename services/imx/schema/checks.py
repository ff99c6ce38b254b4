"""The checks a unit's reports pass before anything is sent: one function for every entry point.

``imx publish`` and the HTTP gateway (CONTRACT.md sections 7 and 11) both run ``check_lines``,
so a report is refused with the same words whichever way it came in. All lines are checked, and
every problem of a line is reported, before anything is sent: a batch with one bad line sends
nothing. Pure: the clock, the registry and the schemas are arguments.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from imx.registry import Registry
from imx.schema.codec import encode_report
from imx.schema.jsonform import JsonFormError, from_json
from imx.schema.loader import SchemaSet
from imx.schema.validation import SCHEMA_VIOLATION, check_clock, validate_report

MALFORMED_JSON = "MALFORMED_JSON"
SPOOFED_UNIT = "SPOOFED_UNIT"
DUPLICATE_EVENT_ID = "DUPLICATE_EVENT_ID"


@dataclass(frozen=True)
class CheckError:
    """One problem of one input line; ``field`` is a path like ``suspects[0].sex`` or empty."""

    line: int
    field: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class CheckedReport:
    """A report that passed every check, encoded for its ingress topic."""

    line: int
    event_id: str
    type_name: str
    value: bytes

    @property
    def key(self) -> bytes:
        return self.event_id.encode()


@dataclass(frozen=True)
class CheckResult:
    reports: list[CheckedReport]
    errors: list[CheckError]

    @property
    def ok(self) -> bool:
        return not self.errors


def check_lines(
    lines: Sequence[tuple[int, str]],
    *,
    unit: str,
    registry: Registry,
    now: datetime,
    schemas: SchemaSet,
) -> CheckResult:
    """Check each ``(line number, JSON text)`` as a report published by ``unit`` at ``now``.

    A text may span several lines (one JSON document); a JSON syntax error then names the line
    of the input it is on, counted from the text's own line number.
    """
    reports: list[CheckedReport] = []
    errors: list[CheckError] = []
    seen: dict[str, int] = {}
    for number, text in lines:
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            line = number + exc.lineno - 1
            message = f"not JSON: {exc.msg} at column {exc.colno}"
            errors.append(CheckError(line, "", MALFORMED_JSON, message))
            continue
        found = _check_one(
            obj, number, unit=unit, registry=registry, now=now, schemas=schemas, seen=seen
        )
        if isinstance(found, CheckedReport):
            reports.append(found)
        else:
            errors.extend(found)
    return CheckResult(reports, errors)


def _check_one(
    obj: Any,
    number: int,
    *,
    unit: str,
    registry: Registry,
    now: datetime,
    schemas: SchemaSet,
    seen: dict[str, int],
) -> CheckedReport | list[CheckError]:
    if not isinstance(obj, dict):
        return [CheckError(number, "", SCHEMA_VIOLATION, "a report must be a JSON object")]
    try:
        report = from_json(obj, schemas)
    except JsonFormError as exc:
        return [CheckError(number, exc.field, SCHEMA_VIOLATION, str(exc))]
    if report["reported_at"] is None:
        report["reported_at"] = now
    errors = [
        CheckError(number, v.field, v.code, f"{v.field}: {v.detail} ({v.code})")
        for v in validate_report(report, registry)
    ]
    if report["reporting_unit"] != unit:
        message = (
            f"reporting_unit: {report['reporting_unit']!r} is not the publishing unit "
            f"{unit!r} ({SPOOFED_UNIT})"
        )
        errors.append(CheckError(number, "reporting_unit", SPOOFED_UNIT, message))
    skew = check_clock(report, now)
    if skew is not None:
        message = f"{skew.field}: {skew.detail} ({skew.code})"
        errors.append(CheckError(number, skew.field, skew.code, message))
    event_id = str(report["event_id"])
    if event_id in seen:
        message = f"event_id: {event_id} already used on line {seen[event_id]}"
        errors.append(CheckError(number, "event_id", DUPLICATE_EVENT_ID, message))
    seen.setdefault(event_id, number)
    if errors:
        return errors
    return CheckedReport(number, event_id, report["type"], encode_report(report, schemas))
