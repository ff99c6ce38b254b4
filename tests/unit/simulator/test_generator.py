"""The simulated stream: valid, complete, deterministic, and shaped like the route's traffic."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imx.pipeline.geo import haversine_km
from imx.registry import registry_from_dict
from imx.schema.codec import decode_report, encode_report
from imx.schema.jsonform import from_json, to_json
from imx.schema.loader import REPORT_TYPES, default_schemas
from imx.schema.validation import check_clock, validate_report
from imx.simulator.catalog import MIGRANT_NATIONALITIES
from imx.simulator.generator import Simulator

from .conftest import NOW

pytestmark = pytest.mark.unit

MATCHABLE = {"UnauthorisedBorderCrossing", "MigrantsDetectedInland"}


def _without_times(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k not in {"occurred_at", "reported_at"}}


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_every_report_is_valid_complete_and_encodable(seed, generate, registry):
    schemas = default_schemas()
    lookup = {s.fingerprint_hex: s for s in (schemas.report(t) for t in REPORT_TYPES)}
    for report in generate(seed, 300):
        assert validate_report(report, registry) == [], report
        assert check_clock(report, NOW) is None, report
        assert report["occurred_at"] <= report["reported_at"] <= NOW
        # Every field present with its default: the JSON form reads back to the same dict.
        assert from_json(to_json(report, default_schemas()), default_schemas()) == report
        assert (
            decode_report(
                encode_report(report, default_schemas()), lookup.__getitem__, default_schemas()
            )
            == report
        )
        assert registry.get(report["reporting_unit"]).level == "LOCAL"


def test_reports_lie_near_their_units(stream, registry):
    distances = []
    for report in stream:
        unit = registry.get(report["reporting_unit"])
        where = report["location"]
        distances.append(haversine_km(unit.lat, unit.lon, where["lat"], where["lon"]))
    # A few km from the station; a second observer of a group may be up to 30 km away.
    assert max(distances) <= 40.0
    assert sum(d <= 6.5 for d in distances) >= 0.85 * len(distances)


def test_groups_have_plausible_sizes_and_nationalities(stream):
    groups = [r for r in stream if r["type"] in MATCHABLE]
    sizes = sorted(r["persons"] for r in groups)
    assert sizes[0] >= 1
    assert sizes[-1] <= 90
    assert 5 <= sizes[len(sizes) // 2] <= 20  # the median group: a van-load, not a crowd
    assert all(0 <= r["minors"] <= r["persons"] for r in groups)
    nationalities = Counter(n for r in groups for n in r["nationalities"])
    assert set(nationalities) <= set(MIGRANT_NATIONALITIES)
    assert [n for n, _ in nationalities.most_common(2)] == ["AFG", "SYR"]


def test_the_same_seed_gives_the_same_reports_and_only_times_follow_the_clock(generate):
    first = generate(11, 400)
    later = generate(11, 400, NOW + timedelta(days=3))
    assert [_without_times(r) for r in first] == [_without_times(r) for r in later]
    for a, b in zip(first, later, strict=True):
        assert b["occurred_at"] - a["occurred_at"] == timedelta(days=3)
        assert b["reported_at"] - a["reported_at"] == timedelta(days=3)


def test_different_seeds_give_different_reports(generate):
    assert [r["event_id"] for r in generate(1, 50)] != [r["event_id"] for r in generate(2, 50)]


def test_the_type_mix_follows_the_route(stream):
    share = {name: n / len(stream) for name, n in Counter(r["type"] for r in stream).items()}
    expected = {
        "UnauthorisedBorderCrossing": (0.32, 0.46),
        "MigrantsDetectedInland": (0.24, 0.38),
        "MigrantSmuggling": (0.06, 0.12),
        "VehicleSighting": (0.04, 0.10),
        "DocumentFraud": (0.025, 0.07),
        "RequestForInformation": (0.02, 0.05),
        "RfiResponse": (0.015, 0.05),
        "CrisisSituation": (0.008, 0.035),
        "TraffickingInHumanBeings": (0.004, 0.02),
    }
    for name, (low, high) in expected.items():
        assert low <= share.get(name, 0.0) <= high, (name, share.get(name))
    crossings = share["UnauthorisedBorderCrossing"] + share["MigrantsDetectedInland"]
    assert crossings > 0.6


def test_crossings_come_from_border_stations_most_from_the_busiest_sections(stream, registry):
    sections = Counter()
    for report in stream:
        if report["type"] == "UnauthorisedBorderCrossing":
            unit = registry.get(report["reporting_unit"])
            assert unit.line == "BORDER"
            sections[unit.border_section] += 1
    # North Macedonia and Croatia are HIGH, Bulgaria MEDIUM, Bosnia LOW (CONTRACT.md section 1).
    assert sections["rs-mk"] > sections["rs-bg"] > sections["rs-ba"] > 0
    assert sections["rs-hr"] > sections["rs-bg"]


def _matches(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """CONTRACT.md 5.4: two reports of one group."""
    if a["reporting_unit"] == b["reporting_unit"] or {a["type"], b["type"]} - MATCHABLE:
        return False
    close = haversine_km(
        a["location"]["lat"], a["location"]["lon"], b["location"]["lat"], b["location"]["lon"]
    )
    persons = abs(a["persons"] - b["persons"]) <= max(2, 0.2 * max(a["persons"], b["persons"]))
    return abs(a["occurred_at"] - b["occurred_at"]) <= timedelta(minutes=30) and (
        close <= 3.0 and persons
    )


def test_groups_are_reported_twice_by_neighbouring_units(stream):
    matchable = [r for r in stream if r["type"] in MATCHABLE]
    doubles = sum(
        1
        for n, report in enumerate(matchable)
        if any(_matches(earlier, report) for earlier in matchable[max(0, n - 40) : n])
    )
    assert doubles >= 0.08 * len(matchable)


def test_plates_phones_and_people_recur_across_units(stream):
    from imx.pipeline.entities import extract_entity_keys  # noqa: PLC0415

    units_by_key: dict[Any, set[str]] = {}
    for report in stream:
        for key in extract_entity_keys(report):
            units_by_key.setdefault(key, set()).add(report["reporting_unit"])
    recurring = Counter(key.kind for key, units in units_by_key.items() if len(units) >= 2)
    for kind in ("vehicle", "phone", "person", "document"):
        assert recurring[kind] >= 3, recurring


def test_requests_are_answered_by_their_addressees(stream):
    requests = {}
    answers = 0
    for report in stream:
        if report["type"] == "RequestForInformation":
            assert report["to_units"]
            assert report["reporting_unit"] not in report["to_units"]
            requests[report["event_id"]] = report
        elif report["type"] == "RfiResponse":
            asked = requests[report["rfi_id"]]  # an earlier request, never a later one
            assert report["reporting_unit"] in asked["to_units"]
            assert report["related_event_ids"] == [report["rfi_id"]]
            answers += 1
    assert answers >= 0.7 * len(requests) > 0


def test_follow_ups_update_an_earlier_report_of_the_same_unit(stream):
    seen = {}
    follow_ups = 0
    for report in stream:
        if report["related_event_ids"] and report["type"] != "RfiResponse":
            first = seen[report["related_event_ids"][0]]
            assert (first["type"], first["reporting_unit"]) == (
                report["type"],
                report["reporting_unit"],
            )
            follow_ups += 1
        seen[report["event_id"]] = report
    assert follow_ups > 50


def test_resends_repeat_a_report_exactly(stream):
    first: dict[str, dict[str, Any]] = {}
    resends = 0
    for report in stream:
        if report["event_id"] in first:
            assert report == first[report["event_id"]]
            resends += 1
        first.setdefault(report["event_id"], report)
    assert resends > 5


@pytest.mark.parametrize("seed", range(20))
def test_europol_gets_smuggling_cases_within_a_minute_of_the_default_rate(seed, generate):
    from imx.pipeline.routing import has_foreign_element  # noqa: PLC0415

    first_minute = generate(seed, 250)  # 60 s at 5 reports/s, less start-up
    international = [
        r
        for r in first_minute
        if r["type"] == "MigrantSmuggling"
        and has_foreign_element(r)
        and r["handling"] in {"H0", "H1"}
    ]
    assert len(international) >= 3


def _unit(unit_id: str, lat: float, **fields: Any) -> dict[str, Any]:
    entry = {"id": unit_id, "name": f"Border Police Station {unit_id}", "level": "LOCAL",
             "line": "BORDER", "parents": ["pd-x"], "territorial": "pd-x",
             "border_section": "s-x", "lat": lat, "lon": 20.0}  # fmt: skip
    entry.update(fields)
    return entry


def test_a_registry_of_one_station_still_gives_valid_reports():
    directorate = _unit("pd-x", 44.0, level="REGIONAL", line="GENERAL", parents=[],
                        territorial=None, border_section=None)  # fmt: skip
    registry = registry_from_dict(
        {"sections": [{"id": "s-x", "impact": "LOW"}], "units": [directorate, _unit("a", 44.0)]}
    )
    simulator = Simulator(registry, random.Random(3), lambda: NOW)
    for _ in range(500):
        report = next(simulator)
        assert validate_report(report, registry) == []
        assert report["type"] not in {"RequestForInformation", "RfiResponse"}


def test_a_registry_without_local_units_is_refused():
    directorate = _unit("pd-x", 44.0, level="REGIONAL", line="GENERAL", parents=[],
                        territorial=None, border_section=None)  # fmt: skip
    registry = registry_from_dict({"sections": [], "units": [directorate]})
    with pytest.raises(ValueError, match="no LOCAL units"):
        Simulator(registry, random.Random(0), lambda: NOW)
