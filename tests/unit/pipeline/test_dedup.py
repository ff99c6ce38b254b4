"""Exact duplicates and event-id conflicts (CONTRACT.md 5.1, 5.2)."""

from __future__ import annotations

import copy
from datetime import timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imx.pipeline.dedup import (
    DEDUP_WINDOW,
    DedupOutcome,
    SeenEvent,
    content_digest,
    decide,
    seen_event,
)
from imx.pipeline.state import EVENT_RETENTION

pytestmark = pytest.mark.unit


@pytest.fixture
def report(build):
    return build.report(
        "MigrantSmuggling",
        reported_at=build.t0 + timedelta(minutes=5),
        suspects=[build.person(phones=["0641234567"])],
        related_event_ids=["a", "b"],
        notes="Van stopped at the crossing.",
    )


def test_event_ids_are_remembered_at_least_the_seven_day_window() -> None:
    assert timedelta(days=7) == DEDUP_WINDOW
    assert EVENT_RETENTION >= DEDUP_WINDOW


def test_digest_ignores_dict_order(report) -> None:
    reordered = dict(reversed(list(report.items())))
    reordered["suspects"] = [dict(reversed(list(p.items()))) for p in report["suspects"]]
    assert content_digest(reordered) == content_digest(report)


def test_digest_ignores_the_zone_a_timestamp_is_expressed_in(report) -> None:
    shifted = copy.deepcopy(report)
    shifted["occurred_at"] = report["occurred_at"].astimezone(timezone(timedelta(hours=2)))
    assert content_digest(shifted) == content_digest(report)


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r.update(notes="Van stopped at the border."),
        lambda r: r.update(reported_at=r["reported_at"] + timedelta(milliseconds=1)),
        lambda r: r.update(related_event_ids=["b", "a"]),
        lambda r: r["suspects"][0]["phones"].append("0650000000"),
        lambda r: r["location"].update(lat=42.3000001),
        lambda r: r.update(type="TraffickingInHumanBeings"),
    ],
)
def test_digest_covers_the_whole_content(report, change) -> None:
    changed = copy.deepcopy(report)
    change(changed)
    assert content_digest(changed) != content_digest(report)


def test_digest_rejects_naive_timestamps(report) -> None:
    report["occurred_at"] = report["occurred_at"].replace(tzinfo=None)
    with pytest.raises(ValueError, match="naive"):
        content_digest(report)


@given(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=6))
def test_digest_is_a_function_of_content(content: dict) -> None:
    assert content_digest(dict(sorted(content.items()))) == content_digest(content)


def test_first_sighting_is_new(report) -> None:
    assert decide(report, None) is DedupOutcome.NEW


def test_identical_republish_is_an_exact_duplicate(report) -> None:
    assert decide(copy.deepcopy(report), seen_event(report)) is DedupOutcome.EXACT_DUPLICATE


def test_same_id_different_content_is_a_conflict(report) -> None:
    seen = seen_event(report)
    changed = {**report, "notes": "something else"}
    assert decide(changed, seen) is DedupOutcome.CONFLICT


@pytest.mark.parametrize(
    "offset", [timedelta(0), timedelta(days=7), timedelta(days=-7), timedelta(days=30)]
)
def test_a_remembered_id_with_other_content_is_a_conflict_at_any_distance(report, offset) -> None:
    # Accepting it as new would repeat the original's delivery ids for other content.
    stored = SeenEvent(digest="0" * 64, occurred_at=report["occurred_at"] - offset)
    assert decide(report, stored) is DedupOutcome.CONFLICT
