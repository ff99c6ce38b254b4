"""The outbox forwards as ``unit-U`` on the secured broker: its ACLs suffice (CONTRACT 10, 12)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.outbox import outboxes, read_ingress, start_outbox
from tests.support.reports import crossing
from tests.support.secured import SecuredBroker, provision_for_cli

pytestmark = pytest.mark.integration

UNIT = "bps-presevo"


def test_the_outbox_forwards_as_its_unit_on_the_secured_broker(
    secured: SecuredBroker, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    provision_for_cli(secured, monkeypatch)
    env = {**os.environ, "IMX_REQUEST_TIMEOUT_S": "10"}  # no user set: the local secrets decide
    reports = [crossing(UNIT, persons=1 + 10 * k) for k in range(3)]
    with outboxes() as started:
        outbox = start_outbox(env, UNIT, tmp_path / "outbox.db", tmp_path)
        started.append(outbox)
        outbox.wait_serving()
        assert outbox.post(reports).status_code == 202
        status = outbox.wait_drained(timeout_s=60)
    assert status["forwarded_total"] == len(reports)
    assert status["last_error"] is None, status["last_error"]
    assert f"as unit-{UNIT}" in outbox.tail()
    ingress = read_ingress(secured.connection("admin"), f"ingress.{UNIT}")
    assert {r["event_id"] for r in reports} <= {e for *_, e in ingress}
