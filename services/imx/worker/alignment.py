"""The intake's order across ingress partitions: a backlog is forwarded in publish order.

The core decides accepted records in the order the intake forwards them, and some rules need a
report's predecessor first (an answer to a request for information needs the request, which
is on another unit's topic). aiokafka hands out a backlog partition by partition, a fetch of up
to 1 MiB at a time, so forwarding in that order reorders reports across topics by up to the whole
backlog. Live traffic is read as it arrives and is not affected.

``Aligner`` holds what the consumer returned and releases it as one k-way merge of the
partitions by publish time (the records' timestamps), never past the publish time the slowest
partition still being read has reached: whatever that partition holds next was published later.
It pauses a partition whose read-ahead runs more than ``SKEW_MS`` past that point and resumes
it when the merge comes within ``SKEW_MS`` of it, so memory stays bounded and a partition's next
records are usually fetched before the merge needs them. Pure: the intake loop feeds it the
consumer's batches and figures and applies what it decides (``imx.worker.intake``).

Limits: the order is exact only as far as timestamps are (each unit's producer stamps its
records with its own clock); a partition whose timestamps go backwards is still forwarded in
its own order; a partition that answers no fetch for ``HOLD_MAX_S`` (while nothing else is read)
stops holding the others back, and a record stamped after the moment it was read counts as
published then.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Collection, Hashable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

#: How far (publish time, ms) a partition may read ahead of the slowest partition still being
#: read before it is paused, and how close the merge may come to the last record a partition
#: holds before it is resumed. It trades memory (records held) against stalls (the merge
#: waiting for a fetch); it does not loosen the order, which never passes the slowest
#: partition. 3 s is far below the minutes between a request and its answer and, at the
#: replay's densest (about 6 reports/s per partition), some 20 records per partition.
SKEW_MS = 3_000
#: A partition still to be read that returns nothing for this long while resumed, while no
#: other partition returns anything either (no leader, failing fetches), stops holding the
#: others back until it returns records again. Long against a fetch (milliseconds), short
#: against an outage of a partition's leader. Time while others return records does not count:
#: at a start on a large backlog the consumer hands out one partition after the other.
HOLD_MAX_S = 10.0
#: Records held per partition at most, whatever the timestamps say (a partition is paused at
#: this many): two of the intake's batches.
HELD_MAX = 1_000


class Stamped(Protocol):
    """The fields of a consumer record the alignment reads."""

    @property
    def timestamp(self) -> int: ...  # ms; CreateTime, set by the unit's producer

    @property
    def offset(self) -> int: ...


P = TypeVar("P", bound=Hashable)
R = TypeVar("R", bound=Stamped)


def merge(batch: Mapping[P, Iterable[R]]) -> list[R]:
    """One list of a batch's records by timestamp, each partition's own order kept exactly.

    A k-way merge by the head of each partition, not a sort: a partition written by several
    producers can go back in time, and its records must still leave in offset order.
    """
    return list(heapq.merge(*batch.values(), key=_timestamp))


def _timestamp(record: Stamped) -> int:
    return record.timestamp


@dataclass(frozen=True)
class Progress:
    """How far a partition is read: the consumer's position and the end it can read to.

    ``end`` is the last stable offset (or the highwater); both are None until known.
    """

    position: int | None
    end: int | None

    @property
    def reading(self) -> bool:
        """Records may still wait on the broker (unknown counts as may)."""
        return self.position is None or self.end is None or self.position < self.end


@dataclass
class Plan(Generic[P, R]):
    """What to do after a batch: forward ``records`` in this order, pause and resume these."""

    records: list[R] = field(default_factory=list)
    pause: set[P] = field(default_factory=set)
    resume: set[P] = field(default_factory=set)
    horizon: float = math.inf  # publish time (ms) nothing was forwarded past


@dataclass
class _Partition(Generic[R]):
    held: deque[tuple[int, R]] = field(default_factory=deque)  # (publish time, record)
    last: float = -math.inf  # publish time of the last record read; -inf: none yet
    peak: float = -math.inf  # the latest publish time among the records held
    waiting: float | None = None  # since when resumed and nothing read (monotonic s)
    stalled: bool = False  # given up on until it returns records


class Aligner(Generic[P, R]):
    """Records read but not forwarded yet, per partition, and what to forward next.

    A plan costs in proportion to the partitions that can matter to it: those holding records,
    paused, or still being read. A partition caught up and holding nothing can neither hold
    the others back nor be paused, so it is not looked at until a batch or its progress says
    it moved. The aligner keeps whether each partition is still being read as its progress
    last said; the caller passes only the progress that changed, and the whole assignment
    when that may have changed. Live traffic needs no path of its own: with nothing held and
    every other partition caught up, a plan looks at the one partition just read.
    """

    def __init__(
        self, skew_ms: int = SKEW_MS, hold_max_s: float = HOLD_MAX_S, held_max: int = HELD_MAX
    ) -> None:
        self._skew = skew_ms
        self._hold_max = hold_max_s
        self._held_max = held_max
        self._parts: dict[P, _Partition[R]] = {}
        # Partitions holding records, in the order they began to (the merge's tie-break).
        self._holding: dict[P, None] = {}
        self._reading: set[P] = set()  # last known progress says records may wait
        self._paused: set[P] = set()  # as the last plan was told
        self._read_at = -math.inf  # when the consumer last returned any record (monotonic s)

    @property
    def held(self) -> int:
        """Records read and not forwarded yet (part of the intake's backlog)."""
        return sum(len(self._parts[tp].held) for tp in self._holding)

    @property
    def reading(self) -> AbstractSet[P]:
        """The partitions whose last known progress says records may still wait on the broker."""
        return self._reading

    def add(self, batch: Mapping[P, Sequence[R]], *, now: float, wall_ms: int) -> None:
        """Take a batch from the consumer; ``wall_ms`` is the clock when it was read.

        A record cannot have been published after it was read, so a later timestamp (a unit's
        clock ahead) counts as ``wall_ms``. Records at or below an offset already held mean the
        position went back (the partition was assigned again at its committed offset): the
        held copies from there on are dropped, so nothing is forwarded twice from here.
        """
        for tp, records in batch.items():
            if not records:
                continue
            part = self._parts.get(tp) or self._new(tp, now)
            first = records[0].offset
            while part.held and part.held[-1][1].offset >= first:
                part.held.pop()
            if not part.held:
                part.peak = -math.inf
            for record in records:
                stamp = min(record.timestamp, wall_ms)
                part.held.append((stamp, record))
                part.peak = max(part.peak, stamp)
            part.last = part.held[-1][0]
            part.waiting = now
            part.stalled = False
            self._holding[tp] = None
            self._read_at = now

    def plan(
        self,
        progress: Mapping[P, Progress],
        paused: Collection[P],
        *,
        now: float,
        assigned: Collection[P] | None = None,
    ) -> Plan[P, R]:
        """Release what is safe to forward and decide pauses.

        ``progress``: what is known anew, for any partitions (one not known yet is added);
        the others keep what they had. ``paused``: every partition paused now. ``assigned``:
        the whole assignment, given whenever it may have changed: the state of a partition no
        longer assigned is dropped (its new owner reads it again from the committed offset,
        which never passes a record not forwarded), and one newly assigned is added as not
        read yet, which holds the others back until its progress or records show otherwise.
        """
        if assigned is not None:
            for gone in self._parts.keys() - set(assigned):
                self._drop(gone)
            for tp in assigned:
                if tp not in self._parts:
                    self._new(tp, now)
        for tp, where in progress.items():
            if tp not in self._parts:
                if assigned is not None:
                    continue  # reported, but no longer assigned
                self._new(tp, now)
            if where.reading:
                self._reading.add(tp)
            else:
                self._reading.discard(tp)
        now_paused = {tp for tp in paused if tp in self._parts}
        for tp in self._paused - now_paused:  # resumed since: waiting for its next records
            part = self._parts.get(tp)
            if part is not None and part.waiting is None:
                part.waiting = now
        for tp in now_paused:
            self._parts[tp].waiting = None
        self._paused = now_paused
        horizon = self._horizon(now_paused, now)
        plan: Plan[P, R] = Plan(records=self._release(horizon), horizon=horizon)
        for tp in self._holding:
            part = self._parts[tp]
            hold = part.last > horizon + self._skew or len(part.held) >= self._held_max
            if hold and tp not in now_paused:
                plan.pause.add(tp)
            elif not hold and tp in now_paused:
                plan.resume.add(tp)
        plan.resume.update(tp for tp in now_paused if tp not in self._holding)
        return plan

    def _new(self, tp: P, now: float) -> _Partition[R]:
        """A partition not seen before: not read yet, so it may hold records back."""
        part: _Partition[R] = _Partition(waiting=now)
        self._parts[tp] = part
        self._reading.add(tp)
        return part

    def _drop(self, tp: P) -> None:
        del self._parts[tp]
        self._holding.pop(tp, None)
        self._reading.discard(tp)
        self._paused.discard(tp)

    def _horizon(self, paused: AbstractSet[P], now: float) -> float:
        """The publish time every partition still being read has reached (inf: none is read).

        A partition's unread records were published after what it has shown: after the latest
        it holds, or, holding nothing, after the last it returned (-inf before the first).
        """
        horizon = math.inf
        for tp in self._reading:
            part = self._parts[tp]
            if not part.stalled:
                part.stalled = (
                    tp not in paused
                    and part.waiting is not None
                    and now - max(part.waiting, self._read_at) > self._hold_max
                )
            if not part.stalled:
                horizon = min(horizon, part.peak if part.held else part.last)
        return horizon

    def _release(self, horizon: float) -> list[R]:
        """Held records up to ``horizon`` in merged order; each partition's are a prefix."""
        streams = [_tagged(tp, self._parts[tp].held) for tp in self._holding]
        out: list[R] = []
        taken: dict[P, int] = {}
        for tp, (stamp, record) in heapq.merge(*streams, key=_stamp):
            if stamp > horizon:
                break  # the smallest head is later: so is everything else held
            out.append(record)
            taken[tp] = taken.get(tp, 0) + 1
        for tp, count in taken.items():
            held = self._parts[tp].held
            for _ in range(count):
                held.popleft()
            if not held:
                del self._holding[tp]
        return out


def _tagged(tp: P, held: Iterable[tuple[int, R]]) -> Iterator[tuple[P, tuple[int, R]]]:
    for item in held:
        yield tp, item


def _stamp(entry: tuple[object, tuple[int, object]]) -> int:
    return entry[1][0]
