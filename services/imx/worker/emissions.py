"""What the core writes for a decision: the records, their keys and headers, and what it skips.

Pure: given a decision (``imx.pipeline.core.Outcome``) and what the idempotent sink knows was
already written before a crash, return the records to send. The agent in ``imx.worker.core``
only sends them; the unit tests check every rule here without a broker.

- An accepted report: per delivery, one record on ``feed.<recipient>`` keyed by the incident or
  correlation id, and one disclosure on ``audit.disclosures`` keyed by the event or correlation
  id. Both carry ``imx-src`` (the accepted record's offset) and ``imx-id`` (the delivery id,
  ``audit:<delivery id>`` for the disclosure).
- A rejection by the core (EVENT_ID_CONFLICT, UNKNOWN_RFI, a schema gone): the original bytes on
  ``dlq.ingress`` keyed by the ingress record's key, with the DLQ headers of the ingress origin
  and ``imx-id`` = ``dlq:<offset>``.
- A record whose id the sink has seen among the outputs of a replayed input is not written again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from imx.kafka.topology import Topology
from imx.pipeline.core import Delivery, Outcome
from imx.pipeline.screen import Rejection
from imx.schema.delivery_writer import DeliveryWriter
from imx.worker.headers import ID, SOURCE_KEY, SRC, Headers, Origin, as_dict, dlq_headers

#: Whether an output id was written before (``IdempotentSink.already``).
Already = Callable[[str], bool]


@dataclass(frozen=True)
class Emission:
    """One record to write."""

    topic: str
    key: bytes | None
    value: bytes
    headers: Headers


@dataclass(frozen=True)
class Accepted:
    """A record of the accepted topic, as the core reads it (from faust or a gap read)."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    value: bytes
    headers: Headers

    @classmethod
    def of_faust(cls, message: Any) -> Accepted:
        """faust's ``Message``: its timestamp is in seconds."""
        return cls._of(message, int(message.timestamp * 1000))

    @classmethod
    def of_record(cls, record: Any) -> Accepted:
        """aiokafka's ``ConsumerRecord``: its timestamp is in milliseconds."""
        return cls._of(record, record.timestamp)

    @classmethod
    def _of(cls, record: Any, timestamp_ms: int) -> Accepted:
        return cls(
            record.topic,
            record.partition,
            record.offset,
            timestamp_ms,
            record.value or b"",
            as_dict(record.headers),
        )

    @property
    def origin(self) -> Origin:
        return Origin.of(self.headers)


def dlq_marker(offset: int) -> str:
    return f"dlq:{offset}"


def audit_id(delivery_id: str) -> str:
    return f"audit:{delivery_id}"


def dead_letter(
    topology: Topology, message: Accepted, rejection: Rejection, already: Already
) -> Emission | None:
    """The DLQ record for a report the core rejects; None when it was written before a crash."""
    marker = dlq_marker(message.offset)
    if already(marker):
        return None
    headers = dlq_headers(rejection, message.origin)
    headers[SRC] = str(message.offset).encode()
    headers[ID] = marker.encode()
    return Emission(topology.dlq, message.headers.get(SOURCE_KEY), message.value, headers)


@dataclass(frozen=True)
class Deliveries:
    """The records of an accepted report's deliveries, and what of them to count."""

    records: list[Emission] = field(default_factory=list)
    #: Nothing of the report was written before: count it as accepted (and its duplicate and
    #: correlations) now. A report whose outputs were written before a crash was counted then.
    first_time: bool = True
    #: The deliveries not wholly written before, for the delivery metrics.
    delivered: list[Delivery] = field(default_factory=list)


def deliveries(
    topology: Topology, writer: DeliveryWriter, src: int, outcome: Outcome, already: Already
) -> Deliveries:
    """Feed and audit records for ``outcome``'s deliveries, less those already written."""
    ids = [d.record["delivery_id"] for d in outcome.deliveries]
    first_time = not any(already(i) or already(audit_id(i)) for i in ids)
    values = writer.encode([delivery.record for delivery in outcome.deliveries])
    source = str(src).encode()
    records: list[Emission] = []
    delivered: list[Delivery] = []
    for delivery, delivery_id, value in zip(outcome.deliveries, ids, values, strict=True):
        disclosure_id = audit_id(delivery_id)
        feed_written, audit_written = already(delivery_id), already(disclosure_id)
        if feed_written and audit_written:
            continue
        if not feed_written:
            records.append(
                Emission(
                    topology.feed(delivery.recipient),
                    delivery.key.encode(),
                    value,
                    {SRC: source, ID: delivery_id.encode()},
                )
            )
        if not audit_written:
            records.append(
                _disclosure(topology, writer, delivery.disclosure, source, disclosure_id)
            )
        delivered.append(delivery)
    return Deliveries(records, first_time, delivered)


def _disclosure(
    topology: Topology,
    writer: DeliveryWriter,
    disclosure: Mapping[str, Any],
    source: bytes,
    disclosure_id: str,
) -> Emission:
    subject = disclosure["event_id"] or disclosure["correlation_id"]
    return Emission(
        topology.audit,
        subject.encode(),
        writer.encode_disclosure(disclosure),
        {SRC: source, ID: disclosure_id.encode()},
    )
