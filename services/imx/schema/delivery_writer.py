"""Encode a decision's deliveries, writing what recipients share once.

An Avro record's encoding is its fields' encodings one after the other, so a delivery is
three parts joined: its head (``delivery_id`` … ``duplicate_of``), its body (``report``,
``correlation``, ``enrichment``) and its ``timing``. The body is most of the bytes and, for the
recipients that see the same minimised view of a report (or of a correlation), the same: it is
written once per view instead of once per recipient. The head and the timing are small and
differ per recipient: they are written by functions compiled from their schema parts
(``compile_writer``), which cost a fraction of a fastavro call on a record this small. The
joined bytes are exactly ``encode_delivery``'s (held by property tests): readers see no
difference.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any, cast

from fastavro import schemaless_writer
from fastavro.schema import parse_schema

from imx.schema.codec import MAGIC, EncodingError, tag_record_unions
from imx.schema.loader import AvroSchema, SchemaSet, fingerprint, full_name

_NAMED = ("record", "enum", "fixed")
#: The first field of the body and of the tail of a Delivery.
_CUTS = ("report", "timing")


class DeliveryWriter:
    """Single-object encodings of deliveries and their disclosure records (unchecked)."""

    def __init__(self, schemas: SchemaSet) -> None:
        self._schemas = schemas
        delivery = self._schemas.delivery()
        self._header = MAGIC + delivery.fingerprint
        head, self._body, tail = split_record(delivery, _CUTS)
        self._head = compile_writer(head)
        self._tail = compile_writer(tail)
        disclosure = self._schemas.disclosure()
        self._disclosure_header = MAGIC + disclosure.fingerprint
        self._disclosure = compile_writer(disclosure)

    def encode_disclosure(self, disclosure: Mapping[str, Any]) -> bytes:
        """The encoding of a delivery's disclosure record, a small record written compiled."""
        return self._disclosure_header + self._disclosure(disclosure)

    def encode(self, deliveries: Sequence[Mapping[str, Any]]) -> list[bytes]:
        """The encoding of each delivery, in order (unchecked: the pipeline built them).

        Deliveries holding the very same report (one minimised view, shared by its
        recipients), correlation and enrichment objects share one encoding of them. Identity
        is safe as a key here: every object stays alive for the call.
        """
        bodies: dict[tuple[int, int, int], bytes] = {}
        out = []
        for delivery in deliveries:
            key = (id(delivery["report"]), id(delivery["correlation"]), id(delivery["enrichment"]))
            body = bodies.get(key)
            if body is None:
                body = bodies[key] = self._encode_body(delivery)
            out.append(b"".join((self._header, self._head(delivery), body, self._tail(delivery))))
        return out

    def _encode_body(self, delivery: Mapping[str, Any]) -> bytes:
        report = delivery["report"]
        if report is not None:  # one of nine record types: named, as encode_delivery does
            type_name = str(report["type"])
            tagged = tag_record_unions(self._schemas.report(type_name), report)
            report = (full_name(type_name), tagged)
        datum = {
            "report": report,
            "correlation": delivery["correlation"],
            "enrichment": delivery["enrichment"],
        }
        return _write(self._body, datum)


def _write(schema: AvroSchema, datum: Mapping[str, Any]) -> bytes:
    buffer = io.BytesIO()
    schemaless_writer(buffer, schema.parsed, tag_record_unions(schema, datum))
    return buffer.getvalue()


def split_record(schema: AvroSchema, cuts: Sequence[str]) -> tuple[AvroSchema, ...]:
    """``schema``'s fields as consecutive records, cut before each field named in ``cuts``.

    Each part refers to the named types by name and resolves them through the whole schema's
    definitions, so a type defined inline in one part is known to the others.
    """
    raw = json.loads(schema.json)
    names: dict[str, Any] = {}
    parse_schema(raw, named_schemas=names)
    namespace = str(raw.get("namespace", schema.name.rpartition(".")[0]))
    fields = [{**f, "type": _by_name(f["type"], namespace)} for f in raw["fields"]]
    positions = [field["name"] for field in fields]
    missing = [cut for cut in cuts if cut not in positions]
    if missing:
        msg = f"{schema.name} has no field {missing[0]!r}"
        raise ValueError(msg)
    bounds = [0, *(positions.index(cut) for cut in cuts), len(fields)]
    parts = []
    for number, (start, end) in enumerate(pairwise(bounds)):
        name = f"{schema.name}Part{number}"
        part = {"type": "record", "name": name, "fields": fields[start:end]}
        parsed = cast("dict[str, Any]", parse_schema(part, named_schemas=dict(names)))
        parts.append(AvroSchema(name, parsed, fingerprint(parsed), json.dumps(part), schema.named))
    return tuple(parts)


