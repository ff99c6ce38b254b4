"""Incident assignment: related reports first, then matching, else a new incident (5.4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imx.pipeline.geo import haversine_km
from imx.pipeline.incidents import (
    CANDIDATE_RETENTION,
    MATCH_RADIUS_KM,
    MATCH_WINDOW,
    IncidentCandidate,
    IncidentDecision,
    assign_incident,
    could_match,
    is_candidate_expired,
    matches,
    persons_agree,
    prune_candidates,
)

pytestmark = pytest.mark.unit


def nobody_known(_: str) -> None:
    return None


@pytest.fixture
def ubc(build):
    """A crossing reported by Preševo border station on the equator, 10 persons."""

    def make(**fields):
        fields.setdefault("lat", 0.0)
        fields.setdefault("lon", 0.0)
        return build.report("UnauthorisedBorderCrossing", **fields)

    return make


def candidate(report, incident_id=None) -> IncidentCandidate:
    return IncidentCandidate.from_report(report, incident_id or report["event_id"])


def test_contract_limits() -> None:
    assert timedelta(minutes=30) == MATCH_WINDOW
    assert MATCH_RADIUS_KM == 3.0
    assert CANDIDATE_RETENTION > MATCH_WINDOW


def test_own_incident_when_nothing_matches(ubc) -> None:
    report = ubc()
    decision = assign_incident(report, nobody_known, [])
    assert decision == IncidentDecision(incident_id=report["event_id"], duplicate_of=None)


def test_matching_report_of_another_unit_joins_its_incident(ubc, build) -> None:
    first = ubc(reporting_unit="bps-presevo")
    second = ubc(reporting_unit="ps-presevo", occurred_at=build.t0 + timedelta(minutes=10))
    decision = assign_incident(second, nobody_known, [candidate(first, "inc-1")])
    assert decision == IncidentDecision(incident_id="inc-1", duplicate_of=first["event_id"])


def test_types_ubc_and_mdi_match_in_any_combination(build) -> None:
    kinds = ("UnauthorisedBorderCrossing", "MigrantsDetectedInland")
    for kind_a in kinds:
        for kind_b in kinds:
            a = build.report(kind_a, reporting_unit="bps-presevo")
            b = build.report(kind_b, reporting_unit="ps-presevo")
            assert matches(candidate(a), candidate(b))


def test_other_types_never_match(build) -> None:
    crisis = build.report("CrisisSituation", reporting_unit="ps-presevo", persons=10)
    other = IncidentCandidate.from_report(crisis, crisis["event_id"])
    crossing = build.report("UnauthorisedBorderCrossing")
    assert not matches(candidate(crossing), other)
    assert assign_incident(crisis, nobody_known, [candidate(crossing)]).duplicate_of is None


def test_same_unit_never_matches(ubc) -> None:
    a, b = ubc(reporting_unit="bps-rujan"), ubc(reporting_unit="bps-rujan")
    assert not matches(candidate(a), candidate(b))


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(minutes=30), True),
        (timedelta(minutes=-30), True),
        (timedelta(minutes=30, milliseconds=1), False),
        (timedelta(minutes=-30, milliseconds=-1), False),
    ],
)
def test_time_boundary_at_exactly_30_minutes(ubc, build, delta, expected) -> None:
    a = ubc(reporting_unit="bps-presevo")
    b = ubc(reporting_unit="ps-presevo", occurred_at=build.t0 + delta)
    assert matches(candidate(a), candidate(b)) is expected


def test_distance_boundary_at_exactly_3_km(ubc, build) -> None:
    inside, outside = build.equator_boundary(3.0)
    a = ubc(reporting_unit="bps-presevo")
    at_limit = ubc(reporting_unit="ps-presevo", lon=inside)
    beyond = ubc(reporting_unit="ps-presevo", lon=outside)
    assert haversine_km(0.0, 0.0, 0.0, inside) == 3.0
    assert matches(candidate(a), candidate(at_limit))
    assert not matches(candidate(a), candidate(beyond))


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (1, 3, True),  # max(2, 0.6) = 2
        (1, 4, False),
        (10, 12, True),  # 2 ≤ max(2, 2.4)
        (10, 13, False),  # 3 > 2.6
        (20, 25, True),  # 5 ≤ 0.2 * 25 exactly
        (20, 26, False),  # 6 > 5.2
        (40, 50, True),  # 10 ≤ 0.2 * 50 exactly
        (39, 50, False),
        (15, 12, True),  # 3 ≤ 0.2 * 15 exactly
        (15, 11, False),
        (7, 7, True),
    ],
)
def test_persons_tolerance_boundaries(a, b, expected) -> None:
    assert persons_agree(a, b) is expected
    assert persons_agree(b, a) is expected


def test_persons_rule_applies_to_matching(ubc) -> None:
    a = ubc(reporting_unit="bps-presevo", persons=20)
    assert matches(candidate(a), candidate(ubc(reporting_unit="ps-presevo", persons=25)))
    assert not matches(candidate(a), candidate(ubc(reporting_unit="ps-presevo", persons=26)))


def test_related_event_ids_take_precedence_over_matching(ubc) -> None:
    first = ubc(reporting_unit="bps-presevo")
    follow_up = ubc(reporting_unit="ps-presevo", related_event_ids=["unknown", "known-a", "b"])
    known = {"known-a": "inc-a", "b": "inc-b"}
    decision = assign_incident(follow_up, known.get, [candidate(first, "inc-match")])
    assert decision == IncidentDecision(incident_id="inc-a", duplicate_of=None)


def test_unknown_related_ids_fall_back_to_matching(ubc) -> None:
    first = ubc(reporting_unit="bps-presevo")
    follow_up = ubc(reporting_unit="ps-presevo", related_event_ids=["never-seen"])
    decision = assign_incident(follow_up, nobody_known, [candidate(first, "inc-match")])
    assert decision == IncidentDecision(incident_id="inc-match", duplicate_of=first["event_id"])


def test_related_ids_apply_to_every_type(build) -> None:
    request = build.report("RequestForInformation", related_event_ids=["x"])
    assert assign_incident(request, {"x": "inc-x"}.get, []).incident_id == "inc-x"


def test_earliest_matching_candidate_wins_whatever_the_order(ubc, build) -> None:
    t0 = build.t0
    late = candidate(ubc(reporting_unit="bps-rujan", occurred_at=t0 + timedelta(minutes=5)), "i2")
    early = candidate(ubc(reporting_unit="bps-presevo", occurred_at=t0 - timedelta(minutes=5)))
    far = candidate(ubc(reporting_unit="ps-vranje", occurred_at=t0 - timedelta(hours=1)), "i3")
    report = ubc(reporting_unit="ps-presevo")
    for candidates in ([late, early, far], [far, early, late]):
        decision = assign_incident(report, nobody_known, candidates)
        assert decision == IncidentDecision(early.incident_id, early.event_id)


def test_equal_times_break_ties_by_event_id(ubc) -> None:
    a = candidate(ubc(reporting_unit="bps-presevo", event_id="b-event"), "inc-b")
    b = candidate(ubc(reporting_unit="bps-rujan", event_id="a-event"), "inc-a")
    decision = assign_incident(ubc(reporting_unit="ps-presevo"), nobody_known, [a, b])
    assert decision == IncidentDecision("inc-a", "a-event")


def test_candidate_with_the_same_event_id_is_ignored(ubc) -> None:
    report = ubc(reporting_unit="ps-presevo")
    twin = IncidentCandidate.from_report({**report, "reporting_unit": "bps-presevo"}, "inc-z")
    assert assign_incident(report, nobody_known, [twin]).duplicate_of is None


def test_candidate_expiry_keeps_a_margin(ubc, build) -> None:
    old = candidate(ubc())
    assert not is_candidate_expired(old, build.t0 + CANDIDATE_RETENTION)
    later = build.t0 + CANDIDATE_RETENTION + timedelta(milliseconds=1)
    assert is_candidate_expired(old, later)
    fresh = candidate(ubc(occurred_at=later))
    assert prune_candidates([old, fresh], later) == [fresh]


_T = datetime(2026, 3, 1, tzinfo=UTC)


@st.composite
def _pairs(draw: st.DrawFn) -> tuple[IncidentCandidate, IncidentCandidate]:
    """Two reports close enough in space and time that some pairs match and some do not."""
    lat = draw(st.floats(-80.0, 80.0))
    # around the radius: 3 km are 0.02698 degrees of latitude
    dlat = draw(st.floats(-0.03, 0.03) | st.sampled_from([-0.026979, 0.026979, 0.02698]))
    a = IncidentCandidate("a", "UnauthorisedBorderCrossing", "bps-presevo", _T, lat, 20.0,
                          draw(st.integers(1, 200)), "a")  # fmt: skip
    b = IncidentCandidate(
        "b",
        "MigrantsDetectedInland",
        draw(st.sampled_from(["bps-presevo", "ps-sid"])),
        _T + timedelta(minutes=draw(st.integers(-30, 30))),
        lat + dlat,
        20.0 + draw(st.floats(-0.05, 0.05) | st.just(0.0)),
        draw(st.integers(1, 200)),
        "b",
    )
    return a, b


@given(_pairs())
def test_could_match_never_excludes_a_match(pair: tuple[IncidentCandidate, ...]) -> None:
    a, b = pair
    if matches(a, b):
        assert could_match(a, b.unit, b.lat, b.persons)


def test_could_match_holds_at_the_radius() -> None:
    a = IncidentCandidate("a", "UnauthorisedBorderCrossing", "u1", _T, 0.0, 0.0, 10, "a")
    north = 3.0 / 111.195081  # 3.0 km north, a hair inside
    b = IncidentCandidate("b", "UnauthorisedBorderCrossing", "u2", _T, north, 0.0, 10, "b")
    assert matches(a, b)
    assert could_match(a, b.unit, b.lat, b.persons)


def test_could_match_excludes_what_cannot_match(ubc) -> None:
    own = candidate(ubc(persons=10))
    assert could_match(own, "ps-sid", own.lat + 0.02, 12)
    assert not could_match(own, own.unit, own.lat, 10)  # same unit
    assert not could_match(own, "ps-sid", own.lat + 0.028, 10)  # > 3 km north
    assert not could_match(own, "ps-sid", own.lat, 13)  # persons apart
