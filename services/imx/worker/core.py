"""The core stage (a faust agent): read accepted reports, call the pure logic, keep state, write.

Per batch: decide each report in order (state reads and writes stay in memory, see
``imx.pipeline.writebehind``), send every output without waiting, then wait until the broker has
acknowledged all of them, then write the batch's state changes to the tables; only after that
does faust ack the batch's records, so no offset is committed before its outputs and state are
written. A crash in between replays the batch; ``imx.worker.sink`` keeps the replay from
writing anything twice, and ``imx.worker.emissions`` says what to write.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import structlog
from faust import streams as faust_streams
from faust.exceptions import FaustError

from imx.kafka.connection import Connection
from imx.kafka.schemastore import SchemaStore, WriterSchemas
from imx.kafka.topology import Topology
from imx.metrics import Metrics
from imx.pipeline.core import ACCEPTED, DUPLICATE, Core, Outcome
from imx.pipeline.screen import Rejection
from imx.pipeline.state import PipelineState
from imx.schema.codec import CodecError, WriterLookup, decode_report
from imx.schema.delivery_writer import DeliveryWriter
from imx.schema.loader import SchemaSet
from imx.worker import emissions
from imx.worker.batching import ready_batches
from imx.worker.emissions import Accepted
from imx.worker.headers import INGESTED_AT, PUBLISHED_AT, from_ms
from imx.worker.output import KafkaOutput, Output

log = structlog.get_logger(__name__)

Agent = Callable[[Any], Coroutine[Any, Any, None]]

#: Reports decided before their outputs are awaited together: large enough to amortise the
#: round trip to the broker, small enough that a replay after a crash stays short.
BATCH = 256
#: How long a batch waits to fill before it is processed anyway (bounds the added latency).
BATCH_WAIT_S = 0.02
#: A report that comes after this long without any, with none queued behind it, is decided at
#: once instead of waiting for the timer (``imx.worker.batching``): below saturation.
QUIET_S = 0.005


class Sink(Protocol):
    """What a replayed input already wrote (``imx.worker.sink.IdempotentSink``)."""

    def needs_recovery(self, offset: int) -> bool: ...

    def processed(self, offset: int) -> None: ...

    def already(self, output_id: str) -> bool: ...

    async def recover(self, offset: int, timestamp_ms: int) -> int: ...


class Gaps(Protocol):
    """Input records the stream consumer passed over (``imx.worker.sink.GapReader``)."""

    async def missed(
        self, topic: str, partition: int, offset: int, processed: int | None
    ) -> list[Accepted]: ...


@dataclass(frozen=True)
class CoreWiring:
    """Everything the core stage uses, built once by the composition root."""

    schemas: SchemaSet
    deliveries: DeliveryWriter
    topology: Topology
    metrics: Metrics
    store: WriterSchemas
    core: Core
    state: PipelineState
    sink: Sink
    gaps: Gaps
    clock: Callable[[], datetime]


class CoreStage:
    """One accepted record at a time, outputs through an ``Output``; no Kafka client of its own."""

    def __init__(self, w: CoreWiring) -> None:
        self._w = w

    async def handle(self, out: Output, message: Accepted) -> None:
        w = self._w
        if w.sink.needs_recovery(message.offset):
            # faust can resume a partition past records it never processed (see
            # imx.worker.intake); the core's own state says where it really stopped.
            await self.end_batch(out)
            missed = await w.gaps.missed(
                message.topic, message.partition, message.offset, w.state.processed
            )
            first = missed[0] if missed else message
            await w.sink.recover(first.offset, first.timestamp_ms)
            for record in missed:
                await self._process(out, record)
                w.sink.processed(record.offset)
        await self._process(out, message)
        w.sink.processed(message.offset)

    async def end_batch(self, out: Output) -> None:
        """Wait for every output sent, then write the state changes behind them."""
        await out.acknowledged()
        self._w.state.flush()

    async def _process(self, out: Output, message: Accepted) -> None:
        started = time.perf_counter()
        try:
            await self._decide_and_write(out, message)
        finally:
            self._w.metrics.stage_took("core", time.perf_counter() - started)

    async def _decide_and_write(self, out: Output, message: Accepted) -> None:
        w = self._w
        now = w.clock()
        await w.store.prepare(message.value)
        try:
            report = _decode(message, w.store.lookup, w.schemas, now)
        except CodecError as exc:  # the intake decoded it; only a schema that vanished gets here
            await self._dead_letter(out, message, Rejection(exc.code, str(exc)))
            return
        outcome = w.core.decide(
            report,
            w.state,
            ingested_at=from_ms(message.headers.get(INGESTED_AT), now),
            source=message.offset,
        )
        w.state.processed = message.offset
        if outcome.status == DUPLICATE:
            w.metrics.exact_duplicate()
        elif outcome.rejection is not None:
            await self._dead_letter(out, message, outcome.rejection)
        if outcome.status == ACCEPTED:
            await self._deliver(out, message.offset, report, outcome)

    async def _dead_letter(self, out: Output, message: Accepted, rejection: Rejection) -> None:
        w = self._w
        record = emissions.dead_letter(w.topology, message, rejection, w.sink.already)
        if record is None:
            return  # written, and counted, before a crash
        w.metrics.report_rejected(rejection.code)
        await out.send(record)

    async def _deliver(
        self, out: Output, src: int, report: dict[str, Any], outcome: Outcome
    ) -> None:
        w = self._w
        plan = emissions.deliveries(w.topology, w.deliveries, src, outcome, w.sink.already)
        if plan.first_time:
            w.metrics.report_accepted(report["reporting_unit"], report["type"])
            if outcome.duplicate_of is not None:
                w.metrics.incident_duplicate()
            for correlation in outcome.correlations:
                w.metrics.correlation_emitted(correlation.entity.kind)
        for record in plan.records:
            await out.send(record)
        for delivery in plan.delivered:
            timing = delivery.record["timing"]
            delivered_at = timing["delivered_at"]
            w.metrics.delivered(
                delivery.recipient,
                delivery.level,
                tuple(delivery.record["rules"]),
                _seconds(delivered_at, timing["reported_at"]),
                _seconds(delivered_at, timing["occurred_at"]),
            )


def _decode(
    message: Accepted, lookup: WriterLookup, schemas: SchemaSet, now: datetime
) -> dict[str, Any]:
    report = decode_report(message.value, lookup, schemas)
    if report["reported_at"] is None:
        report["reported_at"] = from_ms(message.headers.get(PUBLISHED_AT), now)
    return report


def _seconds(later: datetime, earlier: datetime | None) -> float | None:
    return None if earlier is None else (later - earlier).total_seconds()


def core_agent(w: CoreWiring, connection: Connection, store: SchemaStore) -> Agent:
    """The faust agent around ``CoreStage``: batches of events, one producer.

    Before the first record it checks that the schemas of what it writes (deliveries and
    disclosures) are released on ``imx.schemas``, so a feed reader in any language can resolve
    them; provisioning released them, the worker may not write the topic.
    """

    async def core(stream: Any) -> None:
        stage = CoreStage(w)
        producer = connection.producer()
        await producer.start()
        try:
            await store.require([w.schemas.delivery(), w.schemas.disclosure()])
            async for events in ready_batches(stream, BATCH, BATCH_WAIT_S, QUIET_S):
                out = KafkaOutput(producer)
                for event in events:
                    _make_current(event)
                    await stage.handle(out, Accepted.of_faust(event.message))
                await stage.end_batch(out)
                _measure_backlog(stream, events[-1].message, w.metrics)
        finally:
            await producer.stop()

    return core


def _measure_backlog(stream: Any, last: Any, metrics: Metrics) -> None:
    """Accepted records not yet decided, after a batch: the highwater of the accepted partition
    (as of the consumer's latest fetch) minus the offset after the batch's last record."""
    try:
        highwater = stream.app.consumer.highwater(last.tp)
    except (AssertionError, FaustError):  # not assigned any more, or the consumer stopped
        return
    if highwater is not None:
        metrics.backlog("core", highwater - (last.offset + 1))


def _make_current(event: Any) -> None:
    """Make ``event`` faust's current event in this task, for the tables.

    A table finds its partition through the current event, a context variable that
    ready_batches sets in the task that fills the batch, not in this one. Only the variable is
    set: the stream's own ``current_event`` attribute belongs to that other task, which reads it
    to know which event it is buffering.
    """
    faust_streams._current_event.set(weakref.ref(event))
