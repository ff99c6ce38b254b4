"""The HTTP gateway end to end (CONTRACT.md section 11): a real broker, a real worker.

Reports go in through ``POST /v1/reports``, the worker routes them, and every recipient reads
its feed through ``GET /v1/feed`` with a real SSE client; what each stream shows is compared
with what the broker holds on that unit's feed, record by record. One broker topic set, one
worker and one gateway serve the whole module, to stay within a few minutes on two cores.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import RecordsToDelete

from imx import processes
from imx.gateway.feed import FeedGone, FeedReader
from imx.kafka.connection import Connection, started
from imx.kafka.localbroker import free_port
from imx.kafka.reading import read_to_end, topic_partitions
from imx.kafka.schemastore import SchemaStore
from imx.kafka.topology import Topology
from imx.schema.loader import load_schemas
from imx.security.principals import GATEWAY
from imx.settings import REPO_ROOT, Settings
from tests.support.gateway import FeedStream
from tests.support.proc import run_imx
from tests.support.reports import crossing, smuggling
from tests.support.scenario import wait_until
from tests.support.secured import SecuredBroker, worker_and_gateway

pytestmark = pytest.mark.e2e

DELIVERY_TIMEOUT_S = 60.0
FEEDS = ("pd-vranje", "rc-mk", "gpd-bpd", "gpd-oc", "ps-bor", "bps-batrovci")
LOAD_UNITS = {  # LOCAL units and a point near each
    "bps-presevo": (42.30, 21.65),
    "bps-rujan": (42.33, 21.56),
    "ps-presevo": (42.309, 21.648),
    "ps-vranje": (42.55, 21.9),
    "bps-batrovci": (45.055, 19.11),
}


@dataclass
class Deployment:
    settings: Settings
    connection: Connection
    topology: Topology
    base: str
    tokens: dict[str, str]

    def auth(self, unit: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[unit]}"}

    def post(self, unit: str, *reports: dict[str, Any], ndjson: bool = False) -> httpx.Response:
        if ndjson or len(reports) != 1:
            body = "".join(json.dumps(r) + "\n" for r in reports)
            kind = "application/x-ndjson"
        else:
            body, kind = json.dumps(reports[0]), "application/json"
        return httpx.post(
            f"{self.base}/v1/reports",
            content=body,
            headers={**self.auth(unit), "Content-Type": kind},
            timeout=30,
        )

    def stream(self, unit: str, **options: Any) -> FeedStream:
        return FeedStream(self.base, self.tokens[unit], **options).start()

    def feed(self, unit: str) -> dict[str, dict[str, Any]]:
        """What the broker holds on ``feed.<unit>``: ``partition-offset`` → delivery_id."""
        records = asyncio.run(read_to_end(self.connection, self.topology.feed(unit)))
        return {f"{r.partition}-{r.offset}": r for r in records}


@pytest.fixture(scope="module")
def deployment(
    session_broker: SecuredBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """Worker as svc-worker, gateway as svc-gateway; the checks read the broker as admin."""
    home = tmp_path_factory.mktemp("gateway") / "home"
    with worker_and_gateway(session_broker, home, {*FEEDS, *LOAD_UNITS}) as stack:
        connection = Connection.from_settings(stack.settings)
        yield Deployment(stack.settings, connection, stack.topology, stack.base, stack.tokens)


def head(event_id: str) -> str:
    """The ``partition-offset`` of the record an event id names."""
    return event_id.split(".", 1)[0]


def delivered_events(stream: FeedStream) -> set[str]:
    return {json.loads(e.data)["report"]["event_id"] for e in stream.events if _is_report(e.data)}


def _is_report(data: str) -> bool:
    return json.loads(data).get("report") is not None


def test_reports_reach_every_recipient_stream_and_no_other(deployment: Deployment) -> None:
    streams = {unit: deployment.stream(unit) for unit in FEEDS}
    try:
        one = crossing("bps-presevo")
        batch = [smuggling("ps-presevo"), crossing("ps-presevo", persons=3), smuggling()]
        first = deployment.post("bps-presevo", one)
        assert first.status_code == 202, first.text
        (placed,) = first.json()["accepted"]
        assert placed["event_id"] == one["event_id"]
        assert {"partition", "offset"} <= set(placed)
        second = deployment.post("ps-presevo", *batch)
        assert second.status_code == 202, second.text
        assert [a["event_id"] for a in second.json()["accepted"]] == [r["event_id"] for r in batch]
        posted = {one["event_id"], *(r["event_id"] for r in batch)}
        # pd-vranje is in the chain of both reporting units: it receives all of them.
        wait_until(
            lambda: posted <= delivered_events(streams["pd-vranje"]),
            DELIVERY_TIMEOUT_S,
            lambda: f"pd-vranje to receive {posted}",
        )
        time.sleep(2.0)  # let the other recipients' deliveries arrive too
        for unit, stream in streams.items():
            on_kafka = deployment.feed(unit)
            wait_until(
                lambda s=stream, k=on_kafka: len(s.events) >= len(k),
                10,
                lambda u=unit: f"{u}'s stream to show its feed",
            )
            assert sorted(head(i) for i in stream.ids) == sorted(on_kafka), unit
            assert len(set(stream.ids)) == len(stream.ids), unit
            for event in stream.events:
                assert event.event == "delivery"
                delivery = json.loads(event.data)
                assert delivery["recipient"] == unit
                assert delivery["delivery_id"]
        assert not delivered_events(streams["ps-bor"]) & posted  # another region's station
        assert not delivered_events(streams["bps-batrovci"]) & posted
        assert delivered_events(streams["rc-mk"]) >= {one["event_id"]}
        assert all(s.comments >= 1 for s in streams.values())  # the keep-alive comments
        metrics = httpx.get(f"{deployment.base}/metrics", timeout=10).text
        assert f"imx_gateway_open_event_streams {float(len(FEEDS))}" in metrics
    finally:
        for stream in streams.values():
            stream.stop()
    assert all(s.error is None for s in streams.values())


def test_a_stream_cut_anywhere_resumes_without_loss_or_repeat(deployment: Deployment) -> None:
    unit, rng = "pd-vranje", random.Random(11)
    posting = threading.Thread(target=_post_slowly, args=(deployment, 8, 4), daemon=True)
    posting.start()
    collected: list[str] = []
    cuts = 0
    last: str | None = None
    deadline = time.monotonic() + DELIVERY_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            options: dict[str, Any] = {"max_events": rng.randint(1, 6)}
            if last is None:
                options["params"] = {"from": "beginning"}
            else:
                options["last_event_id"] = last
            stream = deployment.stream(unit, **options)
            stream.wait(timeout_s=rng.uniform(0.2, 2.5))  # cut after N events or at a moment
            stream.stop()
            assert stream.status == 200
            assert stream.error is None
            collected += stream.ids
            cuts += bool(stream.ids)
            last = collected[-1] if collected else last
            if not posting.is_alive() and len(collected) >= len(_settled_feed(deployment, unit)):
                break
    finally:
        posting.join(30)
    on_kafka = deployment.feed(unit)
    assert cuts >= 5, f"only {cuts} streams were cut after some events"
    assert len(collected) == len(set(collected)), "an event was repeated"
    assert sorted(head(i) for i in collected) == sorted(on_kafka), "an event was missed"

    # The polling form pages through the same records.
    polled, after = [], None
    while True:
        params: dict[str, Any] = {"limit": rng.randint(1, 7)}
        if after is not None:
            params["after"] = after
        page = httpx.get(
            f"{deployment.base}/v1/feed/records",
            params=params,
            headers=deployment.auth(unit),
            timeout=30,
        )
        assert page.status_code == 200, page.text
        if not page.json():
            break
        polled += [item["id"] for item in page.json()]
        after = polled[-1]
    assert sorted(head(i) for i in polled) == sorted(on_kafka)
    assert len(polled) == len(set(polled))


def _settled_feed(deployment: Deployment, unit: str) -> dict[str, Any]:
    """The unit's feed once the worker has stopped adding to it for a while."""
    feed = deployment.feed(unit)
    deadline = time.monotonic() + DELIVERY_TIMEOUT_S
    while time.monotonic() < deadline:
        time.sleep(1.5)
        again = deployment.feed(unit)
        if again.keys() == feed.keys():
            return again
        feed = again
    return feed


