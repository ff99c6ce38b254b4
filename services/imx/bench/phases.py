"""The two pipeline measurements, against one running worker: saturation, then a fixed rate.

Progress is read from the worker's ``/metrics`` (what it has processed) and from the broker
(what it has written); every wait has a deadline, and a worker that exits ends the run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from imx import processes
from imx.bench.outputs import LatencyProbe, Written, cpu_seconds, written
from imx.kafka.connection import Connection
from imx.kafka.publisher import ReportPublisher
from imx.kafka.topology import Topology
from imx.schema.loader import SchemaSet
from imx.scrape import Buckets, Sample, parse_sample
from imx.simulator.publisher import Pace, Tally, publish_stream

POLL_S = 0.5
#: After the last report is published, how long the pipeline may take to deliver the rest.
DRAIN_S = 30.0


@dataclass(frozen=True)
class Saturation:
    reports: int
    deliveries: int
    records: int  # deliveries plus their audit records
    seconds: float
    cpu_seconds: float  # the worker's, from its first /metrics answer to the last report


@dataclass(frozen=True)
class FixedRate:
    reports: int
    seconds: float
    deliveries: int
    latencies_s: Sequence[float]
    #: The same deliveries' latency in parts (``outputs.STAGES``), missing ones not counted.
    stages_s: Mapping[str, Sequence[float]]
    #: The worker's own histogram of ``timing.delivered_at - reported_at`` over the phase.
    worker_latency: Buckets
    missing: int  # deliveries not seen by the end of the drain (estimated)
    censored_s: float  # each of them has taken longer than this

    def latencies_with_missing(self) -> list[float]:
        return [*self.latencies_s, *([self.censored_s] * self.missing)]


def processed(sample: Sample) -> float:
    """Reports the core has finished with: accepted, dropped as exact copies, or rejected."""
    return sample.accepted + sample.duplicates.get("exact", 0.0) + sum(sample.rejected.values())


def delivered(sample: Sample) -> int:
    return int(sum(sample.deliveries.values()))


def scrape(worker: processes.Worker) -> Sample | None:
    if worker.exited() is not None:
        msg = f"the worker exited with code {worker.exited()}:\n{worker.tail()}"
        raise processes.RunError(msg)
    try:
        return parse_sample(worker.metrics(), time.monotonic(), time.time())
    except OSError:
        return None  # not serving yet, or busy: ask again


def await_processed(
    worker: processes.Worker, count: float, timeout_s: float
) -> tuple[Sample, float]:
    """The first scrape showing ``count`` reports processed, and the worker's CPU seconds
    from its first answer (start-up done) to that scrape."""
    deadline = time.monotonic() + timeout_s
    cpu_at_first: float | None = None
    while time.monotonic() < deadline:
        sample = scrape(worker)
        if sample is not None:
            cpu_now = cpu_seconds(worker.process.pid)
            cpu_at_first = cpu_now if cpu_at_first is None else cpu_at_first
            if processed(sample) >= count:
                return sample, cpu_now - cpu_at_first
        time.sleep(POLL_S)
    msg = f"the worker did not process {count:.0f} reports within {timeout_s:.0f} s"
    raise processes.RunError(msg)


def saturation(
    worker: processes.Worker,
    connection: Connection,
    topology: Topology,
    reports: int,
    timeout_s: float,
) -> Saturation:
    """Wait until the pre-loaded reports are all delivered; time them by their output records.

    The span runs from the first output record's timestamp to the last one's, so the worker's
    start-up (faust, connections, RocksDB) is not counted as pipeline time.
    """
    sample, cpu = await_processed(worker, reports, timeout_s)
    deliveries = delivered(sample)
    outputs = [*(topology.feed(u) for u in topology.unit_ids), topology.audit]
    deadline = time.monotonic() + DRAIN_S
    found = Written(0, 0, 0)
    while time.monotonic() < deadline:
        found = asyncio.run(written(connection, outputs))
        if found.count >= 2 * deliveries:
            return Saturation(
                reports, deliveries, found.count, (found.last_ms - found.first_ms) / 1000, cpu
            )
        time.sleep(POLL_S)
    msg = f"{found.count} output records on the broker, the worker reported {2 * deliveries}"
    raise processes.RunError(msg)


@dataclass(frozen=True)
class Target:
    """Where the fixed-rate phase publishes and what it publishes."""

    connection: Connection
    topology: Topology
    schemas: SchemaSet
    reports: Iterator[dict[str, Any]]


async def fixed_rate(
    worker: processes.Worker, target: Target, pace: Pace, deliveries_per_report: float
) -> FixedRate:
    """Publish at ``pace`` while a consumer on every feed times each delivery as it arrives.

    A pipeline slower than ``pace`` cannot catch up within the drain: the deliveries still
    missing then (estimated from the saturation run's deliveries per report) are counted at
    the time waited after the last publish, a lower bound of their latency.
    """
    topology = target.topology
    feeds = [topology.feed(u) for u in topology.unit_ids]
    probe = LatencyProbe(target.connection, feeds, target.schemas)
    ready, stop = asyncio.Event(), asyncio.Event()
    reader = asyncio.create_task(probe.run(ready, stop))
    try:
        await asyncio.wait_for(_first(ready.wait(), reader), 60)
        before = await _scrape_until(worker, 30)
        tally = Tally()
        started = time.monotonic()
        await publish_stream(
            ReportPublisher(target.connection, topology, target.schemas),
            target.reports,
            pace=pace,
            stop=asyncio.Event(),
            tally=tally,
        )
        seconds = time.monotonic() - started
        drain = await _drain(worker, probe, before, processed(before) + tally.total)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(reader, return_exceptions=True), 60)
    if reader.exception() is not None:
        raise processes.RunError(repr(reader.exception()))
    missing = round(drain.backlog_reports * deliveries_per_report + drain.unreceived)
    return FixedRate(
        reports=tally.total,
        seconds=seconds,
        deliveries=probe.received,
        latencies_s=probe.latencies_s,
        stages_s=probe.stages_s,
        worker_latency=_difference(_merged(drain.after), _merged(before)),
        missing=missing,
        censored_s=drain.seconds,
    )


@dataclass(frozen=True)
class Drain:
    after: Sample
    backlog_reports: float  # published but not yet processed when the drain ended
    unreceived: float  # written by the worker but not yet read by the probe
    seconds: float


async def _drain(
    worker: processes.Worker, probe: LatencyProbe, before: Sample, expected: float
) -> Drain:
    """Wait (at most DRAIN_S) until the worker processed ``expected`` and the probe saw it all."""
    after = before
    started = time.monotonic()
    while time.monotonic() - started < DRAIN_S:
        now = await asyncio.to_thread(scrape, worker)
        if now is not None:
            after = now
            written_since = delivered(now) - delivered(before)
            if processed(now) >= expected and probe.received >= written_since:
                break
        await asyncio.sleep(POLL_S)
    return Drain(
        after,
        max(expected - processed(after), 0.0),
        max(delivered(after) - delivered(before) - probe.received, 0.0),
        time.monotonic() - started,
    )


def _merged(sample: Sample) -> Buckets:
    """The latency histogram of every level as one."""
    totals: dict[float, float] = {}
    for pairs in sample.latency.values():
        for bound, cumulative in pairs:
            totals[bound] = totals.get(bound, 0.0) + cumulative
    return tuple(sorted(totals.items()))


def _difference(after: Buckets, before: Buckets) -> Buckets:
    earlier = dict(before)
    return tuple((bound, cumulative - earlier.get(bound, 0.0)) for bound, cumulative in after)


async def _first(waiting: Any, reader: asyncio.Task[None]) -> None:
    """Return when ``waiting`` completes; raise if the reader fails first."""
    waiter = asyncio.ensure_future(waiting)
    done, _ = await asyncio.wait({waiter, reader}, return_when=asyncio.FIRST_COMPLETED)
    if reader in done:
        waiter.cancel()
        reader.result()
        msg = "the latency probe stopped before it was positioned"
        raise processes.RunError(msg)


async def _scrape_until(worker: processes.Worker, timeout_s: float) -> Sample:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sample = await asyncio.to_thread(scrape, worker)
        if sample is not None:
            return sample
        await asyncio.sleep(POLL_S)
    msg = f"the worker's /metrics did not answer within {timeout_s:.0f} s"
    raise processes.RunError(msg)
