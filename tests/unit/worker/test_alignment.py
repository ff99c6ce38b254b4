"""The intake's alignment of ingress partitions by publish time (``imx.worker.alignment``)."""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from imx.worker.alignment import Aligner, Plan, Progress, merge

pytestmark = pytest.mark.unit

SKEW, HOLD = 3_000, 10.0
WALL = 10**12  # the intake's clock: later than every timestamp below


@dataclass(frozen=True)
class Rec:
    tp: str
    offset: int
    timestamp: int


def _records(tp: str, stamps: list[int], start: int = 0) -> list[Rec]:
    return [Rec(tp, start + n, t) for n, t in enumerate(stamps)]


def _aligner() -> Aligner[str, Rec]:
    return Aligner(skew_ms=SKEW, hold_max_s=HOLD)


def _at(position: int, end: int) -> Progress:
    return Progress(position, end)


# --- merge ------------------------------------------------------------------------------------

stamps = st.lists(st.integers(0, 50), max_size=30)
batches = st.dictionaries(st.sampled_from("abcdef"), stamps, max_size=6)


def _batch(raw: dict[str, list[int]]) -> dict[str, list[Rec]]:
    return {tp: _records(tp, values) for tp, values in raw.items()}


@given(batches)
def test_merge_keeps_every_partitions_own_order_and_loses_nothing(
    raw: dict[str, list[int]],
) -> None:
    batch = _batch(raw)
    merged = merge(batch)
    assert Counter(merged) == Counter(r for rs in batch.values() for r in rs)
    for tp, records in batch.items():
        assert [r for r in merged if r.tp == tp] == records


@given(batches)
def test_merge_orders_by_timestamp_when_each_partition_does(raw: dict[str, list[int]]) -> None:
    merged = merge(_batch({tp: sorted(values) for tp, values in raw.items()}))
    assert [r.timestamp for r in merged] == sorted(r.timestamp for r in merged)


def test_merge_never_sorts_a_partition_that_goes_back_in_time() -> None:
    batch = {"a": _records("a", [5, 1]), "b": _records("b", [3])}
    assert [(r.tp, r.timestamp) for r in merge(batch)] == [("b", 3), ("a", 5), ("a", 1)]


# --- what is released ---------------------------------------------------------------------


def test_nothing_passes_the_slowest_partition_still_being_read() -> None:
    aligner = _aligner()
    aligner.add(
        {"a": _records("a", [100, 200, 300]), "b": _records("b", [150])}, now=0, wall_ms=WALL
    )
    # b has more to read after 150: nothing later than 150 may go yet.
    plan = aligner.plan({"a": _at(3, 3), "b": _at(1, 9)}, set(), now=0)
    assert [(r.tp, r.timestamp) for r in plan.records] == [("a", 100), ("b", 150)]
    assert plan.horizon == 150
    aligner.add({"b": _records("b", [250, 400], start=1)}, now=1, wall_ms=WALL)
    plan = aligner.plan({"a": _at(3, 3), "b": _at(3, 9)}, set(), now=1)
    assert [r.timestamp for r in plan.records] == [200, 250, 300, 400]
    assert aligner.held == 0


def test_caught_up_and_empty_partitions_hold_nothing_back() -> None:
    aligner = _aligner()
    aligner.add({"a": _records("a", [100, 5_000])}, now=0, wall_ms=WALL)
    progress = {"a": _at(2, 2), "empty": _at(0, 0), "idle": _at(40, 40)}
    plan = aligner.plan(progress, set(), now=0)
    assert [r.timestamp for r in plan.records] == [100, 5_000]
    assert (plan.horizon, plan.pause, plan.resume) == (math.inf, set(), set())


def test_a_partition_not_read_yet_holds_the_others_until_its_limit() -> None:
    aligner = _aligner()
    aligner.add({"a": _records("a", [100])}, now=0, wall_ms=WALL)
    unknown = Progress(None, None)  # not fetched yet: neither end nor position known
    plan = aligner.plan({"a": _at(1, 5), "b": unknown}, set(), now=0)
    assert plan.records == []
    assert plan.pause == {"a"}  # read ahead of b, which has shown nothing yet
    plan = aligner.plan({"a": _at(1, 5), "b": unknown}, {"a"}, now=HOLD - 1)
    assert plan.records == []
    # b answered nothing for HOLD_MAX_S while resumed: it stops holding a back.
    plan = aligner.plan({"a": _at(1, 5), "b": unknown}, {"a"}, now=HOLD + 1)
    assert [r.timestamp for r in plan.records] == [100]
    assert plan.resume == {"a"}


