"""A real three-node Apache Kafka (KRaft) cluster on one machine, for fault drills.

Three combined broker+controller nodes rather than three brokers and a separate controller
quorum: three JVMs instead of six on a 2-core machine, and a quorum of three survives the loss
of any one node just the same. Each node is a ``localbroker`` home of its own (``node-N`` under
the cluster's folder) secured exactly like the single broker: the same secrets folder, admin's
SCRAM credential bootstrapped at format, and one cluster id for all three storages.

Client ports are ``P``, ``P+1``, ``P+2``; the controller ports are any free ones. ``cluster.json``
in the folder records the nodes, so ``status``, ``down``, ``kill`` and ``start`` need nothing
else. Internal topics (offsets, transaction state) get three replicas with a minimum of two in
sync, and so does every topic created without explicit settings (``default.replication.factor``,
``min.insync.replicas``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from imx.kafka import localbroker
from imx.kafka.localbroker import BrokerHome, LocalKafkaError, Security

Progress = Callable[[str], None]

NODES = 3
#: Measured: 343-357 MiB resident per node at rest, 444-553 MiB after the drills
#: (docs/operations.md).
CLUSTER_HEAP = "-Xmx384m"
READY_TIMEOUT_S = 120.0

#: Three replicas of everything, two of them in sync for a write to be acknowledged: one node
#: may be lost without losing or refusing an acknowledged write.
REPLICATED_INTERNALS = (
    "default.replication.factor=3",
    "min.insync.replicas=2",
    "offsets.topic.replication.factor=3",
    "transaction.state.log.replication.factor=3",
    "transaction.state.log.min.isr=2",
    "share.coordinator.state.topic.replication.factor=3",
    "share.coordinator.state.topic.min.isr=2",
)
#: Fewer threads than Kafka's defaults (3 network, 8 I/O): three nodes share two cores.
SMALL_THREADS = (
    "num.network.threads=2",
    "num.io.threads=2",
    "background.threads=2",
    "num.replica.fetchers=1",
    "num.recovery.threads.per.data.dir=1",
    "log.cleaner.threads=1",
    # A stopped follower leaves the ISR after 10 s rather than 30 s: drills see it sooner.
    "replica.lag.time.max.ms=10000",
)


@dataclass(frozen=True)
class Node:
    """One node of the cluster: its id (1-based), client port and controller port."""

    node_id: int
    port: int
    controller_port: int

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


@dataclass(frozen=True)
class ClusterHome:
    """The files of one local cluster: ``cluster.json`` and a ``node-N`` home per node."""

    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / localbroker.CLUSTER_MANIFEST

    def node_home(self, node_id: int) -> BrokerHome:
        return BrokerHome(self.root / f"node-{node_id}")

    def read(self) -> Cluster | None:
        try:
            found = json.loads(self.manifest.read_text())
        except (OSError, ValueError):
            return None
        secrets = found.get("secrets")
        return Cluster(
            nodes=tuple(Node(**n) for n in found["nodes"]),
            cluster_id=found["cluster_id"],
            secrets=Path(secrets) if secrets else None,
        )

    def write(self, cluster: Cluster) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.manifest.write_text(
            json.dumps(
                {
                    "nodes": [asdict(n) for n in cluster.nodes],
                    "cluster_id": cluster.cluster_id,
                    "secrets": str(cluster.secrets) if cluster.secrets else None,
                },
                indent=2,
            )
        )


@dataclass(frozen=True)
class Cluster:
    nodes: tuple[Node, ...]
    cluster_id: str
    secrets: Path | None

    @property
    def bootstrap(self) -> str:
        return ",".join(n.bootstrap for n in self.nodes)

    @property
    def voters(self) -> str:
        return ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)

    @property
    def security(self) -> Security:
        return Security(self.secrets)

    def node(self, node_id: int) -> Node:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        ids = ", ".join(str(n.node_id) for n in self.nodes)
        msg = f"no node {node_id}: the cluster has nodes {ids}"
        raise LocalKafkaError(msg)


@dataclass(frozen=True)
class NodeStatus:
    node: Node
    pid: int | None
    running: bool
    serving: bool


@dataclass(frozen=True)
class ClusterStatus:
    nodes: tuple[NodeStatus, ...]
    #: The KRaft quorum's leader (the active controller) and its epoch, None when unknown.
    leader: int | None
    epoch: int | None


def is_cluster(root: Path) -> bool:
    return ClusterHome(root).manifest.exists()


def plan(port: int, brokers: int, free_port: Callable[[], int]) -> tuple[Node, ...]:
    """The nodes of a new cluster: client ports ``port`` upwards, any free controller ports."""
    taken = set(range(port, port + brokers))
    controllers: list[int] = []
    while len(controllers) < brokers:
        candidate = free_port()
        if candidate not in taken and candidate not in controllers:
            controllers.append(candidate)
    return tuple(Node(i + 1, port + i, controllers[i]) for i in range(brokers))


def node_lines() -> tuple[str, ...]:
    return (*REPLICATED_INTERNALS, *SMALL_THREADS)


def quorum_leader(states: list[dict[str, object]]) -> tuple[int | None, int | None]:
    """The leader named by the highest epoch among the nodes' ``quorum-state`` files.

    A killed leader's file still names itself, at an older epoch than the survivors' files.
    """
    best: tuple[int, int] | None = None
    for state in states:
        epoch, leader = state.get("leaderEpoch"), state.get("leaderId")
        if not isinstance(epoch, int) or not isinstance(leader, int) or leader < 0:
            continue
        if best is None or epoch > best[0]:
            best = (epoch, leader)
    return (best[1], best[0]) if best else (None, None)


def _quorum_state(home: BrokerHome) -> dict[str, object] | None:
    try:
        found = json.loads((home.data / "__cluster_metadata-0" / "quorum-state").read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def up(
    root: Path,
    port: int,
    jar_cache: Path,
    progress: Progress,
    *,
    brokers: int = NODES,
    secrets: Path | None = None,
    ready_timeout_s: float = READY_TIMEOUT_S,
) -> str:
    """Start every node that is not running; return the cluster's bootstrap list once all serve.

    The first start formats the three storages with one cluster id; later starts reuse the
    recorded ports, so the data and the clients' bootstrap list stay valid.
    """
    home = ClusterHome(root)
    cluster = home.read()
    if cluster is None:
        if localbroker.BrokerHome(root).cluster_id() is not None:
            msg = f"{root} holds a single broker: choose another --dir for a cluster"
            raise LocalKafkaError(msg)
        for p in range(port, port + brokers):
            if localbroker.port_open("127.0.0.1", p):
                msg = f"port {p} is already in use on 127.0.0.1: choose another with --port"
                raise LocalKafkaError(msg)
        cluster = Cluster(
            plan(port, brokers, localbroker.free_port), localbroker.new_cluster_id(), secrets
        )
        home.write(cluster)
    elif (cluster.secrets is None) != (secrets is None):
        was = "secured" if cluster.secrets else "plaintext"
        msg = f"the cluster in {root} was formatted {was}: start it as it was, or remove {root}"
        raise LocalKafkaError(msg)
    java, _ = localbroker.check_prerequisites()
    jars = localbroker.resolve_jars(jar_cache, progress)
    procs: dict[int, subprocess.Popen[bytes]] = {}
    for node in cluster.nodes:
        node_home = home.node_home(node.node_id)
        if localbroker.alive(node_home.read_pid()):
            continue
        _prepare(java, jars, cluster, node, node_home)
        procs[node.node_id] = localbroker.launch(
            java, node_home, jars, node.bootstrap, CLUSTER_HEAP
        )
        progress(
            f"starting node {node.node_id} (pid {procs[node.node_id].pid}) at {node.bootstrap}"
        )
    _wait_serving(home, cluster, procs, ready_timeout_s)
    progress(f"Kafka cluster of {len(cluster.nodes)} nodes serves at {cluster.bootstrap}")
    return cluster.bootstrap


def _prepare(
    java: str, jars: list[Path], cluster: Cluster, node: Node, node_home: BrokerHome
) -> None:
    localbroker.write_config(
        node_home,
        node.port,
        node.controller_port,
        cluster.security,
        node_id=node.node_id,
        voters=cluster.voters,
        node_lines=node_lines(),
    )
    localbroker.format_storage(java, node_home, jars, cluster.security, cluster.cluster_id)


def _wait_serving(
    home: ClusterHome,
    cluster: Cluster,
    procs: dict[int, subprocess.Popen[bytes]],
    timeout_s: float,
) -> None:
    waiting = {n.node_id: n for n in cluster.nodes}
    deadline = time.monotonic() + timeout_s
    while waiting and time.monotonic() < deadline:
        for node_id, node in list(waiting.items()):
            proc = procs.get(node_id)
            if proc is not None and proc.poll() is not None:
                tail = localbroker.log_tail(home.node_home(node_id))
                msg = f"node {node_id} exited with code {proc.returncode} while starting:\n{tail}"
                raise LocalKafkaError(msg)
            if localbroker.serves(node.bootstrap, timeout_s=3.0, security=cluster.security):
                waiting.pop(node_id)
        if waiting:
            time.sleep(0.5)
    if waiting:
        names = ", ".join(str(n) for n in waiting)
        tail = localbroker.log_tail(home.node_home(next(iter(waiting))))
        msg = f"node(s) {names} did not serve within {timeout_s:.0f}s:\n{tail}"
        raise LocalKafkaError(msg)


def start_node(
    root: Path, node_id: int, jar_cache: Path, progress: Progress, *, wait: bool = True
) -> int:
    """Start one stopped node again (a drill's recovery); return its pid."""
    home = ClusterHome(root)
    cluster = _required(home)
    node = cluster.node(node_id)
    node_home = home.node_home(node_id)
    pid = node_home.read_pid()
    if localbroker.alive(pid):
        progress(f"node {node_id} already runs (pid {pid})")
        return pid or 0
    java, _ = localbroker.check_prerequisites()
    jars = localbroker.resolve_jars(jar_cache, progress)
    _prepare(java, jars, cluster, node, node_home)
    proc = localbroker.launch(java, node_home, jars, node.bootstrap, CLUSTER_HEAP)
    progress(f"starting node {node_id} (pid {proc.pid}) at {node.bootstrap}")
    if wait:
        _wait_serving(
            home,
            Cluster((node,), cluster.cluster_id, cluster.secrets),
            {node_id: proc},
            READY_TIMEOUT_S,
        )
        progress(f"node {node_id} serves at {node.bootstrap}")
    return proc.pid


def signal_node(root: Path, node_id: int, signum: signal.Signals = signal.SIGKILL) -> int:
    """Send ``signum`` to one node (SIGKILL: a lost machine; SIGSTOP: a hung one); its pid."""
    home = ClusterHome(root)
    cluster = _required(home)
    cluster.node(node_id)
    node_home = home.node_home(node_id)
    pid = node_home.read_pid()
    if pid is None or not localbroker.alive(pid):
        msg = f"node {node_id} is not running"
        raise LocalKafkaError(msg)
    os.killpg(pid, signum)
    if signum == signal.SIGKILL:
        deadline = time.monotonic() + 10
        while localbroker.alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        node_home.pidfile.unlink(missing_ok=True)
    return pid


def status(root: Path, *, probe: bool = True) -> ClusterStatus:
    home = ClusterHome(root)
    cluster = _required(home)
    nodes = []
    states = []
    for node in cluster.nodes:
        node_home = home.node_home(node.node_id)
        pid = node_home.read_pid()
        running = localbroker.alive(pid)
        serving = (
            probe
            and running
            and localbroker.serves(node.bootstrap, timeout_s=3.0, security=cluster.security)
        )
        nodes.append(NodeStatus(node, pid, running, serving))
        state = _quorum_state(node_home)
        if running and state is not None:
            states.append(state)
    leader, epoch = quorum_leader(states)
    return ClusterStatus(tuple(nodes), leader, epoch)


def stop(root: Path, grace_s: float = localbroker.STOP_GRACE_S) -> int:
    """Stop every node (SIGCONT first: a stopped process cannot act on SIGTERM); count them."""
    home = ClusterHome(root)
    cluster = home.read()
    if cluster is None:
        return 0
    running = []
    for node in cluster.nodes:
        node_home = home.node_home(node.node_id)
        pid = node_home.read_pid()
        if localbroker.alive(pid):
            assert pid is not None  # noqa: S101 - alive() is False for None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGCONT)
                os.killpg(pid, signal.SIGTERM)
            running.append((node_home, pid))
    for node_home, pid in running:
        localbroker.terminate(pid, grace_s)
        node_home.pidfile.unlink(missing_ok=True)
    return len(running)


def _required(home: ClusterHome) -> Cluster:
    cluster = home.read()
    if cluster is None:
        msg = f"no cluster in {home.root}: start one with 'imx kafka up --brokers 3'"
        raise LocalKafkaError(msg)
    return cluster
