"""The intake stage as a plain aiokafka consume-screen-produce loop, at-least-once by construction.

The intake is stateless, so it needs none of faust's machinery, and faust-streaming 0.15.3's
stream consumer was measured to skip records after kill -9: on restart it resumes partitions
before seeking them to the committed offsets, treats the jump as a gap and commits past records
it never processed (docs/decisions.md, section 3). Here the order is plain: read a batch, let
the alignment (``imx.worker.alignment``) say which records may go in which order, screen them,
wait until every output is acknowledged by the broker, then commit, per partition, the offset
after the last record sent. Records read but held back are not committed, so a crash anywhere
replays them with the batch; the core drops the copies as exact duplicates.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, RebalanceInProgressError

from imx.kafka.connection import Connection
from imx.kafka.schemastore import WriterSchemas
from imx.kafka.topology import Topology
from imx.metrics import Metrics
from imx.pipeline.screen import Rejection, screen
from imx.registry import Registry
from imx.schema.codec import WriterLookup
from imx.schema.loader import SchemaSet
from imx.worker.alignment import Aligner, Plan, Progress
from imx.worker.emissions import Emission
from imx.worker.headers import Origin, accepted_headers, dlq_headers, header_list

log = structlog.get_logger(__name__)

BATCH = 500
#: How often the intake measures its backlog (``imx_consumer_lag_records{stage="intake"}``).
BACKLOG_EVERY_S = 1.0
#: How often the intake reads the end of every partition it holds, not only of those a batch
#: came from or still being read (``IntakeAlignment``): the bound on how long a caught-up
#: partition whose new records ``getmany`` did not hand out can go unnoticed. A reading costs
#: about half a microsecond per partition, some 0.2 ms for a worker's 390
#: (``python -m imx.bench.alignment``): 0.2 % of a core, whatever the traffic.
REFRESH_S = 0.1
#: How long reading the partitions' positions may take: a position is known once a partition
#: has been fetched, so this only bounds a partition being reset meanwhile.
PROGRESS_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class IntakeWiring:
    """Everything the intake uses, built once by the composition root."""

    connection: Connection
    registry: Registry
    schemas: SchemaSet
    topology: Topology
    metrics: Metrics
    store: WriterSchemas
    clock: Callable[[], datetime]
    session_timeout_s: float


@dataclass(frozen=True)
class Screened:
    """An ingress record's way on: to the accepted topic, or to the DLQ with its rejection."""

    record: Emission
    rejection: Rejection | None


def route(
    record: Any,
    unit: str,
    *,
    now: datetime,
    topology: Topology,
    registry: Registry,
    lookup: WriterLookup,
    schemas: SchemaSet,
) -> Screened:
    """Where one ingress record goes, and with which headers; pure (the store is prepared).

    ``unit`` is the unit whose ingress topic the record came from (empty for an unknown topic).
    """
    value: bytes | None = record.value
    published_at = datetime.fromtimestamp(record.timestamp / 1000, tz=UTC)
    origin = Origin(record.topic, record.partition, record.offset, unit)
    result = screen(
        value,
        unit,
        published_at=published_at,
        now=now,
        registry=registry,
        writer_lookup=lookup,
        schemas=schemas,
    )
    if isinstance(result, Rejection):
        headers = dlq_headers(result, origin)
        return Screened(Emission(topology.dlq, record.key, value or b"", headers), result)
    headers = accepted_headers(origin, record.key, now, published_at)
    event_id = result["event_id"].encode()
    return Screened(Emission(topology.accepted, event_id, value or b"", headers), None)


