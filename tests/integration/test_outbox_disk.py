"""A full outbox database refuses new reports with a clear error and keeps forwarding.

Disk full is simulated with ``--max-db-mb`` (SQLite's ``max_page_count``): the same SQLITE_FULL
a full disk gives, without filling one. (A read-only file cannot be simulated with file modes
when the tests run as root; the unit tests use ``PRAGMA query_only`` for it.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from imx.kafka.connection import Connection
from imx.kafka.topology import Topology
from imx.settings import Settings
from tests.support.outbox import outboxes, read_ingress, start_outbox
from tests.support.proc import run_imx
from tests.support.reports import crossing, lines

pytestmark = pytest.mark.integration

UNIT = "bps-presevo"


def test_a_full_database_answers_507_and_publish_says_so(
    settings: Settings, topology: Topology, cli_env: dict[str, str], tmp_path: Path
) -> None:
    db = tmp_path / "outbox.db"
    accepted: list[str] = []
    with outboxes() as started:
        outbox = start_outbox(cli_env, UNIT, db, tmp_path, "--max-db-mb", "0.15")
        started.append(outbox)
        outbox.wait_serving()
        answer = None
        for _ in range(60):
            batch = [crossing(UNIT, persons=1 + k, notes="x" * 3500) for k in range(5)]
            answer = outbox.post(batch)
            if answer.status_code != 202:
                break
            accepted += [r["event_id"] for r in batch]
        assert answer is not None
        assert answer.status_code == 507, answer.text
        assert answer.json()["code"] == "OUTBOX_UNWRITABLE"
        assert "database or disk is full" in answer.json()["detail"]
        assert "nothing was accepted" in answer.json()["detail"]
        assert outbox.status()["pending"] + outbox.status()["sent_kept"] == len(accepted)

        refused = run_imx(
            ["publish", "--unit", UNIT, "--outbox-url", outbox.url],
            cli_env,
            stdin=lines(*[crossing(UNIT, notes="x" * 3500) for _ in range(20)]),
        )
        assert refused.returncode == 1
        assert "the outbox answered 507 OUTBOX_UNWRITABLE" in refused.stderr
        assert "(0 of 20 reports taken)" in refused.stderr
        outbox.wait_drained(timeout_s=60)  # forwarding goes on in a full database
    ingress = read_ingress(Connection.from_settings(settings), topology.ingress(UNIT))
    assert sorted(e for *_, e in ingress) == sorted(accepted)
