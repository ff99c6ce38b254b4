"""``imx outbox serve|status --unit U``: a unit's store-and-forward agent (CONTRACT.md 12).

``serve`` starts while the broker or the link is down (that is what it is for): it takes
reports on loopback at once and forwards them whenever the other end answers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from imx.cli.common import EXIT_OK, EXIT_USAGE, CliError, acting_as, progress
from imx.kafka.connection import Connection, ConnectionSettingsError
from imx.kafka.topology import Topology
from imx.outbox import store as outbox_store
from imx.outbox.backoff import Backoff
from imx.outbox.figures import status_json, status_lines
from imx.outbox.metrics import OutboxMetrics
from imx.outbox.senders import GatewaySender, KafkaSender, Sender
from imx.processes import bind_error
from imx.registry import load_registry
from imx.schema.loader import load_schemas
from imx.security.principals import unit_principal
from imx.security.secrets import SecretsDir
from imx.settings import Settings

HOST = "127.0.0.1"


def register(commands: Any) -> None:
    outbox = commands.add_parser("outbox", help="a unit's store-and-forward agent")
    actions = outbox.add_subparsers(dest="outbox_command", required=True, metavar="ACTION")
    serve = actions.add_parser("serve", help="take reports on loopback, forward them in order")
    _common(serve)
    serve.add_argument(
        "--port", type=int, default=0, help="loopback port (default: any free one, printed)"
    )
    serve.add_argument(
        "--gateway", metavar="URL", help="forward through this gateway (IMX_OUTBOX_TOKEN)"
    )
    serve.add_argument(
        "--max-db-mb",
        type=float,
        help="refuse new reports once the database is this large (default: the disk's size)",
    )
    serve.set_defaults(handler=_serve)
    status = actions.add_parser("status", help="pending, oldest pending, last success and error")
    _common(status)
    status.add_argument("--json", action="store_true", help="one JSON object")
    status.set_defaults(handler=_status)


def _common(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--unit", required=True, help="the unit whose reports it forwards")
    cmd.add_argument("--db", type=Path, help="database (default $IMX_HOME/outbox/<unit>/outbox.db)")


def default_db(settings: Settings, unit: str) -> Path:
    return settings.outbox_dir / unit / "outbox.db"


def _unit_db(args: argparse.Namespace, settings: Settings) -> tuple[str, Path]:
    registry = load_registry(settings.registry_path)
    if args.unit not in registry:
        msg = f"unknown unit {args.unit!r}: not in the registry"
        raise CliError(msg, EXIT_USAGE)
    return args.unit, args.db or default_db(settings, args.unit)


def _status(args: argparse.Namespace, settings: Settings) -> int:
    unit, db = _unit_db(args, settings)
    try:
        figures = outbox_store.read_figures(db, unit)
    except outbox_store.StoreError as exc:
        raise CliError(str(exc)) from exc
    holder = outbox_store.holder(db)
    serving = f"pid {holder.get('pid')} at {holder.get('url')}" if holder else None
    now = time.time()
    if args.json:
        print(json.dumps(status_json(figures, now, serving=serving)))
    else:
        print("\n".join([f"database        {db}", *status_lines(figures, now, serving=serving)]))
    return EXIT_OK


def _sender(args: argparse.Namespace, settings: Settings, unit: str) -> tuple[Any, str]:
    """A factory of senders, and where they send to (for the start-up line)."""
    timeout_s = settings.request_timeout_s
    if args.gateway:
        token = settings.outbox_token
        if token is None:
            msg = f"--gateway needs IMX_OUTBOX_TOKEN: a token from 'imx gateway token issue {unit}'"
            raise CliError(msg, EXIT_USAGE)
        ca_file = settings.ssl_cafile
        if ca_file is None and SecretsDir(settings.secrets_dir).ca_cert.is_file():
            ca_file = SecretsDir(settings.secrets_dir).ca_cert

        def through_gateway() -> Sender:
            return GatewaySender(args.gateway, token, ca_file, timeout_s)

        return through_gateway, f"the gateway at {args.gateway}"
    registry = load_registry(settings.registry_path)
    topology = Topology.from_settings(settings, registry.ids())
    schemas = load_schemas(settings.schemas_dir)
    settings = acting_as(settings, unit_principal(unit))
    try:
        connection = Connection.from_settings(settings)
    except ConnectionSettingsError as exc:
        raise CliError(str(exc), EXIT_USAGE) from exc

    def direct() -> Sender:
        return KafkaSender(connection, topology, schemas, unit, timeout_s)

    who = connection.sasl_username or "no SASL user"
    return direct, f"{topology.ingress(unit)} at {connection.bootstrap} as {who}"


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn  # noqa: PLC0415 - only the server needs it
    from fastapi import FastAPI  # noqa: PLC0415

    from imx.outbox.app import build_app  # noqa: PLC0415
    from imx.outbox.forwarder import Forwarder  # noqa: PLC0415

    unit, db = _unit_db(args, settings)
    if not 0 <= args.port < 65536:
        msg = f"--port {args.port} is not a TCP port"
        raise CliError(msg, EXIT_USAGE)
    refused = bind_error(HOST, args.port) if args.port else None
    if refused is not None:
        msg = f"cannot listen on {HOST}:{args.port}: {refused.strerror}"
        raise CliError(msg)
    new_sender, target = _sender(args, settings, unit)
    max_bytes = int(args.max_db_mb * 1024 * 1024) if args.max_db_mb else None
    try:
        store = outbox_store.Store.open(db, unit, max_bytes=max_bytes)
    except (outbox_store.OutboxLocked, outbox_store.StoreError) as exc:
        raise CliError(str(exc)) from exc
    with store:
        metrics = OutboxMetrics(unit)
        forwarder = Forwarder(
            store,
            new_sender,
            Backoff(settings.outbox_backoff_base_s, settings.outbox_backoff_cap_s),
            metrics,
            fault=settings.outbox_fault,
            batch=settings.outbox_batch,
        )
        app = build_app(
            store,
            forwarder,
            metrics,
            registry=load_registry(settings.registry_path),
            schemas=load_schemas(settings.schemas_dir),
        )
        server = uvicorn.Server(
            uvicorn.Config(app, host=HOST, port=args.port, log_level="warning", access_log=False)
        )

        @contextlib.asynccontextmanager
        async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
            stopping = asyncio.Event()
            task = asyncio.create_task(forwarder.run(stopping))
            try:
                yield
            finally:
                stopping.set()
                await asyncio.wait_for(task, settings.request_timeout_s + 5)

        app.router.lifespan_context = lifespan
        asyncio.run(_run(server, store, target))
    return EXIT_OK


async def _run(server: Any, store: outbox_store.Store, target: str) -> None:
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
            return
        await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://{HOST}:{port}"
    store.announce(url=url)
    print(f"url={url}", flush=True)
    progress(f"imx outbox of {store.unit} takes reports at {url}, forwards to {target}")
    progress(f"database {store.db}")
    await serving
    sys.stdout.flush()
