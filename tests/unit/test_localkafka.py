"""Pure parts of the local broker recipe (localbroker.py)."""

from __future__ import annotations

import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from imx.kafka import localbroker
from imx.security import secrets

pytestmark = pytest.mark.unit


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    # 0xF8 encodes to "-" first in base64url: the id a command line would take for an option
    draws: Iterator[uuid.UUID] = iter(
        [uuid.UUID(bytes=b"\xf8" + b"\x00" * 15), uuid.UUID(bytes=b"\x10" * 16)]
    )
    monkeypatch.setattr(localbroker.uuid, "uuid4", lambda: next(draws))
    cluster_id = localbroker.new_cluster_id()
    assert cluster_id == "EBAQEBAQEBAQEBAQEBAQEA"
    assert len(cluster_id) == 22


def test_random_cluster_ids_have_kafkas_form() -> None:
    for _ in range(200):
        cluster_id = localbroker.new_cluster_id()
        assert len(cluster_id) == 22
        assert not cluster_id.startswith("-")
        assert set(cluster_id) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )


def test_the_secured_configuration_exposes_only_a_sasl_ssl_listener(tmp_path: Path) -> None:
    secrets.init(tmp_path / "secrets", ["admin"])
    home = localbroker.BrokerHome(tmp_path / "kafka")
    security = localbroker.Security(tmp_path / "secrets")
    localbroker.write_config(home, 9092, 9093, security)
    props = dict(
        line.split("=", 1) for line in home.properties.read_text().splitlines() if "=" in line
    )
    assert props["advertised.listeners"] == "CLIENT://127.0.0.1:9092"
    assert props["listener.security.protocol.map"] == "CLIENT:SASL_SSL,CONTROLLER:SSL"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:admin;User:CN=imx broker,O=imx"
    assert props["connections.max.reauth.ms"] == "600000"
    assert props["listener.name.controller.ssl.client.auth"] == "required"
    assert "PLAINTEXT" not in props["listener.security.protocol.map"]
    assert stat.S_IMODE(home.properties.stat().st_mode) == 0o600  # it holds admin's password
    plain = localbroker.BrokerHome(tmp_path / "plain")
    localbroker.write_config(plain, 9092, 9093, localbroker.Security(None))
    assert "advertised.listeners=PLAINTEXT://127.0.0.1:9092" in plain.properties.read_text()
