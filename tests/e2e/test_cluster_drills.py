"""Fault drills on a real three-node cluster: a broker or a worker lost, and nothing lost with it.

The module starts its own secured cluster (``imx kafka up --brokers 3``'s code), the Kafka
health exporter (``imx kafka exporter``) and a Prometheus server loading
deploy/prometheus/rules/cluster.rules.yml, once. Each drill has topics of its own, streams
reports through a real worker while the fault strikes, and ends with every expected delivery
present exactly once (delivery ids), nothing in the DLQ, and state intact: the two reports of
every pair meet in one incident, so what the first left in the tables was there for the
second, across the fault. The figures (time to recover, reports in flight, what the exporter
and the alerts showed) are printed and written to ``$IMX_DRILL_REPORT`` when it is set; they are
the ones in docs/operations.md.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from imx import processes
from imx.kafka.connection import Connection, started
from imx.kafka.localbroker import free_port
from imx.kafka.reading import read_to_end
from imx.kafka.topology import Topology
from imx.registry import load_registry
from imx.security.principals import ADMIN, WORKER
from imx.settings import Settings
from tests.support.cluster import (
    AlertWatch,
    LocalCluster,
    Stream,
    delivered_times,
    in_flight,
    longest_pause,
    resumed_after,
    secured_cluster,
)
from tests.support.outputs import Outputs, collect
from tests.support.proc import IMX, kill_all, processes_mentioning, run_imx
from tests.support.produce import publish
from tests.support.prometheus import PrometheusServer, running_prometheus
from tests.support.workers import running_worker, start_worker
from tests.support.workload import paired_workload, workload

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules"
REGISTRY = load_registry()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    try:
        with secured_cluster(tmp_path_factory.mktemp("drills")) as found:
            yield found
    except Exception as exc:
        if isinstance(exc, AssertionError | pytest.fail.Exception):
            raise
        pytest.fail(f"no three-node cluster for the drills: {exc}", pytrace=False)


@pytest.fixture(scope="module")
def alerts(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertWatch]:
    """The exporter polling the cluster every second, and a Prometheus evaluating its rules."""
    workdir = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    env = cluster.settings(ADMIN).child_env()
    log = (workdir / "exporter.log").open("wb")
    argv = ["kafka", "exporter", "--dir", str(cluster.home), "--port", str(port)]
    exporter = subprocess.Popen(
        [*IMX, *argv, "--interval", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        with (
            running_prometheus(
                [], workdir, [RULES / "cluster.rules.yml"], kafka=[f"127.0.0.1:{port}"]
            ) as prometheus,
            AlertWatch(prometheus) as watch,
        ):
            _wait_exported(prometheus)
            yield watch
    finally:
        processes.stop_group(exporter, 10.0)
        log.close()


def _wait_exported(prometheus: PrometheusServer, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = prometheus.query("imx_kafka_brokers_online")["data"]["result"]
        if result and float(result[0]["value"][1]) == 3:
            return
        time.sleep(0.5)
    pytest.fail("Prometheus saw no 3 brokers online from the exporter within 30 s")


@pytest.fixture(scope="module")
def figures() -> Iterator[dict[str, dict[str, Any]]]:
    found: dict[str, dict[str, Any]] = {}
    yield found
    text = json.dumps(found, indent=2, sort_keys=True)
    print(f"\ndrill figures:\n{text}")  # the figures docs/operations.md cites
    if os.environ.get("IMX_DRILL_REPORT"):
        Path(os.environ["IMX_DRILL_REPORT"]).write_text(text + "\n")


@pytest.fixture(autouse=True)
def _nothing_left(tmp_path: Path) -> Iterator[None]:
    """No worker of a drill outlives it, even when the drill failed half-way."""
    yield
    kill_all(processes_mentioning(str(tmp_path)))


@dataclass(frozen=True)
class Run:
    """One drill's topics on the cluster, as admin, and a worker's environment for them."""

    settings: Settings
    topology: Topology
    worker_env: dict[str, str]

    @classmethod
    def of(cls, cluster: LocalCluster, tmp_path: Path, name: str) -> Run:
        prefix = f"d{name}{os.getpid() % 1000}-"
        settings = cluster.settings(
            topic_prefix=prefix, home=tmp_path / "home", app_id=f"imx-{prefix.rstrip('-')}"
        )
        topology = cluster.provision(settings)
        worker = cluster.settings(WORKER, **_fields(settings)).model_copy(
            update={"pseudonym_key": SecretStr("test-only-key"), "session_timeout_s": 6.0}
        )
        return cls(settings, topology, worker.child_env())

    @property
    def connection(self) -> Connection:
        return Connection.from_settings(self.settings)

    def collect(self, reports: list[dict[str, Any]], timeout_s: float = 150.0) -> Outputs:
        return collect(
            self.connection,
            self.topology,
            deliveries=0,
            analysed={r["event_id"] for r in reports},
            timeout_s=timeout_s,
        )


def _fields(settings: Settings) -> dict[str, Any]:
    return {
        "topic_prefix": settings.topic_prefix,
        "home": settings.home,
        "app_id": settings.app_id,
    }


def _warm_up(run: Run, seed: int) -> list[dict[str, Any]]:
    """Ten reports through the pipeline before the stream: the fault strikes a flowing worker."""
    warm = workload(REGISTRY, 10, seed=seed)
    asyncio.run(publish(run.connection, run.topology, warm))
    run.collect(warm, timeout_s=90)
    return warm


def _resend_refused(run: Run, stream: Stream, reports: list[dict[str, Any]]) -> int:
    """Send what the producer refused again, as an outbox would; exact de-duplication makes a
    resend of a report that did get in harmless. Returns how many were refused."""
    refused = {s.event_id for s in stream.failed}
    again = [r for r in reports if r["event_id"] in refused]
    if again:
        asyncio.run(publish(run.connection, run.topology, again))
    return len(refused)


def _assert_acknowledged_delivered(run: Run, stream: Stream, outputs: Outputs) -> None:
    acked = {s.event_id for s in stream.acked}
    lost = acked - set(delivered_times(outputs))
    if lost:  # say where they stopped: never in the log, or in the log and not processed
        logged = asyncio.run(_ingress_event_ids(run))
        pytest.fail(
            f"{len(lost)} acknowledged report(s) not delivered, {len(lost & logged)} of them "
            "on their ingress topics (the pipeline stalled), "
            f"{len(lost - logged)} nowhere (lost by the cluster)"
        )


async def _ingress_event_ids(run: Run) -> set[str]:
    """The keys (event ids) of every record on the run's ingress topics."""
    topics = [run.topology.ingress(u) for u in run.topology.unit_ids]
    found: set[str] = set()
    for topic in topics:
        for record in await read_to_end(run.connection, topic):
            if record.key:
                found.add(record.key.decode())
    return found


