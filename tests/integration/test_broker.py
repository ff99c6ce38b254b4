"""The harness itself: a real broker that aiokafka and an independent client (kcat) agree on."""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

pytestmark = pytest.mark.integration


async def _create(bootstrap: str, topic: str, partitions: int = 1) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()


async def _produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def _consume(bootstrap: str, topic: str, count: int) -> list[tuple[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        got: list[tuple[bytes, bytes]] = []
        async with asyncio.timeout(30):
            while len(got) < count:
                batch = await consumer.getmany(timeout_ms=1000)
                got.extend((m.key, m.value) for msgs in batch.values() for m in msgs)
        return got
    finally:
        await consumer.stop()


def test_produce_consume_round_trip(plaintext_bootstrap: str, topic_prefix: str) -> None:
    topic = f"{topic_prefix}roundtrip"
    records = [(f"k{i}".encode(), f"value {i}".encode()) for i in range(20)]

    async def scenario() -> list[tuple[bytes, bytes]]:
        await _create(plaintext_bootstrap, topic, partitions=3)
        await _produce(plaintext_bootstrap, topic, records)
        return await _consume(plaintext_bootstrap, topic, len(records))

    assert sorted(asyncio.run(scenario())) == sorted(records)


def test_kcat_reads_what_aiokafka_wrote(plaintext_bootstrap: str, topic_prefix: str) -> None:
    kcat = shutil.which("kcat")
    assert kcat, "kcat is not installed: `make setup` installs it (Debian package kcat)"
    topic = f"{topic_prefix}kcat"
    records = [(b"unit-a", b"first"), (b"unit-b", b"second")]

    async def scenario() -> None:
        await _create(plaintext_bootstrap, topic)
        await _produce(plaintext_bootstrap, topic, records)

    asyncio.run(scenario())
    out = subprocess.run(
        [kcat, "-b", plaintext_bootstrap, "-C", "-t", topic, "-e", "-q", "-f", "%k=%s\\n"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.splitlines() == ["unit-a=first", "unit-b=second"]
