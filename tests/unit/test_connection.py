"""The connection: its producer recipe (partitions, batch size) and its security settings."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from imx.kafka.connection import (
    MAX_BATCH_BYTES,
    Connection,
    ConnectionSettingsError,
    KeyHashPartitioner,
)
from imx.kafka.topology import MAX_MESSAGE_BYTES
from imx.settings import Settings

pytestmark = pytest.mark.unit


@given(
    keys=st.lists(st.binary(max_size=40), min_size=1, max_size=30),
    partitions=st.integers(1, 12),
    capacity=st.integers(1, 8),
)
def test_same_partition_as_the_default_partitioner(
    keys: list[bytes], partitions: int, capacity: int
) -> None:
    cached = KeyHashPartitioner(capacity=capacity)
    all_partitions = list(range(partitions))
    for key in keys * 2:  # the second round is served from memory (or recomputed past capacity)
        expected = DefaultPartitioner()(key, all_partitions, all_partitions)
        assert cached(key, all_partitions, all_partitions) == expected


def test_records_without_a_key_go_to_an_available_partition() -> None:
    assert KeyHashPartitioner()(None, [0, 1, 2], [1]) == 1


def test_producer_batches_fit_the_topics_message_limit() -> None:
    # a record batch is one message to the broker: larger than max.message.bytes, it is refused
    async def batch_size() -> int:
        producer = Connection("127.0.0.1:9").producer()  # never started: nothing connects
        size: int = producer._message_accumulator._batch_size
        await producer.stop()
        return size

    assert asyncio.run(batch_size()) == MAX_BATCH_BYTES
    assert MAX_BATCH_BYTES + 64 * 1024 <= MAX_MESSAGE_BYTES  # room for a batch's overhead


def test_plaintext_clients_carry_no_credentials() -> None:
    connection = Connection.from_settings(Settings(bootstrap="a:1,b:2"))
    assert connection.servers == ["a:1", "b:2"]
    assert connection.ssl_context() is None
    assert connection.faust_options() == {"broker": ["kafka://a:1", "kafka://b:2"]}
    assert "sasl_mechanism" not in connection._client_options()


def test_a_secured_connection_names_the_setting_it_lacks() -> None:
    with pytest.raises(ConnectionSettingsError, match="IMX_SASL_USERNAME"):
        Connection.from_settings(Settings(security_protocol="SASL_SSL"))
    with pytest.raises(ConnectionSettingsError, match="IMX_SSL_CAFILE"):
        Connection.from_settings(
            Settings(security_protocol="SASL_SSL", sasl_username="u", sasl_password="p")  # noqa: S106
        )
    with pytest.raises(ConnectionSettingsError, match="IMX_SSL_CAFILE=/nonexistent: no such file"):
        Connection.from_settings(
            Settings(
                security_protocol="SASL_SSL",
                sasl_username="u",
                sasl_password="p",  # noqa: S106
                ssl_cafile=Path("/nonexistent"),
            )
        )


def test_settings_reach_a_child_process_whole_and_only_as_set(tmp_path: Path) -> None:
    settings = Settings(bootstrap="h:1", home=tmp_path, sasl_password="secret", topic_prefix="t-")  # noqa: S106
    env = settings.child_env({"PATH": "/bin", "IMX_TOPIC_PREFIX": "stale-"})
    assert env["PATH"] == "/bin"
    assert env["IMX_TOPIC_PREFIX"] == "t-", "the parent's settings win over inherited variables"
    assert env["IMX_SASL_PASSWORD"] == "secret"  # noqa: S105
    assert "IMX_SASL_USERNAME" not in env, "unset optional settings are left out"
    assert (
        Settings(**{k[4:].lower(): v for k, v in env.items() if k.startswith("IMX_")}) == settings
    )
