"""The worker's glue in-process: intake → core → outputs, with fakes for Kafka (no broker).

The broker tests (tests/e2e/test_worker_resilience.py) prove the same end to end with kill -9;
here every rule of what is written, skipped and counted is checked quickly and exactly.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import pytest

from imx.kafka.topology import TABLES, Topology
from imx.metrics import Metrics
from imx.pipeline.core import Core
from imx.pipeline.state import PipelineState
from imx.pipeline.writebehind import WriteBehind
from imx.registry import Registry, load_registry
from imx.schema.codec import encode_report
from imx.schema.delivery_writer import DeliveryWriter
from imx.schema.loader import SchemaSet, default_schemas
from imx.simulator.generator import new_simulator
from imx.worker import headers as h
from imx.worker.core import CoreStage, CoreWiring
from imx.worker.emissions import Accepted
from imx.worker.intake import Screened, route
from tests.support.fakes import LocalSchemas, MemoryGaps, MemoryOutput, MemorySink

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
KEY = b"k" * 32


@dataclass(frozen=True)
class IngressRecord:
    """The fields of an aiokafka ``ConsumerRecord`` that the intake reads."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None


@dataclass
class World:
    registry: Registry
    schemas: SchemaSet
    topology: Topology
    clock: Callable[[], datetime]

    def ingress(self, reports: Sequence[dict[str, Any]]) -> list[IngressRecord]:
        ms = int(NOW.timestamp() * 1000)
        return [
            IngressRecord(
                self.topology.ingress(r["reporting_unit"]),
                0,
                n,
                ms,
                r["event_id"].encode(),
                encode_report(r, self.schemas),
            )
            for n, r in enumerate(reports)
        ]

    def screen(self, record: IngressRecord, unit: str | None = None) -> Screened:
        return route(
            record,
            self.topology.unit_of_ingress(record.topic) or "" if unit is None else unit,
            now=self.clock(),
            topology=self.topology,
            registry=self.registry,
            lookup=LocalSchemas(self.schemas).lookup,
            schemas=self.schemas,
        )

    def accepted(self, records: Sequence[IngressRecord]) -> list[Accepted]:
        """What the intake forwards, as the core reads it back from the accepted topic."""
        out = []
        for record in records:
            screened = self.screen(record)
            if screened.rejection is None:
                emitted = screened.record
                offset = len(out)
                ts = int(self.clock().timestamp() * 1000)
                out.append(Accepted(emitted.topic, 0, offset, ts, emitted.value, emitted.headers))
        return out

    def stage(
        self, tables: dict[str, dict[str, Any]], output: MemoryOutput, log: list[Accepted]
    ) -> tuple[CoreStage, Metrics]:
        """A core stage as a worker (re)starting on ``tables`` builds it: a fresh sink."""
        metrics = Metrics()
        state = PipelineState(**{name: WriteBehind(tables[name]) for name in TABLES})
        wiring = CoreWiring(
            schemas=self.schemas,
            deliveries=DeliveryWriter(self.schemas),
            topology=self.topology,
            metrics=metrics,
            store=LocalSchemas(self.schemas),
            core=Core(self.registry, KEY, self.clock),
            state=state,
            sink=MemorySink(output),
            gaps=MemoryGaps(log),
            clock=self.clock,
        )
        return CoreStage(wiring), metrics


@pytest.fixture(scope="module")
def world() -> World:
    registry = load_registry()
    topology = Topology("t-", 3, 1, tuple(registry.ids()), "imx")
    return World(registry, default_schemas(), topology, lambda: NOW)


@pytest.fixture(scope="module")
def reports(world: World) -> list[dict[str, Any]]:
    made = list(islice(new_simulator(world.registry, 5, world.clock), 120))
    for report in made:
        report["reported_at"] = report["reported_at"] or NOW - timedelta(seconds=1)
    return made


def tables() -> dict[str, dict[str, Any]]:
    return {name: {} for name in TABLES}


def play(stage: CoreStage, output: MemoryOutput, batches: Sequence[Sequence[Accepted]]) -> None:
    async def go() -> None:
        for batch in batches:
            for message in batch:
                await stage.handle(output, message)
            await stage.end_batch(output)

    asyncio.run(go())


def counted(metrics: Metrics, name: str) -> float:
    return sum(
        s.value for family in metrics.registry.collect() for s in family.samples if s.name == name
    )


def batches(log: list[Accepted], size: int) -> list[list[Accepted]]:
    return [log[i : i + size] for i in range(0, len(log), size)]


@pytest.fixture(scope="module")
def clean_run(world: World, reports: list[dict[str, Any]]) -> tuple[list[Accepted], MemoryOutput]:
    log = world.accepted(world.ingress(reports))
    output = MemoryOutput()
    stage, _ = world.stage(tables(), output, log)
    play(stage, output, batches(log, 32))
    return log, output


# --- the intake's routing --------------------------------------------------------------------


def test_a_valid_record_goes_on_untouched_keyed_by_event_id_with_its_origin(
    world: World, reports: list[dict[str, Any]]
) -> None:
    record = world.ingress(reports[:1])[0]
    screened = world.screen(record)
    assert screened.rejection is None
    out = screened.record
    assert (out.topic, out.key, out.value) == (
        world.topology.accepted,
        reports[0]["event_id"].encode(),
        record.value,
    )
    assert h.Origin.of(out.headers) == h.Origin(record.topic, 0, 0, reports[0]["reporting_unit"])
    assert out.headers[h.SOURCE_KEY] == record.key
    assert h.from_ms(out.headers[h.PUBLISHED_AT], NOW) == NOW
    assert h.from_ms(out.headers[h.INGESTED_AT], NOW - timedelta(days=1)) == NOW


