"""``imx bench --logic-only``: the core's own work on simulated reports, in-process, no Kafka.

Wall-clock figures on a shared 2-core machine vary by a third between identical runs; the CPU
time of the pure logic varies far less, so changes to it are judged by this measure
(docs/performance.md). It times the two things the core agent does per report besides Kafka
I/O: deciding (``Core.decide``: de-duplication, incidents, correlation, routing, minimisation,
building deliveries and disclosures) and encoding (``DeliveryWriter``, as the agent calls it).
State lives in plain dicts here, where the worker keeps it in faust tables written behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from rich.table import Table

from imx.bench.report import figures_table, json_line, reference_row
from imx.bench.speed import ROUNDS, reference
from imx.pipeline.core import ACCEPTED, Core
from imx.pipeline.state import PipelineState
from imx.registry import Registry
from imx.schema.delivery_writer import DeliveryWriter
from imx.schema.loader import SchemaSet
from imx.simulator.generator import new_simulator

#: The key of the analytics pseudonyms: any fixed 32 bytes do for timing.
_KEY = bytes(32)


@dataclass(frozen=True)
class LogicResult:
    reports: int
    accepted: int
    deliveries: int
    rounds: int
    #: CPU time per report, the best round's (least disturbed by the rest of the machine).
    decide_ms_per_report: float
    encode_ms_per_report: float
    seed: int
    git_commit: str
    #: The machine's speed before and after the rounds (bench.speed): CPU ms of a fixed workload.
    machine_reference_ms_before: float
    machine_reference_ms_after: float

    def json_line(self) -> str:
        return json_line(self)

    def table(self) -> Table:
        title = f"imx bench --logic-only: {self.reports} reports, seed {self.seed}"
        return figures_table(
            title,
            [
                ("accepted reports / deliveries", f"{self.accepted:,} / {self.deliveries:,}"),
                ("deciding, CPU per report (ms)", f"{self.decide_ms_per_report:.3f}"),
                ("encoding, CPU per report (ms)", f"{self.encode_ms_per_report:.3f}"),
                ("rounds (best kept)", f"{self.rounds}"),
                reference_row(self.machine_reference_ms_before, self.machine_reference_ms_after),
                ("git commit", self.git_commit[:12]),
            ],
        )


@dataclass(frozen=True)
class _Round:
    accepted: int
    deliveries: int
    decide_s: float
    encode_s: float


def measure(
    registry: Registry,
    schemas: SchemaSet,
    *,
    seed: int,
    count: int,
    rounds: int,
    git_commit: str,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    reference_rounds: int = ROUNDS,
) -> LogicResult:
    """Decide and encode ``count`` simulated reports ``rounds`` times, each from empty state."""
    reports = list(_with_reported_at(islice(new_simulator(registry, seed, clock), count), clock))
    before = reference(reference_rounds)
    results = [_round(registry, schemas, reports, clock) for _ in range(rounds)]
    after = reference(reference_rounds)
    first = results[0]
    return LogicResult(
        reports=len(reports),
        accepted=first.accepted,
        deliveries=first.deliveries,
        rounds=rounds,
        decide_ms_per_report=1000 * min(r.decide_s for r in results) / max(len(reports), 1),
        encode_ms_per_report=1000 * min(r.encode_s for r in results) / max(len(reports), 1),
        seed=seed,
        git_commit=git_commit,
        machine_reference_ms_before=before.ms,
        machine_reference_ms_after=after.ms,
    )


def _with_reported_at(
    reports: Iterator[dict[str, Any]], clock: Callable[[], datetime]
) -> Iterator[dict[str, Any]]:
    """As the intake hands them on: a report without ``reported_at`` gets its publish time."""
    for report in reports:
        if report.get("reported_at") is None:
            report["reported_at"] = clock()
        yield report


def _round(
    registry: Registry,
    schemas: SchemaSet,
    reports: list[dict[str, Any]],
    clock: Callable[[], datetime],
) -> _Round:
    state = PipelineState(events={}, candidates={}, entities={}, journal={}, meta={})
    core = Core(registry, _KEY, clock)
    writer = DeliveryWriter(schemas)
    accepted = deliveries = 0
    decide_s = encode_s = 0.0
    for source, report in enumerate(reports):
        started = time.process_time()
        outcome = core.decide(dict(report), state, ingested_at=clock(), source=source)
        decided = time.process_time()
        if outcome.status == ACCEPTED:
            accepted += 1
            deliveries += len(outcome.deliveries)
            writer.encode([delivery.record for delivery in outcome.deliveries])
            for delivery in outcome.deliveries:
                writer.encode_disclosure(delivery.disclosure)
        encoded = time.process_time()
        decide_s += decided - started
        encode_s += encoded - decided
    return _Round(accepted, deliveries, decide_s, encode_s)
