"""``imx publish --unit U [FILE|-] [--no-check]``: JSON-lines reports onto ``ingress.U``.

All lines are checked before anything is sent, so a file with one bad line sends nothing and
the user fixes it and publishes again; the pipeline's event-id de-duplication makes a re-publish
of the good lines harmless anyway.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from aiokafka.errors import TopicAuthorizationFailedError

from imx.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    acting_as,
    connect,
    kafka_failure,
    progress,
)
from imx.kafka.connection import Connection
from imx.kafka.publisher import ReportPublisher
from imx.kafka.reading import denied_message
from imx.kafka.topology import Topology
from imx.registry import Registry, load_registry
from imx.schema.checks import check_lines
from imx.schema.codec import EncodingError, encode_report
from imx.schema.jsonform import JsonFormError, from_json
from imx.schema.loader import SchemaSet, load_schemas
from imx.security.principals import unit_principal
from imx.settings import Settings


def register(commands: Any) -> None:
    cmd = commands.add_parser("publish", help="publish JSON-lines reports as a unit")
    cmd.add_argument("--unit", required=True, help="the publishing unit's id (ingress.<unit>)")
    cmd.add_argument("file", nargs="?", default="-", help="JSON-lines file, or - for stdin")
    cmd.add_argument(
        "--no-check",
        action="store_true",
        help="skip local checks and send lines as they are (the pipeline still validates)",
    )
    cmd.add_argument(
        "--outbox",
        action="store_true",
        help="hand the reports to the unit's running outbox (imx outbox serve) instead",
    )
    cmd.add_argument(
        "--outbox-url", metavar="URL", help="the outbox's URL (default: the one serving --unit)"
    )
    cmd.set_defaults(handler=_publish)


@dataclass(frozen=True)
class Outgoing:
    line: int
    key: bytes | None
    value: bytes
    event_id: str | None
    type_name: str | None


def _publish(args: argparse.Namespace, settings: Settings) -> int:
    registry = load_registry(settings.registry_path)
    if args.unit not in registry:
        msg = f"unknown unit {args.unit!r}: not in the registry"
        raise CliError(msg, EXIT_USAGE)
    lines = _read_lines(args.file)
    if not lines:
        source = "standard input" if args.file == "-" else args.file
        progress(f"{source} has no report lines: nothing to publish")
        return EXIT_OK
    schemas = load_schemas(settings.schemas_dir)
    now = datetime.now(UTC)
    if args.outbox or args.outbox_url:
        return _to_outbox(args, settings, lines, registry=registry, now=now, schemas=schemas)
    if args.no_check:
        outgoing = [_unchecked(number, text, now, schemas) for number, text in lines]
    else:
        outgoing, errors = _checked(lines, args.unit, registry, now, schemas)
        if errors:
            for _number, error in errors:
                print(error, file=sys.stderr)
            bad = len({number for number, _ in errors})
            msg = f"{bad} invalid line{'s' if bad != 1 else ''}; nothing was published"
            raise CliError(msg, EXIT_USAGE)
    topology = Topology.from_settings(settings, registry.ids())
    settings = acting_as(settings, unit_principal(args.unit))
    connection = connect(settings)
    try:
        asyncio.run(
            _send(connection, topology, schemas, unit=args.unit, outgoing=outgoing, out=sys.stdout)
        )
    except CliError:
        raise
    except TopicAuthorizationFailedError as exc:
        topic = exc.args[0] if exc.args else topology.ingress(args.unit)
        raise CliError(denied_message(connection, "WRITE", str(topic))) from exc
    except Exception as exc:  # aiokafka's errors share no common base class
        doing = f"publishing to {topology.ingress(args.unit)}"
        raise kafka_failure(doing, connection, exc) from exc
    return EXIT_OK


def _to_outbox(
    args: argparse.Namespace,
    settings: Settings,
    lines: list[tuple[int, str]],
    *,
    registry: Registry,
    now: datetime,
    schemas: SchemaSet,
) -> int:
    """Check every line here (line numbers as without --outbox), then hand them over."""
    from imx.cli.outbox_cmd import default_db  # noqa: PLC0415 - only --outbox needs these
    from imx.outbox.client import Line, OutboxRefused, hand_over  # noqa: PLC0415
    from imx.outbox.store import holder  # noqa: PLC0415

    if args.no_check:
        msg = "--no-check does not go with --outbox: the outbox checks every report"
        raise CliError(msg, EXIT_USAGE)
    checked, errors = _checked(lines, args.unit, registry, now, schemas)
    if errors:
        for _number, error in errors:
            print(error, file=sys.stderr)
        bad = len({number for number, _ in errors})
        msg = f"{bad} invalid line{'s' if bad != 1 else ''}; nothing was handed to the outbox"
        raise CliError(msg, EXIT_USAGE)
    url = args.outbox_url
    if url is None:
        db = default_db(settings, args.unit)
        serving = holder(db)
        if not serving or not serving.get("url"):
            msg = (
                f"no outbox serves unit {args.unit} from {db}: start "
                f"'imx outbox serve --unit {args.unit}', or give --outbox-url"
            )
            raise CliError(msg)
        url = str(serving["url"])
    types = {o.event_id: o.type_name for o in checked}
    try:
        taken = hand_over(url, [Line(n, t) for n, t in lines], settings.request_timeout_s)
    except OutboxRefused as exc:
        for event_id, seq in exc.taken:
            print(f"{event_id}\t{types.get(event_id) or '-'}\toutbox#{seq}", flush=True)
        msg = f"{exc} ({len(exc.taken)} of {len(lines)} reports taken)"
        raise CliError(msg) from exc
    for event_id, seq in taken:
        print(f"{event_id}\t{types.get(event_id) or '-'}\toutbox#{seq}", flush=True)
    return EXIT_OK


def _read_lines(source: str) -> list[tuple[int, str]]:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"cannot read {source}: {exc.strerror}"
        raise CliError(msg, EXIT_USAGE) from exc
    except UnicodeDecodeError as exc:
        msg = f"{source} is not UTF-8 text: {exc.reason} at byte {exc.start}"
        raise CliError(msg, EXIT_USAGE) from exc
    # JSON lines end in "\n" only: str.splitlines would also split at U+2028 inside a string.
    lines = (line.rstrip("\r") for line in text.split("\n"))
    return [(n, line) for n, line in enumerate(lines, start=1) if line.strip()]


def _checked(
    lines: list[tuple[int, str]], unit: str, registry: Registry, now: datetime, schemas: SchemaSet
) -> tuple[list[Outgoing], list[tuple[int, str]]]:
    """The encoded reports, or the errors as (line number, message), every line checked."""
    result = check_lines(lines, unit=unit, registry=registry, now=now, schemas=schemas)
    outgoing = [Outgoing(r.line, r.key, r.value, r.event_id, r.type_name) for r in result.reports]
    return outgoing, [(error.line, str(error)) for error in result.errors]


def _unchecked(number: int, text: str, now: datetime, schemas: SchemaSet) -> Outgoing:
    """Encode what can be encoded; send the raw line otherwise, for the pipeline to reject."""
    try:
        report = from_json(json.loads(text), schemas)
        if report["reported_at"] is None:
            report["reported_at"] = now
        event_id = str(report["event_id"])
        value = encode_report(report, schemas)
        return Outgoing(number, event_id.encode(), value, event_id, report["type"])
    except (json.JSONDecodeError, JsonFormError, EncodingError, TypeError, AttributeError):
        raw = text.rstrip("\n").encode("utf-8")
        return Outgoing(number, None, raw, None, None)


async def _send(
    connection: Connection,
    topology: Topology,
    schemas: SchemaSet,
    *,
    unit: str,
    outgoing: list[Outgoing],
    out: TextIO,
) -> None:
    used = sorted({o.type_name for o in outgoing if o.type_name})
    async with ReportPublisher(connection, topology, schemas, types=used) as publisher:
        pending = [(o, await publisher.send_encoded(unit, o.value, o.key)) for o in outgoing]
        for item, future in pending:
            meta = await asyncio.wait_for(future, connection.request_timeout_s)
            label = item.event_id or f"(line {item.line}, sent unchecked as raw bytes)"
            print(
                f"{label}\t{item.type_name or '-'}\t{meta.topic}[{meta.partition}]@{meta.offset}",
                file=out,
                flush=True,
            )
