"""The JSON form of reports (CONTRACT.md section 3) and of feed and audit records (sections 6, 8).

Both directions are driven by the Avro schemas, so the JSON form follows every schema change by
itself: members are the schema's fields, in its order; absent members take the schema's default;
a field without a default is required. Only what JSON cannot say is added here: timestamps are
RFC 3339 strings (Avro `timestamp-millis`) and `birth_date` is a `YYYY-MM-DD` string.

Range checks (counts, coordinates, country codes, text limits) are not structure; they live in
`imx.schema.validation` so the command line and the pipeline share them.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from imx.schema.loader import (
    REPORT_TYPES,
    ParsedSchema,
    SchemaSet,
    full_name,
    short_name,
)
from imx.schema.timeformat import format_timestamp, is_date, parse_timestamp

_DATE_FIELDS = frozenset({"birth_date"})
_INT_RANGES = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_TIMESTAMP = "timestamp-millis"

Named = Mapping[str, ParsedSchema]


class JsonFormError(ValueError):
    """A JSON report that does not fit its type; `field` is a path like `suspects[0].sex`."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field or 'report'}: {reason}")


def from_json(obj: object, schemas: SchemaSet) -> dict[str, Any]:
    """A JSON report (already parsed from text) as a domain dict with every default applied."""
    if not isinstance(obj, Mapping):
        whole = ""
        raise JsonFormError(whole, f"expected an object, got {_json_type(obj)}")
    where = "type"
    if where not in obj:
        raise JsonFormError(where, "missing required member")
    type_name = obj[where]
    if not isinstance(type_name, str):
        raise JsonFormError(where, f"expected a string, got {_json_type(type_name)}")
    if type_name not in REPORT_TYPES:
        reason = f"unknown report type {type_name!r}; expected one of {', '.join(REPORT_TYPES)}"
        raise JsonFormError(where, reason)
    schema = schemas.report(type_name)
    fields = _record(obj, schema.parsed, schema.named, "", allowed_extra=("type",))
    return {"type": type_name, **fields}


def to_json(report: Mapping[str, Any], schemas: SchemaSet) -> dict[str, Any]:
    """A domain dict in JSON form: every member present (None stays null), `type` first."""
    schema = schemas.report(report["type"])
    return {"type": report["type"], **_render(report, schema.parsed, schema.named)}


def delivery_to_json(delivery: Mapping[str, Any], schemas: SchemaSet) -> dict[str, Any]:
    """A delivery (its `report` a domain dict or None) as printed by `imx tail --json`."""
    schema = schemas.delivery()
    rendered: dict[str, Any] = _render(delivery, schema.parsed, schema.named)
    return rendered


def disclosure_to_json(disclosure: Mapping[str, Any], schemas: SchemaSet) -> dict[str, Any]:
    schema = schemas.disclosure()
    rendered: dict[str, Any] = _render(disclosure, schema.parsed, schema.named)
    return rendered


def _parse(value: Any, schema: Any, named: Named, path: str) -> Any:
    if isinstance(schema, str):
        if schema in named:
            return _parse(value, named[schema], named, path)
        return _primitive(value, schema, path)
    if isinstance(schema, list):
        return _union(value, schema, named, path)
    kind = schema["type"]
    if kind == "record":
        return _record(value, schema, named, path)
    if kind == "enum":
        if not isinstance(value, str) or value not in schema["symbols"]:
            expected = "|".join(schema["symbols"])
            raise JsonFormError(path, f"expected one of {expected}, got {_show(value)}")
        return value
    if kind == "array":
        if not isinstance(value, list):
            raise JsonFormError(path, f"expected an array, got {_json_type(value)}")
        return [
            _parse(item, schema["items"], named, f"{path}[{i}]") for i, item in enumerate(value)
        ]
    if schema.get("logicalType") == _TIMESTAMP:
        if not isinstance(value, str):
            reason = f"expected an RFC 3339 timestamp string, got {_json_type(value)}"
            raise JsonFormError(path, reason)
        try:
            return parse_timestamp(value)
        except ValueError as exc:
            raise JsonFormError(path, f"{exc}: {value!r}") from exc
    return _parse(value, kind, named, path)


