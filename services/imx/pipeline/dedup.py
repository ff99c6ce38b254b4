"""Exact-duplicate detection by `event_id` (CONTRACT.md 5.1 EVENT_ID_CONFLICT and 5.2).

A report is identified by its `event_id` and compared by a digest of its whole content as
published (`reported_at` included: the publisher fills it in once, so a republished record is
byte-for-byte the same report). The window is in event time and inclusive: a stored entry
whose `occurred_at` is at most 7 days from the new report's `occurred_at` (in either direction,
so a late report is still caught) is compared; one further away is expired and the new report
counts as NEW, replacing it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

DEDUP_WINDOW = timedelta(days=7)
# Entries are kept a day past the window so reports arriving up to a day behind the newest
# event time seen still find them; dropping them earlier would change replay results.
DEDUP_RETENTION = DEDUP_WINDOW + timedelta(days=1)


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
    if seen is None or abs(report["occurred_at"] - seen.occurred_at) > DEDUP_WINDOW:
        return DedupOutcome.NEW
    if content_digest(report) == seen.digest:
        return DedupOutcome.EXACT_DUPLICATE
    return DedupOutcome.CONFLICT


def is_expired(seen: SeenEvent, watermark: datetime) -> bool:
    """True when the entry can be dropped: older than the retention before `watermark`.

    `watermark` is the newest `occurred_at` the caller has processed.
    """
    return seen.occurred_at < watermark - DEDUP_RETENTION
