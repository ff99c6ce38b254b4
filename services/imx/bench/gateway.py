"""``imx bench --gateway``: posted report → delivery received on an SSE stream, over HTTP.

One run on a private exchange (topics and an app id of its own, on the broker of
``IMX_BOOTSTRAP`` or a private one): a worker and an ``imx gateway`` are started, a token is
issued for every LOCAL unit and every territorial directorate, and one ``GET /v1/feed`` event
stream is opened per directorate. Then simulated reports of LOCAL units (requests for
information and their answers left out: those go to their addressees) are posted one per
request at a fixed rate, each as its unit with its unit's token, and each is timed from just
before its POST to the moment its delivery arrives on its directorate's stream. Every delivery
is matched to its post by event id: what is missing or comes twice is counted, not guessed.
Before the timed phase, ``WARMUP_POSTS`` reports are posted and their deliveries awaited, not
counted: a fresh worker's first decisions come seconds late (start-up, not service).

The gateway's CPU time (all threads) over the posting and the drain, divided by the posts, is
its cost per report in, which includes streaming that report's delivery out.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from imx import processes
from imx.bench.outputs import cpu_seconds, peak_rss_bytes, quantile
from imx.bench.report import figures_table, git_commit, json_line, ms, provenance_rows
from imx.bench.runner import READY_TIMEOUT_S, start_exchange
from imx.gateway.tokens import TokenStore
from imx.kafka import localbroker
from imx.registry import load_registry
from imx.schema.jsonform import to_json
from imx.schema.loader import load_schemas
from imx.security.principals import GATEWAY, WORKER
from imx.security.secrets import SecretsDir
from imx.settings import Settings
from imx.simulator.generator import new_simulator

#: After the last post, how long the deliveries still missing may take to arrive.
DRAIN_S = 30.0
#: Not delivered to the reporter's directorate by routing, so not matched here.
UNMATCHED_TYPES = frozenset({"RequestForInformation", "RfiResponse"})
ASSIGNED_WITHIN_S = 30.0
STREAM_OPEN_TIMEOUT_S = 30.0
#: Posts made and delivered before the timed phase, not counted: a freshly started worker
#: decides its first reports seconds late (its tables and producers start on first use), which
#: is start-up, not the latency a unit meets in service.
WARMUP_POSTS = 25


@dataclass(frozen=True)
class GatewayPlan:
    rate: float
    duration_s: float
    seed: int
    insecure: bool = False  # a plaintext private broker and plain HTTP, for comparison


@dataclass(frozen=True)
class GatewayResult:
    """Every figure of one ``imx bench --gateway`` run; the field names are the JSON keys."""

    target_per_second: float
    posted_per_second: float
    posted: int
    accepted: int  # answered 202
    refused: int  # answered anything else (or not at all)
    received: int  # posted reports whose delivery arrived on their directorate's stream
    missing: int  # accepted, not received by the end of the drain
    repeated: int  # deliveries that arrived more than once
    streams: int
    p50_post_to_sse_seconds: float
    p90_post_to_sse_seconds: float
    p99_post_to_sse_seconds: float
    max_post_to_sse_seconds: float
    #: Time to the 202 (the broker's acknowledgement included), as the client sees it.
    p50_post_answer_seconds: float
    p99_post_answer_seconds: float
    #: Post → SSE split at the delivery's ``timing.delivered_at``: p50 and p99 of each part.
    p50_post_to_decided_seconds: float
    p99_post_to_decided_seconds: float
    p50_decided_to_sse_seconds: float
    p99_decided_to_sse_seconds: float
    gateway_cpu_seconds: float
    gateway_cpu_ms_per_request: float
    gateway_peak_rss_bytes: int
    seed: int
    kafka_version: str
    #: The client listener's protocol (SASL_SSL, the gateway on HTTPS; or PLAINTEXT and HTTP).
    security: str
    git_commit: str

    def json_line(self) -> str:
        return json_line(self)

    def table(self) -> Any:
        rows = [
            (
                "target / achieved (posts/s)",
                f"{self.target_per_second:g} / {self.posted_per_second:.1f}",
            ),
            ("posted / accepted / refused", f"{self.posted} / {self.accepted} / {self.refused}"),
            (
                "received on SSE / missing / repeated",
                f"{self.received} / {self.missing} / {self.repeated}",
            ),
            ("event streams open", f"{self.streams}"),
            ("post → SSE delivery p50 (ms)", ms(self.p50_post_to_sse_seconds)),
            ("post → SSE delivery p90 (ms)", ms(self.p90_post_to_sse_seconds)),
            ("post → SSE delivery p99 (ms)", ms(self.p99_post_to_sse_seconds)),
            ("post → SSE delivery max (ms)", ms(self.max_post_to_sse_seconds)),
            (
                "POST answered (202), p50 / p99 (ms)",
                f"{ms(self.p50_post_answer_seconds)} / {ms(self.p99_post_answer_seconds)}",
            ),
            (
                "  post → decided, p50 / p99 (ms)",
                f"{ms(self.p50_post_to_decided_seconds)} / {ms(self.p99_post_to_decided_seconds)}",
            ),
            (
                "  decided → SSE, p50 / p99 (ms)",
                f"{ms(self.p50_decided_to_sse_seconds)} / {ms(self.p99_decided_to_sse_seconds)}",
            ),
            ("gateway CPU (s)", f"{self.gateway_cpu_seconds:.2f}"),
            ("gateway CPU per request (ms)", f"{self.gateway_cpu_ms_per_request:.2f}"),
            ("gateway peak RSS (MiB)", f"{self.gateway_peak_rss_bytes / 2**20:.0f}"),
            *provenance_rows(self.kafka_version, self.security, self.git_commit),
        ]
        return figures_table(
            f"imx bench --gateway: {self.target_per_second:g} reports/s, seed {self.seed}", rows
        )


@dataclass
class Ledger:
    """Posts and deliveries, matched by event id."""

    posted_at: dict[str, float] = field(default_factory=dict)  # event id → monotonic
    answered_s: list[float] = field(default_factory=list)
    accepted: set[str] = field(default_factory=set)
    refused: int = 0
    latency_s: dict[str, float] = field(default_factory=dict)  # event id → post → SSE
    #: The same latency in two parts, split at the delivery's ``timing.delivered_at`` (the
    #: worker's decision): post → decided (gateway intake, broker, worker) and decided → SSE
    #: (broker, the gateway's feed reader, the stream).
    to_decided_s: dict[str, float] = field(default_factory=dict)
    decided_to_sse_s: dict[str, float] = field(default_factory=dict)
    repeated: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    #: Wall clock minus monotonic clock, to compare monotonic times with ``delivered_at``.
    wall_offset_s: float = field(default_factory=lambda: time.time() - time.monotonic())

    def delivered(self, event_id: str, at: float, decided_at: float | None = None) -> None:
        """A delivery of ``event_id`` received at monotonic ``at``; ``decided_at`` in epoch s."""
        if event_id not in self.posted_at:
            return  # not one of ours (the stream starts at the feed's end)
        if event_id in self.latency_s:
            self.repeated += 1
            return
        posted = self.posted_at[event_id]
        self.latency_s[event_id] = at - posted
        if decided_at is not None:
            self.to_decided_s[event_id] = decided_at - (posted + self.wall_offset_s)
            self.decided_to_sse_s[event_id] = at + self.wall_offset_s - decided_at
        self.arrived.set()

    def missing(self) -> int:
        return len(self.accepted - set(self.latency_s))

    def reset(self) -> None:
        """Forget every post (the warm-up's): their late deliveries no longer count."""
        for figures in (self.posted_at, self.latency_s, self.to_decided_s, self.decided_to_sse_s):
            figures.clear()
        self.answered_s.clear()
        self.accepted.clear()
        self.refused = self.repeated = 0


def deliveries(lines: Iterator[str] | list[str]) -> list[tuple[str, float | None]]:
    """The report event ids of the ``delivery`` events in a block of SSE lines, each with its
    ``timing.delivered_at`` in epoch seconds (None when the event lacks it)."""
    found: list[tuple[str, float | None]] = []
    kind, data = "message", list[str]()
    for line in [*lines, ""]:
        if not line:
            if kind == "delivery" and data:
                delivery = json.loads("\n".join(data))
                report = delivery.get("report") or {}
                if "event_id" in report:
                    found.append((str(report["event_id"]), _decided_at(delivery)))
            kind, data = "message", []
        elif line.startswith("event:"):
            kind = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data.append(line.removeprefix("data:").removeprefix(" "))
    return found


def event_ids(lines: Iterator[str] | list[str]) -> list[str]:
    """The report event ids of the ``delivery`` events in a block of SSE lines."""
    return [event_id for event_id, _ in deliveries(lines)]


def _decided_at(delivery: Mapping[str, Any]) -> float | None:
    timing = delivery.get("timing") or {}
    text = timing.get("delivered_at") if isinstance(timing, Mapping) else None
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


async def _follow(
    client: httpx.AsyncClient, url: str, token: str, ledger: Ledger, opened: asyncio.Event
) -> None:
    """Read one event stream until cancelled, handing each delivery to the ledger."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    timeout = httpx.Timeout(10.0, read=None)
    async with client.stream("GET", url, headers=headers, timeout=timeout) as response:
        if response.status_code != 200:
            body = (await response.aread()).decode(errors="replace")
            msg = f"GET {url}: {response.status_code} {body[:300]}"
            raise processes.RunError(msg)
        block: list[str] = []
        async for line in response.aiter_lines():
            opened.set()  # the first line (retry and topic) comes once the reader is positioned
            if line:
                block.append(line)
                continue
            now = time.monotonic()
            for event_id, decided_at in deliveries(block):
                ledger.delivered(event_id, now, decided_at)
            block = []


async def _post(
    client: httpx.AsyncClient, url: str, token: str, report: dict[str, Any], ledger: Ledger
) -> None:
    body = json.dumps(report)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    event_id = report["event_id"]
    began = time.monotonic()
    ledger.posted_at[event_id] = began
    try:
        answer = await client.post(url, content=body, headers=headers, timeout=30.0)
    except httpx.HTTPError:
        ledger.refused += 1
        return
    if answer.status_code == 202:
        ledger.answered_s.append(time.monotonic() - began)
        ledger.accepted.add(event_id)
    else:
        ledger.refused += 1


@dataclass(frozen=True)
class Traffic:
    base: str
    tokens: Mapping[str, str]  # unit → token
    directorates: tuple[str, ...]
    reports: Iterator[dict[str, Any]]  # JSON form, LOCAL reporters, unique event ids
    ca_file: Path | None = None  # HTTPS: the CA that signed the gateway's certificate


async def _measure(
    traffic: Traffic, plan: GatewayPlan, gateway_pid: int
) -> tuple[Ledger, float, float]:
    """Open the streams, post at the plan's rate, drain; the ledger, seconds posting, CPU."""
    ledger = Ledger()
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
    verify: ssl.SSLContext | bool = (
        ssl.create_default_context(cafile=traffic.ca_file) if traffic.ca_file else True
    )
    async with httpx.AsyncClient(limits=limits, verify=verify) as client:
        opened = {d: asyncio.Event() for d in traffic.directorates}
        readers = [
            asyncio.create_task(
                _follow(client, f"{traffic.base}/v1/feed", traffic.tokens[d], ledger, opened[d])
            )
            for d in traffic.directorates
        ]
        try:
            await _opening(opened, readers)
            await _post_at_rate(client, traffic, ledger, plan.rate, WARMUP_POSTS)
            if not await _drained(ledger):
                msg = f"the warm-up's deliveries did not all arrive within {DRAIN_S:.0f} s"
                raise processes.RunError(msg)
            ledger.reset()
            cpu_before = cpu_seconds(gateway_pid)
            started = time.monotonic()
            count = max(1, round(plan.rate * plan.duration_s))
            await _post_at_rate(client, traffic, ledger, plan.rate, count)
            seconds = time.monotonic() - started
            await _drained(ledger)
            cpu = cpu_seconds(gateway_pid) - cpu_before
        finally:
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
    return ledger, seconds, cpu


async def _post_at_rate(
    client: httpx.AsyncClient, traffic: Traffic, ledger: Ledger, rate: float, count: int
) -> None:
    """Post ``count`` reports at ``rate`` a second, each in its own task; wait for the answers."""
    posts = []
    started = time.monotonic()
    for i in range(count):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        report = next(traffic.reports)
        url = f"{traffic.base}/v1/reports"
        token = traffic.tokens[report["reporting_unit"]]
        posts.append(asyncio.create_task(_post(client, url, token, report, ledger)))
    await asyncio.gather(*posts)


async def _drained(ledger: Ledger) -> bool:
    """Until every accepted post's delivery arrived (True) or ``DRAIN_S`` passed (False)."""
    deadline = time.monotonic() + DRAIN_S
    while ledger.missing() and time.monotonic() < deadline:
        ledger.arrived.clear()
        await asyncio.wait([asyncio.create_task(ledger.arrived.wait())], timeout=1.0)
    return not ledger.missing()


async def _opening(opened: Mapping[str, asyncio.Event], readers: list[asyncio.Task[None]]) -> None:
    """Until every stream has opened; RunError if one fails first or they take too long."""
    deadline = time.monotonic() + STREAM_OPEN_TIMEOUT_S
    while not all(event.is_set() for event in opened.values()):
        for reader in readers:
            if reader.done():
                reader.result()  # a stream that failed to open ends the run with its reason
                msg = "an event stream ended before it opened"
                raise processes.RunError(msg)
        if time.monotonic() > deadline:
            msg = f"the event streams did not open within {STREAM_OPEN_TIMEOUT_S:.0f} s"
            raise processes.RunError(msg)
        await asyncio.sleep(0.1)


def _reports(settings: Settings, seed: int, local: set[str]) -> Iterator[dict[str, Any]]:
    """Simulated reports of LOCAL units in their JSON form, each event id once."""
    registry = load_registry(settings.registry_path)
    schemas = load_schemas(settings.schemas_dir)
    seen: set[str] = set()
    for report in new_simulator(registry, seed, lambda: datetime.now(UTC)):
        if (
            report["reporting_unit"] in local
            and report["type"] not in UNMATCHED_TYPES
            and report["event_id"] not in seen
        ):
            seen.add(report["event_id"])
            yield to_json(report, schemas)


def run(settings: Settings, plan: GatewayPlan, progress: processes.Progress) -> GatewayResult:
    """Run the gateway benchmark; nothing it started is left running when it returns or raises."""
    registry = load_registry(settings.registry_path)
    local = {u.id: u.territorial or "" for u in registry.local_units()}
    directorates = tuple(sorted(set(local.values())))
    teardown = processes.Teardown()
    with tempfile.TemporaryDirectory(prefix="imx-bench-") as tmp:
        workdir = Path(tmp)
        try:
            exchange = start_exchange(settings, workdir, teardown, progress, insecure=plan.insecure)
            own = exchange.own
            worker = processes.start_worker(
                exchange.env(WORKER), localbroker.free_port(), workdir / "logs"
            )
            teardown.add(f"the worker (pid {worker.process.pid})", worker.stop)
            worker.wait_ready(READY_TIMEOUT_S, ASSIGNED_WITHIN_S, progress)
            store = TokenStore.of_home(own.home)
            now = datetime.now(UTC)
            tokens = {u: store.issue(u, now).token for u in sorted({*local, *directorates})}
            folder = SecretsDir(own.secrets_dir)
            ca_file = folder.ca_cert if folder.gateway_cert.is_file() else None
            gateway = processes.start_gateway(
                exchange.env(GATEWAY), localbroker.free_port(), workdir / "logs", ca_file
            )
            teardown.add(f"the gateway (pid {gateway.process.pid})", gateway.stop)
            gateway.wait_ready(READY_TIMEOUT_S)
            progress(
                f"gateway {gateway.url}, worker pid {worker.process.pid}; posting "
                f"{plan.rate:g} reports/s for {plan.duration_s:g} s (seed {plan.seed}), "
                f"{len(directorates)} event streams"
            )
            traffic = Traffic(
                gateway.url, tokens, directorates, _reports(own, plan.seed, set(local)), ca_file
            )
            ledger, seconds, cpu = asyncio.run(_measure(traffic, plan, gateway.process.pid))
            rss = peak_rss_bytes(gateway.process.pid)
        finally:
            teardown.run(progress)
    posted = len(ledger.posted_at)
    latencies = list(ledger.latency_s.values())
    return GatewayResult(
        target_per_second=plan.rate,
        posted_per_second=posted / seconds if seconds > 0 else 0.0,
        posted=posted,
        accepted=len(ledger.accepted),
        refused=ledger.refused,
        received=len(ledger.latency_s),
        missing=ledger.missing(),
        repeated=ledger.repeated,
        streams=len(directorates),
        p50_post_to_sse_seconds=quantile(latencies, 0.50),
        p90_post_to_sse_seconds=quantile(latencies, 0.90),
        p99_post_to_sse_seconds=quantile(latencies, 0.99),
        max_post_to_sse_seconds=max(latencies, default=0.0),
        p50_post_answer_seconds=quantile(ledger.answered_s, 0.50),
        p99_post_answer_seconds=quantile(ledger.answered_s, 0.99),
        p50_post_to_decided_seconds=quantile(list(ledger.to_decided_s.values()), 0.50),
        p99_post_to_decided_seconds=quantile(list(ledger.to_decided_s.values()), 0.99),
        p50_decided_to_sse_seconds=quantile(list(ledger.decided_to_sse_s.values()), 0.50),
        p99_decided_to_sse_seconds=quantile(list(ledger.decided_to_sse_s.values()), 0.99),
        gateway_cpu_seconds=cpu,
        gateway_cpu_ms_per_request=1000 * cpu / posted if posted else 0.0,
        gateway_peak_rss_bytes=rss,
        seed=plan.seed,
        kafka_version=localbroker.kafka_version(),
        security=exchange.admin.security_protocol,
        git_commit=git_commit(),
    )