def _assert_exactly_once(outputs: Outputs, reports: list[dict[str, Any]]) -> None:
    ids = collections.Counter(d["delivery_id"] for d in outputs.deliveries)
    twice = {k: n for k, n in ids.items() if n > 1}
    assert not twice, f"deliveries seen more than once: {twice}"
    assert len(outputs.disclosures) == len(outputs.deliveries), "one disclosure per delivery"
    analysed = {d["report"]["event_id"] for d in outputs.to("gpd-satit") if d["kind"] == "report"}
    missing = {r["event_id"] for r in reports} - analysed
    assert not missing, f"{len(missing)} report(s) never delivered"
    assert outputs.dlq == [], f"unexpected DLQ records: {outputs.dlq[:3]}"


def _assert_pairs_met(
    outputs: Outputs, first: list[dict[str, Any]], second: list[dict[str, Any]]
) -> None:
    """State intact: each second-phase report joined its first-phase report's incident."""
    incident = {
        d["report"]["event_id"]: d["incident_id"]
        for d in outputs.to("gpd-satit")
        if d["kind"] == "report"
    }
    apart = [
        (a["event_id"], b["event_id"])
        for a, b in zip(first, second, strict=True)
        if incident[a["event_id"]] != incident[b["event_id"]]
    ]
    assert not apart, f"{len(apart)} pair(s) not in one incident: state was lost"


