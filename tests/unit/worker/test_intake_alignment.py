"""The alignment as the intake applies it to its consumer (``IntakeAlignment``), progress read
incrementally: a consumer whose fetcher's buffers the tests fill and drain themselves."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import pytest
from aiokafka.errors import IllegalStateError
from hypothesis import example, given, settings
from hypothesis import strategies as st

from imx.worker.intake import IntakeAlignment

from .records import Rec

pytestmark = pytest.mark.unit

REFRESH = 0.1


class Consumer:
    """aiokafka's consumer as the alignment uses it, its fetcher made explicit.

    ``fetch`` is a fetch response: it sets the partition's end and buffers its next records.
    ``getmany`` hands the buffers out in the order they were filled, up to ``max_records``;
    pausing drops a partition's buffer, and a paused partition is not fetched.
    """

    def __init__(self, logs: dict[str, list[int]]) -> None:
        self.logs = {tp: [Rec(tp, 0, n, t) for n, t in enumerate(ts)] for tp, ts in logs.items()}
        self.assign(set(logs), dict.fromkeys(logs, 0))
        self.asked: list[str] = []  # partitions whose end was read

    def assign(self, tps: set[str], committed: dict[str, int]) -> None:
        """A rebalance: a new assignment, each partition's state new (none paused)."""
        self._assigned = frozenset(tps)
        self.positions = {tp: committed.get(tp, 0) for tp in tps}
        self.ends: dict[str, int | None] = dict.fromkeys(tps)
        self.buffers: dict[str, list[Rec]] = {}
        self._paused: set[str] = set()

    def append(self, tp: str, *stamps: int) -> None:
        log = self.logs[tp]
        log.extend(Rec(tp, 0, len(log) + n, t) for n, t in enumerate(stamps))

    def fetch(self, tp: str, count: int = 100) -> None:
        if tp in self._paused or tp in self.buffers:
            return
        self.ends[tp] = len(self.logs[tp])
        if chunk := self.logs[tp][self.positions[tp] : self.positions[tp] + count]:
            self.buffers[tp] = chunk

    def skip(self, tp: str, count: int) -> None:
        """The position moves with no record returned (a transaction's markers)."""
        self.positions[tp] += count
        self.ends[tp] = max(self.ends[tp] or 0, self.positions[tp])

    def getmany(self, max_records: int, *only: str) -> dict[str, list[Rec]]:
        out: dict[str, list[Rec]] = {}
        for tp in list(self.buffers):
            if max_records == 0 or (only and tp not in only):
                continue
            chunk, rest = self.buffers[tp][:max_records], self.buffers[tp][max_records:]
            out[tp] = chunk
            self.positions[tp] += len(chunk)
            max_records -= len(chunk)
            if rest:
                self.buffers[tp] = rest
            else:
                del self.buffers[tp]
        return out

    def assignment(self) -> frozenset[str]:
        return self._assigned

    def last_stable_offset(self, tp: str) -> int | None:
        if tp not in self._assigned:
            raise IllegalStateError(tp)
        self.asked.append(tp)
        return self.ends[tp]

    def highwater(self, tp: str) -> int | None:
        return self.ends[tp]

    async def position(self, tp: str) -> int:
        if tp not in self._assigned:
            raise IllegalStateError(tp)
        return self.positions[tp]

    def paused(self) -> set[str]:
        return set(self._paused)

    def pause(self, *tps: str) -> None:
        self._paused |= set(tps)
        for tp in tps:
            self.buffers.pop(tp, None)

    def resume(self, *tps: str) -> None:
        self._paused -= set(tps)


class Intake:
    """The alignment on a consumer, with a clock the test moves."""

    def __init__(self, consumer: Consumer, max_records: int = 100) -> None:
        self.consumer, self.now = consumer, 0.0
        self.alignment = IntakeAlignment(
            consumer,
            lambda: datetime(2030, 1, 1, tzinfo=UTC),
            max_records=max_records,
            refresh_s=REFRESH,
            monotonic=lambda: self.now,
        )

    def step(self, batch: dict[str, list[Rec]], at: float) -> list[tuple[str, int]]:
        self.now = at
        return [(r.topic, r.timestamp) for r in asyncio.run(self.alignment.step(batch))]


def _caught_up(consumer: Consumer, intake: Intake) -> None:
    for tp in consumer.logs:
        consumer.fetch(tp)
    intake.step(consumer.getmany(10_000), at=0.0)
    assert intake.alignment.held == 0


def test_a_caught_up_partition_is_not_read_again_until_it_returns_records() -> None:
    consumer = Consumer({f"p{n}": [100] for n in range(390)})
    intake = Intake(consumer)
    _caught_up(consumer, intake)
    for n in range(20):  # live: one record at a time, well within the refresh
        consumer.append("p7", 200 + n)
        consumer.fetch("p7")
        consumer.asked.clear()
        assert intake.step(consumer.getmany(100), at=0.001 * (n + 1)) == [("p7", 200 + n)]
        assert consumer.asked == ["p7"]
    consumer.asked.clear()
    intake.step({}, at=REFRESH)
    assert len(consumer.asked) == 390  # the refresh: every end once


