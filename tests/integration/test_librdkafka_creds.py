"""`imx security creds --format librdkafka` works in librdkafka, an independent client.

librdkafka is the C client under kcat and most non-Java Kafka clients. Debian's kcat links
librdkafka 2.0.2, whose SCRAM handshake fails against Kafka 4 (fixed in librdkafka 2.6.1), so
the properties are checked with the librdkafka that confluent-kafka's wheel bundles: the unit
reads its own feed and is refused another unit's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, KafkaError, Message

from imx.kafka.connection import Connection, started
from imx.kafka.topology import Topology
from imx.settings import Settings
from tests.support.proc import run_imx
from tests.support.secured import SecuredBroker

pytestmark = pytest.mark.integration

UNIT, OTHER = "bps-presevo", "bps-rujan"
POLL_S = 30.0


def _properties(broker: SecuredBroker, principal: str) -> dict[str, str]:
    printed = run_imx(
        ["security", "creds", principal, "--format", "librdkafka"],
        {"IMX_HOME": str(broker.secrets.parent)},
        timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    pairs = (line.split("=", 1) for line in printed.stdout.splitlines() if "=" in line)
    return dict(pairs)


def _messages(config: dict[str, str], topic: str) -> Iterator[Message]:
    """Poll ``topic`` until ``POLL_S`` passes; yields records and errors alike."""
    consumer = Consumer(config)
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + POLL_S
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None:
                yield message
    finally:
        consumer.close()


def test_librdkafka_reads_its_own_feed_and_is_refused_another(
    settings: Settings, topology: Topology, session_broker: SecuredBroker
) -> None:
    admin = Connection.from_settings(settings)

    async def deliver() -> None:
        async with started(admin.producer(), 30) as producer:
            for unit in (UNIT, OTHER):
                await producer.send_and_wait(topology.feed(unit), f"for {unit}".encode(), b"k")

    asyncio.run(deliver())
    config = {
        **_properties(session_broker, f"unit-{UNIT}"),
        "bootstrap.servers": session_broker.bootstrap,
        "group.id": f"{settings.topic_prefix}unit-{UNIT}.librdkafka",
        "auto.offset.reset": "earliest",
    }
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.mechanisms"] == "SCRAM-SHA-512"

    own = next(
        (m for m in _messages(config, topology.feed(UNIT)) if m.error() is None),
        None,
    )
    assert own is not None, f"librdkafka read nothing from {topology.feed(UNIT)}"
    assert own.value() == f"for {UNIT}".encode()

    refused = next(
        (m.error() for m in _messages(config, topology.feed(OTHER)) if m.error() is not None),
        None,
    )
    assert refused is not None, f"librdkafka was not refused {topology.feed(OTHER)}"
    assert refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, refused
