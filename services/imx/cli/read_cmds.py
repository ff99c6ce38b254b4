"""``imx tail U`` and ``imx dlq``: read a unit's feed or the dead-letter queue."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
from collections.abc import Callable
from typing import Any

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
from imx.kafka.reading import read_topic
from imx.kafka.schemastore import SchemaStore
from imx.kafka.topology import Topology
from imx.registry import load_registry
from imx.schema.codec import CodecError, decode_delivery
from imx.schema.jsonform import delivery_to_json
from imx.schema.loader import load_schemas
from imx.security.principals import OPS, unit_principal
from imx.settings import Settings

DLQ_HEADERS = {
    "imx-error-code": "code",
    "imx-error-detail": "detail",
    "imx-source-topic": "source_topic",
    "imx-source-partition": "source_partition",
    "imx-source-offset": "source_offset",
    "imx-unit": "unit",
}


def register(commands: Any) -> None:
    tail = commands.add_parser("tail", help="read a unit's feed (its deliveries)")
    tail.add_argument("unit", help="the unit whose feed.<unit> to read")
    _reading_options(tail, "one delivery (CONTRACT.md section 6) per line")
    tail.set_defaults(handler=_tail)
    dlq = commands.add_parser("dlq", help="read the dead-letter queue of rejected input")
    _reading_options(dlq, "one rejected record per line")
    dlq.set_defaults(handler=_dlq)


def _reading_options(cmd: argparse.ArgumentParser, json_help: str) -> None:
    cmd.add_argument("--from-beginning", action="store_true", help="start at the oldest record")
    cmd.add_argument("--json", action="store_true", help=json_help)
    cmd.add_argument("--max", type=int, metavar="N", help="stop after N records")
    cmd.add_argument(
        "--idle-timeout", type=float, metavar="S", help="stop after S seconds without a record"
    )


def _check(args: argparse.Namespace) -> None:
    if args.max is not None and args.max < 1:
        msg = "--max must be at least 1"
        raise CliError(msg, EXIT_USAGE)
    if args.idle_timeout is not None and args.idle_timeout <= 0:
        msg = "--idle-timeout must be positive"
        raise CliError(msg, EXIT_USAGE)


def _tail(args: argparse.Namespace, settings: Settings) -> int:
    _check(args)
    registry = load_registry(settings.registry_path)
    if args.unit not in registry:
        msg = f"unknown unit {args.unit!r}: not in the registry"
        raise CliError(msg, EXIT_USAGE)
    topology = Topology.from_settings(settings, registry.ids())
    settings = acting_as(settings, unit_principal(args.unit))
    schemas = load_schemas(settings.schemas_dir)
    connection = connect(settings)
    store = SchemaStore(connection, topology.schemas, schemas)

    async def render(record: Any) -> str:
        try:
            await store.prepare(record.value or b"")
            delivery = decode_delivery(record.value or b"", store.lookup, schemas)
        except CodecError as exc:
            return json.dumps({"error": exc.code, "detail": str(exc), "offset": record.offset})
        as_json = delivery_to_json(delivery, schemas)
        return json.dumps(as_json, ensure_ascii=False) if args.json else _summary(as_json)

    return _run(connection, topology.feed(args.unit), args, render)


def _summary(delivery: dict[str, Any]) -> str:
    timing = delivery.get("timing") or {}
    report = delivery.get("report") or {}
    correlation = delivery.get("correlation") or {}
    item = (
        f"{report.get('type')} {report.get('event_id')} incident={delivery.get('incident_id')}"
        if delivery["kind"] == "report"
        else f"correlation {correlation.get('entity_kind')} "
        f"events={len(correlation.get('event_ids') or [])}"
    )
    rules = ",".join(delivery.get("rules") or [])
    return f"{timing.get('delivered_at')} {delivery['recipient']} [{rules}] {item}"


def _dlq(args: argparse.Namespace, settings: Settings) -> int:
    _check(args)
    registry = load_registry(settings.registry_path)
    topology = Topology.from_settings(settings, registry.ids())
    settings = acting_as(settings, OPS)

    async def render(record: Any) -> str:
        item = dlq_record(record.headers, record.value)
        if args.json:
            return json.dumps(item, ensure_ascii=False)
        return (
            f"{item['code']} unit={item['unit']} {item['source_topic']}[{item['source_partition']}]"
            f"@{item['source_offset']}: {item['detail']}"
        )

    return _run(connect(settings), topology.dlq, args, render)


def dlq_record(headers: Any, value: bytes | None) -> dict[str, Any]:
    """The ``imx dlq --json`` form of one DLQ record (CONTRACT.md section 7)."""
    found = {DLQ_HEADERS[k]: v.decode("utf-8", "replace") for k, v in headers if k in DLQ_HEADERS}
    item: dict[str, Any] = {name: found.get(name) for name in DLQ_HEADERS.values()}
    for number in ("source_partition", "source_offset"):
        if item[number] is not None and item[number].lstrip("-").isdigit():
            item[number] = int(item[number])
    item["value_b64"] = base64.b64encode(value or b"").decode("ascii")
    return item


def _run(
    connection: Connection,
    topic: str,
    args: argparse.Namespace,
    render: Callable[[Any], Any],
) -> int:
    if args.max is None and sys.stderr.isatty():
        # Without --max or --idle-timeout the command waits for records as long as it runs.
        until = "" if args.idle_timeout is None else f" (for {args.idle_timeout:g} s idle)"
        progress(f"waiting for records on {topic}{until} — Ctrl-C to stop")

    async def loop() -> None:
        async for record in read_topic(
            connection,
            topic,
            from_beginning=args.from_beginning,
            max_records=args.max,
            idle_timeout_s=args.idle_timeout,
        ):
            print(await render(record), flush=True)

    try:
        asyncio.run(loop())
    except LookupError as exc:
        raise CliError(str(exc)) from exc
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away (e.g. `| head`); nothing left to say
    except Exception as exc:  # aiokafka's errors share no common base class
        doing = f"reading {topic}"
        raise kafka_failure(doing, connection, exc) from exc
    return EXIT_OK
