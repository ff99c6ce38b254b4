"""The intake stage as a plain aiokafka consume-screen-produce loop, at-least-once by construction.

The intake is stateless, so it needs none of faust's machinery, and faust-streaming 0.15.3's
stream consumer was measured to skip records after kill -9: on restart it resumes partitions
before seeking them to the committed offsets, treats the jump as a gap and commits past records
it never processed (docs/decisions.md, section 3). Here the order is plain: read a batch,
screen every record, wait until every output is acknowledged by the broker, then commit the
batch's offsets. A crash anywhere replays the batch; the core drops the copies as exact
duplicates.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import CommitFailedError, RebalanceInProgressError

from imx.kafkaio import make_producer
from imx.pipeline.screen import Rejection, screen
from imx.worker.agents import (
    INGESTED_AT,
    PUBLISHED_AT,
    SOURCE_KEY,
    SOURCE_OFFSET,
    SOURCE_PARTITION,
    SOURCE_TOPIC,
    UNIT,
    Wiring,
    dlq_headers,
    ms_bytes,
)

log = structlog.get_logger(__name__)

BATCH = 500


class IntakeLoop:
    """Screens every ingress record once or more, never zero times."""

    def __init__(
        self, w: Wiring, *, group_id: str, accepted_topic: str,
        session_timeout_s: float,
    ) -> None:  # fmt: skip
        self._w = w
        self._group_id = group_id
        self._accepted = accepted_topic
        self._session_ms = int(session_timeout_s * 1000)

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
        topics = [self._w.topology.ingress(u) for u in self._w.registry.ids()]
        consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=self._w.bootstrap,
            group_id=self._group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            session_timeout_ms=self._session_ms,
            heartbeat_interval_ms=max(self._session_ms // 10, 500),
            max_poll_records=BATCH,
        )
        producer = make_producer(self._w.bootstrap)
        await producer.start()
        await consumer.start()
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=200, max_records=BATCH)
                if not batch:
                    continue
                pending = [
                    await self._screen(producer, record)
                    for records in batch.values()
                    for record in records
                ]
                await asyncio.gather(*pending)  # every output acknowledged before the commit
                offsets = {tp: records[-1].offset + 1 for tp, records in batch.items()}
                try:
                    await consumer.commit(offsets)
                except (CommitFailedError, RebalanceInProgressError):
                    # The partitions moved; their new owner re-screens this batch.
                    log.info("intake commit lost to a rebalance", partitions=len(offsets))
        finally:
            await consumer.stop()
            await producer.stop()

    async def _screen(self, producer: Any, record: Any) -> Any:
        """Screen one record and start sending its output; returns the send's future."""
        w = self._w
        started = time.perf_counter()
        now = w.clock()
        unit = w.topology.unit_of_ingress(record.topic) or ""
        w.metrics.report_received(unit, now.timestamp())
        value: bytes | None = record.value
        if value is not None:
            await w.store.prepare(value)
        published_at = datetime.fromtimestamp(record.timestamp / 1000, tz=UTC)
        result = screen(
            value,
            unit,
            published_at=published_at,
            now=now,
            registry=w.registry,
            writer_lookup=w.store.lookup,
            schemas=w.schemas,
        )
        if isinstance(result, Rejection):
            w.metrics.report_rejected(result.code)
            headers = dlq_headers(result, record.topic, record.partition, record.offset, unit)
            log.info("rejected", code=result.code, topic=record.topic,
                     partition=record.partition, offset=record.offset)  # fmt: skip
            future = await producer.send(
                w.topology.dlq, value or b"", key=record.key, headers=list(headers.items())
            )
        else:
            headers = {
                **({SOURCE_KEY: record.key} if record.key is not None else {}),
                SOURCE_TOPIC: record.topic.encode(),
                SOURCE_PARTITION: str(record.partition).encode(),
                SOURCE_OFFSET: str(record.offset).encode(),
                UNIT: unit.encode(),
                INGESTED_AT: ms_bytes(now),
                PUBLISHED_AT: ms_bytes(published_at),
            }
            future = await producer.send(
                self._accepted, value, key=result["event_id"].encode(),
                headers=list(headers.items()),
            )  # fmt: skip
        w.metrics.stage_took("intake", time.perf_counter() - started)
        return future