def _exporter_view(cluster: LocalCluster) -> dict[str, Any]:
    """What ``imx kafka exporter`` reports now (the same poll), or that it could not poll."""
    try:
        found = cluster.health()
    except Exception as exc:  # noqa: BLE001 - an unanswered poll is itself the figure
        return {"poll": f"failed ({type(exc).__name__})"}
    return {
        "brokers_online": found.brokers_online,
        "under_replicated": found.under_replicated,
        "offline": found.offline,
        "controller": cluster.status().leader,
    }


def test_the_cluster_replicates_every_topic_three_times_without_being_told(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    run = Run.of(cluster, tmp_path, "rf")
    assert run.settings.replication is None  # IMX_REPLICATION unset: fitted to the cluster

    async def describe() -> tuple[list[Any], list[Any]]:
        admin = cluster.connection(ADMIN).admin()
        async with started(admin, 30.0):
            names = [s.name for s in run.topology.fitted(3).specs()]
            topics = await admin.describe_topics([*names, "__consumer_offsets"])
            from aiokafka.admin.config_resource import (  # noqa: PLC0415
                ConfigResource,
                ConfigResourceType,
            )

            configs = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, n) for n in names[:3]]
            )
        return topics, configs

    topics, configs = asyncio.run(describe())
    assert {len(p["replicas"]) for t in topics for p in t["partitions"]} == {3}
    entries = [{e[0]: e[1] for e in r[4]} for c in configs for r in c.resources]
    assert {e["min.insync.replicas"] for e in entries} == {"2"}
    status = run_imx(
        ["kafka", "status", "--dir", str(cluster.home)], cluster.settings().child_env()
    )
    assert status.returncode == 0, status.stdout + status.stderr
    lines = status.stdout.splitlines()
    assert [line.split()[:3] for line in lines[:3]] == [
        ["node", str(n), "serving"] for n in (1, 2, 3)
    ]
    assert lines[3].startswith("controller leader node ")


def test_the_leader_of_the_busiest_partition_killed_and_back_20_s_later(
    cluster: LocalCluster,
    alerts: AlertWatch,
    figures: dict[str, dict[str, Any]],
    tmp_path: Path,
) -> None:
    run = Run.of(cluster, tmp_path, "kill")
    first, second = paired_workload(REGISTRY, 100, seed=31)
    reports = [*first, *second]
    with running_worker(run.worker_env, tmp_path, "worker"):
        warm = _warm_up(run, 41)
        stream = Stream(run.connection, run.topology, reports, rate_per_s=20).start()
        time.sleep(3.0)
        # Every report crosses the accepted topic's one partition: the busiest of all.
        victim = cluster.leader_of(run.topology.accepted)
        killed_at = time.time()
        cluster.kill(victim)
        time.sleep(6.0)
        during = _exporter_view(cluster)
        time.sleep(14.0)
        began = time.monotonic()
        cluster.start(victim)
        serving_s = time.monotonic() - began
        healed_s = cluster.heal()
        stream.join(90)
        outputs = run.collect([*warm, *reports])
    _assert_acknowledged_delivered(run, stream, outputs)
    assert not stream.failed, f"sends refused with one broker of three lost: {stream.failed[:3]}"
    _assert_exactly_once(outputs, [*warm, *reports])
    _assert_pairs_met(outputs, first, second)
    delivered = delivered_times(outputs)
    figures["leader_killed"] = {
        "node": victim,
        "reports": len(reports),
        "in_flight_at_kill": in_flight(stream, delivered, killed_at),
        "deliveries_resumed_after_s": round(resumed_after(delivered, killed_at), 1),
        "longest_pause_in_deliveries_s": round(longest_pause(delivered), 1),
        "longest_ack_wait_s": round(stream.longest_ack_wait(), 1),
        "restarted_node_serving_after_s": round(serving_s, 1),
        "isr_whole_after_serving_s": round(healed_s, 1),
        "exporter_6s_after_kill": during,
        "alerts": alerts.states(),
    }
    assert alerts.states().get("ImxKafkaBrokerLost") in {"pending", "firing"}
    assert alerts.states().get("ImxKafkaUnderReplicatedPartitions") in {"pending", "firing"}


