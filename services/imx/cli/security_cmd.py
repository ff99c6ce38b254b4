"""``imx security init|apply|creds``: secrets, SCRAM users and ACLs, client settings."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from imx.cli.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CliError
from imx.kafka.connection import ConnectionSettingsError
from imx.kafka.topology import Topology
from imx.registry import RegistryError, load_registry
from imx.security import apply as apply_
from imx.security import secrets
from imx.security.identity import connection_as
from imx.security.principals import ADMIN, Principal, principals
from imx.settings import Settings


def register(commands: Any) -> None:
    security = commands.add_parser(
        "security", help="secrets, SCRAM users and ACLs, client settings (CONTRACT.md 10)"
    )
    sub = security.add_subparsers(dest="security_command", required=True, metavar="ACTION")
    init = sub.add_parser(
        "init", help="create the CA, the broker's certificate and every principal's password"
    )
    init.add_argument(
        "--hosts", default="", help="extra host names or addresses for the broker's certificate"
    )
    init.add_argument(
        "--rotate",
        metavar="PRINCIPAL",
        help=f"replace this principal's password (or '{secrets.BROKER}': its key and certificate)",
    )
    init.set_defaults(handler=_init)
    apply = sub.add_parser(
        "apply", help="make the broker's SCRAM users and ACLs equal to the principal table"
    )
    apply.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 when there is a difference"
    )
    apply.set_defaults(handler=_apply)
    creds = sub.add_parser("creds", help="print a principal's client settings (contains secrets)")
    creds.add_argument("principal")
    creds.add_argument("--format", choices=["env", "librdkafka", "java"], default="env")
    creds.set_defaults(handler=_creds)


def table(settings: Settings) -> list[Principal]:
    """The principals of CONTRACT.md section 10 for the configured registry."""
    try:
        registry = load_registry(settings.registry_path)
    except RegistryError as exc:
        msg = f"registry: {exc}"
        raise CliError(msg) from exc
    return principals(registry, Topology.from_settings(settings, registry.ids()))


def _init(args: argparse.Namespace, settings: Settings) -> int:
    names = [p.name for p in table(settings)]
    hosts = [h.strip() for h in args.hosts.split(",") if h.strip()]
    try:
        result = secrets.init(settings.secrets_dir, names, hosts, args.rotate)
    except secrets.SecretsError as exc:
        code = EXIT_USAGE if "unknown principal" in str(exc) or "--hosts" in str(exc) else 1
        raise CliError(str(exc), code) from exc
    for name in result.created:
        print(f"created {name}")
    for name in result.rotated:
        print(f"rotated {name}")
    print(
        f"{len(result.created)} created, {len(result.rotated)} rotated, {len(result.kept)} kept"
        f" in {settings.secrets_dir}"
    )
    if result.rotated:
        print("run 'imx security apply' so the broker takes the new secrets", file=sys.stderr)
    return EXIT_OK


def _apply(args: argparse.Namespace, settings: Settings) -> int:
    principals_ = table(settings)
    started = time.monotonic()
    try:
        connection = connection_as(settings, ADMIN)
        outcome = asyncio.run(
            apply_.apply(
                connection,
                principals_,
                settings.secrets_dir,
                check=args.check,
                timeout_s=settings.request_timeout_s,
            )
        )
    except (apply_.ApplyError, secrets.SecretsError, ConnectionSettingsError) as exc:
        raise CliError(str(exc)) from exc
    except Exception as exc:  # aiokafka's errors share no common base class
        msg = f"cannot apply users and ACLs at {settings.bootstrap}: {exc}"
        raise CliError(msg) from exc
    for line in outcome.plan.lines():
        print(line)
    elapsed = time.monotonic() - started
    if outcome.plan.empty:
        print(f"nothing to change ({elapsed:.2f}s)")
        return EXIT_OK
    count = len(outcome.plan.lines())
    if args.check:
        print(f"{count} difference(s); run 'imx security apply' to make them")
        return EXIT_FAILURE
    print(f"{count} change(s) applied ({elapsed:.2f}s)")
    return EXIT_OK


def _creds(args: argparse.Namespace, settings: Settings) -> int:
    try:
        text = secrets.creds(settings.secrets_dir, args.principal, args.format)
    except secrets.SecretsError as exc:
        code = EXIT_USAGE if "unknown principal" in str(exc) else 1
        raise CliError(str(exc), code) from exc
    sys.stdout.write(text)
    return EXIT_OK
