"""The core agent (faust): read accepted reports, call the pure logic, keep state, write.

Headers carry what the next hop needs about a record's origin, so the bytes a unit published
travel untouched from ingress to the accepted topic and, if rejected later, to the DLQ.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from faust import streams as faust_streams

from imx.kafkaio import make_producer
from imx.metrics import Metrics
from imx.pipeline.core import ACCEPTED, DUPLICATE, Core, Outcome
from imx.pipeline.screen import Rejection
from imx.pipeline.state import PipelineState
from imx.registry import Registry
from imx.schema.codec import CodecError, decode_report
from imx.schema.delivery_writer import DeliveryWriter
from imx.schema.loader import SchemaSet
from imx.schemastore import SchemaStore
from imx.topology import Topology
from imx.worker.sink import ID_HEADER, SRC_HEADER, GapReader, IdempotentSink

log = structlog.get_logger(__name__)

Agent = Callable[[Any], Coroutine[Any, Any, None]]

#: Reports decided before their outputs are awaited together: large enough to amortise the
#: round trip to the broker, small enough that a replay after a crash stays short.
BATCH = 256
#: How long a batch waits to fill before it is processed anyway (bounds the added latency).
BATCH_WAIT_S = 0.02

SOURCE_TOPIC = "imx-source-topic"
SOURCE_PARTITION = "imx-source-partition"
SOURCE_OFFSET = "imx-source-offset"
UNIT = "imx-unit"
SOURCE_KEY = "imx-source-key"  # the ingress record's own key, for a DLQ record made later
INGESTED_AT = "imx-ingested-at"
PUBLISHED_AT = "imx-published-at"


@dataclass(frozen=True)
class Wiring:
    """Everything the agents use, built once by the composition root."""

    registry: Registry
    schemas: SchemaSet
    deliveries: DeliveryWriter
    topology: Topology
    metrics: Metrics
    store: SchemaStore
    core: Core
    state: PipelineState
    sink: IdempotentSink
    gaps: GapReader
    bootstrap: str
    clock: Callable[[], datetime]


def ms_bytes(moment: datetime) -> bytes:
    return str(int(moment.timestamp() * 1000)).encode()


def _from_ms(raw: bytes | None, default: datetime) -> datetime:
    return default if raw is None else datetime.fromtimestamp(int(raw) / 1000, tz=UTC)


def dlq_headers(
    rejection: Rejection, topic: str, partition: int, offset: int, unit: str
) -> dict[str, bytes]:
    return {
        "imx-error-code": rejection.code.encode(),
        "imx-error-detail": rejection.detail.encode("utf-8"),
        SOURCE_TOPIC: topic.encode(),
        SOURCE_PARTITION: str(partition).encode(),
        SOURCE_OFFSET: str(offset).encode(),
        UNIT: unit.encode(),
    }


def core_agent(w: Wiring) -> Agent:
    """De-duplicate, match, correlate, route and deliver, a batch of accepted reports at a time.

    Per batch: decide each report in order (state reads and writes stay in memory, see
    ``imx.pipeline.writebehind``), send every output without waiting, then wait until the
    broker has acknowledged all of them, then write the batch's state changes to the tables;
    only after that does faust ack the batch's records, so no offset is committed before its
    outputs and state are written. A crash in between replays the batch (see ``Core.decide``
    and ``imx.worker.sink``).
    """

    async def core(stream: Any) -> None:
        producer = make_producer(w.bootstrap)
        await producer.start()
        try:
            async for events in stream.take_events(BATCH, within=BATCH_WAIT_S):
                out = Outputs(producer)
                for event in events:
                    _make_current(event)
                    await _one(w, out, event.message)
                await out.acknowledged()
                w.state.flush()
        finally:
            await producer.stop()

    return core


def _make_current(event: Any) -> None:
    """Make ``event`` faust's current event in this task, for the tables.

    A table finds its partition through the current event, a context variable that
    take_events sets in the task that fills the batch, not in this one. Only the variable is
    set: the stream's own ``current_event`` attribute belongs to that other task, which reads it
    to know which event it is buffering.
    """
    faust_streams._current_event.set(weakref.ref(event))


class Outputs:
    """The records one batch writes, sent at once and acknowledged together."""

    def __init__(self, producer: Any) -> None:
        self._producer = producer
        self._pending: list[asyncio.Future[Any]] = []

    async def send(
        self, topic: str, key: bytes | None, value: bytes, headers: Mapping[str, bytes]
    ) -> None:
        future = await self._producer.send(topic, value, key=key, headers=list(headers.items()))
        self._pending.append(future)

    async def acknowledged(self) -> None:
        """Wait until the broker has every record of the batch (raises if one failed)."""
        pending, self._pending = self._pending, []
        await asyncio.gather(*pending)


async def _one(w: Wiring, out: Outputs, message: Any) -> None:
    if w.sink.needs_recovery(message.offset):
        # faust can resume a partition past records it never processed (see
        # imx.worker.intake); the core's own state says where it really stopped.
        await out.acknowledged()
        w.state.flush()
        missed = await w.gaps.missed(
            message.topic, message.partition, message.offset, w.state.processed
        )
        first_ms = missed[0].timestamp if missed else int(message.timestamp * 1000)
        await w.sink.recover(missed[0].offset if missed else message.offset, first_ms)
        for record in missed:
            await _process(w, out, record)
            w.sink.processed(record.offset)
    await _process(w, out, message)
    w.sink.processed(message.offset)


async def _process(w: Wiring, out: Outputs, message: Any) -> None:
    started = time.perf_counter()
    try:
        await _decide_and_write(w, out, message)
    finally:
        w.metrics.stage_took("core", time.perf_counter() - started)


async def _decide_and_write(w: Wiring, out: Outputs, message: Any) -> None:
    headers = dict(message.headers or ())
    topic = headers.get(SOURCE_TOPIC, b"").decode()
    partition = int(headers.get(SOURCE_PARTITION, b"-1"))
    offset = int(headers.get(SOURCE_OFFSET, b"-1"))
    unit = headers.get(UNIT, b"").decode()
    now = w.clock()
    await w.store.prepare(message.value)
    try:
        report = _decode(w, message.value, headers, now)
    except CodecError as exc:  # the intake decoded it; only a schema that vanished gets here
        rejection = Rejection(exc.code, str(exc))
        await _dead_letter(w, out, message, rejection, (topic, partition, offset, unit))
        return
    outcome = w.core.decide(
        report,
        w.state,
        ingested_at=_from_ms(headers.get(INGESTED_AT), now),
        source=message.offset,
    )
    w.state.processed = message.offset
    if outcome.status == DUPLICATE:
        w.metrics.exact_duplicate()
    elif outcome.rejection is not None:
        await _dead_letter(w, out, message, outcome.rejection, (topic, partition, offset, unit))
    if outcome.status == ACCEPTED:
        await _deliver(w, out, message.offset, report, outcome)


def _decode(w: Wiring, value: bytes, headers: Mapping[str, bytes], now: datetime) -> dict[str, Any]:
    report = decode_report(value, w.store.lookup, w.schemas)
    if report["reported_at"] is None:
        report["reported_at"] = _from_ms(headers.get(PUBLISHED_AT), now)
    return report


async def _dead_letter(
    w: Wiring, out: Outputs, message: Any, rejection: Rejection, origin: tuple[str, int, int, str]
) -> None:
    marker = f"dlq:{message.offset}"
    if w.sink.already(marker):
        return  # written, and counted, before a crash
    w.metrics.report_rejected(rejection.code)
    headers = dlq_headers(rejection, *origin)
    headers[SRC_HEADER] = str(message.offset).encode()
    headers[ID_HEADER] = marker.encode()
    source_key = dict(message.headers or ()).get(SOURCE_KEY)
    await out.send(w.topology.dlq, source_key, message.value, headers)


async def _deliver(
    w: Wiring, out: Outputs, src: int, report: dict[str, Any], outcome: Outcome
) -> None:
    ids = [d.record["delivery_id"] for d in outcome.deliveries]
    if not any(w.sink.already(i) or w.sink.already(f"audit:{i}") for i in ids):
        # Counted once: a record whose outputs were written before a crash was counted then.
        w.metrics.report_accepted(report["reporting_unit"], report["type"])
        if outcome.duplicate_of is not None:
            w.metrics.incident_duplicate()
        for correlation in outcome.correlations:
            w.metrics.correlation_emitted(correlation.entity.kind)
    values = w.deliveries.encode([delivery.record for delivery in outcome.deliveries])
    for delivery, value in zip(outcome.deliveries, values, strict=True):
        delivery_id = delivery.record["delivery_id"]
        audit_id = f"audit:{delivery_id}"
        if w.sink.already(delivery_id) and w.sink.already(audit_id):
            continue
        if not w.sink.already(delivery_id):
            await out.send(
                w.topology.feed(delivery.recipient),
                delivery.key.encode(),
                value,
                {SRC_HEADER: str(src).encode(), ID_HEADER: delivery_id.encode()},
            )
        if not w.sink.already(audit_id):
            subject = delivery.disclosure["event_id"] or delivery.disclosure["correlation_id"]
            await out.send(
                w.topology.audit,
                subject.encode(),
                w.deliveries.encode_disclosure(delivery.disclosure),
                {SRC_HEADER: str(src).encode(), ID_HEADER: audit_id.encode()},
            )
        timing = delivery.record["timing"]
        delivered_at = timing["delivered_at"]
        w.metrics.delivered(
            delivery.recipient,
            delivery.level,
            tuple(delivery.record["rules"]),
            _seconds(delivered_at, timing["reported_at"]),
            _seconds(delivered_at, timing["occurred_at"]),
        )


def _seconds(later: datetime, earlier: datetime | None) -> float | None:
    return None if earlier is None else (later - earlier).total_seconds()
