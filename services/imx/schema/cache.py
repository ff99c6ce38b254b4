"""Writer schemas by fingerprint, filled from a `SchemaSource` on a miss.

The source is the port to the compacted `imx.schemas` topic; its Kafka adapter lives with the
other I/O. The cache itself does no I/O and is synchronous: an adapter that must await the broker
can keep its own table current in the background and answer `lookup` from it, or push schemas in
with `add_json` as it reads them.

Hits are kept for the life of the cache: a fingerprint names one schema forever. Misses are not
remembered: a schema may be published a moment after the first value that uses it, and a source
answering from a local table makes a repeated miss cheap.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from imx.schema.codec import UnknownSchemaError
from imx.schema.loader import AvroSchema, SchemaLoadError, SchemaSet


class SchemaSource(Protocol):
    def lookup(self, fingerprint_hex: str) -> str | None:
        """The schema JSON published under `fingerprint_hex`, or None when there is none."""


class SchemaCache:
    """Fingerprint (hex) -> writer schema. `get` is a `WriterLookup` for the codec."""

    def __init__(
        self, source: SchemaSource | None = None, known: Iterable[AvroSchema] = ()
    ) -> None:
        self._source = source
        self._schemas: dict[str, AvroSchema] = {}
        for schema in known:
            self.add(schema)

    @classmethod
    def of(cls, schemas: SchemaSet, source: SchemaSource | None = None) -> SchemaCache:
        """A cache that knows the current schemas without asking the source."""
        return cls(source, schemas.schemas.values())

    def add(self, schema: AvroSchema) -> None:
        self._schemas[schema.fingerprint_hex] = schema

    def add_json(self, text: str) -> AvroSchema:
        """Parse and remember a published schema (raises SchemaLoadError if it does not parse)."""
        schema = AvroSchema.from_json(text)
        self.add(schema)
        return schema

    def __contains__(self, fingerprint_hex: object) -> bool:
        return fingerprint_hex in self._schemas

    def __len__(self) -> int:
        return len(self._schemas)

    def get(self, fingerprint_hex: str) -> AvroSchema:
        """The writer schema for a fingerprint, asking the source once per miss.

        A published schema that does not parse, or whose own fingerprint differs from the key it
        was published under, is treated as unknown: trusting it would decode bytes with the
        wrong schema. Errors of the source itself (e.g. the broker is down) propagate.
        """
        known = self._schemas.get(fingerprint_hex)
        if known is not None:
            return known
        text = None if self._source is None else self._source.lookup(fingerprint_hex)
        if text is None:
            raise UnknownSchemaError(fingerprint_hex)
        try:
            schema = AvroSchema.from_json(text)
        except SchemaLoadError as exc:
            raise UnknownSchemaError(
                fingerprint_hex, f"published schema is unusable ({exc})"
            ) from exc
        if schema.fingerprint_hex != fingerprint_hex:
            reason = f"published schema has fingerprint {schema.fingerprint_hex}"
            raise UnknownSchemaError(fingerprint_hex, reason)
        self.add(schema)
        return schema
