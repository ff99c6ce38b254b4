"""``imx bench [--reports N] [--rate R] [--duration S] [--seed N]``: throughput and latency.

The table goes to stdout first and the JSON line last, so ``imx bench | tail -1`` is the result
for tools; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import secrets
from typing import Any

from rich.console import Console

from imx.cli.common import EXIT_OK, job_failures, progress
from imx.cli.simulate_cmd import positive
from imx.settings import Settings

DEFAULT_REPORTS = 5000
DEFAULT_RATE = 500.0
DEFAULT_DURATION_S = 20.0


def count(text: str) -> int:
    """An argparse type: a whole number above zero."""
    if not text.isdigit() or int(text) < 1:
        msg = f"{text!r} is not a positive whole number"
        raise argparse.ArgumentTypeError(msg)
    return int(text)


def register(commands: Any) -> None:
    cmd = commands.add_parser(
        "bench", help="pipeline throughput and latency against a raw Kafka passthrough"
    )
    cmd.add_argument(
        "--reports",
        type=count,
        default=DEFAULT_REPORTS,
        help=f"reports pre-loaded for the saturation runs (default {DEFAULT_REPORTS})",
    )
    cmd.add_argument(
        "--rate",
        type=positive,
        default=DEFAULT_RATE,
        help=f"reports per second of the latency run (default {DEFAULT_RATE:g})",
    )
    cmd.add_argument(
        "--duration",
        type=positive,
        default=DEFAULT_DURATION_S,
        help=f"seconds of the latency run (default {DEFAULT_DURATION_S:g})",
    )
    cmd.add_argument("--seed", type=int, help="simulator seed (default: a new one each run)")
    cmd.set_defaults(handler=_bench)


def _bench(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here: the benchmark pulls in the simulator and the run machinery.
    from imx.bench.runner import Plan, run  # noqa: PLC0415

    seed = secrets.randbits(32) if args.seed is None else args.seed
    plan = Plan(reports=args.reports, rate=args.rate, duration_s=args.duration, seed=seed)
    with job_failures("imx bench"):
        result = run(settings, plan, progress)
    Console(width=100).print(result.table())
    print(result.json_line(), flush=True)
    return EXIT_OK
