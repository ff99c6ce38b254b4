"""Correlation across incidents through shared entity keys (CONTRACT.md 5.5).

The entity index maps an entity key to the recent reports that carried it. Decisions the
contract leaves open:

- The 90-day window is inclusive and measured between `occurred_at` values in either
  direction: a report published late still links to reports that happened after it, which it
  would otherwise never meet (they were processed first).
- A correlation lists the new report and the 49 most recent linked reports (at most 50 in
  all): the new report's own id is always listed, even when it arrived late.
- Each key keeps its 50 most recent entries (by `occurred_at`, then `event_id`) and drops
  entries more than 90 days older than its newest one; a key seen by more than 50 reports of
  one incident can therefore forget an older incident.
- Entries record `handling` so that correlation routing can tell whether every linked report
  may go abroad (CONTRACT.md 5.6).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from imx.pipeline.entities import EntityKey
from imx.pipeline.ids import name_uuid

CORRELATION_WINDOW = timedelta(days=90)
MAX_LINKED_EVENTS = 50
INDEX_ENTRIES_PER_KEY = 50
CORRELATION_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:imx:correlation")


@dataclass(frozen=True)
class IndexEntry:
    """One accepted report that carried an entity key."""

    event_id: str
    incident_id: str
    occurred_at: datetime
    unit: str
    handling: str

    @classmethod
    def from_report(cls, report: Mapping[str, Any], incident_id: str) -> IndexEntry:
        return cls(
            event_id=report["event_id"],
            incident_id=incident_id,
            occurred_at=report["occurred_at"],
            unit=report["reporting_unit"],
            handling=report["handling"],
        )


@dataclass(frozen=True)
class Correlation:
    correlation_id: str
    entity: EntityKey
    event_ids: tuple[str, ...]  # oldest first
    units: tuple[str, ...]  # sorted
    handlings: tuple[str, ...]  # distinct handling codes of the listed reports, sorted

    def as_dict(self) -> dict[str, Any]:
        """The delivery record's `correlation` member (CONTRACT.md section 6)."""
        return {
            "correlation_id": self.correlation_id,
            "entity_kind": self.entity.kind,
            "entity_key": self.entity.key,
            "event_ids": list(self.event_ids),
            "units": list(self.units),
        }


def correlation_id(entity: EntityKey, event_id: str) -> str:
    """Stable id of the one correlation per (entity key, new report)."""
    return name_uuid(CORRELATION_NAMESPACE, f"{entity.kind}:{entity.key}|{event_id}")


def _order(entry: IndexEntry) -> tuple[datetime, str]:
    return entry.occurred_at, entry.event_id


def correlate(
    report: Mapping[str, Any],
    incident_id: str,
    keys: Iterable[EntityKey],
    index_lookup: Callable[[EntityKey], Iterable[IndexEntry]],
) -> list[Correlation]:
    """One correlation per key that an entry of another incident carried within 90 days."""
    new = IndexEntry.from_report(report, incident_id)
    correlations = []
    for key in keys:
        linked = [
            entry
            for entry in index_lookup(key)
            if entry.event_id != new.event_id
            and abs(entry.occurred_at - new.occurred_at) <= CORRELATION_WINDOW
        ]
        if all(entry.incident_id == incident_id for entry in linked):
            continue
        recent = sorted(linked, key=_order)[-(MAX_LINKED_EVENTS - 1) :]
        listed = sorted([*recent, new], key=_order)
        correlations.append(
            Correlation(
                correlation_id=correlation_id(key, new.event_id),
                entity=key,
                event_ids=tuple(entry.event_id for entry in listed),
                units=tuple(sorted({entry.unit for entry in listed})),
                handlings=tuple(sorted({entry.handling for entry in listed})),
            )
        )
    return correlations


def update_index(entries: Iterable[IndexEntry], new: IndexEntry) -> tuple[IndexEntry, ...]:
    """A key's entries after recording `new`: oldest first, expired and excess ones dropped."""
    kept = [entry for entry in entries if entry.event_id != new.event_id]
    kept.append(new)
    horizon = max(entry.occurred_at for entry in kept) - CORRELATION_WINDOW
    fresh = sorted((entry for entry in kept if entry.occurred_at >= horizon), key=_order)
    return tuple(fresh[-INDEX_ENTRIES_PER_KEY:])
