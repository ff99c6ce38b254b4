"""``imx run [--duration S]``: the main job on one machine (ARCHITECTURE.md section 9)."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

from imx.cli.common import EXIT_OK, CliError, progress
from imx.cli.simulate_cmd import positive
from imx.run import job, stack
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
    try:
        final = job.run(settings, args.duration, console, progress)
    except KeyboardInterrupt as exc:
        msg = "interrupted; everything imx run had started was stopped"
        raise CliError(msg) from exc
    except stack.RunError as exc:
        raise CliError(str(exc)) from exc
    except Exception as exc:  # aiokafka's errors share no common base class
        msg = f"imx run failed: {exc!r}"
        raise CliError(msg) from exc
    console.print(render(final, title="imx run: summary", window="whole run"))
    return EXIT_OK
