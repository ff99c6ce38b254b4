"""The worker's wire format besides the values: record headers, and where a record came from.

Headers carry what the next hop needs about a record's origin, so the bytes a unit published
travel untouched from ingress to the accepted topic and, if rejected later, to the DLQ. The
intake writes the origin headers; the core reads them and writes ``imx-src`` and ``imx-id`` on
everything it produces, which the idempotent sink reads back after a crash.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from imx.pipeline.screen import Rejection

SOURCE_TOPIC = "imx-source-topic"
SOURCE_PARTITION = "imx-source-partition"
SOURCE_OFFSET = "imx-source-offset"
UNIT = "imx-unit"
SOURCE_KEY = "imx-source-key"  # the ingress record's own key, for a DLQ record made later
INGESTED_AT = "imx-ingested-at"
PUBLISHED_AT = "imx-published-at"
ERROR_CODE = "imx-error-code"
ERROR_DETAIL = "imx-error-detail"
#: On every record the core writes: the offset, on the accepted topic, of the record it came from.
SRC = "imx-src"
#: On every record the core writes: the delivery id, ``audit:<delivery id>`` or ``dlq:<offset>``.
ID = "imx-id"

Headers = dict[str, bytes]


def ms_bytes(moment: datetime) -> bytes:
    return str(int(moment.timestamp() * 1000)).encode()


def from_ms(raw: bytes | None, default: datetime) -> datetime:
    return default if raw is None else datetime.fromtimestamp(int(raw) / 1000, tz=UTC)


def as_dict(headers: Iterable[tuple[str, bytes]] | Mapping[str, bytes] | None) -> Headers:
    if headers is None:
        return {}
    return dict(headers.items() if isinstance(headers, Mapping) else headers)


@dataclass(frozen=True)
class Origin:
    """Where an ingress record was: the DLQ names it, whichever stage rejects the record."""

    topic: str
    partition: int
    offset: int
    unit: str

    def headers(self) -> Headers:
        return {
            SOURCE_TOPIC: self.topic.encode(),
            SOURCE_PARTITION: str(self.partition).encode(),
            SOURCE_OFFSET: str(self.offset).encode(),
            UNIT: self.unit.encode(),
        }

    @classmethod
    def of(cls, headers: Mapping[str, bytes]) -> Origin:
        """Read back what ``headers`` wrote (on an accepted record)."""
        return cls(
            headers.get(SOURCE_TOPIC, b"").decode(),
            int(headers.get(SOURCE_PARTITION, b"-1")),
            int(headers.get(SOURCE_OFFSET, b"-1")),
            headers.get(UNIT, b"").decode(),
        )


def dlq_headers(rejection: Rejection, origin: Origin) -> Headers:
    return {
        ERROR_CODE: rejection.code.encode(),
        ERROR_DETAIL: rejection.detail.encode("utf-8"),
        **origin.headers(),
    }


def accepted_headers(
    origin: Origin, key: bytes | None, ingested_at: datetime, published_at: datetime
) -> Headers:
    """What the intake puts on a screened record for the core."""
    return {
        **({SOURCE_KEY: key} if key is not None else {}),
        **origin.headers(),
        INGESTED_AT: ms_bytes(ingested_at),
        PUBLISHED_AT: ms_bytes(published_at),
    }


def caused(headers: Mapping[str, bytes]) -> tuple[int, str] | None:
    """``(imx-src, imx-id)`` of a record the core wrote, or None for any other record."""
    src, output_id = headers.get(SRC), headers.get(ID)
    if src is None or output_id is None:
        return None
    return int(src), output_id.decode("utf-8")


def header_list(headers: Mapping[str, bytes]) -> list[tuple[str, bytes]]:
    """Kafka clients take headers as a list of pairs."""
    return list(headers.items())


def record_headers(record: Any) -> Headers:
    """The headers of an aiokafka record or a faust message as a dict."""
    return as_dict(getattr(record, "headers", None))