def _by_name(node: Any, namespace: str) -> Any:
    """``node`` with every inline named type replaced by its full name."""
    if isinstance(node, list):
        return [_by_name(branch, namespace) for branch in node]
    if not isinstance(node, dict):
        return node
    kind = node.get("type")
    if kind in _NAMED:
        name = str(node["name"])
        return name if "." in name else f"{node.get('namespace', namespace)}.{name}"
    if kind == "array":
        return {**node, "items": _by_name(node["items"], namespace)}
    if kind == "map":
        return {**node, "values": _by_name(node["values"], namespace)}
    return {**node, "type": _by_name(kind, namespace)}


Write = Callable[[Any], bytes]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def compile_writer(schema: AvroSchema) -> Write:
    """A function writing a datum of ``schema`` (a record) as fastavro would, only faster.

    Compiled for the types small records use (string, long, int, boolean, enum, array, union,
    record, timestamp-millis); a part with any other type is written by fastavro instead.
    """
    try:
        return _compile(schema.parsed, schema.parsed["__named_schemas"])
    except _UnsupportedError:
        return lambda datum: _write(schema, datum)


class _UnsupportedError(Exception):
    pass


def _compile(node: Any, named: Mapping[str, Any]) -> Write:
    if isinstance(node, str) and node in named:
        return _compile(named[node], named)
    if isinstance(node, list):
        return _union([_compile(branch, named) for branch in node], node)
    kind = node.get("type") if isinstance(node, dict) else node
    if isinstance(node, dict) and node.get("logicalType") == "timestamp-millis" and kind == "long":
        return _last_remembered(_timestamp_millis)
    if isinstance(kind, (dict, list)):
        return _compile(kind, named)
    if kind == "string":
        return _string
    if kind in ("long", "int"):
        return _long
    if kind == "boolean":
        return _boolean
    if kind == "null":
        return _null
    if kind == "enum":
        return _enum(node["symbols"])
    if kind == "array":
        return _array(_compile(node["items"], named))
    if kind == "record":
        return _record([(f["name"], _compile(f["type"], named)) for f in node["fields"]])
    raise _UnsupportedError(kind)


#: Zig-zag varints of -64..63, one byte each: lengths, enum indexes, union and array tags.
_ONE_BYTE = tuple(bytes([((n << 1) ^ (n >> 63)) & 0xFF]) for n in range(-64, 64))


def _varint(value: int) -> bytes:
    if -64 <= value < 64:
        return _ONE_BYTE[value + 64]
    value = (value << 1) ^ (value >> 63)  # zig-zag
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _long(value: Any) -> bytes:
    if not isinstance(value, int) or isinstance(value, bool):
        msg = f"{value!r} is not an integer"
        raise EncodingError(msg)
    return _varint(value)


def _string(value: Any) -> bytes:
    if not isinstance(value, str):
        msg = f"{value!r} is not a string"
        raise EncodingError(msg)
    data = value.encode()
    return _varint(len(data)) + data


def _boolean(value: Any) -> bytes:
    return b"\x01" if value else b"\x00"


def _null(value: Any) -> bytes:
    if value is not None:
        msg = f"{value!r} is not null"
        raise EncodingError(msg)
    return b""


def _timestamp_millis(value: Any) -> bytes:
    """fastavro's conversion of an aware datetime (its arithmetic, to the same millisecond)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            msg = f"{value!r} has no time zone"
            raise EncodingError(msg)
        delta = value - _EPOCH
        return _varint((delta.days * 86400 + delta.seconds) * 1000 + int(delta.microseconds / 1000))
    return _long(value)


def _last_remembered(write: Write) -> Write:
    """``write`` that answers the same object as the call before from memory.

    A report's deliveries and disclosures carry the very same datetime objects (one decision,
    one moment), so each is converted once instead of once per recipient.
    """
    last: list[Any] = [object(), b""]  # held, so its identity cannot pass to another object

    def remembered(value: Any) -> bytes:
        if value is not last[0]:
            last[1] = write(value)
            last[0] = value
        written: bytes = last[1]
        return written

    return remembered


def _enum(symbols: Sequence[str]) -> Write:
    index = {symbol: _varint(n) for n, symbol in enumerate(symbols)}

    def write(value: Any) -> bytes:
        try:
            return index[value]
        except (KeyError, TypeError):
            msg = f"{value!r} is not one of {list(symbols)}"
            raise EncodingError(msg) from None

    return write


def _array(item: Write) -> Write:
    def write(value: Any) -> bytes:
        if not value:
            return b"\x00"
        return b"".join((_varint(len(value)), *map(item, value), b"\x00"))

    return write


def _union(branches: list[Write], types: list[Any]) -> Write:
    """Only ``null`` or one other type, the unions of optional fields."""
    if len(types) != 2 or "null" not in types:
        raise _UnsupportedError(types)
    other = branches[1 - types.index("null")]
    null_tag, value_tag = _varint(types.index("null")), _varint(1 - types.index("null"))

    def write(value: Any) -> bytes:
        return null_tag if value is None else value_tag + other(value)

    return write


def _record(fields: list[tuple[str, Write]]) -> Write:
    def write(value: Any) -> bytes:
        return b"".join([encoder(value[name]) for name, encoder in fields])

    return write