def test_a_broker_stopped_30_s_then_continued(
    cluster: LocalCluster,
    alerts: AlertWatch,
    figures: dict[str, dict[str, Any]],
    tmp_path: Path,
) -> None:
    run = Run.of(cluster, tmp_path, "stop")
    first, second = paired_workload(REGISTRY, 100, seed=32)
    reports = [*first, *second]
    alerts.seen.clear()
    with running_worker(run.worker_env, tmp_path, "worker"):
        warm = _warm_up(run, 42)
        stream = Stream(run.connection, run.topology, reports, rate_per_s=8).start()
        time.sleep(3.0)
        victim = cluster.leader_of(run.topology.accepted)
        controller = cluster.status().leader
        pid = cluster.status().nodes[victim - 1].pid
        assert pid is not None
        stopped_at = time.time()
        os.killpg(pid, signal.SIGSTOP)
        try:
            time.sleep(15.0)
            during = _exporter_view(cluster)
            time.sleep(15.0)
        finally:
            os.killpg(pid, signal.SIGCONT)
        healed_s = cluster.heal()
        stream.join(120)
        refused = _resend_refused(run, stream, reports)
        outputs = run.collect([*warm, *reports])
    _assert_acknowledged_delivered(run, stream, outputs)
    _assert_exactly_once(outputs, [*warm, *reports])
    _assert_pairs_met(outputs, first, second)
    delivered = delivered_times(outputs)
    figures["broker_stopped_30s"] = {
        "node": victim,
        "controller_at_stop": controller,
        "reports": len(reports),
        "in_flight_at_stop": in_flight(stream, delivered, stopped_at),
        "deliveries_resumed_after_s": round(resumed_after(delivered, stopped_at), 1),
        "longest_pause_in_deliveries_s": round(longest_pause(delivered), 1),
        "longest_ack_wait_s": round(stream.longest_ack_wait(), 1),
        "sends_refused_then_resent": refused,
        "isr_whole_after_continue_s": round(healed_s, 1),
        "exporter_15s_into_stop": during,
        "alerts": alerts.states(),
    }


def test_two_of_three_brokers_lost_blocks_or_refuses_and_loses_nothing_acknowledged(
    cluster: LocalCluster,
    alerts: AlertWatch,
    figures: dict[str, dict[str, Any]],
    tmp_path: Path,
) -> None:
    run = Run.of(cluster, tmp_path, "two")
    first, second = paired_workload(REGISTRY, 80, seed=33)
    reports = [*first, *second]
    alerts.seen.clear()
    with running_worker(run.worker_env, tmp_path, "worker"):
        warm = _warm_up(run, 43)
        stream = Stream(run.connection, run.topology, reports, rate_per_s=10).start()
        time.sleep(3.0)
        keep = cluster.leader_of(run.topology.accepted)
        lost = [n for n in (1, 2, 3) if n != keep]
        lost_at = time.time()
        for node in lost:
            cluster.kill(node)
        time.sleep(10.0)
        during = _exporter_view(cluster)
        acked_during = sum(1 for s in stream.acked if (s.acked_at or 0) > lost_at + 2.0)
        time.sleep(10.0)
        cluster.start(lost[0])
        back_at = time.time()
        stream.join(120)
        refused = _resend_refused(run, stream, reports)
        outputs = run.collect([*warm, *reports])
        cluster.start(lost[1])
        healed_s = cluster.heal()
    delivered = delivered_times(outputs)
    _assert_acknowledged_delivered(run, stream, outputs)
    _assert_exactly_once(outputs, [*warm, *reports])
    _assert_pairs_met(outputs, first, second)
    # With one broker of three, nothing may be acknowledged: two in-sync replicas are needed.
    assert acked_during == 0, f"{acked_during} report(s) acknowledged with one broker left"
    figures["two_brokers_lost"] = {
        "nodes": lost,
        "reports": len(reports),
        "acknowledged_while_one_left": acked_during,
        "refused_then_resent": refused,
        "in_flight_at_loss": in_flight(stream, delivered, lost_at),
        "deliveries_resumed_after_one_back_s": round(resumed_after(delivered, back_at), 1),
        "longest_ack_wait_s": round(stream.longest_ack_wait(), 1),
        "heal_s": round(healed_s, 1),
        "exporter_10s_after_loss": during,
        "alerts": alerts.states(),
    }


