"""Pure parts of the three-node cluster (localcluster.py) and of fitting topics to it."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from imx.kafka import localbroker, localcluster
from imx.kafka.topology import Topology, min_insync_for, replication_for
from imx.security import secrets
from imx.settings import Settings

pytestmark = pytest.mark.unit


def _props(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def test_the_nodes_take_consecutive_client_ports_and_other_controller_ports() -> None:
    # The free-port source offers a client port first: it must be skipped.
    offered = itertools.chain([9093, 9093], itertools.count(40000))
    nodes = localcluster.plan(9092, 3, lambda: next(offered))
    assert [n.port for n in nodes] == [9092, 9093, 9094]
    assert [n.node_id for n in nodes] == [1, 2, 3]
    assert [n.controller_port for n in nodes] == [40000, 40001, 40002]


def test_each_node_is_a_voter_of_one_quorum_with_replicated_internal_topics(
    tmp_path: Path,
) -> None:
    secrets.init(tmp_path / "secrets", ["admin"])
    nodes = localcluster.plan(9092, 3, iter(range(40000, 40010)).__next__)
    cluster = localcluster.Cluster(nodes, "EBAQEBAQEBAQEBAQEBAQEA", tmp_path / "secrets")
    home = localbroker.BrokerHome(tmp_path / "node-2")
    localbroker.write_config(
        home,
        9093,
        40001,
        cluster.security,
        node_id=2,
        voters=cluster.voters,
        node_lines=localcluster.node_lines(),
    )
    props = _props(home.properties)
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == (
        "1@127.0.0.1:40000,2@127.0.0.1:40001,3@127.0.0.1:40002"
    )
    assert props["advertised.listeners"] == "CLIENT://127.0.0.1:9093"
    assert props["offsets.topic.replication.factor"] == "3"
    assert props["transaction.state.log.replication.factor"] == "3"
    assert props["transaction.state.log.min.isr"] == "2"
    assert props["default.replication.factor"] == "3"
    assert props["min.insync.replicas"] == "2"
    assert props["num.io.threads"] == "2"
    assert cluster.bootstrap == "127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094"


def test_a_single_broker_keeps_one_replica_of_its_internal_topics(tmp_path: Path) -> None:
    home = localbroker.BrokerHome(tmp_path / "kafka")
    localbroker.write_config(home, 9092, 9093, localbroker.Security(None))
    props = _props(home.properties)
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert props["offsets.topic.replication.factor"] == "1"
    assert "min.insync.replicas" not in props


def test_the_manifest_round_trips(tmp_path: Path) -> None:
    nodes = localcluster.plan(9092, 3, iter(range(40000, 40010)).__next__)
    cluster = localcluster.Cluster(nodes, "abc", tmp_path / "secrets")
    localcluster.ClusterHome(tmp_path).write(cluster)
    assert localcluster.ClusterHome(tmp_path).read() == cluster
    assert localcluster.is_cluster(tmp_path)
    assert cluster.node(3).port == 9094
    with pytest.raises(localbroker.LocalKafkaError, match="no node 4"):
        cluster.node(4)


def test_the_leader_is_the_one_named_at_the_highest_epoch() -> None:
    states: list[dict[str, object]] = [
        {"leaderId": 1, "leaderEpoch": 1},  # the killed leader's own, stale, view
        {"leaderId": 3, "leaderEpoch": 2},
        {"leaderId": -1, "leaderEpoch": 3},  # an election under way names nobody
    ]
    assert localcluster.quorum_leader(states) == (3, 2)
    assert localcluster.quorum_leader([]) == (None, None)


def test_replication_fits_the_cluster_unless_set() -> None:
    assert [replication_for(n) for n in (0, 1, 2, 3, 5)] == [1, 1, 2, 3, 3]
    assert [min_insync_for(r) for r in (1, 2, 3)] == [1, 1, 2]
    unset = Topology.from_settings(Settings(_env_file=None), ["u1"])  # type: ignore[call-arg]
    assert unset.fit_cluster
    assert unset.replication == 1
    on_three = unset.fitted(3)
    assert on_three.replication == 3
    assert not on_three.fit_cluster
    for spec in on_three.specs():
        assert spec.replication == 3
        assert spec.config["min.insync.replicas"] == "2"
    assert all("min.insync.replicas" not in s.config for s in unset.fitted(1).specs())
    pinned = Topology.from_settings(
        Settings(_env_file=None, replication=1),  # type: ignore[call-arg]
        ["u1"],
    )
    assert pinned.fitted(3).replication == 1


def test_a_cluster_folder_is_never_started_as_one_broker(tmp_path: Path) -> None:
    nodes = localcluster.plan(9092, 3, iter(range(40000, 40010)).__next__)
    localcluster.ClusterHome(tmp_path).write(localcluster.Cluster(nodes, "abc", None))
    with pytest.raises(localbroker.LocalKafkaError, match="holds a cluster"):
        localbroker.up(tmp_path, 9092, tmp_path / "jars", lambda _m: None)
