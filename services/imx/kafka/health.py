"""The brokers' health as Prometheus metrics, polled through the admin API (``imx kafka exporter``).

Nothing is downloaded at run time: no JMX agent, no separate exporter binary. Every poll asks
the cluster for its metadata (brokers alive, each partition's leader, replicas and in-sync
replicas) and, for every consumer group, its committed offsets against the partitions' ends.
What a poll found is turned into figures by pure functions (tested without a broker), then
into gauges:

- ``imx_kafka_brokers_online``: brokers that answer in the metadata;
- ``imx_kafka_brokers_expected``: brokers the cluster has assigned replicas to, online or not:
  one fewer online than expected is a lost broker;
- ``imx_kafka_under_replicated_partitions``: partitions with fewer in-sync replicas than replicas;
- ``imx_kafka_offline_partitions``: partitions without a leader (neither readable nor writable);
- ``imx_kafka_controller_id``: the active controller (the KRaft quorum's leader for a local
  cluster; otherwise the id the metadata names);
- ``imx_kafka_consumer_group_lag{group}``: records not yet committed by the group;
- ``imx_kafka_exporter_poll_ok``: 1 when the last poll answered, 0 when it failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from imx.kafka.connection import Connection, started
from imx.signals import stop_on_signals

POLL_INTERVAL_S = 5.0
#: A broker that does not answer a group request within this is skipped for the poll.
CALL_TIMEOUT_S = 5.0
ATTEMPTS = 8
#: A whole poll, however many brokers are down; past it the poll counts as failed.
POLL_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class PartitionState:
    topic: str
    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


@dataclass(frozen=True)
class Health:
    """What one poll found."""

    brokers_online: int
    brokers_expected: int
    under_replicated: int
    offline: int
    controller_id: int
    lag: Mapping[str, int] = field(default_factory=dict)


def partitions_of(topics: Iterable[Mapping[str, Any]]) -> list[PartitionState]:
    """The partitions of a metadata response's topics (aiokafka's ``describe_topics`` form)."""
    out = []
    for topic in topics:
        for p in topic.get("partitions") or ():
            out.append(
                PartitionState(
                    topic["topic"],
                    p["partition"],
                    p["leader"],
                    tuple(p["replicas"]),
                    tuple(p["isr"]),
                )
            )
    return out


def health_of(
    brokers: Iterable[int],
    partitions: Iterable[PartitionState],
    controller_id: int,
    lag: Mapping[str, int] | None = None,
) -> Health:
    """Figures of a poll: a replica on a broker that is not online counts the broker as lost."""
    online = set(brokers)
    parts = list(partitions)
    assigned = {r for p in parts for r in p.replicas}
    return Health(
        brokers_online=len(online),
        brokers_expected=len(online | assigned),
        under_replicated=sum(1 for p in parts if len(p.isr) < len(p.replicas)),
        offline=sum(1 for p in parts if p.leader < 0),
        controller_id=controller_id,
        lag=dict(lag or {}),
    )


def group_lag(committed: Mapping[TopicPartition, int], ends: Mapping[TopicPartition, int]) -> int:
    """Records after the group's committed offsets, summed over its partitions.

    A partition the group has committed nothing on is not counted: the group does not read it
    (yet), and its whole history would read as lag.
    """
    return sum(max(0, ends.get(tp, offset) - offset) for tp, offset in committed.items())


class HealthMetrics:
    """The exporter's gauges, on their own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()

        def gauge(name: str, text: str, labels: tuple[str, ...] = ()) -> Gauge:
            return Gauge(name, text, list(labels), registry=self.registry)

        self._online = gauge("imx_kafka_brokers_online", "Brokers alive in the metadata.")
        self._expected = gauge(
            "imx_kafka_brokers_expected", "Brokers holding replicas, online or not."
        )
        self._under = gauge(
            "imx_kafka_under_replicated_partitions",
            "Partitions with fewer in-sync replicas than replicas.",
        )
        self._offline = gauge("imx_kafka_offline_partitions", "Partitions without a leader.")
        self._controller = gauge("imx_kafka_controller_id", "The active controller's node id.")
        self._lag = gauge(
            "imx_kafka_consumer_group_lag",
            "Records after the group's committed offsets, over its partitions.",
            ("group",),
        )
        self._ok = gauge("imx_kafka_exporter_poll_ok", "1: the last poll answered; 0: it failed.")
        self._groups: set[str] = set()

    def observe(self, health: Health) -> None:
        self._online.set(health.brokers_online)
        self._expected.set(health.brokers_expected)
        self._under.set(health.under_replicated)
        self._offline.set(health.offline)
        self._controller.set(health.controller_id)
        for gone in self._groups - set(health.lag):
            self._lag.remove(gone)
        for group, lag in health.lag.items():
            self._lag.labels(group).set(lag)
        self._groups = set(health.lag)
        self._ok.set(1)

    def poll_failed(self) -> None:
        """The cluster did not answer: the other gauges keep the last figures they had."""
        self._ok.set(0)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


