"""``imx worker [--web-port N]``: one stream-processing worker (all agents)."""

from __future__ import annotations

import argparse
import gc
from typing import Any

from imx.cli.common import EXIT_USAGE, CliError
from imx.settings import Settings


def register(commands: Any) -> None:
    cmd = commands.add_parser(
        "worker", help="run one stream-processing worker; several share the work"
    )
    cmd.add_argument(
        "--web-port", type=int, help="port for /metrics (default: $IMX_WEB_PORT, 6066)"
    )
    cmd.set_defaults(handler=_worker)


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here: faust is heavy, and only this command needs it.
    import faust  # noqa: PLC0415

    from imx.cli.common import acting_as  # noqa: PLC0415
    from imx.kafka.connection import Connection, ConnectionSettingsError  # noqa: PLC0415
    from imx.security.principals import WORKER  # noqa: PLC0415
    from imx.worker.app import (  # noqa: PLC0415
        WorkerConfigError,
        build,
        fit_replication,
        prepare_state,
        pseudonym_key,
    )

    settings = acting_as(settings, WORKER)
    web_port = settings.web_port if args.web_port is None else args.web_port
    try:
        connection = Connection.from_settings(settings)
        pseudonym_key(settings)
        datadir = prepare_state(settings, connection, web_port)
        settings = fit_replication(settings, connection)
        built = build(settings, connection, web_port, datadir)
    except (WorkerConfigError, ConnectionSettingsError) as exc:
        raise CliError(str(exc), EXIT_USAGE) from exc
    _tune_gc()
    worker = faust.Worker(built.app, loglevel=args.log_level, quiet=True, override_logging=False)
    # faust's start-up spinner writes terminal escape codes (cursor on/off) into the log file.
    worker.spinner = None
    # Runs until SIGTERM or SIGINT, then exits the process itself.
    worker.execute_from_commandline()


#: Allocations between young collections (CPython's default is 700).
GC_YOUNG_THRESHOLD = 10_000


def _tune_gc() -> None:
    """Collect garbage less often: the core holds its state in memory (write-behind tables).

    With CPython's defaults the cyclic collector rescanned those objects every few seconds and
    took 4.5 % of the worker's CPU at saturation; after this, 0.3 % (docs/performance.md).
    What start-up built (modules, schemas, the app) lives as long as the process: frozen, it
    is never scanned again. Reference counting still frees everything that is not in a cycle.
    """
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 50, 100)
