"""What the stateful stage remembers and how it forgets, in event time (state.py)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from imx.pipeline.correlate import IndexEntry
from imx.pipeline.entities import EntityKey
from imx.pipeline.incidents import IncidentCandidate
from imx.pipeline.state import (
    CANDIDATE_DAYS,
    ENTITY_RETENTION,
    EVENT_RETENTION,
    JOURNAL_CACHE_ENTRIES,
    JOURNAL_CHUNK,
    ROW_EVENT_ID,
    ROW_LAT,
    ROW_OCCURRED_MS,
    ROW_PERSONS,
    ROW_UNIT,
    EventSummary,
    PipelineState,
    cached,
    candidate_to_json,
    to_ms,
)
from imx.pipeline.writebehind import WriteBehind

from .conftest import T0, Build
from .scenario import PRESEVO, Run, eid, fresh_state, make, table_sizes

pytestmark = pytest.mark.unit

DAY = timedelta(days=1)
MIDNIGHT = T0.replace(hour=0)
TIMES_OF_DAY = [timedelta(0), timedelta(hours=12), DAY - timedelta(milliseconds=1)]
PLATE = EntityKey("vehicle", "VR123AB")

# Avro timestamps are whole milliseconds; state must give back exactly what it was given.
instants = st.datetimes(
    min_value=datetime(1971, 1, 1),  # noqa: DTZ001 - bounds of a strategy with a UTC zone
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
).map(lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000))
ids = st.uuids().map(str)
units = st.sampled_from(["bps-presevo", "ps-vranje", "gpd-oc"])
handlings = st.sampled_from(["H0", "H1", "H2", "H3"])
summaries = st.builds(
    EventSummary,
    event_id=ids,
    digest=st.text(),
    occurred_at=instants,
    incident_id=ids,
    unit=units,
    type=st.sampled_from(["UnauthorisedBorderCrossing", "RequestForInformation"]),
    handling=handlings,
    duplicate_of=st.none() | ids,
    source=st.integers(0, 2**40),
)
AWKWARD = datetime(2038, 9, 21, 4, 21, 45, 134000, tzinfo=UTC)  # ms lost by float arithmetic


def summary(event_id: str, occurred: datetime, **fields: str | int | None) -> EventSummary:
    values = {
        "digest": "ab" * 32,
        "incident_id": event_id,
        "unit": "bps-presevo",
        "type": "UnauthorisedBorderCrossing",
        "handling": "H0",
        "duplicate_of": None,
        "source": 7,
        **fields,
    }
    return EventSummary(event_id=event_id, occurred_at=occurred, **values)


NEAR = (42.31, 21.64)  # 1.3 km from the candidates below


def candidate(event_id: str, occurred: datetime) -> IncidentCandidate:
    return IncidentCandidate(
        event_id, "UnauthorisedBorderCrossing", "bps-presevo", occurred, 42.3, 21.65, 12, event_id
    )


def entry(event_id: str, occurred: datetime) -> IndexEntry:
    return IndexEntry(event_id, event_id, occurred, "bps-presevo", "H0")


def written(state: PipelineState, at: datetime) -> PipelineState:
    state.advance(at)
    return state


def json_round_trip(state: PipelineState) -> None:
    """Tables hold JSON-friendly values only: faust serialises them to its changelogs."""
    for name in ("events", "candidates", "entities", "journal", "meta"):
        table = getattr(state, name)
        assert json.loads(json.dumps(table)) == table, name


@given(stored=summaries)
@example(stored=summary(eid("x"), AWKWARD, duplicate_of=eid("y"), source=17))
def test_event_summary_round_trips(stored: EventSummary) -> None:
    state = written(fresh_state(), stored.occurred_at)
    state.put_event(stored)
    assert state.event(stored.event_id) == stored
    assert state.event(stored.event_id + "-other") is None
    json_round_trip(state)


@given(event_id=ids, occurred=instants)
@example(event_id=eid("x"), occurred=AWKWARD)
def test_candidate_round_trips(event_id, occurred) -> None:
    state = written(fresh_state(), occurred)
    stored = candidate(event_id, occurred)
    state.add_candidate(stored)
    assert list(state.candidates_near(occurred, *NEAR)) == [stored]
    json_round_trip(state)


@given(first=instants, days=st.integers(0, 89))
@example(first=AWKWARD, days=0)
def test_entries_round_trip_in_order(first, days) -> None:
    state = written(fresh_state(), first + timedelta(days=days))
    stored = (entry(eid("a"), first), entry(eid("b"), first + timedelta(days=days)))
    for source, item in enumerate(stored):
        state.add_entry(PLATE, item, source)
    assert state.entries(PLATE) == list(stored)
    assert state.entries(PLATE, before=1) == [stored[0]]
    assert state.entries(EntityKey("phone", "381641234567")) == []
    json_round_trip(state)


def test_candidates_near_are_exactly_those_within_the_match_window() -> None:
    state = written(fresh_state(), T0 + timedelta(hours=3))
    offsets = [-91, -61, -31, -30, 0, 30, 31, 59, 91]
    for minutes in offsets:
        state.add_candidate(candidate(f"c{minutes}", T0 + timedelta(minutes=minutes)))
    found = {c.event_id for c in state.candidates_near(T0, *NEAR)}
    assert found == {"c-30", "c0", "c30"}  # the 30-minute window either side, inclusive


def test_candidates_of_one_bucket_accumulate_once_per_event() -> None:
    state = written(fresh_state(), T0)
    state.add_candidate(candidate("first", T0))
    state.add_candidate(candidate("second", T0 + timedelta(minutes=1)))
    state.add_candidate(candidate("first", T0))  # the same report decided again
    assert sorted(c.event_id for c in state.candidates_near(T0, *NEAR)) == ["first", "second"]
    assert len(state.candidates) == 1


def test_the_watermark_only_moves_forward() -> None:
    state = fresh_state()
    assert state.watermark is None
    state.advance(T0)
    assert state.watermark == T0
    state.advance(T0 - timedelta(days=3))
    assert state.watermark == T0
    state.advance(T0 + timedelta(milliseconds=1))
    assert state.watermark == T0 + timedelta(milliseconds=1)


def test_a_late_write_before_the_watermark_is_kept() -> None:
    state = written(fresh_state(), T0)
    late = T0 - timedelta(days=30)
    state.advance(late)
    state.put_event(summary("late", late))
    assert state.event("late") == summary("late", late)
    assert state.watermark == T0


@pytest.mark.parametrize("time_of_day", TIMES_OF_DAY)
def test_an_event_summary_is_kept_for_its_retention_and_gone_a_day_later(time_of_day) -> None:
    start = MIDNIGHT + time_of_day
    state = written(fresh_state(), start)
    state.put_event(summary("e", start))
    for days in range(1, 91):  # a report a day moves the watermark
        state.advance(start + timedelta(days=days))
    assert state.event("e") == summary("e", start)
    state.advance(start + EVENT_RETENTION)
    assert state.event("e") == summary("e", start)
    state.advance(start + EVENT_RETENTION + DAY)
    assert state.event("e") is None
    assert state.events == {}


def test_a_late_event_is_gone_at_most_a_retention_and_a_day_after_its_write() -> None:
    state = written(fresh_state(), T0)
    state.put_event(summary("late", T0 - timedelta(days=10)))
    state.advance(T0 + EVENT_RETENTION + DAY)
    assert state.event("late") is None


@pytest.mark.parametrize("time_of_day", TIMES_OF_DAY)
def test_candidates_are_gone_after_about_a_day(time_of_day) -> None:
    start = MIDNIGHT + time_of_day
    state = written(fresh_state(), start)
    state.add_candidate(candidate("c", start))
    state.advance(start + DAY)
    assert [c.event_id for c in state.candidates_near(start, *NEAR)] == ["c"]
    state.advance(start + 2 * DAY)
    assert list(state.candidates_near(start, *NEAR)) == []
    assert state.candidates == {}


def test_entity_entries_are_pruned_and_the_key_dropped_when_empty() -> None:
    state = written(fresh_state(), T0)
    state.add_entry(PLATE, entry("old", T0), 0)
    newer = T0 + timedelta(days=50)
    state.advance(newer)
    state.add_entry(PLATE, entry("new", newer), 1)
    state.advance(T0 + ENTITY_RETENTION)
    assert [e.event_id for e in state.entries(PLATE)] == ["old", "new"]
    state.advance(T0 + ENTITY_RETENTION + DAY)
    assert state.entries(PLATE) == [entry("new", newer)]
    state.advance(newer + ENTITY_RETENTION + DAY)
    assert state.entries(PLATE) == []
    assert state.entities == {}


def test_a_key_rewritten_later_survives_the_sweep_of_its_first_day() -> None:
    state = written(fresh_state(), T0)
    state.put_event(summary("e", T0))
    rewritten = T0 + timedelta(days=30)
    state.advance(rewritten)
    state.put_event(summary("e", rewritten, digest="cd" * 32))
    state.advance(T0 + EVENT_RETENTION + DAY)
    assert state.event("e") == summary("e", rewritten, digest="cd" * 32)
    state.advance(rewritten + EVENT_RETENTION + DAY)
    assert state.event("e") is None


def test_a_jump_of_the_watermark_forgets_everything_behind_it() -> None:
    state = written(fresh_state(), T0)
    state.put_event(summary("e", T0))
    state.add_candidate(candidate("c", T0))
    state.add_entry(PLATE, entry("e", T0), 0)
    state.advance(T0 + timedelta(days=400))
    assert (state.events, state.candidates, state.entities, state.journal) == ({}, {}, {}, {})
    assert state.watermark == T0 + timedelta(days=400)


def test_state_stays_bounded_over_200_days_of_reports(registry) -> None:
    """Every table reaches a steady size; nothing is left that the journal cannot expire."""
    build = Build()
    run = Run(registry)
    sizes = {}
    for day in range(200):
        suspect = build.person(birth_date="1980-01-01", phones=[f"06{day:08d}"])
        suspect["family_name"] = f"Family {day}"
        for name, type_, unit, hours, fields in (
            ("ubc", "UnauthorisedBorderCrossing", "bps-presevo", 1, {}),
            ("mdi", "MigrantsDetectedInland", "ps-presevo", 2, {}),
            ("ms", "MigrantSmuggling", "ps-vranje", 9, {"suspects": [suspect]}),
            (
                "vs",
                "VehicleSighting",
                "bps-batrovci",
                17,
                {"vehicle": build.vehicle(plate=f"NS{day}")},
            ),
        ):
            minutes = day * 24 * 60 + hours * 60
            report = make(f"{name}-{day}", type_, unit, minutes, PRESEVO, **fields)
            assert run.feed(report).status == "accepted"
        sizes[day] = table_sizes(run.state)
    state = run.state
    assert sizes[199] == sizes[150] == sizes[120]
    assert sizes[199]["events"] <= 4 * (EVENT_RETENTION.days + 2)
    assert sizes[199]["entities"] <= 4 * (ENTITY_RETENTION.days + 2)
    assert sizes[199]["candidates"] <= 2 * 3
    # One journal chunk per table and retained day (a day's keys fit one chunk here).
    days_kept = EVENT_RETENTION.days + ENTITY_RETENTION.days + CANDIDATE_DAYS + 3 * 2
    assert sizes[199]["journal"] <= days_kept
    assert sizes[199]["meta"] == 2 + sizes[199]["journal"]  # watermark, swept day, counters
    journalled: dict[str, set[str]] = {"events": set(), "candidates": set(), "entities": set()}
    for name, keys in state.journal.items():
        assert len(keys) <= JOURNAL_CHUNK
        journalled[name.split(":")[0]].update(keys)
    for table, keys in journalled.items():
        assert set(getattr(state, table)) <= keys, table
    json_round_trip(state)


def test_a_busy_day_spreads_its_journal_over_bounded_chunks() -> None:
    state = written(fresh_state(), T0)
    for n in range(3 * JOURNAL_CHUNK + 5):
        state.put_event(summary(f"e{n}", T0))
    chunks = sorted(k for k in state.journal if k.startswith("events:"))
    assert len(chunks) == 4
    assert all(len(state.journal[k]) <= JOURNAL_CHUNK for k in chunks)
    state.advance(T0 + EVENT_RETENTION + 2 * DAY)
    assert state.events == {}
    assert state.journal == {}


@given(
    lat=st.floats(40.0, 48.0), lon=st.floats(17.0, 25.0),
    bearing=st.floats(0.0, 360.0), km=st.floats(0.0, 3.0),
)  # fmt: skip
def test_every_position_within_3_km_is_read(lat, lon, bearing, km) -> None:
    """Whatever the grid cut, a candidate within the match radius is among those read."""
    north = km * math.cos(math.radians(bearing)) / 111.2
    east = km * math.sin(math.radians(bearing)) / (111.2 * math.cos(math.radians(lat)))
    state = written(fresh_state(), T0)
    stored = IncidentCandidate("c", "UnauthorisedBorderCrossing", "bps-presevo", T0,
                               lat + north, lon + east, 12, "c")  # fmt: skip
    state.add_candidate(stored)
    assert [c.event_id for c in state.candidates_near(T0, lat, lon)] == ["c"]


def test_far_candidates_are_not_read() -> None:
    state = written(fresh_state(), T0)
    state.add_candidate(candidate("c", T0))
    assert list(state.candidates_near(T0, 42.3 + 0.2, 21.65)) == []


def test_row_positions_read_before_decoding_match_the_stored_row() -> None:
    stored = candidate("c", T0)
    row = candidate_to_json(stored)
    assert row[ROW_EVENT_ID] == stored.event_id
    assert row[ROW_UNIT] == stored.unit
    assert row[ROW_OCCURRED_MS] == to_ms(stored.occurred_at)
    assert row[ROW_LAT] == stored.lat
    assert row[ROW_PERSONS] == stored.persons


def test_the_journal_keeps_few_values_in_memory_the_other_tables_as_many_as_asked() -> None:
    # A journal chunk is read again only when its day expires; cached like the rest, the
    # chunks kept every key of the retention in memory.
    tables = cached({name: {} for name in ("events", "journal", "meta")}, 5_000)
    in_memory = {}
    for name, table in tables.items():
        assert isinstance(table, WriteBehind)
        for n in range(5_000):
            table[f"k{n}"] = [n]
        table.flush()
        in_memory[name] = table.in_memory
        assert len(table) == 5_000  # nothing is lost, only not cached
    assert in_memory == {"events": 5_000, "journal": JOURNAL_CACHE_ENTRIES, "meta": 5_000}
