"""``imx topics ensure``: create or verify every contract topic."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from imx.cli.common import EXIT_FAILURE, EXIT_OK, CliError, acting_as, connect, kafka_failure
from imx.kafka.provision import provision
from imx.kafka.topology import Topology
from imx.registry import RegistryError, load_registry
from imx.security.principals import ADMIN
from imx.settings import Settings


def register(commands: Any) -> None:
    topics = commands.add_parser("topics", help="manage the contract topics")
    sub = topics.add_subparsers(dest="topics_command", required=True, metavar="ACTION")
    ensure = sub.add_parser("ensure", help="create or verify every topic (idempotent)")
    ensure.set_defaults(handler=_ensure)


def _ensure(_args: argparse.Namespace, settings: Settings) -> int:
    settings = acting_as(settings, ADMIN)
    try:
        registry = load_registry(settings.registry_path)
    except RegistryError as exc:
        msg = f"registry: {exc}"
        raise CliError(msg) from exc
    topology = Topology.from_settings(settings, registry.ids())
    connection = connect(settings)
    try:
        done = asyncio.run(
            provision(connection, topology, settings.schemas_dir, settings.request_timeout_s)
        )
    except Exception as exc:  # aiokafka's connection errors share no common base class
        doing = "ensuring the topics"
        raise kafka_failure(doing, connection, exc) from exc
    result, published = done.topics, done.schemas_published
    for name in result.created:
        print(f"created  {name}")
    for name in result.verified:
        print(f"verified {name}")
    for problem in result.mismatched:
        print(f"MISMATCH {problem}")
    if published:
        print(f"published {published} writer schema(s) to {topology.schemas}")
    print(
        f"{len(result.created)} created, {len(result.verified)} verified, "
        f"{len(result.mismatched)} mismatched"
    )
    return EXIT_OK if result.ok else EXIT_FAILURE
