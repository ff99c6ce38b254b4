"""Reports over HTTP: the body, its limits and the checks, as the gateway and the outbox take them.

Both answer ``POST /v1/reports`` (CONTRACT.md sections 11 and 12) with the same media types,
limits and problem details, so a refused report reads the same whichever took it.
"""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request

from imx.gateway.problems import Problem, errors_json
from imx.registry import Registry
from imx.schema.checks import SPOOFED_UNIT, CheckedReport, check_lines
from imx.schema.loader import SchemaSet

MAX_BODY_BYTES = 1024 * 1024
MAX_LINES = 1000
JSON, NDJSON = "application/json", "application/x-ndjson"


def media_kind(request: Request) -> str:
    """The body's media type, JSON or NDJSON; 415 otherwise."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in (JSON, NDJSON):
        detail = f"send {JSON} (one report) or {NDJSON} (one report per line), not {kind!r}"
        raise Problem(415, "UNSUPPORTED_MEDIA_TYPE", "Unsupported media type", detail)
    return kind


async def read_body(request: Request) -> bytes:
    """The body, at most 1 MiB (413 past it, before reading it all when it says its length)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        msg = f"the body is {int(declared)} bytes, over the limit of 1 MiB"
        raise too_large(msg)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            msg = "the body is over the limit of 1 MiB"
            raise too_large(msg)
    return bytes(body)


def body_lines(body: bytes, kind: str) -> list[tuple[int, str]]:
    """``(line number, JSON text)`` of each report in the body; 413 or 422 when there are none."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        error = {"line": line, "field": "", "code": "MALFORMED_JSON", "message": "not UTF-8"}
        raise Problem(
            422, "INVALID_REPORTS", "Invalid reports", "the body is not UTF-8", errors=[error]
        ) from exc
    if kind == JSON:
        lines = [(1, text)] if text.strip() else []
    else:
        # JSON lines end in "\n" only, as in `imx publish`: U+2028 may occur inside a string.
        numbered = enumerate((line.rstrip("\r") for line in text.split("\n")), start=1)
        lines = [(n, line) for n, line in numbered if line.strip()]
        if len(lines) > MAX_LINES:
            msg = f"{len(lines)} reports, over the limit of {MAX_LINES}"
            raise too_large(msg)
    if not lines:
        raise Problem(
            422,
            "INVALID_REPORTS",
            "Invalid reports",
            "the body holds no report",
            errors=[{"line": 1, "field": "", "code": "MALFORMED_JSON", "message": "empty body"}],
        )
    return lines


def checked_reports(
    lines: list[tuple[int, str]],
    *,
    unit: str,
    registry: Registry,
    now: datetime,
    schemas: SchemaSet,
    whose: str,
) -> list[CheckedReport]:
    """Every line checked as ``imx publish`` checks it; 403 or 422 when any fails.

    ``whose`` says where the unit came from ("the token's unit", "the outbox's unit").
    """
    result = check_lines(lines, unit=unit, registry=registry, now=now, schemas=schemas)
    if not result.errors:
        return result.reports
    bad = len({e.line for e in result.errors})
    if any(e.code == SPOOFED_UNIT for e in result.errors):
        raise Problem(
            403,
            SPOOFED_UNIT,
            "A report names another unit",
            f"reporting_unit must be {unit}, {whose}; nothing was published",
            errors=errors_json(result.errors),
        )
    raise Problem(
        422,
        "INVALID_REPORTS",
        "Invalid reports",
        f"{bad} invalid line{'s' if bad != 1 else ''}; nothing was published",
        errors=errors_json(result.errors),
    )


def too_large(detail: str) -> Problem:
    return Problem(413, "TOO_LARGE", "Request too large", f"{detail}; nothing was published")