class IntakeAlignment:
    """The alignment applied to one consumer: each batch in, the records to forward out.

    The aligner needs every partition's progress (position and end), but a partition's only
    moves in two ways: its position when ``getmany`` returns its records (or skips a
    transaction's markers), its end when a fetch response for it arrives, and a response that
    moves the end brings the new records, which ``getmany`` hands out before anything fetched
    later. So after each batch only the partitions it came from and those still being read
    (position below end, or unknown) are read again; a caught-up partition is not asked until
    it returns records. Every ``REFRESH_S``, and after a full batch (``getmany`` stopped at
    ``max_records``, so records fetched may still wait in its buffers), the ends of all are
    read, and the position of each whose end moved. A new assignment (a rebalance: each
    partition's state in the consumer is new, none paused) is read whole. The cost per batch
    follows the partitions that matter, not the assignment: at live rates one or two.

    Staleness, each way. A partition taken as still being read that has caught up without
    returning records (its last records were a transaction's markers, or it is empty) is read
    again with the next batch: it holds the others back one poll longer at most. The unsafe
    way is a caught-up partition whose new records were fetched but not handed out, when
    ``getmany`` stopped short at another partition's fetch error: until it is noticed, records
    published after its new ones can be forwarded before them. It is noticed when it returns
    them or within ``REFRESH_S``, so what can be reordered so is bounded by that much publish
    time, on top of what no reading could show (records not fetched yet when the step ran).
    A backlog, being fetched, is read every step and is not affected.
    """

    def __init__(
        self,
        consumer: Any,
        clock: Callable[[], datetime],
        *,
        max_records: int = BATCH,
        refresh_s: float = REFRESH_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._consumer = consumer
        self._clock = clock
        self._max_records = max_records
        self._refresh_s = refresh_s
        self._monotonic = monotonic
        self._aligner: Aligner[Any, Any] = Aligner()
        self._assigned: Any = None  # the consumer's assignment as last read (aiokafka: a frozenset)
        self._known: dict[Any, Progress] = {}  # each partition's progress as last read
        self._paused: set[Any] = set()  # as the consumer was told
        self._refreshed = -math.inf  # when every partition's end was last read (monotonic s)

    @property
    def held(self) -> int:
        """Records read and not forwarded yet."""
        return self._aligner.held

    async def step(self, batch: dict[Any, list[Any]]) -> list[Any]:
        """Take a batch from ``getmany``: what may be forwarded now, in order; pauses as planned."""
        # Taken at once, before any wait: a record returned is held until forwarded.
        self._aligner.add(batch, now=self._monotonic(), wall_ms=_ms(self._clock()))
        assigned = self._consumer.assignment()
        try:
            async with asyncio.timeout(PROGRESS_TIMEOUT_S):
                progress, whole = await self._read(batch, assigned)
        except TimeoutError:
            log.warning("intake positions unknown; holding the batch")
            return []
        plan = self._aligner.plan(
            progress, self._paused, now=self._monotonic(), assigned=assigned if whole else None
        )
        paused, resumed = _flow(self._consumer, plan)
        self._paused.update(paused)
        self._paused.difference_update(resumed)
        return plan.records

    async def _read(
        self, batch: dict[Any, list[Any]], assigned: Any
    ) -> tuple[dict[Any, Progress], bool]:
        """The progress that may have changed since the last step; True: of the whole assignment.

        aiokafka's assignment is one frozenset per assignment, so a new object is a new one (a
        consumer that answers a new set each time is read whole each time: correct, slower).
        """
        consumer = self._consumer
        now = self._monotonic()
        if assigned is not self._assigned:
            progress = await _progress(consumer, assigned)
            self._paused = set(consumer.paused())
            self._assigned, self._known, self._refreshed = assigned, dict(progress), now
            return progress, True
        moved = [tp for tp in batch if tp in assigned]
        moved += [tp for tp in self._aligner.reading if tp not in batch]
        progress = await _progress(consumer, moved)
        full = sum(len(records) for records in batch.values()) >= self._max_records
        if full or now - self._refreshed >= self._refresh_s:
            for tp in assigned:
                if tp in progress:
                    continue
                try:
                    end = _end(consumer, tp)
                    known = self._known.get(tp)
                    if known is not None and known.end == end:
                        continue  # nothing fetched since: the position has not moved either
                    progress[tp] = Progress(
                        None if end is None else await consumer.position(tp), end
                    )
                except (AssertionError, IllegalStateError):
                    continue
            self._refreshed = now
        self._known.update(progress)
        return progress, False


class IntakeLoop:
    """Screens every ingress record once or more, never zero times."""

    def __init__(self, w: IntakeWiring) -> None:
        self._w = w
        self._session_ms = int(w.session_timeout_s * 1000)

    async def run(self) -> None:
        """Run until cancelled; a failure (e.g. the broker gone) restarts the loop."""
        while True:
            try:
                await self._run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("intake loop failed; restarting in 1 s")
                await asyncio.sleep(1.0)

    async def _run_once(self) -> None:
        w = self._w
        topics = [w.topology.ingress(u) for u in w.registry.ids()]
        consumer = w.connection.group_consumer(
            *topics,
            group_id=w.topology.intake_group,
            session_timeout_ms=self._session_ms,
            heartbeat_interval_ms=max(self._session_ms // 10, 500),
            max_poll_records=BATCH,
        )
        producer = w.connection.producer()
        await producer.start()
        await consumer.start()
        alignment = IntakeAlignment(consumer, w.clock)
        measured = 0.0
        try:
            while True:
                if time.monotonic() - measured >= BACKLOG_EVERY_S:  # the last batch is done
                    measured = time.monotonic()
                    await self._measure_backlog(consumer, alignment.held)
                batch = await consumer.getmany(timeout_ms=200, max_records=BATCH)
                records = await alignment.step(batch)
                for start in range(0, len(records), BATCH):
                    await self._forward(consumer, producer, records[start : start + BATCH])
        finally:
            await consumer.stop()
            await producer.stop()

    async def _forward(self, consumer: Any, producer: Any, records: list[Any]) -> None:
        """Screen and send ``records`` in order; commit after every output is acknowledged."""
        pending = [await self._screen(producer, record) for record in records]
        await asyncio.gather(*pending)  # every output acknowledged before the commit
        # Each partition's records here follow the last ones forwarded from it, so the offset
        # after its last one here never passes a record not forwarded.
        offsets = {}
        for record in records:
            offsets[TopicPartition(record.topic, record.partition)] = record.offset + 1
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, RebalanceInProgressError):
            # The partitions moved; their new owner re-screens these records.
            log.info("intake commit lost to a rebalance", partitions=len(offsets))

    async def _measure_backlog(self, consumer: Any, held: int = 0) -> None:
        """Ingress records not yet forwarded by this loop, over the partitions it holds.

        Per partition the last stable offset (the highwater without open transactions) minus
        the position; a partition not fetched yet has neither and is left out. ``held``: records
        read and held back by the alignment.
        """
        records = held
        try:
            for tp in consumer.assignment():
                end = _end(consumer, tp)
                if end is not None:
                    records += max(end - await consumer.position(tp), 0)
        except (AssertionError, IllegalStateError):
            return  # a partition moved meanwhile: the next measurement counts the new set
        self._w.metrics.backlog("intake", records)

    async def _screen(self, producer: Any, record: Any) -> Any:
        """Screen one record and start sending its output; returns the send's future."""
        w = self._w
        started = time.perf_counter()
        now = w.clock()
        unit = w.topology.unit_of_ingress(record.topic) or ""
        w.metrics.report_received(unit, now.timestamp())
        if record.value is not None:
            await w.store.prepare(record.value)
        screened = route(
            record,
            unit,
            now=now,
            topology=w.topology,
            registry=w.registry,
            lookup=w.store.lookup,
            schemas=w.schemas,
        )
        if screened.rejection is not None:
            w.metrics.report_rejected(screened.rejection.code)
            log.info("rejected", code=screened.rejection.code, topic=record.topic,
                     partition=record.partition, offset=record.offset)  # fmt: skip
        out = screened.record
        future = await producer.send(
            out.topic, out.value, key=out.key, headers=header_list(out.headers)
        )
        w.metrics.stage_took("intake", time.perf_counter() - started)
        return future


def _end(consumer: Any, tp: Any) -> int | None:
    """The offset a partition can be read to: its last stable offset, else its highwater.

    read_uncommitted answers -1 for the former; both are None before the first fetch.
    """
    end: int | None = consumer.last_stable_offset(tp)
    if end is None or end < 0:
        end = consumer.highwater(tp)
    return end


async def _progress(consumer: Any, tps: Iterable[Any]) -> dict[Any, Progress]:
    """Position and end of these partitions; one that moved away meanwhile is left out.

    The position is asked only once the end is known: a partition fetched has a position, so
    the answer does not wait (a partition not fetched yet would wait for its committed offset).
    """
    out: dict[Any, Progress] = {}
    for tp in tps:
        try:
            end = _end(consumer, tp)
            position = None if end is None else await consumer.position(tp)
        except (AssertionError, IllegalStateError):
            continue
        out[tp] = Progress(position, end)
    return out


def _flow(consumer: Any, plan: Plan[Any, Any]) -> tuple[list[Any], list[Any]]:
    """Pause and resume as planned, among the partitions still assigned; what was applied."""
    assigned = consumer.assignment()
    if pause := [tp for tp in plan.pause if tp in assigned]:
        consumer.pause(*pause)
    if resume := [tp for tp in plan.resume if tp in assigned]:
        consumer.resume(*resume)
    return pause, resume


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
