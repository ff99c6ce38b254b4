"""What the stateful stage remembers, and how it forgets (event time, bounded).

Five key-value tables, each a ``MutableMapping`` of JSON-friendly values: faust tables in the
worker (RocksDB with changelogs), plain dicts in tests.

- ``events``: event id → summary of an accepted report (content digest, event time, incident,
  unit, type, handling). Serves exact de-duplication, ``related_event_ids`` and RFI look-ups.
- ``candidates``: 30-minute bucket of ``occurred_at`` and grid cell of the location →
  incident candidates in it.
- ``entities``: ``kind:key`` → index entries of reports that carried the entity key.
- ``journal``: ``table:day:chunk`` → keys written to a table on a watermark day, so expiry
  never scans a table.
- ``meta``: the watermark (newest ``occurred_at`` seen), the last day swept, and the number of
  journal chunks per table and day.

Expiry follows the watermark, not the wall clock, so a replay of history forgets exactly what the
live run forgot. A key is journalled under the watermark day of its write; once that day is
older than the table's retention it is re-checked and dropped if nothing newer keeps it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from imx.pipeline.correlate import CORRELATION_WINDOW, IndexEntry, update_index
from imx.pipeline.dedup import SeenEvent
from imx.pipeline.entities import EntityKey
from imx.pipeline.incidents import (
    CANDIDATE_RETENTION,
    MATCH_WINDOW,
    IncidentCandidate,
    could_match,
)
from imx.pipeline.writebehind import WriteBehind

Table = MutableMapping[str, Any]

BUCKET = MATCH_WINDOW
CELL_LAT = 0.05
CELL_LON = 0.1
#: Event summaries serve related-event and RFI look-ups as long as correlation looks back.
EVENT_RETENTION = CORRELATION_WINDOW + timedelta(days=1)
ENTITY_RETENTION = CORRELATION_WINDOW + timedelta(days=1)
CANDIDATE_DAYS = 1 + CANDIDATE_RETENTION // timedelta(days=1)
#: Keys per journal value: a write rewrites at most this many, however busy the day.
JOURNAL_CHUNK = 256
#: Journal values a write-behind cache keeps in memory. A write reads only the open chunk of
#: its table and day, and a full chunk is read again only when its day expires, so a few are
#: hot; cached like the other tables, the chunks held every key written within the retention
#: (90 days) in memory: in a 300,000-report replay the worker's memory kept growing by about
#: 0.5 KiB per report after the other caches were full (docs/performance.md).
JOURNAL_CACHE_ENTRIES = 1024
WATERMARK = "watermark"
PROCESSED = "processed_offset"
SWEPT = "swept_day"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)


# Integer arithmetic: through float seconds, some instants after 2038 came back a millisecond
# early, moving stored times across window and bucket edges.
def to_ms(moment: datetime) -> int:
    return (moment - EPOCH) // MILLISECOND


def from_ms(ms: int) -> datetime:
    return EPOCH + ms * MILLISECOND


def day_of(moment: datetime) -> int:
    return to_ms(moment) // 86_400_000


def bucket_of(moment: datetime) -> int:
    return to_ms(moment) // (int(BUCKET.total_seconds()) * 1000)


def cell_of(lat: float, lon: float) -> tuple[int, int]:
    """The grid cell of a position; a cell and its eight neighbours hold everything within 3 km.

    0.05 degrees of latitude are 5.6 km and 0.1 degrees of longitude at least 3 km up to 74
    degrees north, so no match can lie beyond the neighbouring cells.
    """
    return math.floor(lat / CELL_LAT), math.floor(lon / CELL_LON)


def candidate_key(bucket: int, cell: tuple[int, int]) -> str:
    return f"{bucket}:{cell[0]}:{cell[1]}"


@dataclass(frozen=True)
class EventSummary:
    """What ``events`` keeps about one accepted report."""

    event_id: str
    digest: str
    occurred_at: datetime
    incident_id: str
    unit: str
    type: str
    handling: str
    duplicate_of: str | None
    source: int  # offset of the input record accepted as this event (see Core.decide)

    def seen(self) -> SeenEvent:
        return SeenEvent(self.digest, self.occurred_at)

    def to_json(self) -> dict[str, Any]:
        return {
            "d": self.digest,
            "o": to_ms(self.occurred_at),
            "i": self.incident_id,
            "u": self.unit,
            "t": self.type,
            "h": self.handling,
            "p": self.duplicate_of,
            "s": self.source,
        }

    @classmethod
    def from_json(cls, event_id: str, raw: dict[str, Any]) -> EventSummary:
        return cls(
            event_id,
            raw["d"],
            from_ms(raw["o"]),
            raw["i"],
            raw["u"],
            raw["t"],
            raw["h"],
            raw["p"],
            raw["s"],
        )


def candidate_to_json(c: IncidentCandidate) -> list[Any]:
    return [c.event_id, c.type, c.unit, to_ms(c.occurred_at), c.lat, c.lon, c.persons,
            c.incident_id]  # fmt: skip


#: Positions in a stored candidate row (``candidate_to_json``) read before it is decoded.
ROW_EVENT_ID, ROW_UNIT, ROW_OCCURRED_MS, ROW_LAT, ROW_PERSONS = 0, 2, 3, 4, 6


def candidate_from_json(raw: list[Any]) -> IncidentCandidate:
    event_id, kind, unit, occurred, lat, lon, persons, incident = raw
    return IncidentCandidate(event_id, kind, unit, from_ms(occurred), lat, lon, persons, incident)


def entry_to_json(e: IndexEntry, source: int) -> list[Any]:
    return [e.event_id, e.incident_id, to_ms(e.occurred_at), e.unit, e.handling, source]


def entry_from_json(raw: list[Any]) -> IndexEntry:
    event_id, incident, occurred, unit, handling, _source = raw
    return IndexEntry(event_id, incident, from_ms(occurred), unit, handling)


def entity_name(key: EntityKey) -> str:
    return f"{key.kind}:{key.key}"


def cached(tables: dict[str, Table], entries: int) -> dict[str, Table]:
    """``tables`` behind write-behind caches of ``entries`` each (the journal: fewer)."""
    return {
        name: WriteBehind(
            table, capacity=min(entries, JOURNAL_CACHE_ENTRIES) if name == "journal" else entries
        )
        for name, table in tables.items()
    }


@dataclass
class PipelineState:
    """The tables of the stateful stage, with typed accessors and event-time expiry."""

    events: Table
    candidates: Table
    entities: Table
    journal: Table
    meta: Table

    def flush(self) -> int:
        """Apply buffered writes of tables that buffer them (``WriteBehind``); returns how many."""
        written = 0
        for table in (self.events, self.candidates, self.entities, self.journal, self.meta):
            if isinstance(table, WriteBehind):
                written += table.flush()
        return written

    def event(self, event_id: str) -> EventSummary | None:
        raw = self.events.get(event_id)
        return None if raw is None else EventSummary.from_json(event_id, raw)

    def put_event(self, summary: EventSummary) -> None:
        self.events[summary.event_id] = summary.to_json()
        self._journal("events", summary.event_id)

    def candidates_near(
        self,
        moment: datetime,
        lat: float,
        lon: float,
        *,
        partner_of: IncidentCandidate | None = None,
    ) -> Iterator[IncidentCandidate]:
        """Candidates within the match window of ``moment``, in the cells around (lat, lon).

        Keyed by time bucket and grid cell, so a report reads only its neighbourhood and the
        cost of matching stays flat however many reports a busy half hour brings elsewhere;
        the distance is left to the matching rule. With ``partner_of``, only candidates that
        ``could_match`` it are decoded and returned.
        """
        at, window = to_ms(moment), MATCH_WINDOW // MILLISECOND
        centre = bucket_of(moment)
        row, column = cell_of(lat, lon)
        for bucket in (centre - 1, centre, centre + 1):
            for cell in itertools.product(
                (row - 1, row, row + 1), (column - 1, column, column + 1)
            ):
                for raw in self.candidates.get(candidate_key(bucket, cell), ()):
                    if abs(raw[ROW_OCCURRED_MS] - at) > window:  # decode only what can match
                        continue
                    if partner_of is None or could_match(
                        partner_of, raw[ROW_UNIT], raw[ROW_LAT], raw[ROW_PERSONS]
                    ):
                        yield candidate_from_json(raw)

    def add_candidate(self, candidate: IncidentCandidate) -> None:
        key = candidate_key(bucket_of(candidate.occurred_at), cell_of(candidate.lat, candidate.lon))
        others = [c for c in self.candidates.get(key, ()) if c[ROW_EVENT_ID] != candidate.event_id]
        self.candidates[key] = [*others, candidate_to_json(candidate)]
        self._journal("candidates", key)

    def entries(self, key: EntityKey, before: int | None = None) -> list[IndexEntry]:
        """Index entries of ``key``; with ``before``, only those written by earlier inputs."""
        return [
            entry_from_json(raw)
            for raw in self.entities.get(entity_name(key), ())
            if before is None or raw[5] < before
        ]

    def add_entry(self, key: EntityKey, entry: IndexEntry, source: int) -> None:
        """Record that input ``source`` carried ``key`` (capped and expired by update_index)."""
        name = entity_name(key)
        raw = self.entities.get(name, ())
        sources = {item[0]: item[5] for item in raw}
        sources[entry.event_id] = source
        kept = update_index([entry_from_json(item) for item in raw], entry)
        self.entities[name] = [entry_to_json(e, sources[e.event_id]) for e in kept]
        self._journal("entities", name)

    @property
    def processed(self) -> int | None:
        """Offset of the last input record decided (the worker's guard against skipped input)."""
        value = self.meta.get(PROCESSED)
        return None if value is None else int(value)

    @processed.setter
    def processed(self, offset: int) -> None:
        self.meta[PROCESSED] = offset

    @property
    def watermark(self) -> datetime | None:
        ms = self.meta.get(WATERMARK)
        return None if ms is None else from_ms(ms)

    def advance(self, occurred_at: datetime) -> None:
        """Move the watermark forward and drop whatever fell out of every retention."""
        current = self.watermark
        if current is not None and occurred_at <= current:
            return
        self.meta[WATERMARK] = to_ms(occurred_at)
        today = day_of(occurred_at)
        swept = self.meta.get(SWEPT)
        if swept is None:
            self.meta[SWEPT] = today
            return
        for day in range(swept + 1, today + 1):
            self._sweep(day, occurred_at)
        self.meta[SWEPT] = today

    def _journal(self, table: str, key: str) -> None:
        """Note ``key`` under today's watermark day, in chunks so no value grows without bound."""
        # advance() runs before any write, so the swept day is the watermark's day.
        day = self.meta.get(SWEPT, 0)
        counter = f"chunks:{table}:{day}"
        chunks = self.meta.get(counter, 0)
        if chunks:
            name = f"{table}:{day}:{chunks - 1}"
            last = self.journal.get(name, [])
            if key in last:
                return
            if len(last) < JOURNAL_CHUNK:
                self.journal[name] = [*last, key]
                return
        self.journal[f"{table}:{day}:{chunks}"] = [key]
        self.meta[counter] = chunks + 1

    def _sweep(self, day: int, watermark: datetime) -> None:
        """On reaching ``day``, expire the journal days that each retention has passed."""
        for table, retention_days in (
            ("events", EVENT_RETENTION.days),
            ("entities", ENTITY_RETENTION.days),
            ("candidates", CANDIDATE_DAYS),
        ):
            old = day - retention_days - 1
            for chunk in range(self.meta.pop(f"chunks:{table}:{old}", 0)):
                for key in self.journal.pop(f"{table}:{old}:{chunk}", ()):
                    self._expire(table, key, watermark)

    def _expire(self, table: str, key: str, watermark: datetime) -> None:
        if table == "events":
            summary = self.event(key)
            if summary is not None and summary.occurred_at < watermark - EVENT_RETENTION:
                self.events.pop(key, None)
        elif table == "candidates":
            bucket = int(key.split(":", 1)[0])
            if from_ms((bucket + 1) * int(BUCKET.total_seconds()) * 1000) < (
                watermark - CANDIDATE_RETENTION
            ):
                self.candidates.pop(key, None)
        else:
            horizon = watermark - ENTITY_RETENTION
            kept = [raw for raw in self.entities.get(key, ()) if from_ms(raw[2]) >= horizon]
            if kept:
                self.entities[key] = kept
            else:
                self.entities.pop(key, None)
