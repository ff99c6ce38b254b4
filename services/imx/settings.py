"""The one settings object, read once from ``IMX_*`` variables (and ``.env``) at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from imx import resources

#: The repository checkout the package runs from; outside a checkout only docs and tests use it.
REPO_ROOT = resources.CHECKOUT

DEFAULT_KAFKA_PORT = 9092


class Settings(BaseSettings):
    """Everything configurable about imx. Frozen: pass it around, never mutate it."""

    model_config = SettingsConfigDict(
        env_prefix="IMX_", env_file=".env", env_file_encoding="utf-8", frozen=True, extra="ignore"
    )

    bootstrap: str = Field(
        default=f"127.0.0.1:{DEFAULT_KAFKA_PORT}",
        description="Kafka bootstrap servers; the default is the broker `imx kafka up` starts.",
    )
    home: Path = Field(
        default_factory=resources.default_home,
        description="Local runtime data: the local broker's storage and logs, worker state.",
    )
    jar_cache: Path = Field(
        default=Path.home() / ".cache" / "imx" / "kafka-jars",
        description="Where the pinned Kafka server jars are cached (outside the checkout).",
    )
    registry_path: Path = Field(
        default_factory=lambda: resources.data_path("deploy/registry/units.json")
    )
    schemas_dir: Path = Field(default_factory=lambda: resources.data_path("schemas"))

    partitions: int = Field(default=3, ge=1, description="Partitions of every topic (uniform).")
    replication: int | None = Field(
        default=None,
        ge=1,
        description="Replication factor of every topic; unset, fitted to the cluster when "
        "topics are created: one replica per broker up to three (min.insync.replicas 2).",
    )
    topic_prefix: str = Field(
        default="",
        description="Prefix for every topic name; empty in production, unique per test run.",
    )
    app_id: str = Field(default="imx", description="Stream-processing app id (internal topics).")
    web_port: int = Field(default=6066, ge=0, le=65535)

    security_protocol: Literal["PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="How every Kafka client of imx talks to the brokers."
    )
    sasl_username: str | None = Field(default=None, description="SCRAM-SHA-512 user name.")
    sasl_password: SecretStr | None = Field(default=None, description="SCRAM-SHA-512 password.")
    ssl_cafile: Path | None = Field(
        default=None, description="PEM file of the CA that signed the brokers' certificates."
    )

    pseudonym_key: SecretStr | None = Field(
        default=None, description="HMAC key for pseudonymising analytics deliveries."
    )

    request_timeout_s: float = Field(default=30.0, gt=0)
    gateway_rate: float = Field(
        default=50.0, gt=0, description="Gateway requests per second and unit (token bucket)."
    )
    gateway_burst: int = Field(default=100, ge=1, description="Gateway burst per unit.")
    gateway_heartbeat_s: float = Field(
        default=15.0, gt=0, description="Comment line on an idle gateway event stream every S s."
    )
    gateway_ack_timeout_s: float = Field(
        default=10.0, gt=0, description="How long the gateway waits for the broker's ack: 503."
    )
    gateway_metrics_url: str | None = Field(
        default=None,
        description="The workers' /metrics URLs (comma-separated): the operations picture's "
        "DLQ count for operations centres; unset, the page shows none.",
    )
    session_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Consumer-group session timeout: how soon a crashed worker's partitions move.",
    )
    commit_interval_s: float = Field(
        default=1.0, gt=0, description="How often workers commit processed offsets."
    )
    state_cache_entries: int = Field(
        default=50_000,
        ge=0,
        description="Entries of each of the worker's five state tables kept in memory in front "
        "of RocksDB; it bounds the worker's memory (docs/performance.md, the replay).",
    )

    outbox_backoff_base_s: float = Field(
        default=0.5, gt=0, description="Outbox: first wait after a failed forwarding attempt."
    )
    outbox_backoff_cap_s: float = Field(
        default=30.0, gt=0, description="Outbox: the longest wait between forwarding attempts."
    )
    outbox_batch: int = Field(
        default=500, ge=1, description="Outbox: reports sent per round trip to the broker."
    )
    outbox_token: SecretStr | None = Field(
        default=None, description="Outbox: the unit's gateway token, for `--gateway URL`."
    )
    outbox_fault: Literal["", "before-send", "after-ack"] = Field(
        default="",
        description="Tests only: the outbox kills itself (SIGKILL) at this point of forwarding.",
    )

    @property
    def kafka_home(self) -> Path:
        """Storage, configuration and logs of the local broker."""
        return self.home / "kafka"

    @property
    def outbox_dir(self) -> Path:
        """The outboxes' databases, one folder per unit (``imx outbox serve``)."""
        return self.home / "outbox"

    @property
    def secrets_dir(self) -> Path:
        """The CA, the broker's key and certificate and the principals' passwords (0700)."""
        return self.home / "secrets"

    def as_env(self) -> dict[str, str]:
        """These settings as ``IMX_*`` variables: the one way they reach a child process.

        Every field is written, so a child sees exactly these settings whatever its own
        ``.env`` or inherited environment says; secrets are written in clear, for the child.
        """
        out: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            out[f"IMX_{name.upper()}"] = str(value)
        return out

    def child_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) without its ``IMX_*``, plus these."""
        inherited = os.environ if base is None else base
        env = {k: v for k, v in inherited.items() if not k.startswith("IMX_")}
        env.update(self.as_env())
        return env
