"""Thin aiokafka adapters for the CLI and the tests: one producer recipe, bounded readers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner, murmur2

from imx.topology import MAX_MESSAGE_BYTES


class KeyHashPartitioner:
    """aiokafka's default partitioner (Java-compatible murmur2 of the key), hashes remembered.

    murmur2 is pure Python in aiokafka, and the worker writes a dozen records per report
    under two or three keys; a key's hash is computed once while it stays among the recent.
    """

    def __init__(self, capacity: int = 65_536) -> None:
        self._capacity = capacity
        self._hashes: dict[bytes, int] = {}

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return int(DefaultPartitioner()(key, all_partitions, available))
        hashed = self._hashes.get(key)
        if hashed is None:
            if len(self._hashes) >= self._capacity:
                self._hashes.clear()
            hashed = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return all_partitions[hashed % len(all_partitions)]


#: Below the topics' ``max.message.bytes`` (a batch is one message to the broker).
MAX_BATCH_BYTES = 256 * 1024


def make_producer(bootstrap: str, **overrides: Any) -> AIOKafkaProducer:
    """Idempotent, acks=all: a retried send never duplicates a record in the log."""
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": 5,
        # Per partition. The worker writes a batch of reports' deliveries and audit records at
        # once, ~330 KiB to the audit topic alone per 256 reports: with aiokafka's 16 KiB, a
        # partition's batches went out one request round trip after another.
        "max_batch_size": MAX_BATCH_BYTES,
        "max_request_size": MAX_MESSAGE_BYTES,
        "partitioner": KeyHashPartitioner(),
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


def private_reader(bootstrap: str, **overrides: Any) -> AIOKafkaConsumer:
    """A consumer outside any group that sees only committed records; the caller assigns it."""
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "enable_auto_commit": False,
        "isolation_level": "read_committed",
    }
    options.update(overrides)
    return AIOKafkaConsumer(**options)


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    from_beginning: bool,
    max_records: int | None = None,
    idle_timeout_s: float | None = None,
    start_timeout_s: float = 30.0,
) -> AsyncIterator[Any]:
    """Yield the records of every partition of ``topic`` (no consumer group: reading is private).

    Only committed records are read, so a transaction the pipeline aborted is never shown. Stops
    after ``max_records`` records, or once ``idle_timeout_s`` passes without a record; with
    neither, runs until cancelled.
    """
    consumer = private_reader(
        bootstrap, auto_offset_reset="earliest" if from_beginning else "latest"
    )
    await asyncio.wait_for(consumer.start(), start_timeout_s)
    try:
        partitions = await asyncio.wait_for(topic_partitions(bootstrap, topic), start_timeout_s)
        consumer.assign(partitions)
        if from_beginning:
            await consumer.seek_to_beginning(*partitions)
        else:
            await consumer.seek_to_end(*partitions)
        count = 0
        last = time.monotonic()
        while max_records is None or count < max_records:
            batch = await consumer.getmany(timeout_ms=200, max_records=500)
            records = sorted(
                (r for rs in batch.values() for r in rs), key=lambda r: (r.timestamp, r.partition)
            )
            if records:
                last = time.monotonic()
            elif idle_timeout_s is not None and time.monotonic() - last >= idle_timeout_s:
                return
            for record in records:
                yield record
                count += 1
                if max_records is not None and count >= max_records:
                    return
    finally:
        await consumer.stop()


async def topic_partitions(bootstrap: str, topic: str) -> list[TopicPartition]:
    """Every partition of ``topic``; LookupError when the broker does not have the topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described["error_code"] or not described["partitions"]:
        msg = f"topic {topic} does not exist: run 'imx topics ensure'"
        raise LookupError(msg)
    return [TopicPartition(topic, p["partition"]) for p in described["partitions"]]


async def read_to_end(bootstrap: str, topic: str, timeout_s: float = 30.0) -> list[Any]:
    """Every committed record of ``topic`` present now (from the beginning to the end offsets)."""
    consumer = private_reader(bootstrap)
    await asyncio.wait_for(consumer.start(), timeout_s)
    try:
        async with asyncio.timeout(timeout_s):
            partitions = await topic_partitions(bootstrap, topic)
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            out: list[Any] = []
            pending = {tp for tp, end in ends.items() if end > 0}
            while pending:
                batch = await consumer.getmany(*pending, timeout_ms=500)
                for records in batch.values():
                    out.extend(records)
                for tp in list(pending):
                    if await consumer.position(tp) >= ends[tp]:
                        pending.discard(tp)
            return out
    finally:
        await consumer.stop()
