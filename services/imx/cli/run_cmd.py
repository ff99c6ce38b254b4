"""``imx run [--duration S]``: the main job on one machine (ARCHITECTURE.md section 9)."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

from imx.cli.common import EXIT_OK, job_failures, progress
from imx.cli.simulate_cmd import positive
from imx.run import job
from imx.run.view import render
from imx.settings import Settings


def register(commands: Any) -> None:
    cmd = commands.add_parser(
        "run", help="the main job: broker, topics, a worker, the simulator and a live view"
    )
    cmd.add_argument(
        "--duration",
        type=positive,
        help="seconds to run once the worker is ready (default: until Ctrl-C)",
    )
    cmd.set_defaults(handler=_run)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    console = Console()
    with job_failures("imx run"):
        final = job.run(settings, args.duration, console, progress)
    console.print(render(final, title="imx run: summary", window="whole run"))
    return EXIT_OK
