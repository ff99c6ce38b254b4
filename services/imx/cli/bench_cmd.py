"""``imx bench [--reports N] [--rate R] [--duration S] [--seed N] [--insecure]
[--logic-only | --gateway | --replay N]``, and ``imx bench outbox [--reports N] [--pending N]
[--outage S]`` (``imx.bench.outbox``).

Throughput and latency of the pipeline against a raw Kafka passthrough; with ``--logic-only``,
the CPU time of the core's own logic in-process instead (no broker, no worker); with
``--gateway``, reports posted over HTTP to ``imx gateway`` timed to their delivery on an SSE
event stream, and the gateway's CPU per request; with ``--replay N``, N pre-loaded reports
spread over weeks of event time through one worker from an empty state, with its memory
sampled throughout (``imx.bench.replay``).

The table goes to stdout first and the JSON line last, so ``imx bench | tail -1`` is the result
for tools; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import secrets
from typing import Any

from rich.console import Console

from imx.cli.common import EXIT_OK, EXIT_USAGE, CliError, job_failures, progress
from imx.cli.simulate_cmd import positive
from imx.settings import Settings
from imx.signals import interrupt_on_signals

DEFAULT_REPORTS = 5000
#: What a user feels: a steady 50 reports/s (a surge's busiest minutes, several times the
#: national average), timed for 30 s. Saturation is measured separately, before it.
DEFAULT_RATE = 50.0
DEFAULT_DURATION_S = 30.0
DEFAULT_ROUNDS = 3


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
        help=f"reports per second of the latency run (default {DEFAULT_RATE:g})",
    )
    cmd.add_argument(
        "--duration",
        type=positive,
        default=DEFAULT_DURATION_S,
        help=f"seconds of the latency run (default {DEFAULT_DURATION_S:g})",
    )
    cmd.add_argument("--seed", type=int, help="simulator seed (default: a new one each run)")
    cmd.add_argument(
        "--insecure",
        action="store_true",
        help="a plaintext private broker (default: SASL_SSL with SCRAM and ACLs, as deployed)",
    )
    cmd.add_argument(
        "--logic-only",
        action="store_true",
        help="only the CPU time of deciding and encoding --reports reports, in-process, no Kafka",
    )
    cmd.add_argument(
        "--gateway",
        action="store_true",
        help="post --rate reports/s over HTTP to imx gateway for --duration s; time each to "
        "its delivery on an SSE stream, and the gateway's CPU per request",
    )
    cmd.add_argument(
        "--replay",
        type=count,
        metavar="N",
        help="pre-load N reports spread over 28 days of event time and time one worker through "
        "them from an empty state, sampling its memory (e.g. --replay 1000000)",
    )
    cmd.add_argument(
        "--rounds",
        type=count,
        default=DEFAULT_ROUNDS,
        help=f"with --logic-only: rounds, the best is kept (default {DEFAULT_ROUNDS})",
    )
    cmd.set_defaults(handler=_bench)
    sub = cmd.add_subparsers(dest="bench_command", required=False, metavar="SUBJECT")
    outbox = sub.add_parser(
        "outbox", help="reports/s through a station's outbox, and a backlog's drain after an outage"
    )
    outbox.add_argument(
        "--reports", type=count, default=2000, help="reports per throughput run (default 2000)"
    )
    outbox.add_argument(
        "--pending",
        type=count,
        default=10_000,
        help="reports taken while the link is cut (default 10000)",
    )
    outbox.add_argument(
        "--outage", type=positive, default=300.0, help="seconds the link stays cut (default 300)"
    )
    outbox.add_argument("--seed", type=int, help="simulator seed (default: a new one each run)")
    outbox.set_defaults(handler=_bench_outbox)


def _bench(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here: the benchmark pulls in the simulator and the run machinery.
    from imx.bench.runner import Plan, run  # noqa: PLC0415

    seed = secrets.randbits(32) if args.seed is None else args.seed
    chosen = [
        name
        for name, given in (
            ("--logic-only", args.logic_only),
            ("--gateway", args.gateway),
            ("--replay", args.replay is not None),
        )
        if given
    ]
    if len(chosen) > 1:
        msg = f"{' and '.join(chosen)} are different benchmarks: choose one"
        raise CliError(msg, EXIT_USAGE)
    if args.logic_only:
        return _logic(args, settings, seed)
    if args.gateway:
        return _gateway(args, settings, seed)
    if args.replay is not None:
        return _replay(args, settings, seed)
    rate = DEFAULT_RATE if args.rate is None else args.rate
    plan = Plan(
        reports=args.reports,
        rate=rate,
        duration_s=args.duration,
        seed=seed,
        insecure=args.insecure,
    )
    with job_failures("imx bench"), interrupt_on_signals():
        result = run(settings, plan, progress)
    Console(width=100).print(result.table())
    print(result.json_line(), flush=True)
    return EXIT_OK


def _gateway(args: argparse.Namespace, settings: Settings, seed: int) -> int:
    from imx.bench.gateway import GatewayPlan, run  # noqa: PLC0415

    rate = DEFAULT_RATE if args.rate is None else args.rate
    plan = GatewayPlan(rate=rate, duration_s=args.duration, seed=seed, insecure=args.insecure)
    with job_failures("imx bench --gateway"), interrupt_on_signals():
        result = run(settings, plan, progress)
    Console(width=100).print(result.table())
    print(result.json_line(), flush=True)
    return EXIT_OK


def _replay(args: argparse.Namespace, settings: Settings, seed: int) -> int:
    from imx.bench.replay import ReplayPlan, run_replay  # noqa: PLC0415

    plan = ReplayPlan(reports=args.replay, seed=seed, insecure=args.insecure)
    with job_failures("imx bench --replay"), interrupt_on_signals():
        result = run_replay(settings, plan, progress)
    console = Console(width=100)
    console.print(result.table())
    console.print(result.memory_table())
    print(result.json_line(), flush=True)
    return EXIT_OK


def _bench_outbox(args: argparse.Namespace, settings: Settings) -> int:
    from imx.bench.outbox import OutboxPlan, run_outbox  # noqa: PLC0415

    seed = secrets.randbits(32) if args.seed is None else args.seed
    plan = OutboxPlan(reports=args.reports, pending=args.pending, outage_s=args.outage, seed=seed)
    with job_failures("imx bench outbox"), interrupt_on_signals():
        result = run_outbox(settings, plan, progress)
    print("\n".join(result.lines()), flush=True)
    print(result.json_line(), flush=True)
    return EXIT_OK


def _logic(args: argparse.Namespace, settings: Settings, seed: int) -> int:
    from imx.bench.logic import measure  # noqa: PLC0415
    from imx.bench.report import git_commit  # noqa: PLC0415
    from imx.registry import load_registry  # noqa: PLC0415
    from imx.schema.loader import load_schemas  # noqa: PLC0415

    progress(f"deciding and encoding {args.reports} reports (seed {seed}), {args.rounds} rounds")
    result = measure(
        load_registry(settings.registry_path),
        load_schemas(settings.schemas_dir),
        seed=seed,
        count=args.reports,
        rounds=args.rounds,
        git_commit=git_commit(),
    )
    Console(width=100).print(result.table())
    print(result.json_line(), flush=True)
    return EXIT_OK
