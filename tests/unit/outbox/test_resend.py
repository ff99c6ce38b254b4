"""A report handed over again gets the ``reported_at`` of its first take: an exact duplicate."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imx.outbox.resend import event_ids_missing_reported_at, with_stored_reported_at

pytestmark = pytest.mark.unit

STAMP = "2026-12-02T07:00:00.123Z"


def stored(known: Mapping[str, str]) -> object:
    asked: list[list[str]] = []

    def lookup(event_ids: list[str]) -> Mapping[str, str]:
        asked.append(event_ids)
        return {e: known[e] for e in event_ids if e in known}

    lookup.asked = asked  # type: ignore[attr-defined]
    return lookup


def test_a_known_event_without_reported_at_gets_the_stored_one() -> None:
    lines = [
        (1, json.dumps({"event_id": "a", "persons": 3})),
        (2, json.dumps({"event_id": "b", "persons": 4})),
        (3, json.dumps({"event_id": "a", "reported_at": "2026-12-02T06:00:00Z"})),
        (4, "not json"),
    ]
    out = with_stored_reported_at(lines, stored({"a": STAMP}))  # type: ignore[arg-type]
    assert json.loads(out[0][1]) == {"event_id": "a", "persons": 3, "reported_at": STAMP}
    assert out[1:] == lines[1:]  # unknown, given by the station, or for the checks to refuse
    assert [n for n, _ in out] == [1, 2, 3, 4]


def test_nothing_is_looked_up_when_every_report_says_when_it_was_reported() -> None:
    lookup = stored({})
    lines = [(1, json.dumps({"event_id": "a", "reported_at": STAMP}))]
    assert with_stored_reported_at(lines, lookup) == lines  # type: ignore[arg-type]
    assert lookup.asked == []  # type: ignore[attr-defined]


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.booleans()), max_size=20))
def test_only_reports_without_reported_at_are_candidates(members: list[tuple[str, bool]]) -> None:
    lines = [
        (n, json.dumps({"event_id": e, **({"reported_at": STAMP} if given_ else {})}))
        for n, (e, given_) in enumerate(members, start=1)
    ]
    wanting = event_ids_missing_reported_at(lines)
    assert wanting == {n: e for n, (e, given_) in enumerate(members, start=1) if not given_}
    out = with_stored_reported_at(lines, stored({"a": STAMP, "b": STAMP, "c": STAMP}))  # type: ignore[arg-type]
    assert all(json.loads(text)["reported_at"] == STAMP for _, text in out)
