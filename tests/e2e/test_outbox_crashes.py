"""The outbox killed at every point of forwarding loses nothing and shows no recipient a copy.

Real processes on the session broker, a real worker. The two windows that matter are hit
deterministically with the test-only fault hook ``IMX_OUTBOX_FAULT`` (SIGKILL of itself):
``before-send`` (taken and committed, not sent) and ``after-ack`` (the broker has the records,
the database does not say so yet: they go again). Then kills at random moments of a stream.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from imx.kafka.connection import Connection
from imx.kafka.topology import Topology
from imx.settings import Settings
from tests.support.outbox import (
    assert_each_recipient_got_each_report_once,
    assert_in_order_taken,
    outboxes,
    read_ingress,
    start_outbox,
)
from tests.support.outputs import collect
from tests.support.proc import run_imx
from tests.support.reports import crossing
from tests.support.workers import running_worker

pytestmark = pytest.mark.e2e

UNIT = "bps-presevo"
SIGKILL_EXIT = -9


def _reports(n: int) -> list[dict[str, Any]]:
    # Far apart in persons, so none matches another as the same incident (one unit anyway).
    return [crossing(UNIT, persons=1 + 10 * k) for k in range(n)]


def test_kills_between_commit_and_send_and_between_ack_and_sent_are_invisible(
    settings: Settings,
    topology: Topology,
    cli_env: dict[str, str],
    pipeline_env: dict[str, str],
    tmp_path: Path,
) -> None:
    # The outbox with the command line's settings, the worker with its own (their principals
    # differ on a secured broker).
    env = {**cli_env, "IMX_OUTBOX_BACKOFF_CAP_S": "1"}
    db = tmp_path / "outbox.db"
    taken: list[str] = []
    with outboxes() as started:
        # 1. Committed, never sent: the process dies right before its first send.
        first = start_outbox(env, UNIT, db, tmp_path, fault="before-send")
        started.append(first)
        first.wait_serving()
        batch = _reports(20)
        answer = first.post(batch)
        assert answer.status_code == 202, answer.text
        taken += [r["event_id"] for r in batch]
        assert first.wait_exit() == SIGKILL_EXIT
        assert read_ingress(Connection.from_settings(settings), topology.ingress(UNIT)) == []
        status = run_imx(["outbox", "status", "--unit", UNIT, "--db", str(db), "--json"], env)
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["pending"] == len(batch)
        assert json.loads(status.stdout)["serving"] is None  # the kill released the lock

        # 2. Sent and acknowledged, killed before "sent" is recorded: everything goes again.
        second = start_outbox(env, UNIT, db, tmp_path, fault="after-ack")
        started.append(second)
        assert second.wait_exit() == SIGKILL_EXIT
        once = read_ingress(Connection.from_settings(settings), topology.ingress(UNIT))
        assert sorted(e for *_, e in once) == sorted(taken)

        # 3. A normal restart sends the 20 again (exact copies) and drains.
        third = start_outbox(env, UNIT, db, tmp_path)
        started.append(third)
        third.wait_serving()
        assert third.wait_drained()["pending"] == 0

        # 4. Kills at random moments while reports keep coming.
        rng = random.Random(16)
        stream = _reports(90)
        outbox = third
        for round_ in range(3):
            part = stream[30 * round_ : 30 * (round_ + 1)]
            sender = threading.Thread(target=_trickle, args=(outbox, part, taken))
            sender.start()
            time.sleep(rng.uniform(0.2, 1.5))
            outbox.kill()
            sender.join(timeout=60)
            assert not sender.is_alive()
            outbox = start_outbox(env, UNIT, db, tmp_path)
            started.append(outbox)
            outbox.wait_serving()
            # What got no 202 is handed over again, as a station would; a report committed just
            # before the kill is then taken twice, byte for byte the same (imx.outbox.resend).
            missing = [r for r in part if r["event_id"] not in taken]
            if missing:
                assert outbox.post(missing).status_code == 202
                taken += [r["event_id"] for r in missing]
        outbox.wait_drained()

    ingress = read_ingress(Connection.from_settings(settings), topology.ingress(UNIT))
    assert len(ingress) > len(taken), "the after-ack kill must have produced copies"
    # The order taken is the database's: a report whose request was cut by a kill may have
    # been committed without its 202, and handed over again later (an exact copy).
    order = [e for (e,) in sqlite3.connect(db).execute(
        "SELECT event_id FROM reports GROUP BY event_id ORDER BY min(seq)"
    )]  # fmt: skip
    assert set(order) == set(taken)
    assert_in_order_taken(ingress, order)
    with running_worker(pipeline_env, tmp_path):
        outputs = collect(
            Connection.from_settings(settings),
            topology,
            deliveries=5 * len(taken),
            analysed=set(taken),
            timeout_s=120,
        )
    assert_each_recipient_got_each_report_once(outputs, set(taken))
    assert len(outputs.deliveries) == 5 * len(taken)  # chain x3, line, analytics; no copies
    assert outputs.dlq == []


def _trickle(outbox: Any, reports: list[dict[str, Any]], taken: list[str]) -> None:
    """Post one report at a time; a report counts as taken only when its 202 came back."""
    import httpx  # noqa: PLC0415

    for report in reports:
        try:
            answer = outbox.post([report])
        except httpx.HTTPError:
            return  # the outbox was killed under this request
        if answer.status_code != 202:
            return
        taken.append(report["event_id"])
        time.sleep(0.02)