def _deliveries_total(metrics: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("imx_deliveries_total{")
    )


def test_the_active_core_killed_and_the_standby_takes_over(
    cluster: LocalCluster, figures: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    run = Run.of(cluster, tmp_path, "core")
    warmup = workload(REGISTRY, 10, seed=34)
    first, second = paired_workload(REGISTRY, 80, seed=35)
    reports = [*first, *second]
    workers = [start_worker(run.worker_env, tmp_path, f"w{n}") for n in (1, 2)]
    try:
        for worker in workers:
            worker.wait_serving()
        asyncio.run(publish(run.connection, run.topology, warmup))
        run.collect(warmup, timeout_s=90)
        active = [w for w in workers if _deliveries_total(w.metrics()) > 0]
        assert len(active) == 1, "exactly one worker holds the core's partition"
        core, standby = active[0], next(w for w in workers if w is not active[0])
        stream = Stream(run.connection, run.topology, reports, rate_per_s=20).start()
        time.sleep(3.0)
        killed_at = time.time()
        core.kill()
        stream.join(90)
        outputs = run.collect([*warmup, *reports])
        took_over = _deliveries_total(standby.metrics()) > 0
    finally:
        for worker in workers:
            worker.stop()
    assert took_over, "the standby delivered nothing after the core was killed"
    _assert_exactly_once(outputs, [*warmup, *reports])
    _assert_pairs_met(outputs, first, second)
    delivered = delivered_times(outputs)
    figures["core_killed"] = {
        "reports": len(reports),
        "in_flight_at_kill": in_flight(stream, delivered, killed_at),
        "deliveries_resumed_after_s": round(resumed_after(delivered, killed_at), 1),
        "longest_pause_in_deliveries_s": round(longest_pause(delivered), 1),
        "session_timeout_s": 6.0,
    }


def _comparable(outputs: Outputs) -> set[tuple[Any, ...]]:
    """Everything about the deliveries except wall-clock timing."""
    out = set()
    for d in outputs.deliveries:
        item = d["report"]["event_id"] if d["kind"] == "report" else d["correlation"]["event_ids"]
        out.add(
            (d["delivery_id"], d["recipient"], tuple(d["rules"]), d["incident_id"],
             d["duplicate_of"], str(item))
        )  # fmt: skip
    return out


def test_a_worker_without_its_state_folder_rebuilds_it_and_delivers_the_same(
    cluster: LocalCluster, figures: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    first, second = paired_workload(REGISTRY, 60, seed=36)
    # The reference: one worker, never restarted.
    reference = Run.of(cluster, tmp_path / "ref", "ref")
    with running_worker(reference.worker_env, tmp_path / "ref", "worker"):
        asyncio.run(publish(reference.connection, reference.topology, first))
        reference.collect(first)
        asyncio.run(publish(reference.connection, reference.topology, second))
        expected = reference.collect([*first, *second])
    run = Run.of(cluster, tmp_path / "wiped", "wiped")
    with running_worker(run.worker_env, tmp_path / "wiped", "before"):
        asyncio.run(publish(run.connection, run.topology, first))
        run.collect(first)
    state = run.settings.home / "state"
    assert any(state.rglob("*.db")), "the worker kept no local state to delete"
    shutil.rmtree(state)
    began = time.monotonic()
    with running_worker(run.worker_env, tmp_path / "wiped", "after"):
        ready_s = time.monotonic() - began
        asyncio.run(publish(run.connection, run.topology, second))
        outputs = run.collect([*first, *second])
    _assert_exactly_once(outputs, [*first, *second])
    _assert_pairs_met(outputs, first, second)
    assert _comparable(outputs) == _comparable(expected)
    figures["state_deleted"] = {
        "reports": len(first) + len(second),
        "worker_ready_after_rebuild_s": round(ready_s, 1),
        "deliveries": len(outputs.deliveries),
        "identical_to_reference": True,
    }
