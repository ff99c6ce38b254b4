"""Hand-written fakes for the worker's ports: output, idempotent sink, gap reader, schema store.

They hold what Kafka would hold in lists, so the glue between the pure logic and the broker (what
is written for a decision, what a replay skips) is tested in-process, and only the Kafka side
itself needs the broker tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from imx.kafka.connection import Connection
from imx.schema.cache import SchemaCache
from imx.schema.loader import AvroSchema, SchemaSet
from imx.worker.emissions import Accepted, Emission
from imx.worker.sink import IdempotentSink, caused_since


@dataclass
class MemoryOutput:
    """An ``Output`` whose acknowledged records land in ``log``, in order."""

    log: list[Emission] = field(default_factory=list)
    unacknowledged: list[Emission] = field(default_factory=list)

    async def send(self, record: Emission) -> None:
        self.unacknowledged.append(record)

    async def acknowledged(self) -> None:
        self.log.extend(self.unacknowledged)
        self.unacknowledged.clear()

    def ids(self) -> list[str]:
        return [r.headers["imx-id"].decode() for r in self.log]

    def on(self, topic: str) -> list[Emission]:
        return [r for r in self.log if r.topic == topic]


class MemorySink(IdempotentSink):
    """The real sink's rules; recovery reads ``output.log`` instead of the output topics."""

    def __init__(self, output: MemoryOutput) -> None:
        super().__init__(Connection("unused:9"), [])
        self._output = output

    async def recover(self, offset: int, timestamp_ms: int) -> int:
        return self.remember(offset, set(caused_since(self._output.log, offset)))


@dataclass
class MemoryGaps:
    """The accepted topic's records as a list: what ``GapReader`` would read from it."""

    accepted: list[Accepted]

    async def missed(
        self, topic: str, partition: int, offset: int, processed: int | None
    ) -> list[Accepted]:
        start = -1 if processed is None else processed
        return [
            r
            for r in self.accepted
            if (r.topic, r.partition) == (topic, partition) and start < r.offset < offset
        ]


class LocalSchemas:
    """A ``WriterSchemas`` that knows the local schemas only (no schema topic)."""

    def __init__(self, schemas: SchemaSet) -> None:
        self._cache = SchemaCache.of(schemas)

    def lookup(self, fingerprint_hex: str) -> AvroSchema:
        return self._cache.get(fingerprint_hex)

    async def prepare(self, value: bytes) -> None:
        return None
