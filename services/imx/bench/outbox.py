"""``imx bench outbox``: reports per second through a station's outbox, and a backlog's drain.

A private plaintext broker in a temporary folder, behind a loopback relay it advertises
(``imx.bench.link``), and one ``imx outbox serve`` forwarding to it directly:

1. *single*: reports posted one per request, one after another, as a station's system would;
   reports per second taken (committed, 202), then forwarded (acknowledged by the broker).
2. *batched*: the same in NDJSON requests of ``BATCH`` reports.
3. *drain*: the link is cut (the broker keeps running, as with a station that lost its line),
   ``pending`` reports are taken while it is down, the outage lasts ``outage_s`` in all, the
   link comes back, and the time until nothing is pending is the drain. It includes the
   back-off wait the outage has built up (capped, ``IMX_OUTBOX_BACKOFF_CAP_S``), reported
   apart as the wait until the first acknowledgement.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imx import processes
from imx.bench.link import Link
from imx.bench.report import git_commit
from imx.kafka import localbroker
from imx.kafka.connection import Connection
from imx.kafka.provision import provision
from imx.kafka.topology import Topology
from imx.registry import load_registry
from imx.schema.jsonform import to_json
from imx.schema.loader import load_schemas
from imx.settings import Settings
from imx.simulator.generator import new_simulator

UNIT = "bps-presevo"
BATCH = 500
READY_TIMEOUT_S = 30.0
DRAIN_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class OutboxPlan:
    reports: int
    pending: int
    outage_s: float
    seed: int


@dataclass(frozen=True)
class OutboxResult:
    single_taken_per_second: float
    single_forwarded_per_second: float
    batched_taken_per_second: float
    batched_forwarded_per_second: float
    reports: int
    pending: int
    outage_seconds: float
    backlog_taken_per_second: float
    first_ack_after_seconds: float
    drain_seconds: float
    drain_per_second: float
    backoff_cap_seconds: float
    kafka_version: str
    git_commit: str

    def json_line(self) -> str:
        return json.dumps({k: _round(v) for k, v in asdict(self).items()})

    def lines(self) -> list[str]:
        return [
            f"one report per request    {self.single_taken_per_second:8.0f} taken/s"
            f"   {self.single_forwarded_per_second:8.0f} forwarded/s   ({self.reports} reports)",
            f"{BATCH} per request           {self.batched_taken_per_second:8.0f} taken/s"
            f"   {self.batched_forwarded_per_second:8.0f} forwarded/s",
            f"backlog during the outage {self.backlog_taken_per_second:8.0f} taken/s"
            f"   ({self.pending} reports, link cut {self.outage_seconds:.0f} s)",
            f"after the link is back    first ack {self.first_ack_after_seconds:.1f} s,"
            f" drained in {self.drain_seconds:.1f} s ({self.drain_per_second:.0f}/s;"
            f" back-off cap {self.backoff_cap_seconds:g} s)",
        ]


def _round(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) else value


class Outbox:
    """The outbox under test, over its loopback HTTP."""

    def __init__(self, url: str) -> None:
        self.url = url

    def post(self, lines: list[str]) -> None:
        request = urllib.request.Request(  # noqa: S310 - our loopback outbox
            f"{self.url}/v1/reports",
            data="".join(f"{line}\n" for line in lines).encode(),
            method="POST",
            headers={"Content-Type": "application/x-ndjson"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60):  # noqa: S310 - our loopback outbox
                return
        except urllib.error.HTTPError as exc:
            msg = f"the outbox answered {exc.code}: {exc.read()[:500].decode(errors='replace')}"
            raise processes.RunError(msg) from exc

    def status(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/v1/status", timeout=30) as response:  # noqa: S310
            answer: dict[str, Any] = json.loads(response.read())
        return answer

    def wait(self, done: Callable[[dict[str, Any]], bool], timeout_s: float, what: str) -> float:
        """Seconds until ``done(status)``; RunError after ``timeout_s``."""
        began = time.monotonic()
        while time.monotonic() - began < timeout_s:
            if done(self.status()):
                return time.monotonic() - began
            time.sleep(0.05)
        msg = f"{what} did not happen within {timeout_s:.0f} s: {self.status()}"
        raise processes.RunError(msg)


def _reports(settings: Settings, seed: int) -> Iterator[str]:
    """Simulated reports as the JSON lines of one station (``UNIT``)."""
    registry = load_registry(settings.registry_path)
    schemas = load_schemas(settings.schemas_dir)
    seen: set[str] = set()
    for report in new_simulator(registry, seed, lambda: datetime.now(UTC)):
        # RFIs name other units' reports; the simulator's re-sends of a report are skipped too.
        if report["type"] in ("RequestForInformation", "RfiResponse") or report["event_id"] in seen:
            continue
        seen.add(report["event_id"])
        station = {**report, "reporting_unit": UNIT, "related_event_ids": []}
        yield json.dumps(to_json(station, schemas))


def run_outbox(settings: Settings, plan: OutboxPlan, progress: processes.Progress) -> OutboxResult:
    teardown = processes.Teardown()
    with tempfile.TemporaryDirectory(prefix="imx-bench-") as tmp:
        try:
            return _run(settings, plan, Path(tmp), teardown, progress)
        finally:
            teardown.run(progress)


def _run(
    settings: Settings,
    plan: OutboxPlan,
    workdir: Path,
    teardown: processes.Teardown,
    progress: processes.Progress,
) -> OutboxResult:
    home, broker_port = workdir / "kafka", localbroker.free_port()
    link = Link(broker_port)
    link.restore()
    teardown.add("the link relay", link.close)
    teardown.add(f"the private Kafka ({home})", lambda: localbroker.stop(home))
    try:
        localbroker.up(home, broker_port, settings.jar_cache, progress, advertised_port=link.port)
    except localbroker.LocalKafkaError as exc:
        raise processes.RunError(str(exc)) from exc
    tag = f"bench{secrets.token_hex(4)}"
    own = Settings(
        bootstrap=f"127.0.0.1:{link.port}",
        topic_prefix=f"{tag}-",
        app_id=f"imx-{tag}",
        home=workdir / "home",
        registry_path=settings.registry_path,
        schemas_dir=settings.schemas_dir,
        outbox_backoff_base_s=settings.outbox_backoff_base_s,
        outbox_backoff_cap_s=settings.outbox_backoff_cap_s,
        request_timeout_s=settings.request_timeout_s,
    )
    topology = Topology.from_settings(own, load_registry(own.registry_path).ids())
    done = asyncio.run(provision(Connection.from_settings(own), topology, own.schemas_dir))
    if not done.topics.ok:
        raise processes.RunError("; ".join(done.topics.mismatched))
    port = localbroker.free_port()
    log = workdir / "outbox.log"
    child = processes._spawn(
        ["outbox", "serve", "--unit", UNIT, "--port", str(port)], own.child_env(), log
    )
    teardown.add("the outbox", lambda: processes.stop_group(child, 10.0))
    outbox = Outbox(f"http://127.0.0.1:{port}")
    _wait_serving(outbox, child, log)

    lines = _reports(own, plan.seed)
    progress(f"{plan.reports} reports, one per request")
    single_taken, single_forwarded = _through(outbox, [next(lines) for _ in range(plan.reports)], 1)
    progress(f"{plan.reports} reports, {BATCH} per request")
    batched_taken, batched_forwarded = _through(
        outbox, [next(lines) for _ in range(plan.reports)], BATCH
    )

    progress(f"link cut: taking {plan.pending} reports, the outage lasts {plan.outage_s:g} s")
    link.cut()
    cut_at = time.monotonic()
    backlog = [next(lines) for _ in range(plan.pending)]
    began = time.monotonic()
    for start in range(0, len(backlog), BATCH):
        outbox.post(backlog[start : start + BATCH])
    backlog_taken = plan.pending / (time.monotonic() - began)
    pending = outbox.status()["pending"]
    if pending < plan.pending:
        msg = f"only {pending} of {plan.pending} reports pending with the link cut"
        raise processes.RunError(msg)
    time.sleep(max(0.0, plan.outage_s - (time.monotonic() - cut_at)))
    forwarded = outbox.status()["forwarded_total"]
    link.restore()
    progress("link restored: draining")
    first_ack = outbox.wait(
        lambda s: s["forwarded_total"] > forwarded, DRAIN_TIMEOUT_S, "a first forward"
    )
    drain = first_ack + outbox.wait(lambda s: s["pending"] == 0, DRAIN_TIMEOUT_S, "the drain")
    return OutboxResult(
        single_taken_per_second=single_taken,
        single_forwarded_per_second=single_forwarded,
        batched_taken_per_second=batched_taken,
        batched_forwarded_per_second=batched_forwarded,
        reports=plan.reports,
        pending=plan.pending,
        outage_seconds=plan.outage_s,
        backlog_taken_per_second=backlog_taken,
        first_ack_after_seconds=first_ack,
        drain_seconds=drain,
        drain_per_second=plan.pending / drain,
        backoff_cap_seconds=own.outbox_backoff_cap_s,
        kafka_version=localbroker.kafka_version(),
        git_commit=git_commit(),
    )


def _wait_serving(outbox: Outbox, child: Any, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if child.poll() is not None:
            msg = f"the outbox exited with {child.returncode}:\n{log.read_text()[-2000:]}"
            raise processes.RunError(msg)
        try:
            outbox.status()
        except OSError:
            time.sleep(0.2)
            continue
        return
    msg = f"the outbox did not serve within {READY_TIMEOUT_S:.0f} s"
    raise processes.RunError(msg)


def _through(outbox: Outbox, lines: list[str], per_request: int) -> tuple[float, float]:
    """Reports per second taken (all 202s back), and forwarded (nothing pending any more)."""
    forwarded = outbox.status()["forwarded_total"]
    began = time.monotonic()
    for start in range(0, len(lines), per_request):
        outbox.post(lines[start : start + per_request])
    taken_s = time.monotonic() - began
    outbox.wait(
        lambda s: s["forwarded_total"] >= forwarded + len(lines) and s["pending"] == 0,
        DRAIN_TIMEOUT_S,
        "forwarding",
    )
    return len(lines) / taken_s, len(lines) / (time.monotonic() - began)
