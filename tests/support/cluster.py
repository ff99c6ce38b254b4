"""A secured three-node local cluster for the fault drills, and what a drill measures.

The cluster is ``imx kafka up --brokers 3``'s: three broker+controller nodes secured like the
session broker, with the users of the registry applied. ``SecuredBroker`` works on it as it
is, its bootstrap being the three nodes' list. Reports are sent with the time each was
acknowledged or refused recorded, so a drill can say which acknowledged report must arrive and
how many were in flight when the fault struck.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imx.kafka import health, localcluster
from imx.kafka.connection import Connection, started
from imx.kafka.localbroker import free_port
from imx.kafka.publisher import ReportPublisher
from imx.kafka.topology import Topology
from imx.registry import load_registry
from imx.schema.jsonform import from_json
from imx.schema.loader import default_schemas
from imx.security import secrets
from imx.security.apply import apply
from imx.security.principals import ADMIN, principals
from imx.settings import Settings
from tests.support.outputs import Outputs
from tests.support.proc import kill_all, processes_mentioning
from tests.support.secured import SecuredBroker

HEAL_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class LocalCluster(SecuredBroker):
    """A ``SecuredBroker`` whose ``home`` is a cluster folder of three nodes."""

    jar_cache: Path = field(default_factory=lambda: Settings().jar_cache)

    def status(self) -> localcluster.ClusterStatus:
        return localcluster.status(self.home, probe=False)

    def kill(self, node: int) -> None:
        localcluster.signal_node(self.home, node)

    def start(self, node: int) -> None:
        localcluster.start_node(self.home, node, self.jar_cache, lambda _m: None)

    def leader_of(self, topic: str, partition: int = 0) -> int:
        """The node that leads ``topic``'s partition now."""

        async def find() -> int:
            admin = self.connection(ADMIN).admin()
            async with started(admin, 30.0):
                for found in await admin.describe_topics([topic]):
                    for p in found["partitions"]:
                        if p["partition"] == partition:
                            return int(p["leader"])
            msg = f"no partition {partition} of {topic}"
            raise AssertionError(msg)

        return asyncio.run(find())

    def health(self) -> health.Health:
        return asyncio.run(health.poll(self.connection(ADMIN), 15.0))

    def heal(self, timeout_s: float = HEAL_TIMEOUT_S) -> float:
        """Start every stopped node, then wait until no partition is under-replicated; seconds."""
        began = time.monotonic()
        for node in self.status().nodes:
            if not node.running:
                self.start(node.node.node_id)
        deadline = began + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                found = self.health()
                if found.brokers_online == 3 and found.under_replicated == 0:
                    return time.monotonic() - began
            time.sleep(1.0)
        msg = f"the cluster did not heal within {timeout_s:.0f} s: {self.health()}"
        raise AssertionError(msg)


@contextlib.contextmanager
def secured_cluster(workdir: Path) -> Iterator[LocalCluster]:
    """Secrets, three secured nodes and the registry's users; every node stopped on exit."""
    folder = workdir / "secrets"
    registry = load_registry()
    table = principals(registry, Topology("", 1, 1, tuple(registry.ids())))
    secrets.init(folder, [p.name for p in table])
    home = workdir / "cluster"
    try:
        bootstrap = localcluster.up(
            home, _free_run(), Settings().jar_cache, lambda _m: None, secrets=folder
        )
        cluster = LocalCluster(bootstrap, home, folder)
        asyncio.run(apply(cluster.connection(ADMIN), table, folder))
        yield cluster
    finally:
        localcluster.stop(home)
        # Whatever the cluster's folder marks (a node restarted by a failed drill) goes too.
        kill_all(processes_mentioning(str(home)))


def _free_run(size: int = 3) -> int:
    """A first port whose next ``size - 1`` ports are free as well."""
    for _ in range(50):
        first = free_port()
        ok = True
        for port in range(first, first + size):
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return first
    msg = "no run of free ports found"
    raise RuntimeError(msg)