async def poll(
    connection: Connection,
    timeout_s: float,
    controller: Callable[[], int | None] = lambda: None,
) -> Health:
    """One poll of the cluster as the connection's principal (admin: it sees every group).

    aiokafka's admin asks a random broker of the metadata it has, for its API versions when it
    starts and for the metadata after: one that is dead but not yet fenced fails at once
    (NodeNotReadyError), a hung one never answers (cut at ``CALL_TIMEOUT_S``). So the poll is
    tried again, up to ``ATTEMPTS`` times within ``timeout_s``: it answers while any broker does.
    """
    async with asyncio.timeout(timeout_s):
        for attempt in range(ATTEMPTS):
            admin = connection.admin(request_timeout_ms=int(CALL_TIMEOUT_S * 1000))
            try:
                async with started(admin, CALL_TIMEOUT_S):
                    return await _poll_once(connection, admin, controller)
            except (KafkaError, TimeoutError):
                if attempt == ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.2)
    raise AssertionError  # pragma: no cover - the loop returns or raises


async def _poll_once(
    connection: Connection, admin: Any, controller: Callable[[], int | None]
) -> Health:
    """The metadata must answer; the groups are asked broker by broker and group by group,
    each within ``CALL_TIMEOUT_S``, so a broker down costs the poll only its groups' lag."""
    async with asyncio.timeout(CALL_TIMEOUT_S):
        cluster = await admin.describe_cluster()
        topics = await admin.describe_topics()
    brokers = [b["node_id"] for b in cluster.get("brokers") or ()]
    groups: set[str] = set()
    for broker in brokers:
        with contextlib.suppress(Exception):
            listed = await asyncio.wait_for(admin.list_consumer_groups([broker]), CALL_TIMEOUT_S)
            groups.update(g[0] for g in listed)
    committed: dict[str, dict[TopicPartition, int]] = {}
    for group in sorted(groups):
        with contextlib.suppress(Exception):
            offsets = await asyncio.wait_for(
                admin.list_consumer_group_offsets(group), CALL_TIMEOUT_S
            )
            committed[group] = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
    wanted = sorted({tp for offsets in committed.values() for tp in offsets})
    ends: dict[TopicPartition, int] = {}
    if wanted:
        with contextlib.suppress(Exception):
            ends = await _ends(connection, wanted, CALL_TIMEOUT_S)
    leader = controller()
    controller_id = leader if leader is not None else int(cluster.get("controller_id", -1))
    lag = {group: group_lag(offsets, ends) for group, offsets in committed.items() if ends}
    return health_of(brokers, partitions_of(topics), controller_id, lag)


async def _ends(
    connection: Connection, partitions: list[TopicPartition], timeout_s: float
) -> dict[TopicPartition, int]:
    async with started(connection.reader(), timeout_s) as consumer, asyncio.timeout(timeout_s):
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
    return ends


async def serve(
    connection: Connection,
    metrics: HealthMetrics,
    *,
    interval_s: float = POLL_INTERVAL_S,
    controller: Callable[[], int | None] = lambda: None,
    on_poll: Callable[[Health | None], None] = lambda _h: None,
) -> None:
    """Poll every ``interval_s`` until SIGINT, SIGTERM or SIGHUP; a failed poll sets poll_ok 0."""
    stop = asyncio.Event()
    with stop_on_signals(stop):
        while not stop.is_set():
            began = time.monotonic()
            try:
                health = await poll(connection, POLL_TIMEOUT_S, controller)
            except Exception:  # noqa: BLE001 - a broker down must not stop the exporter
                metrics.poll_failed()
                on_poll(None)
            else:
                metrics.observe(health)
                on_poll(health)
            wait = max(0.0, interval_s - (time.monotonic() - began))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
