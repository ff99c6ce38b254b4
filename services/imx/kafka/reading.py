"""Bounded reads of whole topics, outside any consumer group, through a ``Connection``.

Only committed records are read, so a transaction the pipeline aborted is never shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from imx.kafka.connection import Connection, started


async def read_topic(
    connection: Connection,
    topic: str,
    *,
    from_beginning: bool,
    max_records: int | None = None,
    idle_timeout_s: float | None = None,
    start_timeout_s: float = 30.0,
) -> AsyncIterator[Any]:
    """Yield the records of every partition of ``topic``.

    Stops after ``max_records`` records, or once ``idle_timeout_s`` passes without a record;
    with neither, runs until cancelled.
    """
    consumer = connection.reader(auto_offset_reset="earliest" if from_beginning else "latest")
    async with started(consumer, start_timeout_s):
        partitions = await asyncio.wait_for(topic_partitions(connection, topic), start_timeout_s)
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


TOPIC_AUTHORIZATION_FAILED = 29


class TopicDeniedError(LookupError):
    """The broker's ACLs do not let this principal at the topic; the message names both."""


def denied_message(connection: Connection, operation: str, topic: str) -> str:
    who = connection.sasl_username or "an anonymous client"
    return f"{who} may not {operation} topic {topic}: denied by the broker's ACLs"


async def topic_partitions(
    connection: Connection, topic: str, operation: str = "READ"
) -> list[TopicPartition]:
    """Every partition of ``topic``; LookupError when the broker does not have the topic.

    ``TopicDeniedError`` (a LookupError) when the principal may not even describe it: the message
    names the principal, ``operation`` (what the caller meant to do) and the topic.
    """
    (partitions,) = await _describe(connection, [topic], denied_as=operation)
    if not partitions:
        msg = f"topic {topic} does not exist: run 'imx topics ensure'"
        raise LookupError(msg)
    return partitions


async def assign_all(
    connection: Connection, consumer: AIOKafkaConsumer, topics: Sequence[str]
) -> list[TopicPartition]:
    """Assign every partition of ``topics``, found with one metadata request for all of them."""
    described = await _describe(connection, topics)
    missing = [topic for topic, partitions in zip(topics, described, strict=True) if not partitions]
    if missing:
        msg = f"{len(missing)} of {len(topics)} topics are missing on the broker: {missing[0]} …"
        raise LookupError(msg)
    partitions = [tp for found in described for tp in found]
    consumer.assign(partitions)
    return partitions


async def _describe(
    connection: Connection, topics: Sequence[str], denied_as: str | None = None
) -> list[list[TopicPartition]]:
    """The partitions of each of ``topics``, in order; an empty list for a missing topic.

    With ``denied_as``, a topic the principal may not describe raises ``TopicDeniedError``.
    """
    async with started(connection.admin(), connection.request_timeout_s) as admin:
        described = await admin.describe_topics(list(topics))
    if denied_as is not None:
        for topic in described:
            if topic["error_code"] == TOPIC_AUTHORIZATION_FAILED:
                raise TopicDeniedError(denied_message(connection, denied_as, topic["topic"]))
    by_name = {
        topic["topic"]: [
            TopicPartition(topic["topic"], p["partition"]) for p in topic["partitions"]
        ]
        for topic in described
        if not topic["error_code"]
    }
    return [by_name.get(topic, []) for topic in topics]


async def read_to_end(connection: Connection, topic: str, timeout_s: float = 30.0) -> list[Any]:
    """Every committed record of ``topic`` present now (from the beginning to the end offsets)."""
    async with started(connection.reader(), timeout_s) as consumer, asyncio.timeout(timeout_s):
        partitions = await topic_partitions(connection, topic)
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


async def end_offsets(
    connection: Connection, partitions: Sequence[TopicPartition], timeout_s: float = 30.0
) -> dict[TopicPartition, int]:
    """The offset after the last record of each of ``partitions`` (0: empty or missing)."""
    async with started(connection.reader(), timeout_s) as consumer, asyncio.timeout(timeout_s):
        topics = sorted({tp.topic for tp in partitions})
        existing = {tp for found in await _describe(connection, topics) for tp in found}
        known = [tp for tp in partitions if tp in existing]
        ends: dict[TopicPartition, int] = await consumer.end_offsets(known) if known else {}
    return {tp: ends.get(tp, 0) for tp in partitions}


async def cluster_id(connection: Connection, timeout_s: float = 10.0) -> str | None:
    """The id of the cluster that answers at the connection's bootstrap, or None if none does."""
    if not _first_port_open(connection):
        return None  # spares aiokafka's connection-error log lines while a JVM starts
    admin = connection.admin(request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        cluster = await asyncio.wait_for(admin.describe_cluster(), timeout_s)
    except Exception:  # noqa: BLE001 - any failure means "nothing serves there (yet)"
        return None
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(admin.close(), timeout_s)
    if not cluster.get("brokers"):
        return None
    found = cluster.get("cluster_id")
    return str(found) if found else None


async def broker_count(connection: Connection, timeout_s: float = 10.0) -> int:
    """How many brokers the cluster lists as alive (a metadata request)."""
    admin = connection.admin(request_timeout_ms=int(timeout_s * 1000))
    async with started(admin, timeout_s):
        cluster = await asyncio.wait_for(admin.describe_cluster(), timeout_s)
    return len(cluster.get("brokers") or ())


def serves(connection: Connection, timeout_s: float = 5.0) -> bool:
    """True when a broker answers a metadata request (describe cluster) in time."""
    return asyncio.run(cluster_id(connection, timeout_s)) is not None


def _first_port_open(connection: Connection) -> bool:
    host, _, port = connection.servers[0].rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=1.0):
            return True
    except (OSError, ValueError):
        return False