def test_a_partition_is_not_given_up_while_the_others_are_being_read() -> None:
    aligner = _aligner()
    aligner.plan({"a": _at(0, 5), "b": _at(0, 5)}, set(), now=0)
    # A start on a large backlog: the consumer hands a out for longer than HOLD_MAX_S.
    aligner.add({"a": _records("a", [100])}, now=HOLD + 1, wall_ms=WALL)
    plan = aligner.plan({"a": _at(1, 5), "b": _at(0, 5)}, set(), now=HOLD + 1)
    assert plan.records == []
    assert plan.horizon == -math.inf  # b has shown nothing yet


def test_a_partition_resumed_that_answers_nothing_is_given_up_after_the_limit() -> None:
    aligner = _aligner()
    aligner.add(
        {"a": _records("a", [100, 20_000]), "b": _records("b", [200, 30_000])}, now=0, wall_ms=WALL
    )
    progress = {"a": _at(2, 9), "b": _at(2, 9)}
    plan = aligner.plan(progress, {"a", "b"}, now=0)
    assert plan.resume == {"a"}  # a holds nothing any more: its next records are needed
    plan = aligner.plan(progress, {"b"}, now=1)  # a is fetched again from here on
    assert plan.records == []  # b's 30,000 waits for a, which has shown 20,000 only
    assert aligner.plan(progress, {"b"}, now=1 + HOLD - 1).records == []
    # a answered nothing for HOLD_MAX_S since it was resumed: it stops holding b back.
    plan = aligner.plan(progress, {"b"}, now=1 + HOLD + 1)
    assert [r.timestamp for r in plan.records] == [30_000]


def test_a_stalled_partition_holds_again_once_it_returns_records() -> None:
    aligner = _aligner()
    aligner.add({"a": _records("a", [100, 900])}, now=0, wall_ms=WALL)
    aligner.plan({"a": _at(2, 5), "b": _at(0, 5)}, set(), now=0)
    plan = aligner.plan({"a": _at(2, 5), "b": _at(0, 5)}, {"a"}, now=HOLD + 1)
    assert [r.timestamp for r in plan.records] == [100, 900]  # b is stalled
    aligner.add({"a": _records("a", [1_000], 2)}, now=HOLD + 2, wall_ms=WALL)
    plan = aligner.plan({"a": _at(3, 5), "b": _at(0, 5)}, set(), now=HOLD + 2)
    assert [r.timestamp for r in plan.records] == [1_000]  # and stays so, others being read
    aligner.add(
        {"b": _records("b", [200]), "a": _records("a", [1_100], 3)}, now=HOLD + 3, wall_ms=WALL
    )
    plan = aligner.plan({"a": _at(4, 5), "b": _at(1, 5)}, set(), now=HOLD + 3)
    assert [r.timestamp for r in plan.records] == [200]
    assert plan.horizon == 200


def test_a_partition_caught_up_that_gets_records_is_waited_for_again() -> None:
    aligner = _aligner()
    aligner.add({"a": _records("a", [100]), "b": _records("b", [90])}, now=0, wall_ms=WALL)
    aligner.plan({"a": _at(1, 1), "b": _at(1, 1)}, set(), now=0)
    aligner.add({"a": _records("a", [300], 1)}, now=1, wall_ms=WALL)
    # b's highwater moved on (a new record, not returned yet): a's 300 waits for it.
    plan = aligner.plan({"a": _at(2, 2), "b": _at(1, 2)}, set(), now=1)
    assert plan.records == []
    aligner.add({"b": _records("b", [250], 1)}, now=1.1, wall_ms=WALL)
    plan = aligner.plan({"a": _at(2, 2), "b": _at(2, 2)}, set(), now=1.1)
    assert [r.timestamp for r in plan.records] == [250, 300]


