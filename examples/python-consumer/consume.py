#!/usr/bin/env python3
"""Read an imx feed (``feed.<unit-id>``) with aiokafka and fastavro only, one line per delivery.

Each line is ``delivery_id<TAB>recipient<TAB>kind<TAB>subject<TAB>rules``: subject is the
report's ``event_id`` (kind=report) or the ``correlation_id`` (kind=correlation), rules are
comma-joined. A value that cannot be read prints ``ERROR<TAB>topic[partition]@offset<TAB>why``.

This knows nothing of imx in advance, as an outside integrator would not. Every value is Avro
single-object encoded: ``C3 01``, the 8-byte little-endian CRC-64-AVRO fingerprint of the writer
schema's Parsing Canonical Form, then the Avro binary body. The writer schema is found by that
fingerprint on the compacted schemas topic (``imx.schemas``; key: the 8 fingerprint bytes as
they appear in the value, hex-encoded; value: the schema JSON with every named type inlined).
Each schema record's key is checked against the fingerprint recomputed from its JSON.

Compute fingerprints with fastavro (as here) or the Java library, NOT with the Python ``avro``
package: its ``Schema.canonical_form`` (avro 1.11 and 1.12) writes a logical-typed primitive
such as ``{"type": "long", "logicalType": "timestamp-millis"}`` as ``{"type":"long"}`` instead
of the specification's ``"long"``, so ``Schema.fingerprint()`` differs from every other
implementation for any schema with a logical type, which is every imx schema (all of them carry
timestamps): for the Delivery schema it gives ``c0cf48cbc43b7daa`` where fastavro and Java give
``04b3aa6795d3b37f``. The CRC itself agrees; only the canonical form is wrong.

Security: a secured broker needs ``--security-protocol SASL_SSL --sasl-mechanism SCRAM-SHA-512
--sasl-username U --ssl-cafile CA.pem``, the password in the environment variable
``KAFKA_SASL_PASSWORD`` (never on the command line, where ``ps`` shows it). Every option can
also come from the environment: ``KAFKA_BOOTSTRAP``, ``KAFKA_SECURITY_PROTOCOL``,
``KAFKA_SASL_MECHANISM``, ``KAFKA_SASL_USERNAME``, ``KAFKA_SSL_CAFILE``.

    python consume.py --bootstrap 127.0.0.1:9092 --feed feed.gpd-oc --idle-timeout 5
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.helpers import create_ssl_context
from fastavro import parse_schema, schemaless_reader
from fastavro.schema import fingerprint, to_parsing_canonical_form

MAGIC = b"\xc3\x01"
HEADER_SIZE = len(MAGIC) + 8
#: An unknown fingerprint re-reads the schemas topic at most this often.
REFRESH_INTERVAL_S = 2.0
POLL_MS = 200
#: How every consumer here reads, on top of the connection options.
READER: dict[str, Any] = {
    # Assigned partitions, no group: nothing to commit, nobody else's offsets to move.
    "enable_auto_commit": False,
    # imx writes with idempotent (possibly transactional) producers: never show a record of an
    # aborted or still-open transaction.
    "isolation_level": "read_committed",
    "auto_offset_reset": "earliest",
}


def schema_fingerprint(parsed: Any) -> str:
    """Hex of the 8 CRC-64-AVRO bytes in wire order, as the schemas topic keys spell them.

    fastavro already returns the little-endian bytes the single-object header carries.
    """
    return str(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))


class TopicSchemas:
    """Writer schemas by fingerprint (hex), read from the schemas topic."""

    def __init__(self, connection: Mapping[str, Any], topic: str) -> None:
        self._connection = connection
        self._topic = topic
        self._schemas: dict[str, Any] = {}
        self._last_refresh = float("-inf")

    async def find(self, fingerprint_hex: str) -> Any | None:
        found = self._schemas.get(fingerprint_hex)
        # A producer publishes a schema before its first use, so an unknown fingerprint may
        # just be newer than our last read of the topic; rate-limited so garbage cannot turn
        # into one topic scan per record.
        if found is None and time.monotonic() - self._last_refresh >= REFRESH_INTERVAL_S:
            await self.refresh()
            found = self._schemas.get(fingerprint_hex)
        return found

    async def refresh(self) -> None:
        """Read the whole topic, from the beginning to its end as of now."""
        self._last_refresh = time.monotonic()
        consumer = AIOKafkaConsumer(**self._connection, **READER)
        await consumer.start()
        try:
            partitions = await assign_all(consumer, self._connection, self._topic)
            end = await consumer.end_offsets(partitions)
            pending = {tp for tp in partitions if end[tp] > 0}
            while pending:
                batches = await consumer.getmany(*pending, timeout_ms=POLL_MS)
                for records in batches.values():
                    for record in records:
                        self._add(record)
                for tp in list(pending):
                    if await consumer.position(tp) >= end[tp]:
                        pending.discard(tp)
        finally:
            await consumer.stop()

    def _add(self, record: Any) -> None:
        if record.key is None or record.value is None:
            return  # a tombstone, or not a schema record
        key = record.key.decode("ascii", errors="replace")
        try:
            parsed = parse_schema(json.loads(record.value.decode("utf-8")))
            found = schema_fingerprint(parsed)
        # fastavro signals a bad schema with many unrelated exception types.
        except Exception as exc:  # noqa: BLE001
            warn(f"ignoring unparsable schema at offset {record.offset}: {exc}")
            return
        if found != key:
            # Trusting it would decode values with the wrong schema.
            warn(f"ignoring schema at offset {record.offset}: key {key} is not its {found}")
            return
        self._schemas[key] = parsed


async def assign_all(
    consumer: AIOKafkaConsumer, connection: Mapping[str, Any], topic: str
) -> list[TopicPartition]:
    """Every partition of ``topic``, assigned and at its beginning (no consumer group)."""
    # The consumer learns only the partitions of topics it subscribes to; the admin client's
    # describe is the public way to learn them for an assignment.
    admin = AIOKafkaAdminClient(**connection)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described["error_code"] or not described["partitions"]:
        msg = f"consume.py: topic {topic} does not exist (error {described['error_code']})"
        raise SystemExit(msg)
    partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    return partitions


async def render(record: Any, schemas: TopicSchemas) -> str:
    """The delivery's line, or an ERROR line naming where the unreadable value is."""
    value: bytes = record.value or b""
    where = f"{record.topic}[{record.partition}]@{record.offset}"
    if len(value) < HEADER_SIZE or value[: len(MAGIC)] != MAGIC:
        return f"ERROR\t{where}\tnot single-object Avro"
    fingerprint_hex = value[len(MAGIC) : HEADER_SIZE].hex()
    writer = await schemas.find(fingerprint_hex)
    if writer is None:
        return f"ERROR\t{where}\tno schema for fingerprint {fingerprint_hex}"
    try:
        # The writer schema is also the reader schema: this example has none of its own. A
        # consumer with one would pass it as reader_schema, and Avro's resolution rules would
        # absorb newer (compatible) writer versions.
        delivery = schemaless_reader(io.BytesIO(value[HEADER_SIZE:]), writer, None)
    except Exception as exc:  # noqa: BLE001 - fastavro raises many types for bad bytes
        return f"ERROR\t{where}\t{exc!r}"
    if not isinstance(delivery, dict):
        return f"ERROR\t{where}\twriter schema {fingerprint_hex} is not a record"
    kind = delivery["kind"]
    if kind == "report":
        subject = delivery["report"]["event_id"]
    else:
        subject = delivery["correlation"]["correlation_id"]
    rules = ",".join(delivery["rules"])
    return "\t".join((delivery["delivery_id"], delivery["recipient"], kind, subject, rules))


