"""The outbox in-process with a fake sender: 202 only once committed, forwarding in order,
retries with back-off, the gateway's answers for refused input."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from imx.outbox.app import build_app
from imx.outbox.backoff import Backoff
from imx.outbox.forwarder import Forwarder
from imx.outbox.metrics import OutboxMetrics
from imx.outbox.senders import Outcome
from imx.outbox.store import Pending, Placed, Store
from imx.registry import load_registry
from imx.schema.codec import encode_report
from imx.schema.jsonform import from_json
from imx.schema.loader import default_schemas
from imx.settings import Settings

pytestmark = pytest.mark.unit

UNIT = "bps-presevo"
NDJSON = {"content-type": "application/x-ndjson"}


def crisis(**members: Any) -> dict[str, Any]:
    occurred = (datetime.now(UTC) - timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    report = {
        "type": "CrisisSituation",
        "event_id": str(uuid.uuid4()),
        "reporting_unit": UNIT,
        "occurred_at": occurred,
        "location": {"lat": 42.3, "lon": 21.65},
        "kind": "INJURY",
        "persons": 1,
        "urgent": True,
    }
    report.update(members)
    return report


@dataclass
class FakeSender:
    """A broker in a list: fails the first ``failures`` batches, then acknowledges in order."""

    failures: int = 0
    log: list[Pending] = field(default_factory=list)
    attempts: int = 0

    async def start(self) -> None:
        return None

    async def send(self, batch: Sequence[Pending]) -> Outcome:
        self.attempts += 1
        if self.attempts <= self.failures:
            return Outcome(error="KafkaConnectionError: Unable to bootstrap")
        placed = []
        for p in batch:
            self.log.append(p)
            placed.append(Placed(p.seq, 0, len(self.log) - 1))
        return Outcome(placed=placed)

    async def close(self) -> None:
        return None


@dataclass
class Running:
    client: httpx.AsyncClient
    store: Store
    sender: FakeSender

    async def post(self, *reports: dict[str, Any]) -> httpx.Response:
        body = "".join(json.dumps(r) + "\n" for r in reports)
        return await self.client.post("/v1/reports", content=body, headers=NDJSON)

    async def wait_sent(self, count: int, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if len(self.sender.log) >= count and self.store.figures().pending == 0:
                return
            await asyncio.sleep(0.05)
        pytest.fail(f"{len(self.sender.log)} of {count} forwarded within {timeout_s} s")


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path, sender: FakeSender, *, max_bytes: int | None = None
) -> AsyncIterator[Running]:
    """The routes and the forwarder on one event loop, as ``imx outbox serve`` runs them."""
    settings = Settings(home=tmp_path / "home")
    store = Store.open(tmp_path / "outbox.db", UNIT, max_bytes=max_bytes)
    metrics = OutboxMetrics(UNIT)
    forwarder = Forwarder(store, lambda: sender, Backoff(0.01, 0.05), metrics)
    app = build_app(
        store,
        forwarder,
        metrics,
        registry=load_registry(settings.registry_path),
        schemas=default_schemas(),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(forwarder.run(stop))
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://outbox") as client:
            yield Running(client, store, sender)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        store.close()


def test_a_202_means_committed_and_reports_go_out_in_the_order_taken(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path, FakeSender()) as outbox:
            reports = [crisis() for _ in range(5)]
            answer = await outbox.post(*reports[:3])
            assert answer.status_code == 202
            ids = [a["event_id"] for a in answer.json()["accepted"]]
            assert ids == [r["event_id"] for r in reports[:3]]
            assert (await outbox.post(*reports[3:])).status_code == 202
            await outbox.wait_sent(5)
            assert [p.event_id for p in outbox.sender.log] == [r["event_id"] for r in reports]
            figures = outbox.store.figures()
            assert figures.forwarded_total == 5
            assert figures.sent_kept == 5

    asyncio.run(scenario())


def test_the_stored_record_is_the_published_bytes_and_its_json_encodes_to_them(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running(tmp_path, FakeSender()) as outbox:
            report = crisis()  # no reported_at: filled in once, when the outbox takes it
            assert (await outbox.post(report)).status_code == 202
            await outbox.wait_sent(1)
            sent = outbox.sender.log[0]
            schemas = default_schemas()
            again = from_json(json.loads(sent.json_text), schemas)
            assert again["reported_at"] is not None
            assert encode_report(again, schemas) == sent.value
            assert sent.key == report["event_id"].encode()

    asyncio.run(scenario())


def test_forwarding_retries_until_the_broker_answers(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path, FakeSender(failures=4)) as outbox:
            assert (await outbox.post(crisis())).status_code == 202
            await outbox.wait_sent(1)
            assert outbox.sender.attempts == 5
            figures = outbox.store.figures()
            assert figures.last_error == "KafkaConnectionError: Unable to bootstrap"
            assert figures.last_success_at is not None
            assert figures.last_error_at is not None
            assert figures.last_success_at >= figures.last_error_at

    asyncio.run(scenario())


def test_refused_reports_get_the_gateways_answers_and_are_never_stored(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path, FakeSender()) as outbox:
            answer = await outbox.post(crisis(), crisis(persons=-1))
            assert answer.status_code == 422
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["errors"][0]["line"] == 2
            spoofed = await outbox.post(crisis(reporting_unit="bps-rujan"))
            assert spoofed.status_code == 403
            assert "the outbox's unit" in spoofed.json()["detail"]
            plain = {"content-type": "text/plain"}
            wrong = await outbox.client.post("/v1/reports", content="x", headers=plain)
            assert wrong.status_code == 415
            body = b"{" * (1024 * 1024 + 1)
            big = await outbox.client.post("/v1/reports", content=body, headers=NDJSON)
            assert big.status_code == 413
            assert outbox.store.figures().pending == 0
            assert outbox.store.pending(10) == []

    asyncio.run(scenario())


def test_a_full_database_answers_507_and_stores_nothing_of_the_request(tmp_path: Path) -> None:
    async def scenario() -> None:
        sender = FakeSender(failures=10**6)
        async with running(tmp_path, sender, max_bytes=96 * 1024) as outbox:
            answers = [
                await outbox.post(*[crisis(notes="x" * 3000) for _ in range(5)]) for _ in range(20)
            ]
            codes = [a.status_code for a in answers]
            assert 507 in codes
            full = answers[codes.index(507)]
            assert full.json()["code"] == "OUTBOX_UNWRITABLE"
            assert "nothing was accepted" in full.json()["detail"]
            accepted = sum(len(a.json()["accepted"]) for a in answers if a.status_code == 202)
            assert accepted > 0
            assert outbox.store.figures().pending == accepted

    asyncio.run(scenario())


def test_metrics_show_pending_oldest_age_and_forwarded(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path, FakeSender(failures=10**6)) as outbox:
            occurred = (datetime.now(UTC) - timedelta(minutes=7)).isoformat()
            answer = await outbox.post(
                crisis(occurred_at=occurred.replace("+00:00", "Z")), crisis()
            )
            assert answer.status_code == 202
            text = (await outbox.client.get("/metrics")).text
            assert f'imx_outbox_pending{{unit="{UNIT}"}} 2.0' in text
            gauge = f'imx_outbox_oldest_pending_age_seconds{{unit="{UNIT}"}} '
            assert 419 <= float(text.split(gauge)[1].split()[0]) <= 480  # from occurred_at
            assert f'imx_outbox_forwarded_total{{unit="{UNIT}"}} 0.0' in text
            assert (await outbox.client.get("/v1/status")).json()["pending"] == 2

    asyncio.run(scenario())


def test_a_report_handed_over_again_is_stored_as_an_exact_copy(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path, FakeSender()) as outbox:
            report = crisis()  # no reported_at: the outbox fills it in
            assert (await outbox.post(report)).status_code == 202
            await asyncio.sleep(0.05)  # a later moment: a second fill-in would differ
            assert (await outbox.post(report)).status_code == 202
            await outbox.wait_sent(2)
            first, second = outbox.sender.log
            assert first.event_id == second.event_id == report["event_id"]
            assert first.value == second.value  # the pipeline drops it as an exact duplicate

    asyncio.run(scenario())


def test_the_forwarder_prunes_reports_sent_more_than_seven_days_ago(tmp_path: Path) -> None:
    from imx.outbox.store import Entry  # noqa: PLC0415

    now = [1_800_000_000.0]
    store = Store.open(tmp_path / "outbox.db", UNIT)
    entry = Entry("e-1", "CrisisSituation", b"e-1", b"\xc3\x01", (), "{}", now[0])
    (old,) = store.take([entry], now[0])
    store.mark_sent([Placed(old.seq, 0, 0)], now[0])
    (recent,) = store.take(
        [Entry("e-2", "CrisisSituation", b"e-2", b"\xc3\x01", (), "{}", now[0])], now[0]
    )
    store.mark_sent([Placed(recent.seq, 0, 1)], now[0] + 2 * 86400)
    forwarder = Forwarder(
        store, FakeSender, Backoff(0.01, 0.05), OutboxMetrics(UNIT), clock=lambda: now[0]
    )

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(forwarder.run(stop))
        now[0] += 7 * 86400 + 1  # one week and a second after the first was sent
        forwarder.wake.set()
        await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(task, 5)

    try:
        asyncio.run(scenario())
        assert store.figures().sent_kept == 1  # the one sent two days later stays
    finally:
        store.close()
