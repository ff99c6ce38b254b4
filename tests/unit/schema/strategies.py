"""Hypothesis strategies for domain dicts, generated from the Avro schemas themselves.

`reports(type_name)` walks the report's schema, so every field of every type is covered and a new
field is generated without touching this file. Field-name overrides keep values inside the
ranges of CONTRACT.md section 5.1, so the generated reports are valid, not just well-typed.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime
from typing import Any

from hypothesis import strategies as st

from imx.registry import load_registry
from imx.schema.countries import ALPHA3
from imx.schema.loader import REPORT_TYPES, default_schemas

_COUNTRIES = sorted(ALPHA3)

timestamps = st.datetimes(
    min_value=datetime(1900, 1, 1),  # noqa: DTZ001 - bounds of an aware strategy
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
).map(lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000))

_text = st.text(max_size=12)
_non_blank = st.text(min_size=1, max_size=12).filter(lambda text: text.strip() != "")
_countries = st.sampled_from(_COUNTRIES)
_event_ids = st.uuids().map(str)


@functools.cache
def _overrides() -> dict[str, st.SearchStrategy[Any]]:
    """Field name -> strategy for the value (for lists: for each item). Names mean the same
    wherever they occur, which is what the validation relies on too."""
    units = st.sampled_from(load_registry().ids())
    return {
        "event_id": _event_ids,
        "rfi_id": _event_ids,
        "related_event_ids": _event_ids,
        "about_event_ids": _event_ids,
        "reporting_unit": units,
        "to_units": units,
        "lat": st.floats(min_value=-90, max_value=90),
        "lon": st.floats(min_value=-180, max_value=180),
        "information_assessment": st.sampled_from(["1", "2", "3", "4"]),
        "nationality": _countries,
        "nationalities": _countries,
        "issuing_country": _countries,
        "registration_country": _countries,
        "birth_date": st.dates(min_value=date(1900, 1, 1)).map(date.isoformat),
        "birth_year": st.integers(min_value=1900, max_value=2100),
        "plate": _non_blank,
        "number": _non_blank,
        "question": _non_blank,
        "answer": _non_blank,
        "persons": st.integers(min_value=1, max_value=10_000),
        "victims": st.integers(min_value=1, max_value=10_000),
    }


_COUNTS = frozenset({"minors", "asylum_intent", "smuggled_persons", "persons_on_board"})
_NON_EMPTY = frozenset({"suspects", "to_units"})


def reports(type_name: str) -> st.SearchStrategy[dict[str, Any]]:
    """Valid domain dicts of one report type (`type` key included)."""
    schema = default_schemas().report(type_name)
    body = _record(schema.parsed, schema.named)
    return body.map(lambda fields: {"type": type_name, **fields})


def any_report() -> st.SearchStrategy[dict[str, Any]]:
    return st.sampled_from(REPORT_TYPES).flatmap(reports)


def _record(schema: dict[str, Any], named: Any) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {field["name"]: _field(field["name"], field["type"], named) for field in schema["fields"]}
    )


def _field(name: str, schema: Any, named: Any) -> st.SearchStrategy[Any]:
    if isinstance(schema, list):
        others = [branch for branch in schema if branch != "null"]
        return st.none() | _field(name, others[0], named)
    if isinstance(schema, str) and schema in named:
        return _field(name, named[schema], named)
    if isinstance(schema, dict) and schema["type"] == "array":
        items = _field(name, schema["items"], named)
        return st.lists(items, min_size=1 if name in _NON_EMPTY else 0, max_size=3)
    if name in _overrides():
        return _overrides()[name]
    if name in _COUNTS:
        return st.integers(min_value=0, max_value=10_000)
    return _value(schema, named)


def _value(schema: Any, named: Any) -> st.SearchStrategy[Any]:
    if isinstance(schema, dict):
        kind = schema["type"]
        if kind == "record":
            return _record(schema, named)
        if kind == "enum":
            return st.sampled_from(schema["symbols"])
        if schema.get("logicalType") == "timestamp-millis":
            return timestamps
        return _value(kind, named)
    primitives: dict[str, st.SearchStrategy[Any]] = {
        "string": _text,
        "int": st.integers(min_value=0, max_value=2**31 - 1),
        "long": st.integers(min_value=0, max_value=2**63 - 1),
        "double": st.floats(allow_nan=False, allow_infinity=False),
        "boolean": st.booleans(),
    }
    return primitives[schema]
