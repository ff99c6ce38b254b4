"""``imx simulate [--rate R] [--duration S] [--seed N]``: realistic reports from every LOCAL unit.

Without ``--seed`` every run draws a new seed (and says which), so a second run against the same
topics publishes new event ids instead of re-sending, or worse conflicting with, the first run's.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from imx.cli.common import EXIT_OK, CliError, acting_as, connect, kafka_failure, progress
from imx.kafka.publisher import ReportPublisher
from imx.kafka.reading import topic_partitions
from imx.kafka.topology import Topology
from imx.registry import load_registry
from imx.schema.loader import load_schemas
from imx.security.principals import GATEWAY
from imx.settings import Settings
from imx.signals import stop_on_signals
from imx.simulator.generator import new_simulator
from imx.simulator.publisher import Pace, Tally, publish_stream

DEFAULT_RATE = 5.0


def positive(text: str) -> float:
    """An argparse type: a number above zero (argparse turns the error into exit code 2)."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        msg = f"{text!r} is not a positive number"
        raise argparse.ArgumentTypeError(msg)
    return value


def register(commands: Any) -> None:
    cmd = commands.add_parser(
        "simulate", help="publish realistic synthetic reports from all LOCAL units"
    )
    cmd.add_argument(
        "--rate", type=positive, default=DEFAULT_RATE, help="reports per second (default 5)"
    )
    cmd.add_argument("--duration", type=positive, help="seconds to run (default: until Ctrl-C)")
    cmd.add_argument("--seed", type=int, help="seed of the report sequence (default: random)")
    cmd.set_defaults(handler=_simulate)


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    # Writes every LOCAL unit's ingress topic, as the gateway does for units without a client.
    settings = acting_as(settings, GATEWAY)
    registry = load_registry(settings.registry_path)
    schemas = load_schemas(settings.schemas_dir)
    topology = Topology.from_settings(settings, registry.ids())
    seed = args.seed if args.seed is not None else secrets.randbits(32)
    simulator = new_simulator(registry, seed, lambda: datetime.now(UTC))
    until = f"for {args.duration:g} s" if args.duration else "until Ctrl-C"
    connection = connect(settings)
    progress(
        f"simulating {len(registry.local_units())} LOCAL units at {args.rate:g} reports/s "
        f"{until} (seed {seed}) to {connection.bootstrap}"
    )
    tally = Tally()
    started = time.monotonic()

    async def main() -> None:
        probe = topology.ingress(registry.local_units()[0].id)
        await asyncio.wait_for(
            topic_partitions(connection, probe, "WRITE"), settings.request_timeout_s
        )
        stop = asyncio.Event()
        with stop_on_signals(stop):
            await publish_stream(
                ReportPublisher(connection, topology, schemas),
                simulator,
                pace=Pace(args.rate, args.duration),
                stop=stop,
                tally=tally,
                timeout_s=settings.request_timeout_s,
            )

    try:
        asyncio.run(main())
    except LookupError as exc:
        raise CliError(str(exc)) from exc
    except Exception as exc:  # aiokafka's errors share no common base class
        doing = f"publishing (after {tally.total} reports)"
        raise kafka_failure(doing, connection, exc) from exc
    print(f"{tally.summary()} in {time.monotonic() - started:.1f} s (seed {seed})", flush=True)
    return EXIT_OK
