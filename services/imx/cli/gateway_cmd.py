"""``imx gateway [--host H] [--port P]`` and ``imx gateway token issue|list|revoke`` (CONTRACT 11).

TLS is used when ``$IMX_HOME/secrets/`` holds the gateway's certificate and key
(``gateway.crt``, ``gateway.key``: ``imx security init`` issues them from the imx CA, for the same
host names as the broker's). Without them the gateway serves plain HTTP, and only on a loopback
address: bearer tokens must not cross a network in clear.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imx.cli.common import EXIT_OK, EXIT_USAGE, CliError, acting_as, connect, progress
from imx.gateway.tokens import TokenError, TokenStore
from imx.processes import bind_error
from imx.registry import load_registry
from imx.security.principals import GATEWAY
from imx.security.secrets import SecretsDir, SecretsError, check_permissions
from imx.settings import Settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8443


def register(commands: Any) -> None:
    gateway = commands.add_parser("gateway", help="the HTTP gateway and its unit tokens")
    gateway.add_argument("--host", default=DEFAULT_HOST, help=f"address (default {DEFAULT_HOST})")
    gateway.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})"
    )
    gateway.set_defaults(handler=_serve)
    sub = gateway.add_subparsers(dest="gateway_command", required=False, metavar="ACTION")
    token = sub.add_parser("token", help="issue, list or revoke unit tokens")
    actions = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    issue = actions.add_parser("issue", help="print a new token for a unit (shown only once)")
    issue.add_argument("unit", help="the unit the token acts for")
    issue.set_defaults(handler=_issue)
    listing = actions.add_parser("list", help="every token: id, unit, created, revoked")
    listing.set_defaults(handler=_list)
    revoke = actions.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("token_id", help="the id that 'imx gateway token list' shows")
    revoke.set_defaults(handler=_revoke)


@dataclass(frozen=True)
class Listen:
    host: str
    port: int
    certfile: Path | None = None
    keyfile: Path | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.certfile else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"


def listen_plan(host: str, port: int, secrets_dir: Path) -> Listen:
    """Where and how to serve; CliError for plain HTTP on an address other hosts can reach."""
    if not 0 < port < 65536:
        msg = f"--port {port} is not a TCP port"
        raise CliError(msg, EXIT_USAGE)
    folder = SecretsDir(secrets_dir)
    certfile, keyfile = folder.gateway_cert, folder.gateway_key
    if certfile.is_file() and keyfile.is_file():
        try:
            check_permissions(secrets_dir)  # the key must be the gateway's alone
        except SecretsError as exc:
            raise CliError(str(exc)) from exc
        return Listen(host, port, certfile, keyfile)
    if not _loopback(host):
        msg = (
            f"--host {host} is not a loopback address and there is no TLS certificate "
            f"({certfile}): bearer tokens would cross the network in clear"
        )
        raise CliError(msg, EXIT_USAGE)
    return Listen(host, port)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn  # noqa: PLC0415 - only the server needs it

    from imx.gateway.app import create_app  # noqa: PLC0415 - nor the app

    listen = listen_plan(args.host, args.port, TokenStore.of_home(settings.home).path.parent)
    refused = bind_error(listen.host, listen.port)
    if refused is not None:
        msg = f"cannot listen on {listen.host}:{listen.port}: {refused.strerror}"
        raise CliError(msg)
    settings = acting_as(settings, GATEWAY)
    connection = connect(settings)
    config = uvicorn.Config(
        create_app(settings, connection),
        host=listen.host,
        port=listen.port,
        ssl_certfile=listen.certfile,
        ssl_keyfile=listen.keyfile,
        log_level="warning",
        access_log=False,
        # Event streams never end by themselves: give them a moment, then close them.
        timeout_graceful_shutdown=3,
    )
    print(f"url={listen.url}", flush=True)
    progress(f"imx gateway serves at {listen.url} for the broker at {connection.bootstrap}")
    uvicorn.Server(config).run()
    return EXIT_OK


def token_store(settings: Settings) -> TokenStore:
    return TokenStore.of_home(settings.home)


def _issue(args: argparse.Namespace, settings: Settings) -> int:
    if args.unit not in load_registry(settings.registry_path):
        msg = f"unknown unit {args.unit!r}: not in the registry"
        raise CliError(msg, EXIT_USAGE)
    issued = token_store(settings).issue(args.unit, datetime.now(UTC))
    print(issued.token, flush=True)
    progress(
        f"token {issued.record.id} for {args.unit}: shown once, only its hash is kept; "
        f"revoke with 'imx gateway token revoke {issued.record.id}'"
    )
    return EXIT_OK


def _list(_args: argparse.Namespace, settings: Settings) -> int:
    print("id\tunit\tcreated\trevoked", file=sys.stdout)
    for record in token_store(settings).records():
        print(f"{record.id}\t{record.unit}\t{record.created}\t{record.revoked or '-'}")
    return EXIT_OK


def _revoke(args: argparse.Namespace, settings: Settings) -> int:
    try:
        token_store(settings).revoke(args.token_id, datetime.now(UTC))
    except TokenError as exc:
        raise CliError(str(exc), EXIT_USAGE) from exc
    progress(f"token {args.token_id} revoked")
    return EXIT_OK
