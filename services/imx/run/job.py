"""``imx run``: the whole exchange on one machine, watched live, stopped in order.

Order of start: broker, topics, key, worker (ready once it has partitions), the HTTP gateway
(with a token for one station, revoked at the end; the view shows its request rate, scraped
from its ``/metrics`` like the worker's), then the simulator and the view together;
``--duration`` counts from there. Order of stop, on Ctrl-C, SIGTERM, the end of the duration or
a failure: simulator, a short drain so the last reports are counted, the final scrape, the
token, the gateway, worker, broker (only if this run started it). The final summary is printed
last, once nothing of ours runs any more.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr
from rich.console import Console
from rich.live import Live

from imx import processes
from imx.gateway.tokens import TokenStore
from imx.kafka.connection import Connection
from imx.kafka.provision import provision
from imx.kafka.publisher import ReportPublisher
from imx.kafka.topology import Topology
from imx.processes import Progress
from imx.registry import load_registry
from imx.run import outboxes
from imx.run.figures import Figures, gateway_flow, summarise
from imx.run.view import progress_line, render
from imx.schema.loader import SchemaSet, load_schemas
from imx.scrape import GatewaySample, Sample, parse_gateway, parse_sample
from imx.security.local import Identities
from imx.security.principals import GATEWAY, WORKER, principals
from imx.security.secrets import SecretsDir
from imx.settings import Settings
from imx.signals import stop_on_signals
from imx.simulator.generator import new_simulator
from imx.simulator.publisher import Pace, Tally, publish_stream

RATE = 5.0  # reports per second: a surge day's volume compressed (DOMAIN.md "Volumes")
REFRESH_S = 1.0
PLAIN_EVERY_S = 5.0
WINDOW_S = 30.0  # rate and latency quantiles of the live view cover this much history
DRAIN_S = 15.0
READY_TIMEOUT_S = 90.0
ASSIGNED_WITHIN_S = 30.0
GATEWAY_PORT = 8443
STATION = "bps-presevo"  # the busiest border station: its feed fills within seconds
PAGE_UNIT = "pd-belgrade-coc"  # KOC Beograd, the Belgrade commanding operations centre


@dataclass(frozen=True)
class Watch:
    """What the live loop needs besides the worker."""

    connection: Connection
    topology: Topology
    schemas: SchemaSet
    reports: Iterator[dict[str, Any]]
    local_units: Mapping[str, str]  # LOCAL unit → its territorial directorate
    duration_s: float | None
    console: Console
    outboxes: outboxes.Outboxes | None = None


def run(
    settings: Settings,
    duration_s: float | None,
    console: Console,
    progress: processes.Progress,
    *,
    insecure: bool = False,
    outbox: bool = False,
) -> Figures:
    """Bring everything up, run until stopped, stop everything; return the final figures.

    On the secured broker (the default) every process acts as its own principal: provisioning
    as ``admin``, the worker as ``svc-worker``, the gateway and the simulator (which speaks for
    every unit, as the gateway does) as ``svc-gateway``.
    """
    registry = load_registry(settings.registry_path)
    schemas = load_schemas(settings.schemas_dir)
    topology = Topology.from_settings(settings, registry.ids())
    teardown = processes.Teardown()
    try:
        table = principals(registry, topology)
        connection = processes.broker(settings, teardown, progress, table, insecure=insecure)
        identities = Identities.of(settings, connection)
        provisioned = asyncio.run(
            provision(connection, topology, settings.schemas_dir, settings.request_timeout_s)
        )
        result = provisioned.topics
        if not result.ok:
            msg = "topics differ from the contract: " + "; ".join(result.mismatched)
            raise processes.RunError(msg)
        progress(f"topics: {len(result.created)} created, {len(result.verified)} verified")
        key = SecretStr(processes.pseudonym_key(settings, progress))
        worker = processes.start_worker(
            identities.settings(WORKER).model_copy(update={"pseudonym_key": key}).child_env(),
            processes.web_port(settings.web_port),
            settings.home / "logs",
        )
        teardown.add(f"the worker (pid {worker.process.pid})", worker.stop)
        progress(f"worker pid {worker.process.pid} starting, log {worker.log}")
        worker.wait_ready(READY_TIMEOUT_S, ASSIGNED_WITHIN_S, progress)
        gateway = _start_gateway(identities, teardown, progress, worker.metrics_url)
        stations = (
            outboxes.start(identities, [u.id for u in registry.local_units()], teardown, progress)
            if outbox
            else None
        )
        seed = secrets.randbits(32)
        progress(
            f"worker serves {worker.metrics_url}; simulating at {RATE:g} reports/s (seed {seed})"
        )
        watch = Watch(
            connection=identities.connection(GATEWAY),
            topology=topology,
            schemas=schemas,
            reports=new_simulator(registry, seed, lambda: datetime.now(UTC)),
            local_units={u.id: u.territorial or "" for u in registry.local_units()},
            duration_s=duration_s,
            console=console,
            outboxes=stations,
        )
        return asyncio.run(_watch(worker, gateway, watch))
    finally:
        teardown.run(progress)


def _start_gateway(
    identities: Identities, teardown: processes.Teardown, progress: Progress, metrics_url: str
) -> processes.Gateway:
    """The HTTP gateway, and tokens for one station and one operations centre (the page's)
    that live as long as this run."""
    settings = identities.settings(GATEWAY)
    folder = SecretsDir(settings.secrets_dir)
    tls = folder.gateway_cert.is_file() and folder.gateway_key.is_file()
    ca_file = folder.ca_cert if tls else None
    gateway = processes.start_gateway(
        settings.model_copy(update={"gateway_metrics_url": metrics_url}).child_env(),
        processes.web_port(GATEWAY_PORT),
        settings.home / "logs",
        ca_file,
    )
    teardown.add(f"the gateway (pid {gateway.process.pid})", gateway.stop)
    gateway.wait_ready(READY_TIMEOUT_S)
    store = TokenStore.of_home(settings.home)
    issued = store.issue(STATION, datetime.now(UTC))
    teardown.add(
        f"the run's gateway token {issued.record.id}",
        lambda: store.revoke(issued.record.id, datetime.now(UTC)),
    )
    progress(f"gateway serves {gateway.url}; token for {STATION} (revoked at the end of the run):")
    cacert = f"--cacert {ca_file} " if ca_file else ""
    progress(
        f"  curl -sN {cacert}'{gateway.url}/v1/feed?from=beginning' "
        f"-H 'Authorization: Bearer {issued.token}'"
    )
    _page_token(store, gateway.url, teardown, progress)
    return gateway


def _page_token(
    store: TokenStore, url: str, teardown: processes.Teardown, progress: Progress
) -> None:
    """The operations picture's address and a token for the Belgrade operations centre."""
    issued = store.issue(PAGE_UNIT, datetime.now(UTC))
    teardown.add(
        f"the run's page token {issued.record.id}",
        lambda: store.revoke(issued.record.id, datetime.now(UTC)),
    )
    progress(f"operations picture: {url}/ — sign in with this token for {PAGE_UNIT}:")
    progress(f"  {issued.token}")


Scrape = Callable[[], Awaitable[Sample | None]]
GatewayScrape = Callable[[], Awaitable[GatewaySample | None]]


def _scraper(worker: processes.Worker, loop: asyncio.AbstractEventLoop) -> Scrape:
    async def scrape() -> Sample | None:
        try:
            text = await asyncio.to_thread(worker.metrics)
        except OSError:
            return None  # busy or restarting: the view keeps its last figures
        return parse_sample(text, loop.time(), time.time())

    return scrape


def _gateway_scraper(gateway: processes.Gateway, loop: asyncio.AbstractEventLoop) -> GatewayScrape:
    async def scrape() -> GatewaySample | None:
        try:
            text = await asyncio.to_thread(gateway.metrics)
        except OSError:
            return None  # busy or gone: the view keeps its last figures, marked
        return parse_gateway(text, loop.time())

    return scrape


async def _watch(worker: processes.Worker, gateway: processes.Gateway, watch: Watch) -> Figures:
    """Run the simulator and the view until stopped; the figures of the whole run."""
    loop = asyncio.get_running_loop()
    scrape = _scraper(worker, loop)
    scrape_gateway = _gateway_scraper(gateway, loop)
    baseline = await scrape() or Sample(loop.time(), time.time())
    gateway_baseline = await scrape_gateway() or GatewaySample(loop.time())
    started = loop.time()
    tally = Tally()
    stop = asyncio.Event()
    simulator = asyncio.create_task(
        publish_stream(
            outboxes.OutboxPublisher(watch.outboxes, watch.schemas)
            if watch.outboxes
            else ReportPublisher(watch.connection, watch.topology, watch.schemas),
            watch.reports,
            pace=Pace(RATE),
            stop=stop,
            tally=tally,
        )
    )
    history: deque[Sample] = deque([baseline])
    latest = baseline
    answered = True
    gateway_history: deque[GatewaySample] = deque([gateway_baseline])
    gateway_latest = gateway_baseline
    gateway_answered = True

    def figures(since: Sample, elapsed_s: float, gateway_since: GatewaySample) -> Figures:
        flow = gateway_flow(
            gateway_latest, gateway_since, gateway_baseline, answered=gateway_answered
        )
        return summarise(
            latest,
            since,
            baseline=baseline,
            published=tally.total,
            elapsed_s=elapsed_s,
            local_units=watch.local_units,
            now=loop.time(),
            answered=answered,
            gateway=flow,
        )

    title = "imx run (Ctrl-C stops)"
    context: tuple[tuple[str, str], ...] = (
        ("broker", watch.connection.bootstrap),
        ("worker metrics", worker.metrics_url),
        ("gateway", gateway.url),
    )
    window = f"last {WINDOW_S:.0f} s"
    live = Live(console=watch.console, auto_refresh=False) if watch.console.is_terminal else None
    last_line = started
    try:
        with stop_on_signals(stop), live or contextlib.nullcontext():
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), REFRESH_S)
                if simulator.done():
                    simulator.result()  # a publishing failure ends the run with its reason
                if worker.exited() is not None:
                    msg = f"the worker exited with code {worker.exited()}:\n{worker.tail()}"
                    raise processes.RunError(msg)
                sample = await scrape()
                answered, latest = sample is not None, sample or latest
                history.append(latest)
                while len(history) > 2 and latest.at - history[1].at >= WINDOW_S:
                    history.popleft()
                polled = await scrape_gateway()
                gateway_answered = polled is not None
                gateway_latest = polled or gateway_latest
                gateway_history.append(gateway_latest)
                while (
                    len(gateway_history) > 2
                    and gateway_latest.at - gateway_history[1].at >= WINDOW_S
                ):
                    gateway_history.popleft()
                now = figures(history[0], loop.time() - started, gateway_history[0])
                rows: tuple[tuple[str, str], ...] = context
                if watch.outboxes is not None:
                    rows = (
                        *context,
                        outboxes.pending_row(await asyncio.to_thread(watch.outboxes.pending)),
                    )
                if live is not None:
                    live.update(render(now, title=title, window=window, context=rows))
                    live.refresh()
                elif loop.time() - last_line >= PLAIN_EVERY_S:
                    last_line = loop.time()
                    line = progress_line(now)
                    if watch.outboxes is not None:
                        line += f"  {rows[-1][0]} {rows[-1][1]}"
                    print(line, file=watch.console.file, flush=True)
                if watch.duration_s is not None and loop.time() - started >= watch.duration_s:
                    stop.set()
    finally:
        ran_s = loop.time() - started
        stop.set()
        await asyncio.wait_for(asyncio.gather(simulator, return_exceptions=True), 60)
    latest = await _drained(scrape, latest, baseline.received + tally.total)
    final = await scrape_gateway()
    gateway_answered, gateway_latest = final is not None, final or gateway_latest
    return figures(baseline, ran_s, gateway_baseline)


async def _drained(scrape: Scrape, latest: Sample, expected: float) -> Sample:
    """The last scrape once the worker has taken in every published report and gone quiet.

    Bounded by DRAIN_S: a worker that falls behind must not hold up the shutdown.
    """
    deadline = time.monotonic() + DRAIN_S
    previous = None
    while time.monotonic() < deadline:
        sample = await scrape() or latest
        outputs = (
            sum(sample.deliveries.values()),
            sum(sample.duplicates.values()),
            sum(sample.rejected.values()),
        )
        if sample.received >= expected and outputs == previous:
            return sample
        previous, latest = outputs, sample
        await asyncio.sleep(REFRESH_S)
    return latest
