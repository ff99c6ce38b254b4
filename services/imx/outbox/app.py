"""The outbox's HTTP side (CONTRACT.md section 12): the gateway's ``POST /v1/reports``, no token.

A 202 means the reports are committed to the database, nothing else: forwarding happens
after. The body, limits, checks and problem answers are the gateway's (``imx.gateway.intake``);
a database that cannot commit answers 507 and keeps nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.responses import Response

from imx.gateway.intake import body_lines, checked_reports, media_kind, read_body
from imx.gateway.problems import Problem
from imx.outbox.figures import status_json
from imx.outbox.forwarder import Forwarder
from imx.outbox.intake import entries
from imx.outbox.metrics import OutboxMetrics
from imx.outbox.resend import with_stored_reported_at
from imx.outbox.store import Store, StoreUnwritable
from imx.registry import Registry
from imx.schema.loader import SchemaSet


class TakenReport(BaseModel):
    event_id: str
    seq: int


class Taken(BaseModel):
    """Every report of the request, committed to the outbox's database (not yet forwarded)."""

    accepted: list[TakenReport]


def build_app(
    store: Store,
    forwarder: Forwarder,
    metrics: OutboxMetrics,
    *,
    registry: Registry,
    schemas: SchemaSet,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    app = FastAPI(title="imx outbox", version="1", docs_url=None, redoc_url=None)
    app.add_exception_handler(Problem, _problem)
    app.add_exception_handler(HTTPException, _http_error)

    @app.post("/v1/reports", status_code=202, response_model=Taken)
    async def post_reports(request: Request) -> Taken:
        """Check every report as ``imx publish`` does, commit all or none, answer 202."""
        lines = body_lines(await read_body(request), media_kind(request))
        lines = with_stored_reported_at(lines, store.reported_at)
        checked = checked_reports(
            lines,
            unit=store.unit,
            registry=registry,
            now=datetime.now(UTC),
            schemas=schemas,
            whose="the outbox's unit",
        )
        try:
            taken = store.take(entries(checked, schemas), clock())
        except StoreUnwritable as exc:
            raise Problem(
                507,
                "OUTBOX_UNWRITABLE",
                "The outbox cannot store reports",
                f"{exc}; nothing was accepted: free disk space (or raise --max-db-mb) and retry",
            ) from exc
        forwarder.wake.set()
        return Taken(accepted=[TakenReport(event_id=t.event_id, seq=t.seq) for t in taken])

    @app.get("/v1/status")
    async def status() -> dict[str, object]:
        return status_json(store.figures(), clock(), serving=f"pid {os.getpid()}")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", response_class=Response)
    async def metrics_() -> Response:
        forwarder.observe()
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return app


async def _problem(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)  # noqa: S101 - registered for Problem only
    return exc.response()


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for HTTPException only
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
    return Problem(exc.status_code, code, str(exc.detail), str(exc.detail)).response()
