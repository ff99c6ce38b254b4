"""Writer schemas by fingerprint, backed by the compacted ``imx.schemas`` topic (CONTRACT.md 4).

Producers publish every writer schema they use before its first use; readers resolve an unknown
fingerprint by reading the topic again. Our own current schemas are always known, so only values
written with another version cost a look-up.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Protocol

import structlog
from aiokafka import AIOKafkaProducer

from imx.kafka.connection import Connection
from imx.kafka.reading import read_to_end
from imx.schema.cache import SchemaCache
from imx.schema.codec import UndecodableError, read_fingerprint
from imx.schema.loader import AvroSchema, SchemaLoadError, SchemaSet

log = structlog.get_logger(__name__)

#: An unknown fingerprint triggers at most one re-read of the topic per this many seconds, so a
#: stream of garbage cannot turn into a stream of topic scans.
REFRESH_INTERVAL_S = 2.0


class WriterSchemas(Protocol):
    """What a reader needs of a ``SchemaStore``; tests give the stages a fake."""

    def lookup(self, fingerprint_hex: str) -> AvroSchema: ...

    async def prepare(self, value: bytes) -> None: ...


class SchemaStore:
    """Fingerprint (hex) → writer schema: the local schemas plus everything on the topic."""

    def __init__(self, connection: Connection, topic: str, local: SchemaSet) -> None:
        self._connection = connection
        self._topic = topic
        self._cache = SchemaCache.of(local)
        self._on_topic: set[str] = set()
        self._last_refresh = float("-inf")

    def lookup(self, fingerprint_hex: str) -> AvroSchema:
        """The codec's writer lookup; raises UnknownSchemaError for a fingerprint not yet known."""
        return self._cache.get(fingerprint_hex)

    def knows(self, fingerprint_hex: str) -> bool:
        return fingerprint_hex in self._cache

    async def refresh(self, *, force: bool = False) -> bool:
        """Re-read the topic (rate-limited unless forced); True when it was read."""
        now = time.monotonic()
        if not force and now - self._last_refresh < REFRESH_INTERVAL_S:
            return False
        self._last_refresh = now
        for record in await read_to_end(self._connection, self._topic):
            key = (record.key or b"").decode("ascii", errors="replace")
            try:
                schema = AvroSchema.from_json((record.value or b"").decode("utf-8"))
            except (SchemaLoadError, UnicodeDecodeError):
                log.warning("unusable schema record", topic=self._topic, offset=record.offset)
                continue
            if schema.fingerprint_hex != key:
                # Trusting it would decode values with the wrong schema.
                log.warning("schema record key is not its fingerprint", offset=record.offset)
                continue
            self._cache.add(schema)
            self._on_topic.add(key)
        return True

    async def ensure_published(
        self, producer: AIOKafkaProducer, schemas: Iterable[AvroSchema]
    ) -> list[str]:
        """Publish those of ``schemas`` the topic lacks; return the fingerprints written."""
        wanted = {s.fingerprint_hex: s for s in schemas}
        if not set(wanted) <= self._on_topic:
            await self.refresh(force=True)
        written = []
        for fingerprint, schema in wanted.items():
            if fingerprint in self._on_topic:
                continue
            await producer.send_and_wait(
                self._topic, schema.json.encode("utf-8"), key=fingerprint.encode("ascii")
            )
            self._on_topic.add(fingerprint)
            written.append(fingerprint)
        return written

    async def prepare(self, value: bytes) -> None:
        """Before decoding ``value``: re-read the topic if its writer fingerprint is unknown."""
        try:
            fingerprint_hex = read_fingerprint(value)
        except UndecodableError:
            return  # the decoder will say why
        if not self.knows(fingerprint_hex):
            await self.refresh()