def test_a_caught_up_partition_with_records_not_handed_out_is_noticed_within_the_refresh() -> None:
    consumer = Consumer({"a": [100], "b": [500]})
    intake = Intake(consumer)
    _caught_up(consumer, intake)
    consumer.append("b", 1_000)
    consumer.fetch("b")  # b's end moved, its record buffered...
    consumer.append("a", 2_000)
    consumer.fetch("a")
    intake.step(consumer.getmany(100, "a"), at=0.01)  # ...but getmany stopped short of it
    consumer.append("a", 3_000)
    consumer.fetch("a")
    # By the refresh b's new end is read: a's later record waits for b's.
    assert intake.step(consumer.getmany(100, "a"), at=REFRESH) == []
    assert intake.step(consumer.getmany(100), at=REFRESH + 0.01) == [("b", 1_000), ("a", 3_000)]


def test_a_full_batch_reads_every_end_at_once() -> None:
    consumer = Consumer({"a": [100], "b": [500]})
    intake = Intake(consumer, max_records=2)
    _caught_up(consumer, intake)
    consumer.append("b", 1_000)
    consumer.fetch("b")
    consumer.append("a", 2_000, 2_500)
    consumer.fetch("a")
    # getmany stopped at max_records: records may wait in its buffers, so all ends are read.
    assert intake.step(consumer.getmany(2, "a"), at=0.01) == []
    assert intake.step(consumer.getmany(2), at=0.02) == [("b", 1_000), ("a", 2_000), ("a", 2_500)]


def test_a_partition_read_to_its_end_without_records_stops_holding_back_at_the_next_step() -> None:
    consumer = Consumer({"a": [100], "b": [50, 60]})
    intake = Intake(consumer)
    consumer.fetch("a")
    consumer.fetch("b", count=1)
    assert intake.step(consumer.getmany(100), at=0.0) == [("b", 50)]  # b is still being read
    consumer.skip("b", 1)  # its last offset was a transaction's marker
    consumer.append("a", 200)
    consumer.fetch("a")
    assert intake.step(consumer.getmany(100), at=0.01) == [("a", 100), ("a", 200)]


def test_a_new_assignment_is_read_whole_and_drops_what_it_no_longer_holds() -> None:
    consumer = Consumer({"a": [100, 20_000], "b": [200], "c": [150]})
    consumer.assign({"a", "b"}, {})
    intake = Intake(consumer)
    consumer.fetch("a")
    consumer.fetch("b", count=0)  # b's end known, its record not fetched yet
    assert intake.step(consumer.getmany(100), at=0.0) == []
    assert consumer.paused() == {"a"}  # 20,000 is far ahead of b
    assert intake.alignment.held == 2
    # A rebalance: a goes, c comes, not fetched yet; the consumer forgot the pause.
    consumer.assign({"b", "c"}, {})
    consumer.fetch("b")
    assert intake.step(consumer.getmany(100), at=0.01) == []  # c has shown nothing yet
    assert intake.alignment.held == 1  # a's records are its new owner's
    consumer.fetch("c")
    assert intake.step(consumer.getmany(100), at=0.02) == [("c", 150), ("b", 200)]


def test_the_same_partitions_assigned_again_are_paused_again() -> None:
    consumer = Consumer({"a": [100, 20_000], "b": [200, 300, 400]})
    intake = Intake(consumer)
    consumer.fetch("a")
    consumer.fetch("b", count=1)
    assert intake.step(consumer.getmany(100), at=0.0) == [("a", 100), ("b", 200)]
    assert consumer.paused() == {"a"}
    consumer.assign({"a", "b"}, {"a": 1, "b": 1})  # a rebalance gives back the same two
    assert consumer.paused() == set()
    consumer.fetch("b", count=1)
    assert intake.step(consumer.getmany(100), at=0.01) == [("b", 300)]
    assert consumer.paused() == {"a"}  # still far ahead: paused again, not taken as paused


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from([f"p{n}" for n in range(6)]),
        st.lists(st.integers(0, 400), max_size=120).map(sorted),
        min_size=1,
        max_size=6,
    ),
    st.integers(0, 2**32),
)
@example({"p0": list(range(0, 400, 4)), "p1": list(range(1, 400, 4)), "p2": [399]}, 1)
def test_a_backlog_leaves_in_publish_order_whatever_the_fetches_and_batches(
    log: dict[str, list[int]], seed: int
) -> None:
    """Fetch responses in any order and batches cut anywhere; the progress read incrementally."""
    rng = random.Random(seed)
    consumer = Consumer({tp: [t * 100 for t in ts] for tp, ts in log.items()})
    intake = Intake(consumer, max_records=rng.randint(1, 30))
    out: list[tuple[str, int]] = []
    now = 0.0
    for _ in range(20_000):
        for tp in consumer.logs:
            if rng.random() < 0.5:
                consumer.fetch(tp, count=rng.randint(1, 25))
        now += rng.choice([0.001, 0.01, 0.05])
        out += intake.step(consumer.getmany(rng.randint(1, 30)), at=now)
        if not intake.alignment.held and all(
            consumer.positions[tp] == len(rs) for tp, rs in consumer.logs.items()
        ):
            break
    else:
        pytest.fail("the backlog never drained")
    expected = sorted((tp, r.timestamp) for tp, rs in consumer.logs.items() for r in rs)
    assert sorted(out) == expected  # everything once
    assert [t for _, t in out] == sorted(t for _, t in out)