def test_a_timestamp_after_the_read_counts_as_published_when_read() -> None:
    aligner = _aligner()
    aligner.add({"a": _records("a", [10**15, 1_100])}, now=0, wall_ms=1_000)  # a clock ahead
    aligner.add({"b": _records("b", [900, 1_050])}, now=0, wall_ms=1_200)
    plan = aligner.plan({"a": _at(2, 2), "b": _at(2, 2)}, set(), now=0)
    assert [(r.tp, r.timestamp) for r in plan.records] == [
        ("b", 900), ("a", 10**15), ("a", 1_100), ("b", 1_050)
    ]  # fmt: skip


def test_a_partition_going_back_in_time_does_not_hold_itself_back() -> None:
    aligner = _aligner()
    aligner.add({"a": _records("a", [500, 200])}, now=0, wall_ms=WALL)
    aligner.add({"b": _records("b", [600])}, now=0, wall_ms=WALL)
    plan = aligner.plan({"a": _at(2, 9), "b": _at(1, 9)}, set(), now=0)
    assert [r.timestamp for r in plan.records] == [500, 200]  # bounded by what a showed: 500
    assert plan.horizon == 500


# --- pausing and resuming --------------------------------------------------------------------


def test_a_partition_reading_more_than_the_skew_ahead_is_paused_then_resumed() -> None:
    aligner = _aligner()
    aligner.add({"a": _records("a", [0, 10_000])}, now=0, wall_ms=WALL)
    aligner.add({"b": _records("b", [1_000])}, now=0, wall_ms=WALL)
    progress = {"a": _at(2, 9), "b": _at(1, 9)}
    plan = aligner.plan(progress, set(), now=0)
    assert [r.timestamp for r in plan.records] == [0, 1_000]
    assert (plan.pause, plan.resume) == ({"a"}, set())  # 10,000 > 1,000 + 3,000
    aligner.add({"b": _records("b", [7_500], 1)}, now=1, wall_ms=WALL)
    plan = aligner.plan({"a": _at(2, 9), "b": _at(2, 9)}, {"a"}, now=1)
    assert [r.timestamp for r in plan.records] == [7_500]  # 10,000 waits for b to pass it
    assert (plan.pause, plan.resume) == (set(), {"a"})  # within 3,000: a is fetched again


def test_held_records_per_partition_are_bounded_whatever_the_timestamps() -> None:
    aligner: Aligner[str, Rec] = Aligner(skew_ms=SKEW, hold_max_s=HOLD, held_max=4)
    aligner.add({"a": _records("a", [200] * 4), "b": _records("b", [100])}, now=0, wall_ms=WALL)
    plan = aligner.plan({"a": _at(4, 99), "b": _at(1, 9)}, set(), now=0)
    assert [r.tp for r in plan.records] == ["b"]
    assert plan.pause == {"a"}  # within the skew of b, but holding four already


def test_when_everything_is_paused_the_slowest_still_moves() -> None:
    aligner = _aligner()
    aligner.add({"a": _records("a", [100, 20_000])}, now=0, wall_ms=WALL)
    aligner.add({"b": _records("b", [200, 30_000])}, now=0, wall_ms=WALL)
    progress = {"a": _at(2, 9), "b": _at(2, 9)}
    plan = aligner.plan(progress, {"a", "b"}, now=0)  # getmany returns nothing any more
    assert [r.timestamp for r in plan.records] == [100, 200, 20_000]
    assert plan.resume == {"a"}  # a holds nothing: its next records are needed


# --- assignment changes ----------------------------------------------------------------------


def test_a_partition_moved_away_drops_what_it_held() -> None:
    aligner = _aligner()
    aligner.add({"a": _records("a", [100]), "b": _records("b", [50])}, now=0, wall_ms=WALL)
    plan = aligner.plan({"a": _at(1, 9)}, set(), now=0, assigned={"a"})  # b was revoked
    assert [r.tp for r in plan.records] == ["a"]  # b's 50 is its new owner's to forward
    assert aligner.held == 0


def test_a_partition_assigned_with_no_progress_known_holds_the_others_back() -> None:
    aligner = _aligner()
    aligner.add({"a": _records("a", [100])}, now=0, wall_ms=WALL)
    plan = aligner.plan({"a": _at(1, 1)}, set(), now=0, assigned={"a", "b"})
    assert plan.records == []  # b, just assigned, has shown nothing yet
    plan = aligner.plan({"b": _at(0, 0)}, set(), now=1)  # b turns out empty
    assert [r.timestamp for r in plan.records] == [100]


