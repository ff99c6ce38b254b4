"""``imx gateway token issue|list|revoke``: the HTTP gateway's unit tokens (CONTRACT.md 11)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from imx.cli.common import EXIT_OK, EXIT_USAGE, CliError, progress
from imx.gateway.tokens import TokenError, TokenStore
from imx.registry import load_registry
from imx.settings import Settings


def register(commands: Any) -> None:
    gateway = commands.add_parser("gateway", help="the HTTP gateway and its unit tokens")
    sub = gateway.add_subparsers(dest="gateway_command", required=True, metavar="ACTION")
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
