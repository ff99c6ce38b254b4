"""``imx schemas check``: the schema compatibility gate run by ``make test``."""

from __future__ import annotations

import argparse
from typing import Any

from imx.cli.common import EXIT_FAILURE, EXIT_OK
from imx.schema.compat import check_compatibility
from imx.settings import Settings


def register(commands: Any) -> None:
    schemas = commands.add_parser("schemas", help="schema tools")
    sub = schemas.add_subparsers(dest="schemas_command", required=True, metavar="ACTION")
    check = sub.add_parser(
        "check", help="FULL_TRANSITIVE compatibility of schemas/ with every released version"
    )
    check.set_defaults(handler=_check)


def _check(_args: argparse.Namespace, settings: Settings) -> int:
    released = settings.schemas_dir / "released"
    problems = check_compatibility(settings.schemas_dir, released)
    for problem in problems:
        print(f"INCOMPATIBLE {problem}")
    versions = sorted(p.name for p in released.iterdir() if p.is_dir())
    if problems:
        print(f"{len(problems)} problem(s) against released versions {', '.join(versions)}")
        return EXIT_FAILURE
    print(f"compatible (FULL_TRANSITIVE) with released versions: {', '.join(versions)}")
    return EXIT_OK
