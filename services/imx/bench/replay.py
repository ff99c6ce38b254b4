"""``imx bench --replay N``: a million pre-loaded reports through one worker from an empty state.

The simulator's realistic mix, its event time spread evenly over ``SPAN`` ending now, so that
the event-time windows (7-day exact duplicates, 30-minute incidents, 90-day correlations) and
their expiry do the work they do in service instead of seeing every report within minutes. All
N are pre-loaded onto the ingress topics first, then one worker starts on an empty state and is
timed from its first output record to its last (the broker's timestamps, as the saturation run
does). While it works, its resident memory (VmRSS over its process group) is sampled every
``SAMPLE_S``, so that growth in state or caches shows as a column, not as a single peak.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.table import Table

from imx import processes
from imx.bench.outputs import Written, cpu_seconds, peak_rss_bytes, rss_bytes, span
from imx.bench.phases import delivered, processed, scrape
from imx.bench.report import (
    figures_table,
    git_commit,
    json_line,
    provenance_rows,
    reference_row,
)
from imx.bench.runner import start_exchange
from imx.bench.speed import reference
from imx.bench.workload import preload
from imx.kafka import localbroker
from imx.kafka.connection import Connection
from imx.registry import load_registry
from imx.schema.loader import load_schemas
from imx.scrape import Sample
from imx.security.principals import GATEWAY, WORKER
from imx.settings import Settings
from imx.simulator.generator import new_simulator

SPAN = timedelta(days=28)
SAMPLE_S = 5.0
#: A worker that processes nothing for this long has stalled: the run ends with its log.
STALL_S = 180.0
START_S = 120.0  # from the worker's start to its first /metrics answer
DRAIN_S = 60.0  # from the last report processed to every output record on the broker
#: Memory is judged after this many reports (or a tenth of a smaller run): by then the caches
#: and the state's working set have filled, and what still grows is a leak or unbounded state.
MARK = 100_000


class EventClock:
    """Event time for a replay: ``count`` calls spread evenly over ``span``, the last one now.

    Each time is computed from its index, not by adding steps, so no rounding accumulates and
    the last report is never in the future.
    """

    def __init__(self, end: datetime, span: timedelta, count: int) -> None:
        self._end, self._span, self._count = end, span, max(count, 1)
        self._calls = 0

    def __call__(self) -> datetime:
        self._calls += 1
        return self._end - self._span * (self._count - self._calls) / self._count


@dataclass(frozen=True)
class ReplayPlan:
    reports: int
    seed: int
    insecure: bool = False


@dataclass(frozen=True)
class MemoryPoint:
    processed: int
    seconds: float  # since the worker first answered /metrics
    rss_bytes: int


@dataclass(frozen=True)
class ReplayResult:
    """Every figure of one replay; the field names are the JSON keys."""

    reports: int
    event_days: float
    preload_seconds: float
    #: First output record to last, by the broker's timestamps.
    seconds: float
    reports_per_second: float
    accepted: int
    exact_duplicates: int
    rejected: int
    rejected_by_code: dict[str, int]  # the DLQ's reason codes
    deliveries: int
    output_records: int
    worker_cpu_ms_per_report: float
    worker_peak_rss_bytes: int
    mark_reports: int
    rss_at_mark_bytes: int
    rss_at_end_bytes: int
    memory: tuple[MemoryPoint, ...]
    seed: int
    kafka_version: str
    security: str
    git_commit: str
    #: The machine's speed before and after the run (bench.speed): CPU ms of a fixed workload.
    machine_reference_ms_before: float
    machine_reference_ms_after: float

    def json_line(self) -> str:
        return json_line(self)

    @property
    def growth_after_mark_bytes(self) -> int:
        return self.rss_at_end_bytes - self.rss_at_mark_bytes

    def table(self) -> Table:
        mib = 2**20
        rows = [
            ("reports (event time spread over)", f"{self.reports:,} ({self.event_days:g} days)"),
            ("pre-load (s)", f"{self.preload_seconds:,.1f}"),
            ("first → last output (s)", f"{self.seconds:,.1f} ({self.seconds / 60:.1f} min)"),
            ("reports/s", f"{self.reports_per_second:,.1f}"),
            (
                "accepted / exact duplicates / rejected",
                f"{self.accepted:,} / {self.exact_duplicates:,} / {self.rejected:,}",
            ),
            (
                "  rejected by code",
                ", ".join(f"{c} {n:,}" for c, n in sorted(self.rejected_by_code.items())) or "-",
            ),
            ("deliveries / output records", f"{self.deliveries:,} / {self.output_records:,}"),
            ("worker CPU per report (ms)", f"{self.worker_cpu_ms_per_report:.2f}"),
            ("worker peak RSS (MiB)", f"{self.worker_peak_rss_bytes / mib:.0f}"),
            (
                f"RSS at {self.mark_reports:,} → at the end (MiB)",
                f"{self.rss_at_mark_bytes / mib:.0f} → {self.rss_at_end_bytes / mib:.0f}"
                f" ({self.growth_after_mark_bytes / mib:+.0f})",
            ),
            reference_row(self.machine_reference_ms_before, self.machine_reference_ms_after),
            *provenance_rows(self.kafka_version, self.security, self.git_commit),
        ]
        return figures_table(f"imx bench --replay {self.reports}, seed {self.seed}", rows)

    def memory_table(self, rows: int = 10) -> Table:
        table = Table(title="worker memory through the replay")
        for name in ("reports processed", "seconds", "RSS (MiB)"):
            table.add_column(name, justify="right")
        for point in thin(self.memory, rows):
            table.add_row(
                f"{point.processed:,}", f"{point.seconds:,.0f}", f"{point.rss_bytes / 2**20:.0f}"
            )
        return table


def thin(points: tuple[MemoryPoint, ...], rows: int) -> list[MemoryPoint]:
    """About ``rows`` points evenly spread by reports processed, the first and last included."""
    if len(points) <= rows:
        return list(points)
    last = points[-1].processed
    chosen: list[MemoryPoint] = [points[0]]
    for k in range(1, rows - 1):
        goal = last * k / (rows - 1)
        point = next(p for p in points if p.processed >= goal)
        if point is not chosen[-1]:
            chosen.append(point)
    if points[-1] is not chosen[-1]:
        chosen.append(points[-1])
    return chosen


def at_mark(points: tuple[MemoryPoint, ...], mark: int) -> MemoryPoint:
    """The first sample with at least ``mark`` reports processed (the last if none has)."""
    return next((p for p in points if p.processed >= mark), points[-1])


def run_replay(settings: Settings, plan: ReplayPlan, progress: processes.Progress) -> ReplayResult:
    """Run the replay; nothing it started is left running when it returns or raises."""
    registry = load_registry(settings.registry_path)
    schemas = load_schemas(settings.schemas_dir)
    before = reference()
    teardown = processes.Teardown()
    with tempfile.TemporaryDirectory(prefix="imx-bench-") as tmp:
        workdir = Path(tmp)
        try:
            exchange = start_exchange(settings, workdir, teardown, progress, insecure=plan.insecure)
            topology = exchange.topology
            clock = EventClock(datetime.now(UTC), SPAN, plan.reports)
            reports = new_simulator(registry, plan.seed, clock)
            progress(
                f"pre-loading {plan.reports:,} reports over {SPAN.days} days of event time "
                f"(seed {plan.seed})"
            )
            began = time.monotonic()
            step = max(plan.reports // 10, 1)

            def loaded(count: int) -> None:
                if count % step < 10_000 or count == plan.reports:
                    progress(f"  {count:,} pre-loaded")

            asyncio.run(
                preload(
                    exchange.connection(GATEWAY),
                    topology,
                    schemas,
                    reports,
                    count=plan.reports,
                    progress=loaded,
                )
            )
            preload_s = time.monotonic() - began
            worker = processes.start_worker(
                exchange.env(WORKER), localbroker.free_port(), workdir / "logs"
            )
            teardown.add(f"the worker (pid {worker.process.pid})", worker.stop)
            progress(f"worker pid {worker.process.pid} started on an empty state; replaying")
            sample, points, cpu = _follow(worker, plan.reports, progress)
            peak = peak_rss_bytes(worker.process.pid)
            deliveries = delivered(sample)
            outputs = [*(topology.feed(u) for u in topology.unit_ids), topology.audit]
            found = _outputs_present(exchange.admin, outputs, 2 * deliveries)
            progress("stopping the worker")
            worker.stop()
        finally:
            teardown.run(progress)
    after = reference()
    seconds = (found.last_ms - found.first_ms) / 1000
    mark = min(MARK, max(plan.reports // 10, 1))
    memory = tuple(points)
    return ReplayResult(
        reports=plan.reports,
        event_days=SPAN / timedelta(days=1),
        preload_seconds=preload_s,
        seconds=seconds,
        reports_per_second=plan.reports / seconds if seconds > 0 else 0.0,
        accepted=int(sample.accepted),
        exact_duplicates=int(sample.duplicates.get("exact", 0.0)),
        rejected=int(sum(sample.rejected.values())),
        rejected_by_code={code: int(n) for code, n in sample.rejected.items() if n},
        deliveries=deliveries,
        output_records=found.count,
        worker_cpu_ms_per_report=1000 * cpu / plan.reports,
        worker_peak_rss_bytes=peak,
        mark_reports=mark,
        rss_at_mark_bytes=at_mark(memory, mark).rss_bytes,
        rss_at_end_bytes=memory[-1].rss_bytes,
        memory=memory,
        seed=plan.seed,
        kafka_version=localbroker.kafka_version(),
        security=exchange.admin.security_protocol,
        git_commit=git_commit(),
        machine_reference_ms_before=before.ms,
        machine_reference_ms_after=after.ms,
    )


def _follow(
    worker: processes.Worker, count: int, progress: processes.Progress
) -> tuple[Sample, list[MemoryPoint], float]:
    """Sample the worker every ``SAMPLE_S`` until it has processed ``count`` reports.

    Returns the last scrape, the memory samples and the worker's CPU seconds from its first
    answer to the last scrape. Ends the run when the worker exits, never answers, or stalls.
    """
    started = time.monotonic()
    first: tuple[float, float] | None = None  # monotonic, CPU seconds at the first answer
    points: list[MemoryPoint] = []
    moved_at, last_count, said = started, -1.0, 0
    while True:
        now = time.monotonic()
        sample = scrape(worker)
        if sample is None:
            if first is None and now - started > START_S:
                msg = f"the worker did not answer within {START_S:.0f} s:\n{worker.tail()}"
                raise processes.RunError(msg)
        else:
            if first is None:
                first = (now, cpu_seconds(worker.process.pid))
            done = processed(sample)
            points.append(MemoryPoint(int(done), now - first[0], rss_bytes(worker.process.pid)))
            if done > last_count:
                moved_at, last_count = now, done
            if done >= count:
                return sample, points, cpu_seconds(worker.process.pid) - first[1]
            if now - moved_at > STALL_S:
                msg = (
                    f"the worker processed nothing for {STALL_S:.0f} s at {done:,.0f} of "
                    f"{count:,} reports:\n{worker.tail()}"
                )
                raise processes.RunError(msg)
            if done >= said + count / 10:
                said = int(done)
                progress(f"  {done:,.0f} processed, {now - first[0]:,.0f} s")
        time.sleep(SAMPLE_S if points else 0.5)


def _outputs_present(admin: Connection, outputs: list[str], expected: int) -> Written:
    """The output records' count and span once all ``expected`` are on the broker."""
    deadline = time.monotonic() + DRAIN_S
    found = Written(0, 0, 0)
    while time.monotonic() < deadline:
        found = asyncio.run(span(admin, outputs))
        if found.count >= expected:
            return found
        time.sleep(1.0)
    msg = f"{found.count:,} output records on the broker, the worker reported {expected:,}"
    raise processes.RunError(msg)
