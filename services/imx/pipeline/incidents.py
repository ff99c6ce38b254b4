"""Incident assignment (CONTRACT.md 5.4).

Decisions the contract leaves open:

- "The first of its `related_event_ids` that is known" is taken in list order; ids the
  lookup does not know are skipped.
- Candidates are the already-processed reports held in state, so "an earlier matching report"
  is any matching candidate, including one whose `occurred_at` is later (a late report). When
  several match, the one with the smallest (`occurred_at`, `event_id`) wins: the first report
  of the incident in event time, which gives the same answer whatever order state returns them.
- All limits are inclusive: 30 minutes, 3.0 km and the persons tolerance match at equality.
  The persons rule is evaluated in integers (5*|a-b| ≤ max(10, a, b)), exact by construction
  rather than by the luck of floating-point rounding of 0.2*n.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from imx.pipeline.geo import EARTH_RADIUS_KM, haversine_km, within

MATCHABLE_TYPES = frozenset({"UnauthorisedBorderCrossing", "MigrantsDetectedInland"})
MATCH_WINDOW = timedelta(minutes=30)
MATCH_RADIUS_KM = 3.0
# Candidates stay in state well past the match window so that reports arriving out of order,
# up to 90 minutes behind the newest event time seen, still meet their partners.
CANDIDATE_RETENTION = MATCH_WINDOW + timedelta(minutes=90)


@dataclass(frozen=True)
class IncidentCandidate:
    """What incident state keeps about a processed UBC or MDI report."""

    event_id: str
    type: str
    unit: str
    occurred_at: datetime
    lat: float
    lon: float
    persons: int
    incident_id: str

    @classmethod
    def from_report(cls, report: Mapping[str, Any], incident_id: str) -> IncidentCandidate:
        location = report["location"]
        return cls(
            event_id=report["event_id"],
            type=report["type"],
            unit=report["reporting_unit"],
            occurred_at=report["occurred_at"],
            lat=location["lat"],
            lon=location["lon"],
            persons=report["persons"],
            incident_id=incident_id,
        )


@dataclass(frozen=True)
class IncidentDecision:
    incident_id: str
    duplicate_of: str | None  # event id of the matched report; None unless found by matching


def persons_agree(persons_a: int, persons_b: int) -> bool:
    """|a - b| ≤ max(2, 0.2 * max(a, b)), in exact integer arithmetic."""
    return 5 * abs(persons_a - persons_b) <= max(10, persons_a, persons_b)


#: Two points further apart in latitude than this are further apart than the match radius: a
#: great circle is never shorter than its difference in latitude (plus a hair for rounding).
MATCH_LAT_DEGREES = math.degrees(MATCH_RADIUS_KM / EARTH_RADIUS_KM) * (1 + 1e-9)


def could_match(own: IncidentCandidate, unit: str, lat: float, persons: int) -> bool:
    """A necessary condition of ``matches(own, other)``, on fields read before decoding ``other``.

    Used to skip most stored candidates cheaply; ``matches`` still decides.
    """
    return (
        unit != own.unit
        and abs(lat - own.lat) <= MATCH_LAT_DEGREES
        and persons_agree(own.persons, persons)
    )


def matches(a: IncidentCandidate, b: IncidentCandidate) -> bool:
    """Whether two reports describe the same incident (symmetric)."""
    return (
        a.type in MATCHABLE_TYPES
        and b.type in MATCHABLE_TYPES
        and a.unit != b.unit
        and abs(a.occurred_at - b.occurred_at) <= MATCH_WINDOW
        and within(haversine_km(a.lat, a.lon, b.lat, b.lon), MATCH_RADIUS_KM)
        and persons_agree(a.persons, b.persons)
    )


def assign_incident(
    report: Mapping[str, Any],
    related_lookup: Callable[[str], str | None],
    candidates: Iterable[IncidentCandidate],
) -> IncidentDecision:
    """The incident of a report: via `related_event_ids`, else by matching, else its own.

    `related_lookup` maps a known event id to its incident id (None when unknown).
    """
    for related in report["related_event_ids"]:
        incident_id = related_lookup(related)
        if incident_id is not None:
            return IncidentDecision(incident_id=incident_id, duplicate_of=None)
    if report["type"] in MATCHABLE_TYPES:
        own = IncidentCandidate.from_report(report, incident_id=report["event_id"])
        matching = [c for c in candidates if c.event_id != own.event_id and matches(own, c)]
        if matching:
            first = min(matching, key=lambda c: (c.occurred_at, c.event_id))
            return IncidentDecision(incident_id=first.incident_id, duplicate_of=first.event_id)
    return IncidentDecision(incident_id=report["event_id"], duplicate_of=None)


def is_candidate_expired(candidate: IncidentCandidate, watermark: datetime) -> bool:
    """True when no report within the retention of `watermark` can match the candidate.

    `watermark` is the newest `occurred_at` the caller has processed.
    """
    return candidate.occurred_at < watermark - CANDIDATE_RETENTION


def prune_candidates(
    candidates: Iterable[IncidentCandidate], watermark: datetime
) -> list[IncidentCandidate]:
    return [c for c in candidates if not is_candidate_expired(c, watermark)]
