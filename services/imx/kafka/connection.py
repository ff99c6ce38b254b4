"""The one place that builds Kafka clients: a connection made from settings.

Every producer, consumer and admin client of imx, and faust's, comes from a ``Connection``:
bootstrap servers, security protocol, SASL user and password, CA file. Nothing else constructs a
client, so a change of transport or credentials is made here once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.helpers import create_ssl_context
from aiokafka.partitioner import DefaultPartitioner, murmur2
from pydantic import SecretStr

from imx.kafka.topology import MAX_MESSAGE_BYTES
from imx.settings import Settings

SecurityProtocol = Literal["PLAINTEXT", "SASL_SSL"]
SASL_MECHANISM = "SCRAM-SHA-512"
#: Below the topics' ``max.message.bytes`` (a batch is one message to the broker).
MAX_BATCH_BYTES = 256 * 1024


class ConnectionSettingsError(ValueError):
    """The settings do not describe a usable connection; the message names the setting."""


Client = TypeVar("Client", AIOKafkaProducer, AIOKafkaConsumer, AIOKafkaAdminClient)


@contextlib.asynccontextmanager
async def started(client: Client, timeout_s: float) -> AsyncIterator[Client]:
    """Start ``client`` and always stop it again, also when starting failed half-way.

    A client whose start failed (the broker down) still holds a connection object; left to the
    garbage collector it logs an "Unclosed AIOKafka..." error after the command's own message.
    """
    try:
        await asyncio.wait_for(client.start(), timeout_s)
        yield client
    finally:
        stop = client.close if isinstance(client, AIOKafkaAdminClient) else client.stop
        with contextlib.suppress(Exception):
            await asyncio.wait_for(stop(), timeout_s)


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


@dataclass(frozen=True)
class Connection:
    """How to reach the brokers and as whom; builds every client of imx."""

    bootstrap: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ca_file: Path | None = None
    request_timeout_s: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Connection:
        connection = cls(
            bootstrap=settings.bootstrap,
            security_protocol=settings.security_protocol,
            sasl_username=settings.sasl_username,
            sasl_password=settings.sasl_password,
            ca_file=settings.ssl_cafile,
            request_timeout_s=settings.request_timeout_s,
        )
        connection.check()
        return connection

    def check(self) -> None:
        """Raise ``ConnectionSettingsError`` naming the missing setting of a secured connection."""
        if self.security_protocol == "PLAINTEXT":
            return
        for value, name in (
            (self.sasl_username, "IMX_SASL_USERNAME"),
            (self.sasl_password, "IMX_SASL_PASSWORD"),
            (self.ca_file, "IMX_SSL_CAFILE"),
        ):
            if value is None:
                msg = f"IMX_SECURITY_PROTOCOL={self.security_protocol} needs {name}"
                raise ConnectionSettingsError(msg)
        if self.ca_file is not None and not self.ca_file.is_file():
            msg = f"IMX_SSL_CAFILE={self.ca_file}: no such file (the CA's certificate, PEM)"
            raise ConnectionSettingsError(msg)

    def with_bootstrap(self, bootstrap: str) -> Connection:
        return Connection(
            bootstrap,
            self.security_protocol,
            self.sasl_username,
            self.sasl_password,
            self.ca_file,
            self.request_timeout_s,
        )

    @property
    def servers(self) -> list[str]:
        return [server.strip() for server in self.bootstrap.split(",") if server.strip()]

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.security_protocol == "PLAINTEXT":
            return None
        context: ssl.SSLContext = create_ssl_context(cafile=str(self.ca_file))
        context.minimum_version = ssl.TLSVersion.TLSv1_2  # CONTRACT.md section 10
        return context

    def _client_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": self.security_protocol,
            "request_timeout_ms": int(self.request_timeout_s * 1000),
        }
        if self.security_protocol != "PLAINTEXT":
            assert self.sasl_password is not None  # noqa: S101 - check() ran in from_settings
            options.update(
                sasl_mechanism=SASL_MECHANISM,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password.get_secret_value(),
                ssl_context=self.ssl_context(),
            )
        return options

    def producer(self, **overrides: Any) -> AIOKafkaProducer:
        """Idempotent, acks=all: a retried send never duplicates a record in the log."""
        options = self._client_options()
        options.update(
            enable_idempotence=True,
            acks="all",
            # No wait for a batch to fill: a record waits only while a request to its broker is
            # in flight, which batches under load anyway. 5 ms on each of the three hops (unit
            # to intake, intake to core, core to feed) was a third of the median delivery
            # latency at 50 reports/s (docs/performance.md), at no saving in CPU.
            linger_ms=0,
            # Per partition. The worker writes a batch of reports' deliveries and audit records
            # at once, ~330 KiB to the audit topic alone per 256 reports: with aiokafka's 16 KiB,
            # a partition's batches went out one request round trip after another.
            max_batch_size=MAX_BATCH_BYTES,
            max_request_size=MAX_MESSAGE_BYTES,
            partitioner=KeyHashPartitioner(),
        )
        options.update(overrides)
        return AIOKafkaProducer(**options)

    def reader(self, **overrides: Any) -> AIOKafkaConsumer:
        """A consumer outside any group that sees only committed records; the caller assigns it."""
        options = self._client_options()
        options.update(enable_auto_commit=False, isolation_level="read_committed")
        options.update(overrides)
        return AIOKafkaConsumer(**options)

    def group_consumer(self, *topics: str, group_id: str, **overrides: Any) -> AIOKafkaConsumer:
        """A consumer in ``group_id`` that commits explicitly and sees committed records only."""
        options = self._client_options()
        options.update(
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        options.update(overrides)
        return AIOKafkaConsumer(*topics, **options)

    def admin(self, **overrides: Any) -> AIOKafkaAdminClient:
        options = self._client_options()
        options.update(overrides)
        return AIOKafkaAdminClient(**options)

    def faust_options(self) -> dict[str, Any]:
        """The ``faust.App`` settings that make faust's own clients connect like ours."""
        import faust  # noqa: PLC0415 - only the worker loads faust

        options: dict[str, Any] = {"broker": [f"kafka://{server}" for server in self.servers]}
        if self.security_protocol != "PLAINTEXT":
            assert self.sasl_password is not None  # noqa: S101 - check() ran in from_settings
            options["broker_credentials"] = faust.SASLCredentials(
                username=self.sasl_username,
                password=self.sasl_password.get_secret_value(),
                mechanism=SASL_MECHANISM,
                ssl_context=self.ssl_context(),
            )
        return options
