"""Secured local brokers (CONTRACT.md section 10): the session's, and one of the security tests.

The session broker is shared by every test that is not about plaintext; each test has a topic
prefix of its own, so the ACLs of its topology are granted (added, never pruned) when it
provisions its topics, and its processes act as their own principals.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from imx.cli.main import main
from imx.gateway.app import create_app
from imx.gateway.tokens import TokenStore
from imx.kafka import localbroker
from imx.kafka.connection import Connection
from imx.kafka.provision import provision
from imx.kafka.topology import Topology
from imx.registry import load_registry
from imx.security import secrets
from imx.security.apply import apply, grant
from imx.security.local import principal_settings
from imx.security.principals import ADMIN, GATEWAY, WORKER, principals
from imx.settings import Settings
from tests.support.gateway import serving
from tests.support.workers import running_worker


@dataclass(frozen=True)
class SecuredBroker:
    bootstrap: str
    home: Path
    secrets: Path

    def connection(self, principal: str) -> Connection:
        folder = secrets.SecretsDir(self.secrets)
        return Connection(
            self.bootstrap, "SASL_SSL", principal, folder.password(principal), folder.ca_cert
        )

    def settings(self, principal: str = ADMIN, **fields: Any) -> Settings:
        """Settings reaching this broker as ``principal`` (explicitly: no local secrets used)."""
        return principal_settings(
            Settings(bootstrap=self.bootstrap, **fields), self.secrets, principal
        )

    def provision(self, settings: Settings) -> Topology:
        """As admin: the topics of ``settings``' topology, the schemas, and that topology's ACLs."""
        registry = load_registry(settings.registry_path)
        topology = Topology.from_settings(settings, registry.ids())
        admin = self.connection(ADMIN)
        done = asyncio.run(provision(admin, topology, settings.schemas_dir))
        assert done.topics.ok, done.topics.mismatched
        asyncio.run(grant(admin, principals(registry, topology)))
        return topology


@contextlib.contextmanager
def secured_broker(workdir: Path, *, users: bool = False) -> Iterator[SecuredBroker]:
    """Secrets for every principal of the registry, and a SASL_SSL broker using them.

    ``users``: the SCRAM users (and unprefixed ACLs) applied as well, as ``imx kafka up`` does.
    """
    folder = workdir / "secrets"
    registry = load_registry()
    table = principals(registry, Topology("", 1, 1, tuple(registry.ids())))
    secrets.init(folder, [p.name for p in table])
    home = workdir / "kafka"
    bootstrap = localbroker.up(
        home, localbroker.free_port(), Settings().jar_cache, lambda _m: None, secrets=folder
    )
    try:
        broker_ = SecuredBroker(bootstrap, home, folder)
        if users:
            asyncio.run(apply(broker_.connection(ADMIN), table, folder))
        yield broker_
    finally:
        localbroker.stop(home)


def provision_for_cli(secured: SecuredBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    """Users and ACLs applied, topics ensured as admin, and ``imx`` pointed at the broker.

    Every ``IMX_*`` variable of the test process is dropped, so commands pick their principal
    from the local secrets as a user's would.
    """
    registry = load_registry()
    table = principals(registry, Topology("", 1, 1, tuple(registry.ids())))
    asyncio.run(apply(secured.connection("admin"), table, secured.secrets))
    for name in list(os.environ):
        if name.startswith("IMX_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("IMX_HOME", str(secured.secrets.parent))
    monkeypatch.setenv("IMX_BOOTSTRAP", secured.bootstrap)
    assert main(["topics", "ensure"]) == 0  # as admin: topics and released schemas


@dataclass(frozen=True)
class GatewayStack:
    """A worker as svc-worker and the gateway as svc-gateway on a secured broker."""

    settings: Settings  # as admin: what the checks read the broker with
    topology: Topology
    base: str  # the gateway's URL
    tokens: dict[str, str]  # unit id → its bearer token


@contextlib.contextmanager
def worker_and_gateway(
    broker: SecuredBroker, home: Path, units: Iterable[str], *, flow_from_worker: bool = False
) -> Iterator[GatewayStack]:
    """Fresh topics and ACLs, a token per unit of ``units``, then the worker and the gateway.

    ``flow_from_worker``: the gateway reads the DLQ count of ``/v1/flow`` from the worker's
    metrics, as ``imx run`` wires it.
    """
    prefix = f"t{uuid.uuid4().hex[:10]}-"
    settings = broker.settings(
        topic_prefix=prefix,
        home=home,
        app_id=f"imx-{prefix.rstrip('-')}",
        gateway_heartbeat_s=1.0,
        gateway_burst=200,
    )
    topology = broker.provision(settings)
    worker_env = (
        principal_settings(settings, broker.secrets, WORKER)
        .model_copy(update={"pseudonym_key": SecretStr("test-only-key"), "session_timeout_s": 6.0})
        .child_env()
    )
    store = TokenStore.of_home(home)
    tokens = {unit: store.issue(unit, datetime.now(UTC)).token for unit in sorted(set(units))}
    with running_worker(worker_env, home.parent / "logs") as worker:
        gateway = principal_settings(settings, broker.secrets, GATEWAY)
        if flow_from_worker:
            gateway = gateway.model_copy(update={"gateway_metrics_url": worker.metrics_url})
        with serving(create_app(gateway, Connection.from_settings(gateway))) as base:
            yield GatewayStack(settings, topology, base, tokens)
