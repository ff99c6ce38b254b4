"""``imx topics ensure``: create or verify every contract topic."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from imx.admin import ensure_topics
from imx.cli.common import EXIT_FAILURE, EXIT_OK, CliError
from imx.registry import RegistryError, load_registry
from imx.settings import Settings
from imx.topology import Topology


def register(commands: Any) -> None:
    topics = commands.add_parser("topics", help="manage the contract topics")
    sub = topics.add_subparsers(dest="topics_command", required=True, metavar="ACTION")
    ensure = sub.add_parser("ensure", help="create or verify every topic (idempotent)")
    ensure.set_defaults(handler=_ensure)


def _ensure(_args: argparse.Namespace, settings: Settings) -> int:
    try:
        registry = load_registry(settings.registry_path)
    except RegistryError as exc:
        msg = f"registry: {exc}"
        raise CliError(msg) from exc
    topology = Topology.from_settings(settings, registry.ids())
    try:
        result = asyncio.run(
            ensure_topics(settings.bootstrap, topology.specs(), settings.request_timeout_s)
        )
    except Exception as exc:  # aiokafka's connection errors share no common base class
        msg = f"cannot ensure topics at {settings.bootstrap}: {exc!r}"
        raise CliError(msg) from exc
    for name in result.created:
        print(f"created  {name}")
    for name in result.verified:
        print(f"verified {name}")
    for problem in result.mismatched:
        print(f"MISMATCH {problem}")
    print(
        f"{len(result.created)} created, {len(result.verified)} verified, "
        f"{len(result.mismatched)} mismatched"
    )
    return EXIT_OK if result.ok else EXIT_FAILURE
