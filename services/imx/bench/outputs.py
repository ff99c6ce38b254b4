"""What the benchmark reads back: output records on the broker, delivery latency, worker memory.

Everything here is read from the consuming side or the operating system, never from the worker's
internals, so the figures are what a recipient and an operator would see.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from imx.kafka.connection import Connection
from imx.kafka.reading import assign_all
from imx.schema.cache import SchemaCache
from imx.schema.codec import CodecError, decode_delivery
from imx.schema.loader import SchemaSet

PAGE = 2000
#: A delivery's latency in three parts, from its timing fields and the receive time:
#: ``reported_at`` → ``ingested_at`` (publish, broker, intake), ``ingested_at`` →
#: ``delivered_at`` (accepted hop, waiting in the core's input, deciding), ``delivered_at`` →
#: receipt (sending, broker, the consumer's fetch).
STAGES = ("to_intake", "intake_to_decided", "decided_to_received")


@dataclass(frozen=True)
class Written:
    """Output records present on some topics: how many, and the span of their timestamps."""

    count: int
    first_ms: int
    last_ms: int


async def written(
    connection: Connection, topics: Sequence[str], timeout_s: float = 60.0
) -> Written:
    """Count every committed record of ``topics`` and the first and last timestamps among them."""
    consumer = connection.reader(max_partition_fetch_bytes=4 * 1024 * 1024)
    await asyncio.wait_for(consumer.start(), timeout_s)
    count, first, last = 0, math.inf, -math.inf
    try:
        async with asyncio.timeout(timeout_s):
            partitions = await assign_all(connection, consumer, topics)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            pending = {tp for tp, end in ends.items() if end > 0}
            while pending:
                batch = await consumer.getmany(*pending, timeout_ms=500, max_records=PAGE)
                for records in batch.values():
                    count += len(records)
                    for record in records:
                        first = min(first, record.timestamp)
                        last = max(last, record.timestamp)
                for tp in list(pending):
                    if await consumer.position(tp) >= ends[tp]:
                        pending.discard(tp)
    finally:
        await asyncio.wait_for(consumer.stop(), timeout_s)
    if count == 0:
        return Written(0, 0, 0)
    return Written(count, int(first), int(last))


async def span(connection: Connection, topics: Sequence[str], timeout_s: float = 120.0) -> Written:
    """Like ``written`` without reading everything: the count from the partitions' offsets, the
    timestamps from each partition's first and last record only (for millions of records).

    Exact for topics written without transactions, as the worker writes its outputs.
    """
    consumer = connection.reader(max_partition_fetch_bytes=64 * 1024)
    await asyncio.wait_for(consumer.start(), timeout_s)
    count, first, last = 0, math.inf, -math.inf
    try:
        async with asyncio.timeout(timeout_s):
            partitions = await assign_all(connection, consumer, topics)
            begins = await consumer.beginning_offsets(partitions)
            ends = await consumer.end_offsets(partitions)
            for tp in partitions:
                if ends[tp] <= begins[tp]:
                    continue
                count += ends[tp] - begins[tp]
                for offset in (begins[tp], ends[tp] - 1):
                    consumer.seek(tp, offset)
                    batch = await consumer.getmany(tp, timeout_ms=2000, max_records=1)
                    for record in batch.get(tp, ()):
                        first = min(first, record.timestamp)
                        last = max(last, record.timestamp)
    finally:
        await asyncio.wait_for(consumer.stop(), timeout_s)
    if count == 0 or first == math.inf:
        return Written(count, 0, 0)
    return Written(count, int(first), int(last))


@dataclass
class LatencyProbe:
    """Receive time minus ``reported_at`` of every delivery on the feeds, from where it starts.

    The receive time is taken when a fetch returns, before decoding, so the probe's own work is
    not counted against the pipeline.
    """

    connection: Connection
    feeds: Sequence[str]
    schemas: SchemaSet
    latencies_s: list[float] = field(default_factory=list)
    #: Where the time went, per delivery: ``STAGES`` name → seconds.
    stages_s: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STAGES})
    received: int = 0

    async def run(self, ready: asyncio.Event, stop: asyncio.Event, timeout_s: float = 60.0) -> None:
        """Read from the feeds' current ends until ``stop``; ``ready`` once positioned."""
        cache = SchemaCache.of(self.schemas)
        consumer = self.connection.reader()
        await asyncio.wait_for(consumer.start(), timeout_s)
        try:
            partitions = await asyncio.wait_for(
                assign_all(self.connection, consumer, self.feeds), timeout_s
            )
            await asyncio.wait_for(consumer.seek_to_end(*partitions), timeout_s)
            for tp in partitions:  # resolve the lazy seek now, before anything is published
                await asyncio.wait_for(consumer.position(tp), timeout_s)
            ready.set()
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=100, max_records=PAGE)
                received_at = time.time()
                for records in batch.values():
                    for record in records:
                        self.received += 1
                        self._observe(record.value, received_at, cache)
        finally:
            await asyncio.wait_for(consumer.stop(), timeout_s)

    def _observe(self, value: bytes | None, received_at: float, cache: SchemaCache) -> None:
        with contextlib.suppress(CodecError):
            delivery = decode_delivery(value or b"", cache.get, self.schemas)
            timing = delivery["timing"]
            reported_at = timing["reported_at"]
            if reported_at is None:
                return
            self.latencies_s.append(received_at - reported_at.timestamp())
            ingested, decided = (
                timing["ingested_at"].timestamp(),
                timing["delivered_at"].timestamp(),
            )
            self.stages_s["to_intake"].append(ingested - reported_at.timestamp())
            self.stages_s["intake_to_decided"].append(decided - ingested)
            self.stages_s["decided_to_received"].append(received_at - decided)


def quantile(values: Sequence[float], q: float) -> float:
    """Nearest-rank quantile: a value that was actually observed; 0.0 when there is none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def _group_members(group: int, proc: Path) -> Iterator[tuple[Path, list[str]]]:
    """Live processes of a process group, with their ``stat`` fields after the command name."""
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError):
            stat = (entry / "stat").read_text()
            # Fields after the command name, which may itself hold spaces and parentheses.
            fields = stat.rpartition(")")[2].split()
            if int(fields[2]) == group:
                yield entry, fields


def peak_rss_bytes(group: int, proc: Path = Path("/proc")) -> int:
    """The sum of VmHWM (peak resident memory) over the live processes of a process group."""
    return _status_sum(group, "VmHWM:", proc)


def rss_bytes(group: int, proc: Path = Path("/proc")) -> int:
    """The sum of VmRSS (resident memory now) over the live processes of a process group."""
    return _status_sum(group, "VmRSS:", proc)


def _status_sum(group: int, field_name: str, proc: Path) -> int:
    total = 0
    for entry, _fields in _group_members(group, proc):
        with contextlib.suppress(OSError, ValueError):
            for line in (entry / "status").read_text().splitlines():
                if line.startswith(field_name):
                    total += int(line.split()[1]) * 1024
    return total


def cpu_seconds(group: int, proc: Path = Path("/proc")) -> float:
    """CPU time (user + system) used so far by the live processes of a process group.

    Unlike wall-clock time it hardly depends on what else the machine runs, so it shows a
    change in the worker's cost per report that the noise of a shared machine would hide.
    """
    ticks = 0
    for _entry, fields in _group_members(group, proc):
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (stat fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")