async def consume(args: argparse.Namespace) -> int:
    connection = connection_options(args)
    schemas = TopicSchemas(connection, args.schemas)
    await schemas.refresh()
    consumer = AIOKafkaConsumer(**connection, **READER)
    await consumer.start()
    printed = 0
    try:
        partitions = await assign_all(consumer, connection, args.feed)
        last_record = time.monotonic()
        while args.max is None or printed < args.max:
            batches = await consumer.getmany(*partitions, timeout_ms=POLL_MS)
            records = [record for batch in batches.values() for record in batch]
            if not records:
                idle = time.monotonic() - last_record
                if args.idle_timeout is not None and idle >= args.idle_timeout:
                    break
                continue
            last_record = time.monotonic()
            for record in records[: None if args.max is None else args.max - printed]:
                print(await render(record, schemas))
                printed += 1
            sys.stdout.flush()
    finally:
        await consumer.stop()
    return printed


def connection_options(args: argparse.Namespace) -> dict[str, Any]:
    """Where the broker is and how to authenticate: shared by the consumers and the admin."""
    options: dict[str, Any] = {
        "bootstrap_servers": args.bootstrap,
        "security_protocol": args.security_protocol,
    }
    if args.security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = create_ssl_context(cafile=args.ssl_cafile)
    if args.security_protocol.startswith("SASL_"):
        options.update(
            sasl_mechanism=args.sasl_mechanism,
            sasl_plain_username=args.sasl_username,
            sasl_plain_password=os.environ.get("KAFKA_SASL_PASSWORD"),
        )
    return options


def positive(kind: type[int] | type[float]) -> Any:
    def check(text: str) -> int | float:
        value = kind(text)
        if value <= 0:
            msg = f"must be positive, got {text}"
            raise argparse.ArgumentTypeError(msg)
        return value

    return check


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--bootstrap", default=env("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--feed", required=True, help="the feed topic, e.g. feed.gpd-oc")
    parser.add_argument("--schemas", default="imx.schemas", help="the schemas topic")
    parser.add_argument("--max", type=positive(int), metavar="N", help="stop after N records")
    parser.add_argument(
        "--idle-timeout", type=positive(float), metavar="S", help="stop after S s without one"
    )
    parser.add_argument(
        "--security-protocol",
        default=env("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT"),
        choices=("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"),
    )
    parser.add_argument("--sasl-mechanism", default=env("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"))
    parser.add_argument("--sasl-username", default=env("KAFKA_SASL_USERNAME"))
    parser.add_argument(
        "--ssl-cafile", default=env("KAFKA_SSL_CAFILE"), help="PEM file of the broker's CA"
    )
    return parser.parse_args(argv)


def warn(message: str) -> None:
    print(f"consume.py: {message}", file=sys.stderr)


def main() -> None:
    args = parse_args()
    try:
        printed = asyncio.run(consume(args))
    except KeyboardInterrupt:
        return
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away (e.g. `| head`)
        return
    warn(f"{printed} deliveries")


if __name__ == "__main__":
    main()
