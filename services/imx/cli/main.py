"""``imx``: parse the command line, build settings once, dispatch, map failures to exit codes.

Exit codes: 0 success, 1 failure, 2 invalid input or usage (CONTRACT.md section 7).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import imx
from imx.cli import (
    bench_cmd,
    deploy_cmd,
    gateway_cmd,
    kafka_cmd,
    outbox_cmd,
    publish_cmd,
    read_cmds,
    run_cmd,
    schemas_cmd,
    security_cmd,
    simulate_cmd,
    topics_cmd,
    worker_cmd,
)
from imx.cli.common import EXIT_FAILURE, EXIT_USAGE, CliError, SafeStream
from imx.logs import configure_logging
from imx.settings import Settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imx",
        description="imx — event-streaming information exchange for police units.",
    )
    parser.add_argument("--log-level", default="WARNING", help="log level (default WARNING)")
    parser.add_argument("--version", action="version", version=f"imx {imx.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    kafka_cmd.register(commands)
    topics_cmd.register(commands)
    publish_cmd.register(commands)
    read_cmds.register(commands)
    schemas_cmd.register(commands)
    worker_cmd.register(commands)
    simulate_cmd.register(commands)
    run_cmd.register(commands)
    bench_cmd.register(commands)
    security_cmd.register(commands)
    gateway_cmd.register(commands)
    deploy_cmd.register(commands)
    outbox_cmd.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # The worker and the gateway are services and log what their clients say; commands
    # report failures themselves.
    configure_logging(args.log_level, client_errors=args.command in ("worker", "gateway", "outbox"))
    try:
        settings = Settings()
        code: int = args.handler(args, settings)
    except CliError as exc:
        print(f"imx: {exc}", file=SafeStream(sys.stderr))
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_FAILURE
    except ValueError as exc:  # pydantic settings errors are ValueErrors: bad IMX_* values
        print(f"imx: invalid settings: {exc}", file=SafeStream(sys.stderr))
        return EXIT_USAGE
    return code


if __name__ == "__main__":
    sys.exit(main())