def _post_slowly(deployment: Deployment, batches: int, size: int) -> None:
    for _ in range(batches):
        answer = deployment.post("ps-presevo", *(crossing("ps-presevo") for _ in range(size)))
        assert answer.status_code == 202, answer.text
        time.sleep(0.4)


def test_an_unknown_or_expired_event_id_is_409_saying_where_the_feed_begins(
    deployment: Deployment,
) -> None:
    unit = "rc-mk"
    if not deployment.feed(unit):  # run on its own: give the feed a record first
        assert deployment.post("bps-presevo", crossing()).status_code == 202
        wait_until(lambda: bool(deployment.feed(unit)), DELIVERY_TIMEOUT_S, lambda: "a delivery")
    on_kafka = sorted(deployment.feed(unit), key=lambda k: tuple(map(int, k.split("-"))))
    partition, offset = map(int, on_kafka[0].split("-"))
    resumable = deployment.stream(unit, last_event_id=f"{partition}-{offset}", max_events=1)
    resumable.stop()
    assert resumable.status == 200

    for bad, status in ((f"{partition}-{offset + 10_000}", 409), ("7-0", 409), ("x-1", 400)):
        answer = httpx.get(
            f"{deployment.base}/v1/feed",
            headers={**deployment.auth(unit), "Last-Event-ID": bad},
            timeout=10,
        )
        assert answer.status_code == status, (bad, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"

    # Retention removes the partition's first record (delete-records moves the log start).
    async def expire() -> None:
        admin = deployment.connection.admin()
        async with started(admin, 30):
            tp = TopicPartition(deployment.topology.feed(unit), partition)
            await admin.delete_records({tp: RecordsToDelete(offset + 1)}, timeout_ms=10_000)

    asyncio.run(expire())
    answer = httpx.get(
        f"{deployment.base}/v1/feed",
        headers={**deployment.auth(unit), "Last-Event-ID": f"{partition}-{offset}"},
        timeout=10,
    )
    assert answer.status_code == 409, answer.text
    problem = answer.json()
    assert problem["code"] == "EVENT_ID_GONE"
    assert "no longer in" in problem["detail"]
    assert problem["begins"][str(partition)] == offset + 1

    # A reader whose position retention overtook while it read is told so, never moved on.
    async def read_expired() -> None:
        topic = deployment.topology.feed(unit)
        schemas = load_schemas(deployment.settings.schemas_dir)
        store = SchemaStore(deployment.connection, deployment.topology.schemas, schemas)
        partitions = await topic_partitions(deployment.connection, topic)
        reader = FeedReader(deployment.connection, topic, partitions, store, schemas)
        await reader.open()
        try:
            reader.seek({**reader.ends, partition: offset})
            with pytest.raises(FeedGone), anyio.fail_after(20):
                await _fetch_forever(reader)
        finally:
            await reader.close()

    asyncio.run(read_expired())


async def _fetch_forever(reader: FeedReader) -> None:
    while True:
        await reader.fetch(0.5)


def test_a_bounded_load_loses_nothing_and_repeats_nothing(deployment: Deployment) -> None:
    """5 LOCAL units x 10 requests/s x 10 s while 3 event streams are open."""
    watched = ("pd-vranje", "rc-mk", "gpd-bpd")
    before = {unit: set(deployment.feed(unit)) for unit in watched}
    streams = {unit: deployment.stream(unit) for unit in watched}
    try:
        with ThreadPoolExecutor(len(LOAD_UNITS)) as pool:
            results = list(pool.map(lambda u: _load(deployment, u, 10, 10.0), LOAD_UNITS))
        statuses = [status for result in results for status, _, _ in result]
        latencies = sorted(latency for result in results for _, latency, _ in result)
        accepted = [event_id for result in results for _, _, event_id in result]
        assert statuses == [202] * len(statuses), [s for s in statuses if s != 202][:5]
        assert len(accepted) == len(set(accepted)) == 5 * 100
        print(
            f"gateway POST latency p50={latencies[len(latencies) // 2] * 1000:.1f} ms "
            f"p99={latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms"
        )
        ingress: set[str] = set()
        for unit in LOAD_UNITS:
            records = asyncio.run(
                read_to_end(deployment.connection, deployment.topology.ingress(unit))
            )
            ingress |= {r.key.decode() for r in records}
        assert set(accepted) <= ingress

        def settled() -> bool:
            return all(
                set(deployment.feed(u)) - before[u] == {head(i) for i in streams[u].ids}
                and delivered_events(streams["pd-vranje"]) >= _vranje(accepted, results)
                for u in watched
            )

        wait_until(settled, 90, lambda: "the streams to show every new feed record")
        for unit, stream in streams.items():
            assert len(stream.ids) == len(set(stream.ids)), unit
    finally:
        for stream in streams.values():
            stream.stop()


def _vranje(accepted: list[str], results: list[list[tuple[int, float, str]]]) -> set[str]:
    """The accepted reports of units under pd-vranje (all but bps-batrovci's)."""
    units = list(LOAD_UNITS)
    return {
        event_id
        for unit, result in zip(units, results, strict=True)
        if unit != "bps-batrovci"
        for _, _, event_id in result
    } & set(accepted)


def _load(
    deployment: Deployment, unit: str, rate: float, duration_s: float
) -> list[tuple[int, float, str]]:
    lat, lon = LOAD_UNITS[unit]
    out = []
    with httpx.Client(timeout=30) as client:
        began = time.monotonic()
        for n in range(int(rate * duration_s)):
            time.sleep(max(0.0, began + n / rate - time.monotonic()))
            report = crossing(unit, lat=lat, lon=lon)
            sent = time.perf_counter()
            answer = client.post(
                f"{deployment.base}/v1/reports",
                content=json.dumps(report),
                headers={**deployment.auth(unit), "Content-Type": "application/json"},
            )
            out.append((answer.status_code, time.perf_counter() - sent, report["event_id"]))
    return out


def _readme_curl_lines() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Connecting a unit system over HTTP", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("curl ")]


def _curl(line: str, cwd: Path, **env: str) -> str:
    done = subprocess.run(
        ["bash", "-c", line],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode in (0, 28), (line, done.returncode, done.stderr)  # 28: --max-time
    return done.stdout


def _sse_ids(output: str) -> list[tuple[str, dict[str, Any]]]:
    events, current = [], {}
    for line in output.splitlines():
        if not line:
            if "data" in current:
                events.append((current["id"], json.loads(current["data"])))
            current = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            current[name] = value
    return events


def test_the_readme_curl_lines_work(deployment: Deployment, tmp_path: Path) -> None:
    post_json, post_ndjson, stream, resume, records, whoami = _readme_curl_lines()
    reporter = {"IMX_GATEWAY": deployment.base, "TOKEN": deployment.tokens["bps-presevo"]}
    reader = {"IMX_GATEWAY": deployment.base, "TOKEN": deployment.tokens["pd-vranje"]}
    one, two, three = (crossing("bps-presevo") for _ in range(3))
    (tmp_path / "report.json").write_text(json.dumps(one, indent=2))
    (tmp_path / "reports.jsonl").write_text(json.dumps(two) + "\n" + json.dumps(three) + "\n")
    assert (
        json.loads(_curl(post_json, tmp_path, **reporter))["accepted"][0]["event_id"]
        == (one["event_id"])
    )
    accepted = json.loads(_curl(post_ndjson, tmp_path, **reporter))["accepted"]
    assert [a["event_id"] for a in accepted] == [two["event_id"], three["event_id"]]
    posted = {one["event_id"], two["event_id"], three["event_id"]}

    def polled() -> list[dict[str, Any]]:
        return list(json.loads(_curl(records.replace("100", "1000"), tmp_path, **reader)))

    wait_until(
        lambda: posted <= {(r["data"].get("report") or {}).get("event_id") for r in polled()},
        DELIVERY_TIMEOUT_S,
        lambda: "the README's reports on pd-vranje's feed",
    )
    streamed = _sse_ids(_curl(stream, tmp_path, **reader))
    # The same records; their order across partitions (and so the ids' tails) may differ.
    assert sorted(head(i) for i, _ in streamed) == sorted(head(r["id"]) for r in polled())
    first_id = streamed[0][0]
    resumed = _sse_ids(_curl(resume, tmp_path, LAST_ID=first_id, **reader))
    assert sorted(head(i) for i, _ in resumed) == sorted(head(i) for i, _ in streamed[1:])
    assert json.loads(_curl(whoami, tmp_path, **reader))["unit"] == "pd-vranje"


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    msg = "no VmRSS in /proc/self/status"
    raise RuntimeError(msg)


def test_a_stalled_client_holds_up_nobody_and_streams_stay_small(deployment: Deployment) -> None:
    unit, count = "pd-vranje", 20
    feed = _settled_feed(deployment, unit)
    assert len(feed) >= 20, "earlier tests filled pd-vranje's feed"
    # A client that asks for the whole feed and never reads: its stream stops at the socket.
    stalled = socket.create_connection(("127.0.0.1", int(deployment.base.rsplit(":", 1)[1])))
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    request = (
        f"GET /v1/feed?from=beginning HTTP/1.1\r\nHost: gateway\r\n"
        f"Authorization: Bearer {deployment.tokens[unit]}\r\n\r\n"
    )
    stalled.sendall(request.encode())
    streams: list[FeedStream] = []
    try:
        before = _rss_bytes()
        streams = [deployment.stream(unit, params={"from": "beginning"}) for _ in range(count)]
        wait_until(
            lambda: all(len(s.events) >= len(feed) for s in streams),
            60,
            lambda: f"{count} streams to read the {len(feed)} records of the feed",
        )
        per_stream = (_rss_bytes() - before) / count
        print(f"gateway memory per open stream ~ {per_stream / 1024:.0f} KiB")  # for the report
        assert per_stream < 4 * 1024 * 1024
        fresh = deployment.stream(unit)
        report = crossing("ps-presevo")
        began = time.monotonic()
        assert deployment.post("ps-presevo", report).status_code == 202
        wait_until(
            lambda: report["event_id"] in delivered_events(fresh),
            DELIVERY_TIMEOUT_S,
            lambda: "a delivery while a client stalls",
        )
        print(f"post to SSE delivery through the worker: {time.monotonic() - began:.2f} s")
        streams.append(fresh)
    finally:
        stalled.close()
        for stream in streams:
            stream.stop()


def test_imx_gateway_serves_tls_with_a_certificate_and_plain_http_on_loopback_only(
    principal_settings: Callable[[str], Settings], tmp_path: Path
) -> None:
    settings = principal_settings(GATEWAY).model_copy(update={"home": tmp_path / "home"})
    env = settings.child_env()
    port = free_port()
    everywhere = "0.0.0.0"  # noqa: S104 - the address it must refuse without TLS
    refused = run_imx(["gateway", "--host", everywhere, "--port", str(port)], env, timeout=30)
    assert refused.returncode == 2
    assert "not a loopback address" in refused.stderr

    # `imx security init` issues the gateway's certificate from the local CA.
    made = run_imx(["security", "init"], env, timeout=60)
    assert made.returncode == 0, made.stderr
    assert "created gateway" in made.stdout
    secrets_dir = tmp_path / "home" / "secrets"
    gateway = processes.start_gateway(env, port, tmp_path / "logs")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(
                    f"https://127.0.0.1:{port}/healthz",
                    verify=ssl.create_default_context(cafile=secrets_dir / "ca.crt"),
                    timeout=2,
                )
                break
            except httpx.TransportError:
                assert gateway.process.poll() is None, gateway.log.read_text()
                assert time.monotonic() < deadline, "the gateway did not serve HTTPS"
                time.sleep(0.3)
        assert answer.json() == {"status": "ok"}
        assert "url=https://127.0.0.1:" in gateway.log.read_text()
    finally:
        gateway.stop()
    # uvicorn stops gracefully on SIGTERM, then re-raises it: -15, not -9 after the grace.
    assert gateway.process.returncode in (0, -signal.SIGTERM), gateway.log.read_text()
