"""``imx kafka up|down|status``: the local single-node broker."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from imx.cli import security_cmd
from imx.cli.common import EXIT_FAILURE, EXIT_OK, CliError, progress
from imx.kafka import localbroker
from imx.security import local
from imx.settings import DEFAULT_KAFKA_PORT, Settings


def register(commands: Any) -> None:
    kafka = commands.add_parser("kafka", help="run a local single-node Apache Kafka (KRaft)")
    sub = kafka.add_subparsers(dest="kafka_command", required=True, metavar="ACTION")
    up = sub.add_parser("up", help="start the broker in the background; returns when it serves")
    up.add_argument("--dir", type=Path, help="broker home (default: $IMX_HOME/kafka)")
    up.add_argument("--port", type=int, default=DEFAULT_KAFKA_PORT, help="listener port")
    up.add_argument(
        "--insecure",
        action="store_true",
        help="plaintext client listener, no authentication, no ACLs (default: SASL_SSL)",
    )
    up.set_defaults(handler=_up)
    for name, handler, text in (
        ("down", _down, "stop the broker cleanly"),
        ("status", _status, "say whether the broker serves"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--dir", type=Path, help="broker home (default: $IMX_HOME/kafka)")
        cmd.set_defaults(handler=handler)


def _home(args: argparse.Namespace, settings: Settings) -> Path:
    home: Path = args.dir or settings.kafka_home
    return home.resolve()


def _up(args: argparse.Namespace, settings: Settings) -> int:
    home = _home(args, settings)
    try:
        if args.insecure:
            bootstrap = localbroker.up(home, args.port, settings.jar_cache, progress)
        else:
            table = security_cmd.table(settings)
            # Every start: the users and ACLs of the current registry (idempotent, < 1 s).
            started = local.start_secured(settings, home, args.port, table, progress)
            bootstrap = started.connection.bootstrap
    except (localbroker.LocalKafkaError, local.LocalSetupError) as exc:
        raise CliError(str(exc)) from exc
    print(f"bootstrap={bootstrap}", flush=True)
    return EXIT_OK


def _down(args: argparse.Namespace, settings: Settings) -> int:
    stopped = localbroker.stop(_home(args, settings))
    progress("Kafka stopped" if stopped else "Kafka was not running")
    return EXIT_OK


def _status(args: argparse.Namespace, settings: Settings) -> int:
    state = localbroker.status(_home(args, settings))
    if state.serving:
        how = "SASL_SSL" if state.secured else "PLAINTEXT"
        print(f"serving bootstrap={state.bootstrap} pid={state.pid} security={how}")
        return EXIT_OK
    if state.running:
        print(f"running pid={state.pid} but not serving at {state.bootstrap}")
    else:
        print("stopped")
    return EXIT_FAILURE
