"""A station's outbox through the command line: refusals, the pipeline's rejection, two units.

- a second outbox on the same database refuses to start and says why;
- ``imx publish --outbox`` refuses a bad file at once with its line numbers: nothing stored;
- a report the pipeline rejects (UNKNOWN_RFI) goes to the DLQ once and is not retried: the
  broker acknowledged it, so it was delivered as far as the outbox is concerned;
- two units' outboxes side by side on one machine, each found by ``publish --outbox``;
- every recipient gets every accepted report once.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from imx.kafka.connection import Connection
from imx.kafka.topology import Topology
from imx.settings import Settings
from tests.support.outbox import (
    assert_each_recipient_got_each_report_once,
    outboxes,
    read_ingress,
    start_outbox,
)
from tests.support.outputs import collect
from tests.support.proc import run_imx
from tests.support.reports import crossing, lines
from tests.support.workers import running_worker

pytestmark = pytest.mark.e2e


def test_a_station_hands_reports_to_its_outbox_and_refusals_are_immediate(
    settings: Settings,
    topology: Topology,
    cli_env: dict[str, str],
    pipeline_env: dict[str, str],
    tmp_path: Path,
) -> None:
    env = cli_env  # the outboxes and commands; the worker runs with pipeline_env
    presevo = [crossing("bps-presevo", persons=1 + 10 * k) for k in range(5)]
    rujan = [crossing("bps-rujan", lat=42.33, lon=21.56, persons=3 + 10 * k) for k in range(5)]
    unknown_rfi = {
        **crossing("bps-presevo"),
        "type": "RfiResponse",
        "rfi_id": str(uuid.uuid4()),
        "answer": "nothing seen",
    }
    for member in ("stage", "mode", "direction", "detection", "outcome", "persons", "minors"):
        unknown_rfi.pop(member)
    for member in ("nationalities", "transport"):
        unknown_rfi.pop(member)
    with outboxes() as started, running_worker(pipeline_env, tmp_path):
        for unit in ("bps-presevo", "bps-rujan"):
            started.append(start_outbox(env, unit, None, tmp_path))
        for outbox in started:
            outbox.wait_serving()

        again = run_imx(["outbox", "serve", "--unit", "bps-presevo"], env, timeout=30)
        assert again.returncode == 1
        assert "another outbox (process" in again.stderr
        assert "already holds" in again.stderr

        bad = [crossing("bps-presevo"), {**crossing("bps-presevo"), "persons": -1}]
        refused = run_imx(["publish", "--unit", "bps-presevo", "--outbox"], env, stdin=lines(*bad))
        assert refused.returncode == 2
        assert "line 2: persons" in refused.stderr
        assert "nothing was handed to the outbox" in refused.stderr

        one = run_imx(
            ["publish", "--unit", "bps-presevo", "--outbox"],
            env,
            stdin=lines(*presevo, unknown_rfi),
        )
        assert one.returncode == 0, one.stderr
        printed = [line.split("\t") for line in one.stdout.splitlines()]
        assert [p[0] for p in printed] == [r["event_id"] for r in [*presevo, unknown_rfi]]
        assert all(p[2].startswith("outbox#") for p in printed)
        two = run_imx(["publish", "--unit", "bps-rujan", "--outbox"], env, stdin=lines(*rujan))
        assert two.returncode == 0, two.stderr

        for outbox in started:
            outbox.wait_drained()
        outputs = collect(
            Connection.from_settings(settings),
            topology,
            deliveries=5 * len(presevo) + 5 * len(rujan),
            dlq=1,
            analysed={r["event_id"] for r in [*presevo, *rujan]},
            timeout_s=120,
        )
        time.sleep(2)  # an outbox that retried the rejected report would do it by now
        status = run_imx(["outbox", "status", "--unit", "bps-presevo", "--json"], env)
        assert status.returncode == 0, status.stderr
        figures = json.loads(status.stdout)
        text = run_imx(["outbox", "status", "--unit", "bps-presevo"], env).stdout
        other = run_imx(["outbox", "status", "--unit", "bps-rujan", "--json"], env)

    assert_each_recipient_got_each_report_once(outputs, {r["event_id"] for r in [*presevo, *rujan]})
    assert [(d["code"], d["unit"]) for d in outputs.dlq] == [("UNKNOWN_RFI", "bps-presevo")]
    assert figures["pending"] == 0
    assert figures["forwarded_total"] == len(presevo) + 1
    assert figures["serving"].startswith("pid ")
    assert json.loads(other.stdout)["forwarded_total"] == len(rujan)
    ingress = read_ingress(Connection.from_settings(settings), topology.ingress("bps-rujan"))
    assert sorted(e for *_, e in ingress) == sorted(r["event_id"] for r in rujan)
    assert "pending         0" in text
    assert "last success    20" in text
    ingress = read_ingress(Connection.from_settings(settings), topology.ingress("bps-presevo"))
    assert sorted(e for *_, e in ingress) == sorted(r["event_id"] for r in [*presevo, unknown_rfi])
