"""``imx outbox serve --gateway URL``: forwarding through the HTTP gateway with the unit's token.

The gateway encodes the JSON form the outbox stored (``reported_at`` filled in when the outbox
took the report) to exactly the bytes the outbox would have sent itself, so a resend through
either path is an exact duplicate for the pipeline.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from imx.gateway.app import create_app
from imx.gateway.tokens import TokenStore
from imx.kafka.connection import Connection
from imx.kafka.topology import Topology
from imx.settings import Settings
from tests.support.gateway import serving
from tests.support.outbox import outboxes, read_records, start_outbox
from tests.support.reports import crossing

pytestmark = pytest.mark.integration

UNIT = "bps-presevo"


def test_the_outbox_forwards_through_the_gateway_the_bytes_it_stored(
    settings: Settings, topology: Topology, cli_env: dict[str, str], tmp_path: Path
) -> None:
    token = TokenStore.of_home(settings.home).issue(UNIT, datetime.now(UTC)).token
    reports = [crossing(UNIT, persons=1 + 10 * k) for k in range(3)]  # no reported_at
    db = tmp_path / "outbox.db"
    with serving(create_app(settings, Connection.from_settings(settings))) as gateway:
        env = {**cli_env, "IMX_OUTBOX_TOKEN": token}
        with outboxes() as started:
            outbox = start_outbox(env, UNIT, db, tmp_path, "--gateway", gateway)
            started.append(outbox)
            outbox.wait_serving()
            assert outbox.post(reports).status_code == 202
            status = outbox.wait_drained(timeout_s=60)
    assert status["forwarded_total"] == len(reports)
    assert f"the gateway at {gateway}" in outbox.tail()
    stored = dict(sqlite3.connect(db).execute("SELECT event_id, value FROM reports").fetchall())
    sent = {
        r.key.decode(): r.value
        for r in read_records(Connection.from_settings(settings), topology.ingress(UNIT))
    }
    assert sent == stored


def test_without_a_token_the_gateway_path_refuses_to_start(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    with outboxes() as started:
        outbox = start_outbox(
            cli_env, UNIT, tmp_path / "outbox.db", tmp_path, "--gateway", "http://127.0.0.1:9"
        )
        started.append(outbox)
        assert outbox.wait_exit() == 2
    assert "--gateway needs IMX_OUTBOX_TOKEN" in outbox.tail()