def test_a_rejected_record_goes_to_the_dlq_as_it_came_with_why_and_where(world: World) -> None:
    record = IngressRecord(world.topology.ingress("bps-presevo"), 2, 41, 0, b"key", b"junk")
    screened = world.screen(record)
    assert screened.rejection is not None
    out = screened.record
    assert (out.topic, out.key, out.value) == (world.topology.dlq, b"key", b"junk")
    assert out.headers[h.ERROR_CODE] == b"UNDECODABLE"
    assert h.Origin.of(out.headers) == h.Origin(record.topic, 2, 41, "bps-presevo")
    empty = world.screen(replace(record, value=None))
    assert empty.record.value == b""
    assert empty.record.headers[h.ERROR_CODE] == b"UNDECODABLE"


def test_a_report_on_another_units_topic_is_spoofed(
    world: World, reports: list[dict[str, Any]]
) -> None:
    report = next(r for r in reports if r["reporting_unit"] != "ps-bor")
    record = replace(world.ingress([report])[0], topic=world.topology.ingress("ps-bor"))
    screened = world.screen(record)
    assert screened.rejection is not None
    assert screened.rejection.code == "SPOOFED_UNIT"
    assert screened.record.headers[h.UNIT] == b"ps-bor"


# --- the core's outputs ----------------------------------------------------------------------


def test_every_delivery_is_one_feed_record_and_one_disclosure_named_by_their_source(
    world: World, clean_run: tuple[list[Accepted], MemoryOutput]
) -> None:
    log, output = clean_run
    feeds = [r for r in output.log if r.topic.startswith("t-feed.")]
    audit = output.on(world.topology.audit)
    assert feeds
    assert len(feeds) == len(audit)
    assert {r.headers[h.ID].decode() for r in audit} == {
        f"audit:{r.headers[h.ID].decode()}" for r in feeds
    }
    ids = output.ids()
    assert len(ids) == len(set(ids)), "no output twice"
    offsets = {m.offset for m in log}
    assert {int(r.headers[h.SRC]) for r in output.log} <= offsets
    assert not output.unacknowledged


def test_a_crash_after_writing_and_before_the_state_replays_without_a_duplicate(
    world: World, clean_run: tuple[list[Accepted], MemoryOutput]
) -> None:
    log, clean = clean_run
    first, second, rest = log[:32], log[32:64], log[64:]
    kept = tables()
    output = MemoryOutput()
    stage, before = world.stage(kept, output, log)
    play(stage, output, [first])

    async def crash_after_outputs() -> None:
        for message in second:
            await stage.handle(output, message)
        await output.acknowledged()  # written to the broker; the state is never flushed

    asyncio.run(crash_after_outputs())
    restarted, after = world.stage(kept, output, log)  # faust resumes at the last commit
    play(restarted, output, [second, *batches(rest, 32)])
    assert collections.Counter(output.ids()) == collections.Counter(clean.ids())
    total = counted(before, "imx_reports_accepted_total") + counted(
        after, "imx_reports_accepted_total"
    )
    assert total == len({int(r.headers[h.SRC]) for r in clean.on(world.topology.audit)})


def test_records_the_stream_consumer_passed_over_are_processed_first(
    world: World, clean_run: tuple[list[Accepted], MemoryOutput]
) -> None:
    log, clean = clean_run
    kept = tables()
    output = MemoryOutput()
    stage, _ = world.stage(kept, output, log)
    play(stage, output, [log[:40]])
    resumed, _ = world.stage(kept, output, log)
    play(resumed, output, [log[45:]])  # faust skipped 40..44
    assert output.ids() == clean.ids()


def test_a_resend_is_dropped_and_a_conflict_is_dead_lettered_once(
    world: World, reports: list[dict[str, Any]]
) -> None:
    original = reports[0]
    conflicting = {**original, "notes": "changed after the fact"}
    records = world.ingress([original, original, conflicting])
    log = world.accepted(records)
    assert len(log) == 3
    output = MemoryOutput()
    stage, metrics = world.stage(tables(), output, log)
    play(stage, output, [log])
    sources = collections.Counter(int(r.headers[h.SRC]) for r in output.log)
    assert 1 not in sources, "the identical resend wrote nothing"
    assert sources[2] == 1, "the conflict wrote one DLQ record"
    (dead,) = output.on(world.topology.dlq)
    assert dead.value == records[2].value
    assert dead.key == records[2].key
    assert dead.headers[h.ERROR_CODE] == b"EVENT_ID_CONFLICT"
    assert dead.headers[h.ID] == b"dlq:2"
    assert h.Origin.of(dead.headers) == h.Origin(records[2].topic, 0, 2, original["reporting_unit"])
    assert counted(metrics, "imx_duplicates_total") == 1
    replayed, again = world.stage(tables(), output, log)
    play(replayed, output, [log])
    assert len(output.on(world.topology.dlq)) == 1, "a replay does not dead-letter it again"
    assert counted(again, "imx_reports_rejected_total") == 0