def test_progress_given_for_only_some_partitions_keeps_what_the_others_had() -> None:
    aligner = _aligner()
    aligner.add({"a": _records("a", [100]), "b": _records("b", [50])}, now=0, wall_ms=WALL)
    plan = aligner.plan({"a": _at(1, 1), "b": _at(1, 5)}, set(), now=0)
    assert [r.timestamp for r in plan.records] == [50]
    aligner.add({"a": _records("a", [200], 1)}, now=1, wall_ms=WALL)
    plan = aligner.plan({"a": _at(2, 2)}, set(), now=1)  # b not read again: still being read
    assert plan.records == []
    aligner.add({"b": _records("b", [300], 1)}, now=2, wall_ms=WALL)
    plan = aligner.plan({"b": _at(2, 2)}, set(), now=2)
    assert [r.timestamp for r in plan.records] == [100, 200, 300]


def test_a_partition_read_again_from_its_committed_offset_is_not_held_twice() -> None:
    aligner = _aligner()
    aligner.add({"a": _records("a", [10, 20, 30])}, now=0, wall_ms=WALL)
    aligner.plan({"a": _at(3, 9), "b": _at(0, 9)}, set(), now=0)  # b unread: all held
    aligner.add({"a": _records("a", [20, 30, 40], start=1)}, now=1, wall_ms=WALL)  # assigned again
    aligner.add({"b": _records("b", [100])}, now=1, wall_ms=WALL)
    plan = aligner.plan({"a": _at(4, 4), "b": _at(1, 1)}, set(), now=1)
    assert [(r.tp, r.offset) for r in plan.records] == [("a", 0), ("a", 1), ("a", 2), ("a", 3),
                                                         ("b", 0)]  # fmt: skip


# --- a whole backlog through a consumer that hands partitions out unevenly -----------------


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from([f"p{n}" for n in range(8)]),
        st.lists(st.integers(0, 400), min_size=0, max_size=150).map(sorted),
        min_size=1,
        max_size=8,
    ),
    st.integers(0, 2**32),
)
@example({"p0": list(range(0, 400, 4)), "p1": list(range(1, 400, 4)), "p2": [399]}, 1)
def test_a_backlog_leaves_in_publish_order_whatever_the_fetch_order(
    log: dict[str, list[int]], seed: int
) -> None:
    """Each step the "consumer" returns a chunk of one unpaused partition, mostly the first."""
    rng = random.Random(seed)
    stamped = {tp: [t * 100 for t in values] for tp, values in log.items()}
    logs = {tp: _records(tp, values) for tp, values in stamped.items()}
    positions = dict.fromkeys(logs, 0)
    paused: set[str] = set()
    aligner: Aligner[str, Rec] = Aligner(skew_ms=500, hold_max_s=math.inf, held_max=10)
    out: list[Rec] = []
    forwarded = dict.fromkeys(logs, 0)
    for step in range(10_000):
        readable = [tp for tp in logs if tp not in paused and positions[tp] < len(logs[tp])]
        batch = {}
        if readable:
            # Mostly the first partition that can be read, as aiokafka drains a buffer first.
            tp = readable[0] if rng.random() < 0.8 else rng.choice(readable)
            take = rng.randint(1, 25)
            batch[tp] = logs[tp][positions[tp] : positions[tp] + take]
            positions[tp] += len(batch[tp])
        aligner.add(batch, now=step, wall_ms=WALL)
        plan: Plan[str, Rec] = aligner.plan(
            {tp: _at(positions[tp], len(rs)) for tp, rs in logs.items()}, paused, now=step
        )
        out.extend(plan.records)
        paused = (paused | plan.pause) - plan.resume
        for tp in logs:  # read and not forwarded: at most HELD_MAX and one more chunk
            forwarded[tp] += sum(1 for r in plan.records if r.tp == tp)
            assert positions[tp] - forwarded[tp] <= 10 + 25
        if all(positions[tp] == len(rs) for tp, rs in logs.items()) and not aligner.held:
            break
    else:
        pytest.fail("the backlog never drained")
    assert sorted(out, key=lambda r: (r.tp, r.offset)) == sorted(
        (r for rs in logs.values() for r in rs), key=lambda r: (r.tp, r.offset)
    )  # everything once
    assert [r.timestamp for r in out] == sorted(r.timestamp for r in out)
