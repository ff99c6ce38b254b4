"""The one report publisher: encode, and send to the unit's ingress topic keyed by event id.

``imx publish``, the simulator, the benchmark and the tests publish through it, and so will the
gateway and the outbox: every writer schema is released on ``imx.schemas`` before the first
report (or it fails naming the schema), the producer is idempotent with ``acks=all``, and a
report goes to ``ingress.<unit>``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from imx.kafka.connection import Connection
from imx.kafka.schemastore import SchemaStore
from imx.kafka.topology import Topology
from imx.schema.checks import CheckedReport
from imx.schema.codec import encode_report
from imx.schema.loader import REPORT_TYPES, SchemaSet

Sent = asyncio.Future[Any]  # resolves to aiokafka's RecordMetadata once the broker has the record
Header = tuple[str, bytes]


@dataclass(frozen=True)
class Record:
    """A report exactly as the publisher sends it: topic-independent key, value and headers.

    The outbox stores these and sends them again byte for byte after a restart: the pipeline
    then sees an exact duplicate (CONTRACT.md 5.2), never the same event id with new content.
    """

    key: bytes | None
    value: bytes
    headers: tuple[Header, ...] = ()

    @classmethod
    def of(cls, checked: CheckedReport) -> Record:
        """The record of a report that passed ``imx.schema.checks``."""
        return cls(checked.key, checked.value)


class ReportPublisher:
    """Publishes reports as units; use ``async with`` (start and stop are bounded in time)."""

    def __init__(
        self,
        connection: Connection,
        topology: Topology,
        schemas: SchemaSet,
        *,
        types: Iterable[str] = REPORT_TYPES,
        timeout_s: float | None = None,
        **producer_overrides: Any,
    ) -> None:
        self._topology = topology
        self._schemas = schemas
        self._types = tuple(types)
        self._timeout_s = timeout_s or connection.request_timeout_s
        self._store = SchemaStore(connection, topology.schemas, schemas)
        self._producer = connection.producer(**producer_overrides)

    async def start(self) -> None:
        """Check the writer schemas of ``types`` are released on ``imx.schemas``, then connect.

        ``SchemaNotReleasedError`` names a missing one before anything is sent.
        """
        try:
            schemas = [self._schemas.report(t) for t in self._types]
            await asyncio.wait_for(self._store.require(schemas), self._timeout_s)
            await asyncio.wait_for(self._producer.start(), self._timeout_s)
        except BaseException:
            with contextlib.suppress(Exception):  # the failure to start is the one to report
                await self.stop()
            raise

    async def stop(self) -> None:
        await asyncio.wait_for(self._producer.stop(), self._timeout_s)

    async def __aenter__(self) -> ReportPublisher:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def encode(self, report: dict[str, Any]) -> bytes:
        """Avro single-object bytes of a report in its Python form (``imx.schema.jsonform``)."""
        return encode_report(report, self._schemas)

    async def send(self, report: dict[str, Any], *, unit: str | None = None) -> Sent:
        """Start sending ``report`` as ``unit`` (default: its reporting unit)."""
        value = self.encode(report)
        return await self.send_encoded(
            unit or report["reporting_unit"], value, str(report["event_id"]).encode()
        )

    async def send_encoded(self, unit: str, value: bytes, key: bytes | None) -> Sent:
        """Start sending bytes as they are to ``ingress.<unit>``; await the result to know."""
        future: Sent = await asyncio.wait_for(
            self._producer.send(self._topology.ingress(unit), value, key=key), self._timeout_s
        )
        return future

    async def send_record(self, unit: str, record: Record) -> Sent:
        """Start sending ``record`` exactly as it is to ``ingress.<unit>``."""
        future: Sent = await asyncio.wait_for(
            self._producer.send(
                self._topology.ingress(unit),
                record.value,
                key=record.key,
                headers=list(record.headers) or None,
            ),
            self._timeout_s,
        )
        return future

    async def flush(self) -> None:
        await asyncio.wait_for(self._producer.flush(), self._timeout_s)
