"""The outbox through a broker outage, a second one while its backlog drains, and a cut link.

A broker of the test's own (never the session broker), behind a relay that carries every byte
between the outbox and the broker (``tests.support.link``), so the link can be cut without
stopping the broker. Reports keep coming throughout and every one is answered 202: the
station never notices. At the end a real worker processes what the outbox forwarded — copies
included — and every recipient has every report once.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from imx.kafka import localbroker
from imx.kafka.connection import Connection
from imx.kafka.provision import provision
from imx.kafka.topology import Topology
from imx.registry import load_registry
from imx.settings import Settings
from tests.support.link import Link, link_to
from tests.support.outbox import (
    OutboxProcess,
    assert_each_recipient_got_each_report_once,
    assert_in_order_taken,
    outboxes,
    read_ingress,
    start_outbox,
)
from tests.support.outputs import collect
from tests.support.reports import crossing
from tests.support.workers import running_worker

pytestmark = pytest.mark.integration

UNIT = "bps-presevo"
OUTAGE_S = 60.0  # the figure: a broker stopped for a minute


class Station:
    """Posts one report every ``every_s`` until stopped; remembers what was answered 202."""

    def __init__(self, outbox: OutboxProcess, every_s: float = 0.1) -> None:
        self.outbox = outbox
        self.every_s = every_s
        self.taken: list[str] = []
        self.refused: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            report = crossing(UNIT, persons=1 + 10 * (n % 400), notes=f"report {n}")
            try:
                answer = self.outbox.post([report])
            except httpx.HTTPError as exc:
                self.refused.append(repr(exc))
            else:
                if answer.status_code == 202:
                    self.taken.append(report["event_id"])
                else:
                    self.refused.append(answer.text)
            self._stop.wait(self.every_s)

    def __enter__(self) -> Station:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[tuple[Path, int, Link]]:
    """A plaintext broker of this test only, advertising the relay's port."""
    home, port = tmp_path / "kafka", localbroker.free_port()
    with link_to(port) as link:
        up(home, port, link)
        try:
            yield home, port, link
        finally:
            localbroker.stop(home)


def up(home: Path, port: int, link: Link) -> None:
    localbroker.up(home, port, Settings().jar_cache, lambda _m: None, advertised_port=link.port)


def _wait(outbox: OutboxProcess, check: Any, what: str, timeout_s: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = outbox.status()
        if check(status):
            return status
        time.sleep(0.02)
    pytest.fail(f"{what} within {timeout_s:.0f} s; last status {outbox.status()}")


def test_outages_and_a_cut_link_lose_nothing_and_the_station_never_waits(
    own_broker: tuple[Path, int, Link], tmp_path: Path
) -> None:
    home, port, link = own_broker
    prefix = f"t{uuid.uuid4().hex[:10]}-"
    settings = Settings(
        bootstrap=f"127.0.0.1:{link.port}",
        topic_prefix=prefix,
        home=tmp_path / "home",
        app_id=f"imx-{prefix.rstrip('-')}",
        pseudonym_key=SecretStr("test-only-key"),
        session_timeout_s=6.0,
    )
    topology = Topology.from_settings(settings, load_registry(settings.registry_path).ids())
    connection = Connection.from_settings(settings)
    assert asyncio.run(provision(connection, topology, settings.schemas_dir)).topics.ok
    env = {
        **settings.child_env(),
        "IMX_OUTBOX_BACKOFF_CAP_S": "1",
        "IMX_OUTBOX_BATCH": "5",  # a drain of many round trips, so it can be interrupted
        "IMX_REQUEST_TIMEOUT_S": "5",
    }
    with outboxes() as started:
        outbox = start_outbox(env, UNIT, tmp_path / "outbox.db", tmp_path)
        started.append(outbox)
        outbox.wait_serving()
        with Station(outbox) as station:
            _wait(outbox, lambda s: s["forwarded_total"] >= 5, "forwarding")

            # 1. The broker stopped for a minute while reports keep coming.
            localbroker.stop(home)
            time.sleep(OUTAGE_S)
            during = outbox.status()
            assert during["pending"] >= 0.8 * OUTAGE_S / station.every_s / 2
            assert during["last_error"], during
            assert during["oldest_pending_age_seconds"] >= OUTAGE_S - 10

            # 2. Back, and stopped again as soon as the backlog starts to drain.
            up(home, port, link)
            forwarded = during["forwarded_total"]
            draining = _wait(outbox, lambda s: s["forwarded_total"] > forwarded, "a drain")
            localbroker.stop(home)
            assert draining["pending"] > 0, "the second stop must hit a backlog"
            time.sleep(5)
            up(home, port, link)
            _wait(outbox, lambda s: s["pending"] < 5, "the drain", timeout_s=120)

            # 3. The link cut (broker up): connections reset, new ones refused.
            link.cut()
            cut_at = time.time()
            time.sleep(10)
            cut = outbox.status()
            assert cut["pending"] > 0
            assert cut["last_error_at"] >= cut_at
            link.restore()
            time.sleep(2)
        drained = outbox.wait_drained(timeout_s=120)

    assert station.refused == []
    assert drained["last_success_at"] >= drained["last_error_at"]
    taken = station.taken
    ingress = read_ingress(connection, topology.ingress(UNIT))
    assert_in_order_taken(ingress, taken)
    with running_worker(settings.child_env(), tmp_path):
        outputs = collect(
            connection, topology, deliveries=5 * len(taken), analysed=set(taken), timeout_s=180
        )
    assert_each_recipient_got_each_report_once(outputs, set(taken))
    assert len(outputs.deliveries) == 5 * len(taken)
    assert outputs.dlq == []