def _record(
    value: Any, schema: ParsedSchema, named: Named, path: str, allowed_extra: tuple[str, ...] = ()
) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise JsonFormError(path, f"expected an object, got {_json_type(value)}")
    fields = schema["fields"]
    known = {field["name"] for field in fields}.union(allowed_extra)
    unknown = sorted(str(member) for member in value if member not in known)
    if unknown:
        listed = ", ".join(repr(member) for member in unknown)
        raise JsonFormError(_join(path, unknown[0]), f"unknown member(s) {listed}")
    out: dict[str, Any] = {}
    for field in fields:
        name = field["name"]
        where = _join(path, name)
        # CONTRACT.md section 3: an absent optional field is "omitted or null" alike, so a
        # null member of a field with a default (e.g. `impact`) takes that default.
        if name in value and (value[name] is not None or "default" not in field):
            out[name] = _parse(value[name], field["type"], named, where)
        elif "default" in field:
            out[name] = copy.deepcopy(field["default"])
        else:
            raise JsonFormError(where, "missing required member")
        if name in _DATE_FIELDS and isinstance(out[name], str) and not is_date(out[name]):
            raise JsonFormError(where, f"expected a date YYYY-MM-DD, got {out[name]!r}")
    return out


def _union(value: Any, branches: list[Any], named: Named, path: str) -> Any:
    if value is None and "null" in branches:
        return None
    others = [branch for branch in branches if branch != "null"]
    if len(others) != 1:
        # Reports only use optional unions ["null", T]; a richer union would need a rule
        # for choosing the branch from JSON, which the contract does not define.
        msg = f"unsupported union at {path}: {branches}"
        raise TypeError(msg)
    return _parse(value, others[0], named, path)


def _primitive(value: Any, kind: str, path: str) -> Any:
    if kind == "boolean":
        if not isinstance(value, bool):
            raise JsonFormError(path, f"expected true or false, got {_json_type(value)}")
        return value
    if kind in _INT_RANGES:
        if isinstance(value, bool) or not isinstance(value, int):
            raise JsonFormError(path, f"expected an integer, got {_show(value)}")
        low, high = _INT_RANGES[kind]
        if not low <= value <= high:
            raise JsonFormError(path, f"integer {value} is outside {low}..{high}")
        return value
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise JsonFormError(path, f"expected a number, got {_json_type(value)}")
        if not math.isfinite(value):
            raise JsonFormError(path, f"expected a finite number, got {value}")
        return float(value)
    if kind == "string":
        if not isinstance(value, str):
            raise JsonFormError(path, f"expected a string, got {_json_type(value)}")
        return value
    msg = f"Avro type {kind} has no JSON form here"
    raise TypeError(msg)


def _render(value: Any, schema: Any, named: Named) -> Any:
    if isinstance(schema, str):
        if schema in named:
            return _render(value, named[schema], named)
        return float(value) if schema in ("float", "double") else value
    if isinstance(schema, list):
        if value is None:
            return None
        records = [branch for branch in schema if branch != "null"]
        if len(records) == 1:
            return _render(value, records[0], named)
        # A union of report records (the delivery's `report`): the domain dict names its type.
        branch = full_name(value["type"])
        return {"type": short_name(branch), **_render(value, named[branch], named)}
    kind = schema["type"]
    if kind == "record":
        return {
            field["name"]: _render(value[field["name"]], field["type"], named)
            for field in schema["fields"]
        }
    if kind == "array":
        return [_render(item, schema["items"], named) for item in value]
    if kind == "enum":
        return value
    if schema.get("logicalType") == _TIMESTAMP:
        return format_timestamp(value)
    return _render(value, kind, named)


def _join(path: str, member: str) -> str:
    return f"{path}.{member}" if path else member


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _show(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return _json_type(value)
    return repr(value)