@dataclass
class Sent:
    event_id: str
    sent_at: float  # wall clock, seconds
    acked_at: float | None = None
    error: str | None = None


@dataclass
class Stream:
    """Reports sent in a background thread at a steady rate, each with its outcome."""

    connection: Connection
    topology: Topology
    reports: Sequence[dict[str, Any]]
    rate_per_s: float
    sent: list[Sent] = field(default_factory=list)
    _thread: threading.Thread | None = None

    def start(self) -> Stream:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()
        return self

    def join(self, timeout_s: float) -> None:
        assert self._thread is not None
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), f"the stream did not end within {timeout_s:.0f} s"

    async def _run(self) -> None:
        schemas = default_schemas()
        async with ReportPublisher(self.connection, self.topology, schemas) as publisher:
            loop = asyncio.get_running_loop()
            began = loop.time()
            pending = []
            for n, item in enumerate(self.reports):
                report = from_json(item, schemas)
                report["reported_at"] = report["reported_at"] or datetime.now(UTC)
                entry = Sent(item["event_id"], time.time())
                self.sent.append(entry)
                try:
                    future = await publisher.send(report)
                except Exception as exc:  # noqa: BLE001 - a refused send is a drill's figure
                    entry.error = type(exc).__name__
                else:
                    future.add_done_callback(lambda f, e=entry: _settle(f, e))
                    pending.append(future)
                delay = began + (n + 1) / self.rate_per_s - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            await asyncio.gather(*pending, return_exceptions=True)

    @property
    def acked(self) -> list[Sent]:
        return [s for s in self.sent if s.acked_at is not None]

    @property
    def failed(self) -> list[Sent]:
        return [s for s in self.sent if s.error is not None]

    def longest_ack_wait(self) -> float:
        waits = [s.acked_at - s.sent_at for s in self.acked if s.acked_at is not None]
        return max(waits, default=0.0)


def _settle(future: asyncio.Future[Any], entry: Sent) -> None:
    if future.cancelled():
        entry.error = "cancelled"
    elif future.exception() is not None:
        entry.error = type(future.exception()).__name__
    else:
        entry.acked_at = time.time()


def delivered_times(outputs: Outputs, recipient: str = "gpd-satit") -> dict[str, float]:
    """When each report reached ``recipient`` (the analytics sector receives every report)."""
    out: dict[str, float] = {}
    for d in outputs.to(recipient):
        if d["kind"] == "report":
            at = datetime.fromisoformat(d["timing"]["delivered_at"]).timestamp()
            out[d["report"]["event_id"]] = min(at, out.get(d["report"]["event_id"], at))
    return out


def in_flight(stream: Stream, delivered: dict[str, float], at: float) -> int:
    """Reports sent before ``at`` and not delivered by then."""
    return sum(1 for s in stream.sent if s.sent_at <= at and delivered.get(s.event_id, at + 1) > at)


def resumed_after(delivered: dict[str, float], at: float) -> float:
    """Seconds from ``at`` to the first delivery after it that followed a pause of a second."""
    times = sorted(delivered.values())
    before = [t for t in times if t <= at]
    last = before[-1] if before else at
    for t in times:
        if t > at and t - last >= 1.0:
            return t - at
        if t > at:
            last = t
    return 0.0


def longest_pause(delivered: dict[str, float]) -> float:
    times = sorted(delivered.values())
    return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


class AlertWatch:
    """Polls a Prometheus' alerts once a second and keeps every (alert, state) seen."""

    def __init__(self, prometheus: Any) -> None:
        self._prometheus = prometheus
        self.seen: dict[tuple[str, str], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> AlertWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            with contextlib.suppress(Exception):
                for alert in self._prometheus.alerts():
                    key = (alert["labels"]["alertname"], alert["state"])
                    self.seen.setdefault(key, time.time())

    def states(self) -> dict[str, str]:
        """Each alert seen, with its most serious state: firing over pending."""
        out: dict[str, str] = {}
        for name, state in self.seen:
            if out.get(name) != "firing":
                out[name] = state
        return out
