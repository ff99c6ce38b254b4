"""Intake screening: the checks of CONTRACT.md 5.1 that need one record and nothing remembered.

Runs on every ingress record, in parallel across partitions. What passes goes on to the stateful
stage; what fails becomes a DLQ record with one of the contract's codes and a detail naming the
field. Order: size, decoding, proof of origin, values, unit ids, clock — the first failure wins,
so a report from an impostor is called SPOOFED_UNIT even when its values are bad too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from imx.registry import Registry
from imx.schema.codec import CodecError, WriterLookup, decode_report
from imx.schema.loader import SchemaSet
from imx.schema.validation import check_clock, validate_report

MAX_VALUE_BYTES = 256 * 1024

TOO_LARGE = "TOO_LARGE"
UNDECODABLE = "UNDECODABLE"
SPOOFED_UNIT = "SPOOFED_UNIT"
EVENT_ID_CONFLICT = "EVENT_ID_CONFLICT"
UNKNOWN_RFI = "UNKNOWN_RFI"


@dataclass(frozen=True)
class Rejection:
    """Why a record goes to the DLQ: a contract code and a human-readable detail."""

    code: str
    detail: str


def screen(
    value: bytes | None,
    unit: str,
    *,
    published_at: datetime,
    now: datetime,
    registry: Registry,
    writer_lookup: WriterLookup,
    schemas: SchemaSet,
) -> dict[str, Any] | Rejection:
    """The decoded report (``reported_at`` defaulted to publish time), or why it is rejected.

    ``unit`` is the unit of the ingress topic the record came from: the proof of origin.
    """
    if value is None:
        return Rejection(UNDECODABLE, "record has no value")
    if len(value) > MAX_VALUE_BYTES:
        return Rejection(TOO_LARGE, f"{len(value)} bytes is over the {MAX_VALUE_BYTES}-byte limit")
    try:
        report = decode_report(value, writer_lookup, schemas)
    except CodecError as exc:
        return Rejection(exc.code, str(exc))
    if report["reporting_unit"] != unit:
        detail = (
            f"reporting_unit: {report['reporting_unit']!r} published on the ingress topic of "
            f"{unit!r}"
        )
        return Rejection(SPOOFED_UNIT, detail)
    if report["reported_at"] is None:
        report["reported_at"] = published_at
    violations = validate_report(report, registry)
    if violations:
        first = violations[0]
        detail = "; ".join(f"{v.field}: {v.detail}" for v in violations if v.code == first.code)
        return Rejection(first.code, detail)
    skew = check_clock(report, now)
    if skew is not None:
        return Rejection(skew.code, f"{skew.field}: {skew.detail}")
    return report
