"""``imx kafka up|down|status``: the local single-node broker."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from imx.cli import security_cmd
from imx.cli.common import EXIT_FAILURE, EXIT_OK, CliError, progress
from imx.kafka import localbroker
from imx.security import apply, secrets
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
    folder = None
    table = security_cmd.table(settings)
    if not args.insecure:
        folder = settings.secrets_dir
        names = [p.name for p in table]
        try:
            created = secrets.init(folder, names).created  # creates only what is missing
        except secrets.SecretsError as exc:
            raise CliError(str(exc)) from exc
        if created:
            progress(f"created {len(created)} secret(s) in {folder} (imx security init)")
    try:
        bootstrap = localbroker.up(
            _home(args, settings), args.port, settings.jar_cache, progress, secrets=folder
        )
    except localbroker.LocalKafkaError as exc:
        raise CliError(str(exc)) from exc
    if folder is not None:
        # Every start: the users and ACLs of the current registry (idempotent, ~0.5 s).
        connection = localbroker.Security(folder).admin_connection(bootstrap)
        try:
            outcome = asyncio.run(
                apply.apply(connection, table, folder, timeout_s=settings.request_timeout_s)
            )
        except (apply.ApplyError, secrets.SecretsError) as exc:
            raise CliError(str(exc)) from exc
        changes = len(outcome.plan.lines())
        progress(
            f"users and ACLs: {changes} change(s) applied"
            if changes
            else "users and ACLs: up to date"
        )
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
