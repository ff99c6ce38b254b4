"""Exact-duplicate detection by `event_id` (CONTRACT.md 5.1 EVENT_ID_CONFLICT and 5.2).

A report is identified by its `event_id` and compared by a digest of its whole content as
published (`reported_at` included: the publisher fills it in once, so a republished record is
byte-for-byte the same report). Identical content has the same `occurred_at`, so the contract's
7-day event-time window is a promise about memory: the state keeps every accepted event id at
least that long (91 days, see `imx.pipeline.state`). While an id is remembered, the same content
is an exact duplicate and other content a conflict, however far apart in time: accepting a
reused id as new would hand recipients a second delivery with the same delivery id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

#: How long an accepted event id must at least be remembered (CONTRACT.md 5.2).
DEDUP_WINDOW = timedelta(days=7)


class DedupOutcome(StrEnum):
    NEW = "NEW"
    EXACT_DUPLICATE = "EXACT_DUPLICATE"
    CONFLICT = "CONFLICT"


@dataclass(frozen=True)
class SeenEvent:
    """What the dedup state keeps per `event_id`."""

    digest: str
    occurred_at: datetime


def _canonical(value: object) -> object:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            msg = f"naive datetime {value!r} in a report; timestamps must be timezone-aware"
            raise ValueError(msg)
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    msg = f"unexpected {type(value).__name__} in a report"
    raise TypeError(msg)


def content_digest(report: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the report as canonical JSON: sorted keys, UTC timestamps.

    Independent of dict ordering and of the time zone a timestamp was expressed in; lists keep
    their order because order is content (e.g. `related_event_ids`).
    """
    text = json.dumps(
        report, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_canonical
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def seen_event(report: Mapping[str, Any]) -> SeenEvent:
    return SeenEvent(digest=content_digest(report), occurred_at=report["occurred_at"])


def decide(report: Mapping[str, Any], seen: SeenEvent | None) -> DedupOutcome:
    """Classify a report against what is stored for its `event_id` (None: nothing stored)."""
    if seen is None:
        return DedupOutcome.NEW
    if content_digest(report) == seen.digest:
        return DedupOutcome.EXACT_DUPLICATE
    return DedupOutcome.CONFLICT
