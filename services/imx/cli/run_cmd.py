"""``imx run [--duration S]``: the main job on one machine (ARCHITECTURE.md section 9)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rich.console import Console

from imx.cli.common import EXIT_OK, SafeStream, job_failures, progress
from imx.cli.simulate_cmd import positive
from imx.run import job
from imx.run.view import SUMMARY_WIDTH, render
from imx.settings import Settings
from imx.signals import interrupt_on_signals


def register(commands: Any) -> None:
    cmd = commands.add_parser(
        "run", help="the main job: broker, topics, a worker, the simulator and a live view"
    )
    cmd.add_argument(
        "--duration",
        type=positive,
        help="seconds to run once the worker is ready (default: until Ctrl-C)",
    )
    cmd.add_argument(
        "--insecure",
        action="store_true",
        help="start the local broker plaintext, without users or ACLs (default: SASL_SSL)",
    )
    cmd.add_argument(
        "--outbox",
        action="store_true",
        help="the simulated stations hand their reports to outboxes (imx outbox serve)",
    )
    cmd.set_defaults(handler=_run)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    # Output may go away mid-run (Ctrl-C also ends `| tee`); the stop must complete regardless.
    console = Console(file=SafeStream(sys.stdout))  # type: ignore[arg-type]
    with job_failures("imx run"), interrupt_on_signals():
        final = job.run(
            settings,
            args.duration,
            console,
            progress,
            insecure=args.insecure,
            outbox=args.outbox,
        )
        summary = render(final, title="imx run: summary", window="whole run")
        console.print(summary, width=None if console.is_terminal else SUMMARY_WIDTH)
    return EXIT_OK
