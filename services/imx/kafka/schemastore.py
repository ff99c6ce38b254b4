"""Writer schemas by fingerprint, backed by the compacted ``imx.schemas`` topic (CONTRACT.md 4).

Schemas are released, not self-registered (CONTRACT.md 10): only provisioning (``admin``)
publishes onto the topic (``ensure_published``); a producer checks that its writer schemas are
there before its first record (``require``) and fails naming the missing ones. Readers resolve
an unknown fingerprint by reading the topic again, and trust a record only when the CRC-64-AVRO
fingerprint recomputed from its schema equals its key: CRC-64 is no cryptographic hash, so a
schema is never taken on its key's word. Records ignored are logged and counted
(``imx_schema_records_ignored_total``). Our own current schemas are always known, so only values
written with another version cost a look-up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Literal, Protocol

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

#: Why a record of the schemas topic was not trusted.
IgnoredReason = Literal["unparseable", "fingerprint_mismatch"]
IGNORED_REASONS: tuple[IgnoredReason, ...] = ("unparseable", "fingerprint_mismatch")


class SchemaNotReleasedError(RuntimeError):
    """A writer schema is not on ``imx.schemas``; the message names it and the fix."""


class WriterSchemas(Protocol):
    """What a reader needs of a ``SchemaStore``; tests give the stages a fake."""

    def lookup(self, fingerprint_hex: str) -> AvroSchema: ...

    async def prepare(self, value: bytes) -> None: ...


class SchemaStore:
    """Fingerprint (hex) → writer schema: the local schemas plus everything on the topic."""

    def __init__(
        self,
        connection: Connection,
        topic: str,
        local: SchemaSet,
        on_ignored: Callable[[IgnoredReason], None] | None = None,
    ) -> None:
        self._connection = connection
        self._topic = topic
        self._on_ignored = on_ignored
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
                self._ignored("unparseable")
                continue
            if schema.fingerprint_hex != key:
                # Trusting it would decode values with the wrong schema.
                log.warning(
                    "schema record key is not its fingerprint",
                    topic=self._topic,
                    offset=record.offset,
                    key=key[:32],
                )
                self._ignored("fingerprint_mismatch")
                continue
            self._cache.add(schema)
            self._on_topic.add(key)
        return True

    def _ignored(self, reason: IgnoredReason) -> None:
        if self._on_ignored is not None:
            self._on_ignored(reason)

    async def require(self, schemas: Iterable[AvroSchema]) -> None:
        """Raise ``SchemaNotReleasedError`` unless every one of ``schemas`` is on the topic."""
        wanted = {s.fingerprint_hex: s for s in schemas}
        if not set(wanted) <= self._on_topic:
            await self.refresh(force=True)
        missing = [s for f, s in wanted.items() if f not in self._on_topic]
        if missing:
            names = ", ".join(f"{s.name} ({s.fingerprint_hex})" for s in missing)
            msg = (
                f"writer schema(s) not released on {self._topic}: {names}; "
                "provisioning releases them ('imx topics ensure', as admin)"
            )
            raise SchemaNotReleasedError(msg)

    async def ensure_published(
        self, producer: AIOKafkaProducer, schemas: Iterable[AvroSchema]
    ) -> list[str]:
        """Publish those of ``schemas`` the topic lacks; return the fingerprints written.

        Provisioning's step, as ``admin``: nobody else may write the topic.
        """
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
