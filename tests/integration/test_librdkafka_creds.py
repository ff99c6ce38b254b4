"""`imx security creds --format librdkafka` works in librdkafka, an independent client.

librdkafka is the C client under kcat and most non-Java Kafka clients. The printed properties
are used twice: by kcat itself, as a unit system's operator would (``kcat -F``), and by
confluent-kafka's consumer; each reads the unit's own feed and is refused another unit's.
Debian's kcat runs on the librdkafka that confluent-kafka's wheel bundles (tests/support/kcat.py:
Debian's own librdkafka 2.0.2 cannot do SCRAM with Kafka 4).
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Message

from imx.kafka.connection import Connection, started
from imx.kafka.topology import Topology
from imx.settings import Settings
from tests.support.kcat import kcat_binary, kcat_env
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


def _deliver(settings: Settings, topology: Topology) -> None:
    """As admin (the worker's place): one record on each unit's feed."""
    admin = Connection.from_settings(settings)

    async def deliver() -> None:
        async with started(admin.producer(), 30) as producer:
            for unit in (UNIT, OTHER):
                await producer.send_and_wait(topology.feed(unit), f"for {unit}".encode(), b"k")

    asyncio.run(deliver())


def _kcat(
    config: Path, bootstrap: str, topic: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    argv = [kcat_binary(), "-F", str(config), "-b", bootstrap, "-C", "-t", topic, "-o", "beginning",
            "-e", "-q", "-f", "%s\\n"]  # fmt: skip
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_kcat_with_the_printed_properties_reads_its_own_feed_and_is_refused_another(
    settings: Settings, topology: Topology, session_broker: SecuredBroker, tmp_path: Path
) -> None:
    _deliver(settings, topology)
    config = tmp_path / "kcat.conf"
    printed = run_imx(
        ["security", "creds", f"unit-{UNIT}", "--format", "librdkafka"],
        {"IMX_HOME": str(session_broker.secrets.parent)},
        timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    config.write_text(printed.stdout)
    env = kcat_env(tmp_path)

    own = _kcat(config, session_broker.bootstrap, topology.feed(UNIT), env)
    assert own.returncode == 0, own.stderr
    assert own.stdout.splitlines() == [f"for {UNIT}"]

    other = _kcat(config, session_broker.bootstrap, topology.feed(OTHER), env)
    assert other.returncode != 0, f"kcat read {topology.feed(OTHER)}: {other.stdout!r}"
    assert f"for {OTHER}" not in other.stdout
    assert "authoriz" in other.stderr.lower(), other.stderr


def test_librdkafka_reads_its_own_feed_and_is_refused_another(
    settings: Settings, topology: Topology, session_broker: SecuredBroker
) -> None:
    _deliver(settings, topology)
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
