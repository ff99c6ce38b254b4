"""Avro single-object encoding (CONTRACT.md section 4).

A value is `C3 01`, the 8-byte little-endian CRC-64-AVRO fingerprint of the writer schema's
Parsing Canonical Form, then the Avro binary body. The reader looks the writer schema up by
fingerprint and resolves it to its own (reader) schema with the Avro rules, so a unit still on an
older schema version keeps working.

Decoding untrusted bytes never raises anything but `UndecodableError` or `UnknownSchemaError`:
each carries the DLQ code of CONTRACT.md section 5.1, so the pipeline can turn it into data.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from fastavro import schemaless_reader, schemaless_writer
from fastavro.validation import ValidationError, validate

from imx.schema.loader import (
    REPORT_TYPES,
    AvroSchema,
    SchemaSet,
    full_name,
    short_name,
)

MAGIC = b"\xc3\x01"
HEADER_SIZE = len(MAGIC) + 8

WriterLookup = Callable[[str], AvroSchema]
"""Fingerprint (hex of the wire bytes) -> writer schema; raises UnknownSchemaError."""


class CodecError(ValueError):
    """A value that cannot be read; `code` is its DLQ error code."""

    code: ClassVar[str]


class UndecodableError(CodecError):
    """Not single-object Avro: too short, wrong marker, or a body that does not decode."""

    code = "UNDECODABLE"


class UnknownSchemaError(CodecError):
    """The fingerprint names no schema we can read (unknown, or not of the expected kind)."""

    code = "UNKNOWN_SCHEMA"

    def __init__(self, fingerprint: str, reason: str = "no writer schema known") -> None:
        self.fingerprint = fingerprint
        self.reason = reason
        super().__init__(f"{reason} for fingerprint {fingerprint}")


class EncodingError(ValueError):
    """The datum does not fit the schema; a bug in the caller, never input from the wire."""


def encode(schema: AvroSchema, datum: Mapping[str, Any], *, checked: bool = True) -> bytes:
    """Single-object encode `datum`; keys the schema does not name (e.g. `type`) are ignored.

    `checked=False` skips the full validation pass, for data the pipeline built itself from
    decoded reports: on the worker's hot path it cost as much as the encoding (fastavro still
    refuses values it cannot write, only with a less precise message).
    """
    if checked:
        try:
            validate(datum, schema.parsed, raise_errors=True)
        except ValidationError as exc:
            msg = f"datum does not fit {schema.name}: {exc}"
            raise EncodingError(msg) from exc
    buffer = io.BytesIO()
    buffer.write(MAGIC)
    buffer.write(schema.fingerprint)
    schemaless_writer(buffer, schema.parsed, tag_record_unions(schema, datum))
    return buffer.getvalue()


def _record_union_fields(schema: AvroSchema) -> tuple[tuple[str, str], ...]:
    """Fields of a record schema whose type is a union of null and one record: (field, record).

    Cached per schema: schemas are immutable and few.
    """
    found = _RECORD_UNIONS.get(schema.fingerprint)
    if found is None:
        fields = []
        for field in schema.parsed.get("fields", ()):
            branches = field["type"] if isinstance(field["type"], list) else []
            others = [branch for branch in branches if branch != "null"]
            record = _record_name(schema, others[0]) if len(others) == 1 else None
            if record is not None:
                fields.append((field["name"], record))
        found = _RECORD_UNIONS[schema.fingerprint] = tuple(fields)
    return found


def _record_name(schema: AvroSchema, branch: Any) -> str | None:
    """The full name of a union branch that is a record (defined there or named), else None."""
    definition = schema.named.get(branch) if isinstance(branch, str) else branch
    if isinstance(definition, dict) and definition.get("type") == "record":
        return str(definition["name"])
    return None


_RECORD_UNIONS: dict[bytes, tuple[tuple[str, str], ...]] = {}


def tag_record_unions(schema: AvroSchema, datum: Mapping[str, Any]) -> Mapping[str, Any]:
    """``datum`` with each record value of a union field named (fastavro's tuple notation).

    The bytes are the same; only the cost differs: given a plain dict, fastavro finds a union's
    branch by validating the value against each branch in Python, which cost about as much as
    writing the rest of a delivery.
    """
    tagged: dict[str, Any] | None = None
    for field, record in _record_union_fields(schema):
        value = datum.get(field)
        if value is not None and not isinstance(value, tuple):
            tagged = dict(datum) if tagged is None else tagged
            tagged[field] = (record, value)
    return datum if tagged is None else tagged


def read_fingerprint(data: bytes) -> str:
    """The writer fingerprint of a single-object value, as hex of its wire bytes."""
    if len(data) < HEADER_SIZE:
        msg = f"{len(data)} bytes is shorter than the {HEADER_SIZE}-byte single-object header"
        raise UndecodableError(msg)
    if data[: len(MAGIC)] != MAGIC:
        msg = f"starts with {data[: len(MAGIC)].hex()}, not the single-object marker c301"
        raise UndecodableError(msg)
    return data[len(MAGIC) : HEADER_SIZE].hex()


def decode(data: bytes, reader: AvroSchema, writer_lookup: WriterLookup) -> Any:
    """Decode a single-object value written with any schema that resolves to `reader`."""
    writer = writer_lookup(read_fingerprint(data))
    return _read_body(data, writer, reader, record_names=False)


def encode_report(report: Mapping[str, Any], schemas: SchemaSet) -> bytes:
    """Encode a domain dict with the current schema of its `type`."""
    type_name = report.get("type")
    if type_name not in REPORT_TYPES:
        msg = f"not a report type: {type_name!r}"
        raise EncodingError(msg)
    return encode(schemas.report(str(type_name)), report)


def decode_report(data: bytes, writer_lookup: WriterLookup, schemas: SchemaSet) -> dict[str, Any]:
    """Decode an ingress value of any report type into a domain dict.

    The fingerprint selects the writer schema; its record name selects the reader, the current
    version of the same report type, so every type arrives in its current shape.
    """
    fingerprint = read_fingerprint(data)
    writer = writer_lookup(fingerprint)
    type_name = writer.short_name
    if type_name not in REPORT_TYPES or writer.name != full_name(type_name):
        raise UnknownSchemaError(fingerprint, f"writer schema {writer.name} is not a report type")
    datum = _read_body(data, writer, schemas.report(type_name), record_names=False)
    return {"type": type_name, **datum}


def encode_delivery(
    delivery: Mapping[str, Any], schemas: SchemaSet, *, checked: bool = True
) -> bytes:
    """Encode a delivery whose `report` is a domain dict (or None).

    The report union holds nine record types; naming the branch explicitly (fastavro's
    `(name, record)` notation) avoids guessing it from the fields.
    """
    report = delivery.get("report")
    datum = dict(delivery)
    if report is not None:
        type_name = str(report.get("type"))
        branch = tag_record_unions(schemas.report(type_name), report) if not checked else report
        datum["report"] = (full_name(type_name), branch)
    return encode(schemas.delivery(), datum, checked=checked)


def decode_delivery(data: bytes, writer_lookup: WriterLookup, schemas: SchemaSet) -> dict[str, Any]:
    """Decode a feed value into a delivery dict whose `report` is a domain dict (or None)."""
    writer = writer_lookup(read_fingerprint(data))
    datum: dict[str, Any] = _read_body(data, writer, schemas.delivery(), record_names=True)
    report = datum.get("report")
    if report is not None:
        name, record = report
        datum["report"] = {"type": short_name(name), **record}
    return datum


def _read_body(data: bytes, writer: AvroSchema, reader: AvroSchema, *, record_names: bool) -> Any:
    buffer = io.BytesIO(data)
    buffer.seek(HEADER_SIZE)
    try:
        datum = schemaless_reader(
            buffer,
            writer.parsed,
            None if writer.parsed is reader.parsed else reader.parsed,
            return_record_name=record_names,
            return_record_name_override=True,
        )
    # The body is untrusted input and fastavro signals bad bytes with many unrelated types
    # (EOFError, ValueError, IndexError, OverflowError, schema resolution errors...); every one
    # of them means the same thing here, and none may crash the agent.
    except Exception as exc:
        msg = f"body does not decode as {writer.name} read as {reader.name}: {exc!r}"
        raise UndecodableError(msg) from exc
    left = len(data) - buffer.tell()
    if left:
        msg = f"{left} bytes left over after the {writer.name} body"
        raise UndecodableError(msg)
    return datum
