"""A secured local broker (CONTRACT.md section 10) of its own, for the security tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from imx.cli.main import main
from imx.kafka import localbroker
from imx.kafka.connection import Connection
from imx.kafka.topology import Topology
from imx.registry import load_registry
from imx.security import secrets
from imx.security.apply import apply
from imx.security.principals import principals
from imx.settings import Settings


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


@contextlib.contextmanager
def secured_broker(workdir: Path) -> Iterator[SecuredBroker]:
    """Secrets for every principal of the registry, and a SASL_SSL broker using them."""
    folder = workdir / "secrets"
    registry = load_registry()
    table = principals(registry, Topology("", 1, 1, tuple(registry.ids())))
    secrets.init(folder, [p.name for p in table])
    home = workdir / "kafka"
    bootstrap = localbroker.up(
        home, localbroker.free_port(), Settings().jar_cache, lambda _m: None, secrets=folder
    )
    try:
        yield SecuredBroker(bootstrap, home, folder)
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
