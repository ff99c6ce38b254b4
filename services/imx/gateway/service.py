"""What the gateway's routes share: tokens, rate limits, the one report publisher, feed readers.

The gateway holds no state of its own beyond these: several may run side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from aiokafka import TopicPartition

from imx.gateway import cursor
from imx.gateway.feed import FeedReader
from imx.gateway.intake import checked_reports
from imx.gateway.metrics import GatewayMetrics
from imx.gateway.problems import Problem
from imx.gateway.ratelimit import Clock, RateLimiter, retry_after
from imx.gateway.reference import metrics_urls
from imx.gateway.tokens import TokenRecord, TokenStore
from imx.kafka.connection import Connection
from imx.kafka.publisher import ReportPublisher
from imx.kafka.reading import cluster_id, topic_partitions
from imx.kafka.schemastore import SchemaStore
from imx.kafka.topology import Topology
from imx.registry import Registry
from imx.schema.loader import SchemaSet
from imx.settings import Settings

#: A partition count changes only when an operator adds partitions; re-read it this often.
PARTITIONS_TTL_S = 60.0
RETRY_BROKER_S = 5.0


@dataclass(frozen=True)
class Placed:
    event_id: str
    partition: int
    offset: int


def broker_unavailable(doing: str, exc: BaseException | None = None) -> Problem:
    reason = f": {type(exc).__name__}" if exc is not None else ""
    return Problem(
        503,
        "BROKER_UNAVAILABLE",
        "The broker does not answer",
        f"{doing} failed{reason}; nothing was accepted, retry later",
        headers={"Retry-After": retry_after(RETRY_BROKER_S)},
    )


class Gateway:
    def __init__(
        self,
        settings: Settings,
        connection: Connection,
        *,
        topology: Topology,
        registry: Registry,
        schemas: SchemaSet,
        tokens: TokenStore,
        clock: Clock = time.monotonic,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self.connection = connection
        self.topology = topology
        self.registry = registry
        self.schemas = schemas
        self.tokens = tokens
        self.metrics = metrics or GatewayMetrics()
        self.heartbeat_s = settings.gateway_heartbeat_s
        self.ack_timeout_s = settings.gateway_ack_timeout_s
        self.metrics_urls = metrics_urls(settings.gateway_metrics_url)
        self._limiter = RateLimiter(settings.gateway_rate, settings.gateway_burst, clock)
        self._clock = clock
        self._store = SchemaStore(
            connection, topology.schemas, schemas, on_ignored=self.metrics.schema_record_ignored
        )
        self._publisher: ReportPublisher | None = None
        self._publisher_lock = asyncio.Lock()
        self._partitions: dict[str, tuple[float, list[TopicPartition]]] = {}

    def authenticate(self, token: str | None) -> TokenRecord:
        """The token's record, within its unit's rate limit; a Problem otherwise."""
        record = self.tokens.authenticate(token) if token else None
        if record is None or record.unit not in self.registry:
            detail = "no bearer token" if not token else "the token is unknown or revoked"
            raise Problem(
                401,
                "UNAUTHENTICATED",
                "Authentication required",
                f"{detail}: send 'Authorization: Bearer <token>' from 'imx gateway token issue'",
                headers={"WWW-Authenticate": 'Bearer realm="imx"'},
            )
        wait = self._limiter.check(record.unit)
        if wait > 0:
            raise Problem(
                429,
                "RATE_LIMITED",
                "Too many requests",
                f"unit {record.unit} is over its rate limit; retry in {wait:.2f} s",
                headers={"Retry-After": retry_after(wait)},
            )
        return record

    async def publish(self, unit: str, lines: list[tuple[int, str]]) -> list[Placed]:
        """Check every line as ``imx publish`` does, then send all and wait for every ack."""
        reports = checked_reports(
            lines,
            unit=unit,
            registry=self.registry,
            now=datetime.now(UTC),
            schemas=self.schemas,
            whose="the token's unit",
        )
        publisher = await self._started_publisher()
        try:
            sent = [await publisher.send_encoded(unit, r.value, r.key) for r in reports]
            done, pending = await asyncio.wait(sent, timeout=self.ack_timeout_s)
        except Exception as exc:  # aiokafka's errors share no common base class
            msg = f"writing to {self.topology.ingress(unit)}"
            raise broker_unavailable(msg, exc) from exc
        failed = next((f.exception() for f in done if f.exception() is not None), None)
        if pending or failed is not None:
            msg = f"writing to {self.topology.ingress(unit)}"
            raise broker_unavailable(msg, failed)
        self.metrics.reports_accepted(unit, len(sent))
        return [
            Placed(report.event_id, future.result().partition, future.result().offset)
            for report, future in zip(reports, sent, strict=True)
        ]

    async def open_feed(
        self, unit: str, *, after: str | None, start: Literal["beginning", "latest"]
    ) -> FeedReader:
        """A reader of ``feed.<unit>`` positioned right after ``after``, or at ``start``."""
        topic = self.topology.feed(unit)
        try:
            partitions = await self._feed_partitions(topic)
        except Exception as exc:  # aiokafka's errors share no common base class
            msg = f"describing {topic}"
            raise broker_unavailable(msg, exc) from exc
        reader = FeedReader(self.connection, topic, partitions, self._store, self.schemas)
        try:
            try:
                await reader.open()
            except Exception as exc:  # aiokafka's errors share no common base class
                msg = f"reading {topic}"
                raise broker_unavailable(msg, exc) from exc
            reader.seek(self._start(reader, after, start))
        except BaseException:
            await reader.close()
            raise
        return reader

    async def ready(self) -> bool:
        return await cluster_id(self.connection, timeout_s=3.0) is not None

    async def warm_up(self) -> None:
        """Start the publisher ahead of the first report, so that report does not wait for the
        TLS and SCRAM handshakes and the schema check; a broker that is down is no error here
        (the first report then starts it, or answers 503)."""
        with contextlib.suppress(Exception):
            await self._started_publisher()

    async def close(self) -> None:
        if self._publisher is not None:
            publisher, self._publisher = self._publisher, None
            await publisher.stop()

    def _start(
        self, reader: FeedReader, after: str | None, start: Literal["beginning", "latest"]
    ) -> cursor.Positions:
        if after is None:
            return dict(reader.beginnings if start == "beginning" else reader.ends)
        try:
            found = cursor.resume(after, reader.beginnings, reader.ends)
        except cursor.CursorError as exc:
            raise Problem(400, "INVALID_EVENT_ID", "Not an event id", str(exc)) from exc
        if isinstance(found, cursor.Gone):
            raise Problem(
                409,
                "EVENT_ID_GONE",
                "The feed cannot continue from that event",
                f"{found.detail}; the feed now begins at the offsets in 'begins': "
                "reconnect without Last-Event-ID, with ?from=beginning",
                begins={str(p): offset for p, offset in sorted(found.begins.items())},
            )
        return found

    async def _started_publisher(self) -> ReportPublisher:
        """The one publisher, started at first use so the gateway starts while Kafka is down."""
        async with self._publisher_lock:
            if self._publisher is None:
                publisher = ReportPublisher(
                    self.connection, self.topology, self.schemas, timeout_s=self.ack_timeout_s
                )
                try:
                    await publisher.start()
                except Exception as exc:  # aiokafka's errors share no common base class
                    msg = "connecting to the broker"
                    raise broker_unavailable(msg, exc) from exc
                self._publisher = publisher
            return self._publisher

    async def _feed_partitions(self, topic: str) -> list[TopicPartition]:
        cached = self._partitions.get(topic)
        if cached is not None and self._clock() - cached[0] < PARTITIONS_TTL_S:
            return cached[1]
        partitions = await asyncio.wait_for(
            topic_partitions(self.connection, topic), self.ack_timeout_s
        )
        self._partitions[topic] = (self._clock(), partitions)
        return partitions
