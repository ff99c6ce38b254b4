"""``python -m imx.bench.alignment``: the intake's alignment cost per batch, in-process, no broker.

What the intake does between two ``getmany`` calls besides screening and sending
(``IntakeAlignment.step``: hold the batch, read the partitions' progress, plan, pause and
resume), timed on a worker's share of the ingress topics: 390 partitions (130 units x 3).
Two cases: live (each batch one record of one partition, every partition caught up) and a
backlog (every partition far behind, each batch 500 records from 130 partitions).

The consumer is aiokafka's own, assigned the partitions by hand and never started; the
benchmark sets each partition's fetch state (position, highwater, last stable offset) as the
fetcher does when a batch is returned, so the consumer calls cost what they cost in the worker.
The intake's clocks are stepped as the traffic would step them: 20 ms a batch live (50
reports/s), 750 ms a backlog batch (500 reports at the worker's 1.5 ms each).
CPU time per batch (the step awaits nothing that waits), which a busy machine disturbs far
less than wall-clock time; the best round's mean is kept.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from imx.worker.intake import BATCH, IntakeAlignment

UNITS = 130
PARTITIONS_PER_UNIT = 3
#: Partitions a backlog batch comes from: 500 records, 3 or 4 of each.
BACKLOG_SPREAD = 130


@dataclass(frozen=True)
class Record:
    """The fields of a consumer record the intake's alignment reads."""

    topic: str
    partition: int
    offset: int
    timestamp: int


@dataclass(frozen=True)
class Figures:
    case: str
    partitions: int
    batches: int
    records_per_batch: float
    us_per_batch: float  # the best round's mean
    forwarded_per_batch: float
    held_at_end: int


class _Clock:
    """The intake's clocks, wall and monotonic, stepped by the benchmark (ms)."""

    def __init__(self, start_ms: int) -> None:
        self.ms = start_ms

    def __call__(self) -> datetime:
        return datetime.fromtimestamp(self.ms / 1000, tz=UTC)

    def monotonic(self) -> float:
        return self.ms / 1000


def _consumer(tps: list[TopicPartition], position: int, end: int) -> tuple[Any, Callable[..., Any]]:
    """An unstarted consumer holding ``tps``, each fetched to ``end`` and read to ``position``."""
    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9", enable_auto_commit=False)
    consumer.assign(tps)
    state = consumer._subscription.subscription.assignment.state_value
    for tp in tps:
        state(tp).reset_to(position)
        state(tp).highwater = state(tp).lso = end
    return consumer, state


def _timed(rounds: list[list[float]]) -> float:
    return min(sum(r) / len(r) for r in rounds) * 1e6


async def live(rounds: int, batches: int) -> Figures:
    """Every partition caught up; each batch one new record of the next partition."""
    tps = _partitions()
    consumer, state = _consumer(tps, 1_000, 1_000)
    clock = _Clock(1_900_000_000_000)
    alignment = IntakeAlignment(consumer, clock, monotonic=clock.monotonic)
    forwarded = 0
    timings: list[list[float]] = []
    n = 0
    for round_ in range(rounds + 1):  # the first warms up
        gc.collect()
        times: list[float] = []
        for _ in range(batches):
            tp = tps[n % len(tps)]
            n += 1
            clock.ms += 20  # 50 reports/s
            tp_state = state(tp)
            offset = tp_state.position
            tp_state.highwater = tp_state.lso = offset + 1  # the fetch that brought it
            tp_state.consumed_to(offset + 1)  # getmany returned it
            batch = {tp: [Record(tp.topic, tp.partition, offset, clock.ms - 5)]}
            started = time.process_time()
            out = await alignment.step(batch)
            times.append(time.process_time() - started)
            if round_:
                forwarded += len(out)
        if round_:
            timings.append(times)
    await consumer.stop()
    return Figures(
        "live", len(tps), rounds * batches, 1.0, _timed(timings),
        forwarded / (rounds * batches), alignment.held,
    )  # fmt: skip


async def backlog(rounds: int, batches: int) -> Figures:
    """Every partition far behind; each batch 500 records of the next 130 unpaused partitions.

    Record k of partition p was published at k * 390 + p ms: the partitions interleave evenly,
    as a backlog after an outage does, so the merge releases about a batch per batch.
    """
    tps = _partitions()
    index = {tp: p for p, tp in enumerate(tps)}
    consumer, state = _consumer(tps, 0, 10**9)
    clock = _Clock(1_900_000_000_000)
    alignment = IntakeAlignment(consumer, clock, monotonic=clock.monotonic)
    base = 1_800_000_000_000
    forwarded = read = 0
    timings: list[list[float]] = []
    groups = len(tps) // BACKLOG_SPREAD
    extra = BATCH - BATCH // BACKLOG_SPREAD * BACKLOG_SPREAD  # partitions that get one more
    n = 0
    for round_ in range(rounds + 1):  # the first warms up (every partition read at least once)
        gc.collect()
        times: list[float] = []
        for _ in range(batches):
            clock.ms += 750  # 500 reports at the worker's 1.5 ms each
            # The next third of the partitions, the ones given one more record rotating, so
            # that all advance alike.
            group, cycle = n % groups, n // groups
            n += 1
            batch: dict[TopicPartition, list[Record]] = {}
            for j in range(BACKLOG_SPREAD):
                tp = tps[group * BACKLOG_SPREAD + j]
                tp_state = state(tp)
                if tp_state.paused:
                    continue
                take = BATCH // BACKLOG_SPREAD + ((j + cycle * 17) % BACKLOG_SPREAD < extra)
                start = tp_state.position
                p = index[tp]
                batch[tp] = [
                    Record(tp.topic, tp.partition, k, base + k * len(tps) + p)
                    for k in range(start, start + take)
                ]
                tp_state.consumed_to(start + take)
            started = time.process_time()
            out = await alignment.step(batch)
            times.append(time.process_time() - started)
            if round_:
                forwarded += len(out)
                read += sum(len(rs) for rs in batch.values())
        if round_:
            timings.append(times)
    await consumer.stop()
    return Figures(
        "backlog", len(tps), rounds * batches, read / (rounds * batches), _timed(timings),
        forwarded / (rounds * batches), alignment.held,
    )  # fmt: skip


def _partitions() -> list[TopicPartition]:
    return [
        TopicPartition(f"imx.ingress.unit-{u:03d}", p)
        for u in range(UNITS)
        for p in range(PARTITIONS_PER_UNIT)
    ]


async def _main(rounds: int, batches: int) -> list[Figures]:
    return [await live(rounds, batches), await backlog(rounds, max(batches // 10, 1))]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m imx.bench.alignment")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batches", type=int, default=2_000, help="per round (backlog: 1/10)")
    args = parser.parse_args()
    for f in asyncio.run(_main(args.rounds, args.batches)):
        print(
            f"{f.case:8} {f.partitions} partitions, {f.records_per_batch:.1f} records/batch: "
            f"{f.us_per_batch:7.1f} us/batch (best of {args.rounds} rounds of "
            f"{f.batches // args.rounds}); forwarded {f.forwarded_per_batch:.1f}/batch, "
            f"{f.held_at_end} held at the end"
        )


if __name__ == "__main__":
    main()
