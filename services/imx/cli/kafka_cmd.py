"""``imx kafka up|down|status|kill|start|exporter``: the local broker or three-node cluster."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path
from typing import Any

from imx.cli import security_cmd
from imx.cli.common import EXIT_FAILURE, EXIT_OK, CliError, acting_as, progress
from imx.kafka import health, localbroker, localcluster
from imx.kafka.connection import Connection
from imx.security import local
from imx.security.principals import ADMIN
from imx.settings import DEFAULT_KAFKA_PORT, Settings

#: The exporter's default port, the one Kafka exporters usually take.
EXPORTER_PORT = 9308


def register(commands: Any) -> None:
    kafka = commands.add_parser(
        "kafka", help="run a local Apache Kafka (KRaft): one node, or a cluster of three"
    )
    sub = kafka.add_subparsers(dest="kafka_command", required=True, metavar="ACTION")
    up = sub.add_parser("up", help="start the broker in the background; returns when it serves")
    up.add_argument("--dir", type=Path, help="broker home (default: $IMX_HOME/kafka)")
    up.add_argument(
        "--port",
        type=int,
        default=DEFAULT_KAFKA_PORT,
        help="listener port (a cluster's first node; the others take the next ports)",
    )
    up.add_argument(
        "--brokers",
        type=int,
        choices=(1, localcluster.NODES),
        default=1,
        help="1: a single broker; 3: a cluster of three broker+controller nodes",
    )
    up.add_argument(
        "--insecure",
        action="store_true",
        help="plaintext client listener, no authentication, no ACLs (default: SASL_SSL)",
    )
    up.set_defaults(handler=_up)
    for name, handler, text in (
        ("down", _down, "stop the broker cleanly"),
        ("status", _status, "say whether the broker (every node of a cluster) serves"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--dir", type=Path, help="broker home (default: $IMX_HOME/kafka)")
        cmd.set_defaults(handler=handler)
    exporter = sub.add_parser(
        "exporter", help="serve the brokers' health as Prometheus metrics (polls the admin API)"
    )
    exporter.add_argument(
        "--port", type=int, default=EXPORTER_PORT, help="HTTP port of /metrics (127.0.0.1)"
    )
    exporter.add_argument(
        "--interval", type=float, default=health.POLL_INTERVAL_S, help="seconds between polls"
    )
    exporter.add_argument(
        "--dir",
        type=Path,
        help="local cluster home, for its quorum leader (default: $IMX_HOME/kafka)",
    )
    exporter.set_defaults(handler=_exporter)
    for name, handler, text in (
        ("kill", _kill, "SIGKILL one node of the cluster (a fault drill)"),
        ("start", _start, "start one node of the cluster again"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("node", type=int, metavar="NODE", help="node id (1, 2 or 3)")
        cmd.add_argument("--dir", type=Path, help="cluster home (default: $IMX_HOME/kafka)")
        cmd.set_defaults(handler=handler)


def _home(args: argparse.Namespace, settings: Settings) -> Path:
    home: Path = args.dir or settings.kafka_home
    return home.resolve()


def _up(args: argparse.Namespace, settings: Settings) -> int:
    home = _home(args, settings)
    try:
        if args.insecure and (args.brokers > 1 or localcluster.is_cluster(home)):
            msg = "a cluster is always secured: drop --insecure"
            raise CliError(msg)
        if args.insecure:
            bootstrap = localbroker.up(home, args.port, settings.jar_cache, progress)
        else:
            table = security_cmd.table(settings)
            # Every start: the users and ACLs of the current registry (idempotent, < 1 s).
            started = local.start_secured(
                settings, home, args.port, table, progress, brokers=args.brokers
            )
            bootstrap = started.connection.bootstrap
    except (localbroker.LocalKafkaError, local.LocalSetupError) as exc:
        raise CliError(str(exc)) from exc
    print(f"bootstrap={bootstrap}", flush=True)
    return EXIT_OK


def _down(args: argparse.Namespace, settings: Settings) -> int:
    home = _home(args, settings)
    if localcluster.is_cluster(home):
        count = localcluster.stop(home)
        progress(f"{count} Kafka node(s) stopped" if count else "no Kafka node was running")
        return EXIT_OK
    stopped = localbroker.stop(home)
    progress("Kafka stopped" if stopped else "Kafka was not running")
    return EXIT_OK


def _status(args: argparse.Namespace, settings: Settings) -> int:
    home = _home(args, settings)
    if localcluster.is_cluster(home):
        return _cluster_status(home)
    state = localbroker.status(home)
    if state.serving:
        how = "SASL_SSL" if state.secured else "PLAINTEXT"
        print(f"serving bootstrap={state.bootstrap} pid={state.pid} security={how}")
        return EXIT_OK
    if state.running:
        print(f"running pid={state.pid} but not serving at {state.bootstrap}")
    else:
        print("stopped")
    return EXIT_FAILURE


def _cluster_status(home: Path) -> int:
    """One line per node, then the controller leader; success only when every node serves."""
    found = localcluster.status(home)
    for node in found.nodes:
        state = "serving" if node.serving else "running" if node.running else "stopped"
        pid = node.pid if node.running else "-"
        print(f"node {node.node.node_id} {state} port={node.node.port} pid={pid}")
    if found.leader is None:
        print("controller leader unknown")
    else:
        print(f"controller leader node {found.leader} (epoch {found.epoch})")
    return EXIT_OK if all(n.serving for n in found.nodes) else EXIT_FAILURE


def _kill(args: argparse.Namespace, settings: Settings) -> int:
    try:
        pid = localcluster.signal_node(_home(args, settings), args.node, signal.SIGKILL)
    except localbroker.LocalKafkaError as exc:
        raise CliError(str(exc)) from exc
    progress(f"node {args.node} (pid {pid}) killed")
    return EXIT_OK


def _start(args: argparse.Namespace, settings: Settings) -> int:
    try:
        localcluster.start_node(_home(args, settings), args.node, settings.jar_cache, progress)
    except localbroker.LocalKafkaError as exc:
        raise CliError(str(exc)) from exc
    return EXIT_OK


def _exporter(args: argparse.Namespace, settings: Settings) -> int:
    """Serve ``/metrics`` and poll the cluster as ``admin`` until stopped."""
    import asyncio  # noqa: PLC0415 - only this command runs a loop here

    from prometheus_client import start_http_server  # noqa: PLC0415

    home = _home(args, settings)
    connection = Connection.from_settings(acting_as(settings, ADMIN))
    metrics = health.HealthMetrics()

    def controller() -> int | None:
        if not localcluster.is_cluster(home):
            return None
        return localcluster.status(home, probe=False).leader

    try:
        server, _thread = start_http_server(args.port, "127.0.0.1", registry=metrics.registry)
    except OSError as exc:
        msg = f"cannot serve on 127.0.0.1:{args.port}: {exc.strerror}"
        raise CliError(msg) from exc
    progress(f"Kafka health metrics on http://127.0.0.1:{args.port}/metrics")
    try:
        asyncio.run(
            health.serve(connection, metrics, interval_s=args.interval, controller=controller)
        )
    finally:
        server.shutdown()
    return EXIT_OK
