"""The secured local broker: SASL_SSL with SCRAM-SHA-512 only, admin bootstrapped at format."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import SecretStr

from imx.kafka import localbroker, reading
from imx.kafka.connection import Connection
from imx.security import secrets
from tests.support.secured import SecuredBroker

pytestmark = pytest.mark.integration


def test_admin_is_served_and_only_the_client_listener_is_advertised(
    secured: SecuredBroker,
) -> None:
    async def brokers() -> list[tuple[str, int]]:
        admin = secured.connection("admin").admin()
        await asyncio.wait_for(admin.start(), 30)
        try:
            cluster = await asyncio.wait_for(admin.describe_cluster(), 30)
        finally:
            await admin.close()
        return [(b["host"], b["port"]) for b in cluster["brokers"]]

    host, port = secured.bootstrap.rsplit(":", 1)
    assert asyncio.run(brokers()) == [(host, int(port))]
    state = localbroker.status(secured.home)
    assert state.serving
    assert state.secured


def test_a_wrong_password_a_plaintext_client_and_an_untrusting_client_are_refused(
    secured: SecuredBroker, tmp_path: Path
) -> None:
    admin = secured.connection("admin")
    assert reading.serves(admin, 10)
    assert not reading.serves(replace(admin, sasl_password=SecretStr("wrong")), 5)
    assert not reading.serves(Connection(secured.bootstrap), 5)
    # a client trusting another CA does not accept the broker's certificate
    other = tmp_path / "other"
    secrets.init(other, ["admin"])
    assert not reading.serves(replace(admin, ca_file=secrets.SecretsDir(other).ca_cert), 5)


def test_starting_it_again_plaintext_is_refused(secured: SecuredBroker) -> None:
    with pytest.raises(localbroker.LocalKafkaError, match="already serves secured"):
        localbroker.up(secured.home, 1, secured.home, lambda _m: None)
