"""Correlation through the entity index (CONTRACT.md 5.5)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from imx.pipeline.correlate import (
    CORRELATION_WINDOW,
    INDEX_ENTRIES_PER_KEY,
    MAX_LINKED_EVENTS,
    IndexEntry,
    correlate,
    correlation_id,
    update_index,
)
from imx.pipeline.entities import EntityKey

pytestmark = pytest.mark.unit

PLATE = EntityKey("vehicle", "VR123AB")
PHONE = EntityKey("phone", "381641234567")


def entry(build, event_id, incident_id, days=0.0, *, unit="bps-rujan", handling="H0"):
    return IndexEntry(
        event_id=event_id,
        incident_id=incident_id,
        occurred_at=build.t0 + timedelta(days=days),
        unit=unit,
        handling=handling,
    )


def lookup(index):
    return lambda key: index.get(key, ())


@pytest.fixture
def report(build):
    return build.report(
        "VehicleSighting",
        event_id="new",
        reporting_unit="ps-sid",
        handling="H1",
        vehicle=build.vehicle(plate="VR 123-AB"),
    )


def test_contract_limits() -> None:
    assert timedelta(days=90) == CORRELATION_WINDOW
    assert MAX_LINKED_EVENTS == 50
    assert INDEX_ENTRIES_PER_KEY == 50


def test_no_correlation_without_earlier_reports(report) -> None:
    assert correlate(report, "inc-new", [PLATE], lookup({})) == []


def test_no_correlation_when_every_earlier_report_is_in_the_same_incident(build, report) -> None:
    index = {PLATE: [entry(build, "a", "inc-new"), entry(build, "b", "inc-new", days=-1)]}
    assert correlate(report, "inc-new", [PLATE], lookup(index)) == []


def test_correlation_lists_all_linked_reports_and_units(build, report) -> None:
    index = {
        PLATE: [
            entry(build, "same-incident", "inc-new", days=-1, unit="ps-sid", handling="H0"),
            entry(build, "other", "inc-1", days=-2, unit="bps-presevo", handling="H0"),
        ]
    }
    (found,) = correlate(report, "inc-new", [PLATE, PHONE], lookup(index))
    assert found.entity == PLATE
    assert found.event_ids == ("other", "same-incident", "new")
    assert found.units == ("bps-presevo", "ps-sid")
    assert found.handlings == ("H0", "H1")
    assert found.correlation_id == correlation_id(PLATE, "new")
    assert found.as_dict() == {
        "correlation_id": found.correlation_id,
        "entity_kind": "vehicle",
        "entity_key": "VR123AB",
        "event_ids": ["other", "same-incident", "new"],
        "units": ["bps-presevo", "ps-sid"],
    }


def test_one_correlation_per_key(build, report) -> None:
    index = {PLATE: [entry(build, "a", "inc-1")], PHONE: [entry(build, "b", "inc-2")]}
    found = correlate(report, "inc-new", [PLATE, PHONE], lookup(index))
    assert [c.entity for c in found] == [PLATE, PHONE]
    assert len({c.correlation_id for c in found}) == 2


@pytest.mark.parametrize(
    ("days", "linked"),
    [(-90, True), (90, True), (-90.000001, False), (90.000001, False)],
)
def test_window_boundary_at_exactly_90_days(build, report, days, linked) -> None:
    index = {PLATE: [entry(build, "old", "inc-1", days=days)]}
    assert bool(correlate(report, "inc-new", [PLATE], lookup(index))) is linked


def test_expired_entries_are_not_listed(build, report) -> None:
    index = {
        PLATE: [entry(build, "recent", "inc-1", days=-10), entry(build, "ancient", "inc-0", -91)]
    }
    (found,) = correlate(report, "inc-new", [PLATE], lookup(index))
    assert found.event_ids == ("recent", "new")


def test_ties_in_time_are_ordered_by_event_id(build, report) -> None:
    index = {PLATE: [entry(build, "b", "inc-1", -1), entry(build, "a", "inc-2", -1)]}
    (found,) = correlate(report, "inc-new", [PLATE], lookup(index))
    assert found.event_ids == ("a", "b", "new")


def test_at_most_the_50_most_recent_are_listed(build, report) -> None:
    earlier = [entry(build, f"e{i:02}", f"inc-{i}", days=-i) for i in range(1, 61)]
    (found,) = correlate(report, "inc-new", [PLATE], lookup({PLATE: earlier}))
    assert len(found.event_ids) == 50
    assert found.event_ids == (*(f"e{i:02}" for i in range(49, 0, -1)), "new")


def test_a_late_report_still_lists_itself(build, report) -> None:
    report["occurred_at"] = build.t0 - timedelta(days=30)
    later = [entry(build, f"e{i:02}", f"inc-{i}", days=-i / 10) for i in range(1, 61)]
    (found,) = correlate(report, "inc-new", [PLATE], lookup({PLATE: later}))
    assert len(found.event_ids) == 50
    assert found.event_ids[0] == "new"
    assert found.event_ids[-1] == "e01"


def test_the_report_itself_is_not_linked_twice(build, report) -> None:
    index = {PLATE: [entry(build, "new", "inc-old"), entry(build, "a", "inc-1")]}
    (found,) = correlate(report, "inc-new", [PLATE], lookup(index))
    assert found.event_ids == ("a", "new")


def test_correlation_id_is_deterministic_and_a_uuid() -> None:
    assert correlation_id(PLATE, "e1") == correlation_id(PLATE, "e1")
    assert correlation_id(PLATE, "e1") != correlation_id(PLATE, "e2")
    assert correlation_id(PLATE, "e1") != correlation_id(EntityKey("phone", "VR123AB"), "e1")
    assert uuid.UUID(correlation_id(PLATE, "e1")).version == 5


def test_index_entry_from_report(report) -> None:
    assert IndexEntry.from_report(report, "inc-9") == IndexEntry(
        "new", "inc-9", report["occurred_at"], "ps-sid", "H1"
    )


def test_update_index_keeps_the_50_most_recent_oldest_first(build) -> None:
    entries = tuple(entry(build, f"e{i:02}", "inc", days=-i) for i in range(1, 51))
    updated = update_index(entries, entry(build, "new", "inc"))
    assert len(updated) == 50
    assert updated[-1].event_id == "new"
    assert "e50" not in {e.event_id for e in updated}
    assert [e.occurred_at for e in updated] == sorted(e.occurred_at for e in updated)


def test_update_index_expires_relative_to_the_newest_entry(build) -> None:
    entries = (entry(build, "edge", "i", days=-90), entry(build, "gone", "i", days=-90.001))
    updated = update_index(entries, entry(build, "new", "i"))
    assert [e.event_id for e in updated] == ["edge", "new"]


def test_update_index_replaces_a_re_recorded_event(build) -> None:
    entries = (entry(build, "a", "inc-1"),)
    updated = update_index(entries, entry(build, "a", "inc-2"))
    assert [(e.event_id, e.incident_id) for e in updated] == [("a", "inc-2")]
