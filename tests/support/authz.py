"""Probes of what a principal may do on the broker: each answers allowed or denied, or raises.

Only an authorisation refusal counts as "denied"; any other failure (a timeout, a broken
connection) raises, so a probe never passes because the broker was merely unreachable.
"""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import NewTopic
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    TopicAuthorizationFailedError,
)

from imx.kafka.connection import Connection, started
from imx.kafka.reading import TopicDeniedError, topic_partitions

TIMEOUT_S = 30.0
#: A read is allowed when the first fetch round passes without a refusal.
READ_ROUND_MS = 700  # the broker answers an empty fetch after fetch.max.wait (500 ms)
DENIED_TOPIC = (TopicAuthorizationFailedError,)
#: A principal that may write no topic at all is refused the idempotent producer's id first.
DENIED_WRITE = (TopicAuthorizationFailedError, ClusterAuthorizationFailedError)
DENIED_GROUP = (GroupAuthorizationFailedError, TopicAuthorizationFailedError)
DENIED_ADMIN = (TopicAuthorizationFailedError, ClusterAuthorizationFailedError)


def _denied_code(code: int) -> bool:
    # TOPIC_AUTHORIZATION_FAILED (29), CLUSTER_AUTHORIZATION_FAILED (31)
    return code in (29, 31)


class Writer:
    """One idempotent producer (``acks=all``) for every write probe of one principal.

    A principal that may write no topic at all is refused the producer's id at start: then
    every write is denied.
    """

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._producer: AIOKafkaProducer | None = None
        self._refused = False

    async def can_write(self, topic: str, value: bytes) -> bool:
        if self._refused:
            return False
        if self._producer is None:
            producer = self._connection.producer()
            try:
                await asyncio.wait_for(producer.start(), TIMEOUT_S)
            except DENIED_WRITE:
                await asyncio.wait_for(producer.stop(), TIMEOUT_S)
                self._refused = True
                return False
            self._producer = producer
        try:
            await asyncio.wait_for(
                self._producer.send_and_wait(topic, value, key=b"probe"), TIMEOUT_S
            )
        except DENIED_TOPIC:
            return False
        return True

    async def close(self) -> None:
        if self._producer is not None:
            await asyncio.wait_for(self._producer.stop(), TIMEOUT_S)


async def can_read(connection: Connection, topic: str) -> bool:
    """Fetch partition 0 of ``topic`` from offset 0, without a consumer group.

    A topic the principal may not even describe is not readable (READ implies DESCRIBE), and
    aiokafka would wait for its metadata for ever; otherwise one fetch round decides.
    """
    try:
        await topic_partitions(connection, topic)
    except TopicDeniedError:
        return False
    async with started(connection.reader(), TIMEOUT_S) as reader:
        tp = TopicPartition(topic, 0)
        reader.assign([tp])
        reader.seek(tp, 0)
        try:
            for _ in range(2):  # a refused fetch surfaces on the following poll at the latest
                await asyncio.wait_for(reader.getmany(timeout_ms=READ_ROUND_MS), TIMEOUT_S)
        except DENIED_TOPIC:
            return False
    return True


async def can_join(connection: Connection, group: str, topic: str) -> bool:
    """Join consumer group ``group`` subscribed to ``topic`` (one the principal may read)."""
    consumer = connection.group_consumer(topic, group_id=group, session_timeout_ms=10_000)
    deadline = asyncio.get_running_loop().time() + TIMEOUT_S
    try:
        async with started(consumer, TIMEOUT_S):
            while not consumer.assignment():  # joined once partitions are assigned
                if asyncio.get_running_loop().time() > deadline:
                    msg = f"joining group {group}: neither assigned nor refused in {TIMEOUT_S} s"
                    raise AssertionError(msg)
                await asyncio.wait_for(consumer.getmany(timeout_ms=READ_ROUND_MS), TIMEOUT_S)
            return True
    except DENIED_GROUP:
        return False


async def can_create(connection: Connection, topic: str) -> bool:
    async with started(connection.admin(), TIMEOUT_S) as admin:
        response = await asyncio.wait_for(admin.create_topics([NewTopic(topic, 1, 1)]), TIMEOUT_S)
    return not _refused(response, "topic_errors")


async def can_delete(connection: Connection, topic: str) -> bool:
    async with started(connection.admin(), TIMEOUT_S) as admin:
        try:
            response = await asyncio.wait_for(admin.delete_topics([topic]), TIMEOUT_S)
        except DENIED_ADMIN:
            return False
    return not _refused(response, "topic_error_codes")


def _refused(response: object, field: str) -> bool:
    """Whether a CreateTopics/DeleteTopics response refused on authorisation; else raise."""
    for entry in getattr(response, field, []):
        code = entry[1]
        if _denied_code(code):
            return True
        if code != 0:
            msg = f"{field}: unexpected error code {code} in {entry}"
            raise AssertionError(msg)
    return False


def probe_value() -> bytes:
    """A value that names one probe, to find it again on the broker."""
    return f"authz-probe-{uuid.uuid4().hex}".encode()
