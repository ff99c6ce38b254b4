"""The gateway on a secured broker acts as ``svc-gateway`` and its ACLs suffice (CONTRACT 10, 11).

No worker: what is checked is the gateway's own use of the broker — describing and reading a
feed, reading the schemas topic, writing an ingress topic, and describing the cluster.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from imx.gateway.app import create_app
from imx.gateway.tokens import TokenStore
from imx.kafka.connection import Connection
from imx.security.identity import settings_as
from imx.security.principals import GATEWAY
from imx.settings import Settings
from tests.support.gateway import serving
from tests.support.reports import crossing
from tests.support.secured import SecuredBroker, provision_for_cli

pytestmark = pytest.mark.integration


def test_the_gateway_publishes_and_reads_as_svc_gateway(
    secured: SecuredBroker, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    provision_for_cli(secured, monkeypatch)
    settings = settings_as(Settings(), GATEWAY)
    assert settings.sasl_username == GATEWAY
    token = TokenStore.of_home(settings.home).issue("bps-presevo", datetime.now(UTC)).token
    auth = {"Authorization": f"Bearer {token}"}
    with serving(create_app(settings, Connection.from_settings(settings))) as base:
        assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
        report = crossing("bps-presevo")
        answer = httpx.post(
            f"{base}/v1/reports",
            content=json.dumps(report),
            headers={**auth, "Content-Type": "application/json"},
            timeout=30,
        )
        assert answer.status_code == 202, answer.text
        assert answer.json()["accepted"][0]["event_id"] == report["event_id"]
        records = httpx.get(f"{base}/v1/feed/records", headers=auth, timeout=30)
        assert records.status_code == 200, records.text
        with httpx.stream("GET", f"{base}/v1/feed", headers=auth, timeout=30) as stream:
            assert stream.status_code == 200
            assert next(stream.iter_lines()).startswith("retry:")
