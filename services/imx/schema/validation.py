"""The checks of CONTRACT.md section 5.1 that need nothing but the report, the registry and a clock.

`imx publish` runs them before sending and the pipeline runs them on every decoded report, so a
unit learns about a bad report the same way whichever side finds it. Checks that need the
pipeline's context (spoofed unit, duplicates, event-id conflicts, unknown RFI, size) are the
pipeline's. Input is a structurally valid domain dict (from `jsonform.from_json` or the codec).

Text limits count characters (Unicode code points). The contract fixes place (200), response
(2000) and notes (4000); the others are ours, chosen generously above anything real: question
and answer 4000 like notes, names 200 like place, make/model/colour 100, plates 32, document
numbers 64, phone numbers 32.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from imx.registry import Registry
from imx.schema.countries import ALPHA3
from imx.schema.timeformat import format_timestamp, is_date

SCHEMA_VIOLATION = "SCHEMA_VIOLATION"
UNKNOWN_UNIT = "UNKNOWN_UNIT"
CLOCK_SKEW = "CLOCK_SKEW"
CLOCK_TOLERANCE = timedelta(minutes=10)

TEXT_LIMITS: Mapping[str, int] = {
    "place": 200,
    "response": 2000,
    "notes": 4000,
    "question": 4000,
    "answer": 4000,
    "given_name": 200,
    "family_name": 200,
    "make": 100,
    "model": 100,
    "colour": 100,
    "plate": 32,
    "number": 64,
    "phones": 32,
}
# An empty plate or document number would become an empty entity key and link unrelated
# reports; an empty question or answer carries nothing.
NON_BLANK = frozenset({"plate", "number", "question", "answer"})
COUNTRY_FIELDS = frozenset(
    {"nationality", "issuing_country", "registration_country", "nationalities"}
)
EVENT_ID_FIELDS = frozenset({"event_id", "rfi_id", "related_event_ids", "about_event_ids"})
DATE_FIELDS = frozenset({"birth_date"})

MINIMUMS: Mapping[str, Mapping[str, int]] = {
    "UnauthorisedBorderCrossing": {"persons": 1, "minors": 0},
    "MigrantsDetectedInland": {"persons": 1, "minors": 0, "asylum_intent": 0},
    "MigrantSmuggling": {"smuggled_persons": 0},
    "TraffickingInHumanBeings": {"victims": 1},
    "VehicleSighting": {"persons_on_board": 0},
    "CrisisSituation": {"persons": 0},
}
REQUIRED_LISTS: Mapping[str, tuple[str, ...]] = {
    "MigrantSmuggling": ("suspects",),
    "RequestForInformation": ("to_units",),
}
INFORMATION_ASSESSMENTS = ("1", "2", "3", "4")

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass(frozen=True)
class Violation:
    code: str
    field: str
    detail: str


def validate_report(report: Mapping[str, Any], registry: Registry) -> list[Violation]:
    """Every range and reference problem of `report` (all of them, not just the first)."""
    found: list[Violation] = []
    _walk(report, "", found)
    type_name = report.get("type", "")
    location = report["location"]
    for axis, bound in (("lat", 90.0), ("lon", 180.0)):
        value = location[axis]
        if not -bound <= value <= bound:
            detail = f"{axis} {value} is outside -{bound:g}..{bound:g}"
            found.append(Violation(SCHEMA_VIOLATION, f"location.{axis}", detail))
    if report["information_assessment"] not in INFORMATION_ASSESSMENTS:
        detail = f"{report['information_assessment']!r} is not one of 1, 2, 3, 4"
        found.append(Violation(SCHEMA_VIOLATION, "information_assessment", detail))
    for name, minimum in MINIMUMS.get(type_name, {}).items():
        count = report.get(name)
        if count is not None and count < minimum:
            detail = f"{count} is below the minimum {minimum}"
            found.append(Violation(SCHEMA_VIOLATION, name, detail))
    for name in REQUIRED_LISTS.get(type_name, ()):
        if not report.get(name):
            found.append(Violation(SCHEMA_VIOLATION, name, "must list at least one entry"))
    if report["reporting_unit"] not in registry:
        detail = f"unit {report['reporting_unit']!r} is not in the registry"
        found.append(Violation(UNKNOWN_UNIT, "reporting_unit", detail))
    for index, unit in enumerate(report.get("to_units") or ()):
        if unit not in registry:
            detail = f"unit {unit!r} is not in the registry"
            found.append(Violation(UNKNOWN_UNIT, f"to_units[{index}]", detail))
    return found


def check_clock(report: Mapping[str, Any], now: datetime) -> Violation | None:
    """CLOCK_SKEW when `occurred_at` is more than 10 minutes after `now` or after `reported_at`.

    Exactly 10 minutes is tolerated: clocks of unit systems drift, and the contract says
    "more than".
    """
    if now.tzinfo is None:
        msg = "now must be timezone-aware"
        raise ValueError(msg)
    occurred: datetime = report["occurred_at"]
    if occurred - now > CLOCK_TOLERANCE:
        # The caller names the field ("occurred_at: ..."): the detail starts with the value.
        detail = (
            f"{format_timestamp(occurred)} is more than 10 minutes after "
            f"the time of processing {format_timestamp(now)}"
        )
        return Violation(CLOCK_SKEW, "occurred_at", detail)
    reported: datetime | None = report.get("reported_at")
    if reported is not None and occurred - reported > CLOCK_TOLERANCE:
        detail = (
            f"{format_timestamp(occurred)} is more than 10 minutes after "
            f"reported_at {format_timestamp(reported)}"
        )
        return Violation(CLOCK_SKEW, "occurred_at", detail)
    return None


def _walk(record: Mapping[str, Any], path: str, found: list[Violation]) -> None:
    """Apply the per-field checks wherever a field occurs (Person, Document and Vehicle
    appear in several places of several types, and mean the same everywhere)."""
    for name, value in record.items():
        where = f"{path}.{name}" if path else name
        if isinstance(value, Mapping):
            _walk(value, where, found)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, Mapping):
                    _walk(item, f"{where}[{index}]", found)
                elif isinstance(item, str):
                    _check_text(name, item, f"{where}[{index}]", found)
        elif isinstance(value, str):
            _check_text(name, value, where, found)


def _check_text(name: str, value: str, where: str, found: list[Violation]) -> None:
    limit = TEXT_LIMITS.get(name)
    if limit is not None and len(value) > limit:
        detail = f"{len(value)} characters, over the limit of {limit}"
        found.append(Violation(SCHEMA_VIOLATION, where, detail))
    if name in NON_BLANK and not value.strip():
        found.append(Violation(SCHEMA_VIOLATION, where, "must not be blank"))
    if name in COUNTRY_FIELDS and value not in ALPHA3:
        detail = f"{value!r} is not an ISO 3166-1 alpha-3 country code"
        found.append(Violation(SCHEMA_VIOLATION, where, detail))
    if name in EVENT_ID_FIELDS and _UUID.fullmatch(value) is None:
        found.append(Violation(SCHEMA_VIOLATION, where, f"{value!r} is not a UUID"))
    if name in DATE_FIELDS and not is_date(value):
        detail = f"{value!r} is not a calendar date YYYY-MM-DD"
        found.append(Violation(SCHEMA_VIOLATION, where, detail))
