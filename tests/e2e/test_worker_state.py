"""A worker whose local state meets another history: another cluster, or changelogs removed.

Local RocksDB state is a cache of the changelog topics. A worker started with a state folder
that the broker's changelogs do not back must start, rebuild from the changelogs and go on
delivering; it must never crash-loop on faust's ConsistencyError.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from imx.kafka import localbroker
from imx.kafka.admin import ensure_topics
from imx.kafka.connection import Connection
from imx.kafka.provision import provision
from imx.kafka.topology import ACCEPTED_RETENTION_MS, TABLES, TopicSpec, Topology
from imx.registry import load_registry
from imx.settings import Settings
from tests.support.outputs import collect
from tests.support.produce import publish
from tests.support.workers import running_worker
from tests.support.workload import workload

pytestmark = pytest.mark.e2e

WARNING = "local state is ahead of its changelog"


def _deliver(settings: Settings, topology: Topology, reports: list[dict[str, Any]]) -> None:
    """Publish ``reports`` and wait until the analytics sector has every one of them."""
    connection = Connection.from_settings(settings)
    asyncio.run(publish(connection, topology, reports))
    analysed = {r["event_id"] for r in reports}
    outputs = collect(connection, topology, deliveries=0, analysed=analysed, timeout_s=90)
    got = {d["report"]["event_id"] for d in outputs.to("gpd-satit") if d["kind"] == "report"}
    assert analysed <= got


def _clusters_with_state(home: Path) -> set[str]:
    """The cluster ids under ``$IMX_HOME/state`` that hold a table partition."""
    return {p.relative_to(home / "state").parts[0] for p in home.glob("state/*/*/*/**/events-0.db")}


async def _delete_changelogs(connection: Connection, topology: Topology) -> None:
    names = [topology.changelog(t) for t in TABLES]
    admin = connection.admin()
    await admin.start()
    try:
        await admin.delete_topics(names)
        deadline = time.monotonic() + 60
        while set(names) & set(await admin.list_topics()):
            assert time.monotonic() < deadline, "the changelogs were not deleted within 60 s"
            await asyncio.sleep(0.5)
    finally:
        await admin.close()


def test_changelogs_removed_under_the_state_are_rebuilt_not_a_crash(
    settings: Settings, topology: Topology, pipeline_env: dict[str, str], tmp_path: Path
) -> None:
    registry = load_registry(settings.registry_path)
    first, second = workload(registry, 20, seed=3), workload(registry, 20, seed=4)
    port = localbroker.free_port()  # the same worker both times: the same state folder
    with running_worker(pipeline_env, tmp_path, "before", port) as worker:
        _deliver(settings, topology, first)
        assert WARNING not in worker.log.read_text()
        assert "\x1b" not in worker.log.read_text(), "no terminal escape codes in a log file"
    # The accepted topic keeps what the intake passed on as long as ingress would have.
    accepted = TopicSpec(
        topology.accepted, "accepted", "event_id", 1, topology.replication,
        {"retention.ms": str(ACCEPTED_RETENTION_MS)},
    )  # fmt: skip
    checked = asyncio.run(ensure_topics(Connection.from_settings(settings), [accepted]))
    assert checked.verified == [topology.accepted], checked.mismatched
    assert _clusters_with_state(settings.home), "the worker kept state on disk"
    asyncio.run(_delete_changelogs(Connection.from_settings(settings), topology))
    with running_worker(pipeline_env, tmp_path, "after", port) as worker:
        _deliver(settings, topology, second)
        log = worker.log.read_text()
    assert log.count(WARNING) == 1, log[-3000:]
    assert "ConsistencyError" not in log


def test_state_of_another_cluster_is_never_opened(
    settings: Settings, topology: Topology, pipeline_env: dict[str, str], tmp_path: Path
) -> None:
    registry = load_registry(settings.registry_path)
    port = localbroker.free_port()
    with running_worker(pipeline_env, tmp_path, "first-cluster", port):
        _deliver(settings, topology, workload(registry, 15, seed=5))
    (first_cluster,) = _clusters_with_state(settings.home)
    other_home = tmp_path / "other-kafka"
    bootstrap = localbroker.up(
        other_home, localbroker.free_port(), settings.jar_cache, progress=lambda _m: None
    )
    try:
        # A plaintext broker of its own: what counts here is only that it is another cluster.
        plain = {"security_protocol": "PLAINTEXT", "sasl_username": None, "sasl_password": None}
        other = settings.model_copy(update={"bootstrap": bootstrap, **plain, "ssl_cafile": None})
        other_topology = Topology.from_settings(other, registry.ids())
        provisioned = provision(Connection(bootstrap), other_topology, settings.schemas_dir)
        assert asyncio.run(provisioned).topics.ok
        secured = ("IMX_SASL_USERNAME", "IMX_SASL_PASSWORD", "IMX_SSL_CAFILE")
        env = {k: v for k, v in pipeline_env.items() if k not in secured}
        env.update(IMX_BOOTSTRAP=bootstrap, IMX_SECURITY_PROTOCOL="PLAINTEXT")
        with running_worker(env, tmp_path, "second-cluster", port) as worker:
            _deliver(other, other_topology, workload(registry, 15, seed=6))
            log = worker.log.read_text()
        assert "ConsistencyError" not in log
        clusters = _clusters_with_state(settings.home)
        assert first_cluster in clusters, "the first cluster's state is kept for its cluster"
        assert len(clusters) == 2
    finally:
        localbroker.stop(other_home)
