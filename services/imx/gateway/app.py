"""The gateway's ASGI app (CONTRACT.md section 11): routes over one ``Gateway``, built once.

``build_app`` is the composition root; nothing connects at import time, and the report
publisher connects at the first report, so the gateway starts (and says it is not ready) while
the broker is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imx.gateway import reference
from imx.gateway.feed import FeedGone, FeedReader
from imx.gateway.intake import JSON, NDJSON, body_lines, media_kind, read_body
from imx.gateway.metrics import UNMATCHED, GatewayMetrics
from imx.gateway.models import (
    Accepted,
    FeedRecord,
    Flow,
    ProblemDetails,
    RegistryView,
    Status,
    WhoAmI,
)
from imx.gateway.problems import MEDIA_TYPE, Problem
from imx.gateway.service import Gateway
from imx.gateway.tokens import TokenRecord, TokenStore
from imx.kafka.connection import Connection
from imx.kafka.topology import Topology
from imx.registry import load_registry
from imx.schema.loader import load_schemas
from imx.settings import Settings

MAX_RECORDS = 1000
RECORDS_WAIT_S = 5.0
#: The operations picture: plain HTML, CSS and JS, and the base map (imx.gateway.mapdata).
STATIC = Path(__file__).parent / "static"
#: Nothing from elsewhere, no inline script: the page works without the internet, and a
#: report's text can never become code.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

bearer = HTTPBearer(auto_error=False, description="A unit token from 'imx gateway token issue'.")


def _problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ProblemDetails, "content": {MEDIA_TYPE: {}}} for status in statuses}


def build_app(gateway: Gateway) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        warming = asyncio.create_task(gateway.warm_up())
        try:
            yield
        finally:
            warming.cancel()
            await asyncio.gather(warming, return_exceptions=True)
            await gateway.close()

    app = FastAPI(
        title="imx gateway",
        version="1",
        summary="Reports in and deliveries out over HTTP, for unit systems without Kafka.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    app.add_middleware(MetricsMiddleware, metrics=gateway.metrics)
    app.add_exception_handler(Problem, _problem)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    _routes(app, gateway)
    _page(app)
    return app


async def _principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> TokenRecord:
    gateway: Gateway = request.app.state.gateway
    return gateway.authenticate(credentials.credentials if credentials else None)


Principal = Annotated[TokenRecord, Depends(_principal)]


def _routes(app: FastAPI, gateway: Gateway) -> None:
    @app.post(
        "/v1/reports",
        status_code=202,
        response_model=Accepted,
        responses=_problem_responses(401, 403, 413, 415, 422, 429, 503),
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": "One report (application/json) or at most 1,000 reports, one "
                "per line (application/x-ndjson), in the JSON form of CONTRACT.md section 3; "
                "at most 1 MiB.",
                "content": {
                    JSON: {"schema": {"type": "object"}},
                    NDJSON: {"schema": {"type": "string"}},
                },
            }
        },
    )
    async def post_reports(request: Request, token: Principal) -> Accepted:
        """Publish reports as the token's unit: all or nothing, 202 once the broker has them."""
        lines = body_lines(await read_body(request), media_kind(request))
        placed = await gateway.publish(token.unit, lines)
        return Accepted.model_validate({"accepted": [p.__dict__ for p in placed]})

    @app.get(
        "/v1/feed",
        response_class=Response,
        responses={
            200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
            **_problem_responses(400, 401, 409, 429, 503),
        },
    )
    async def feed(
        token: Principal,
        start: Annotated[Literal["beginning", "latest"], Query(alias="from")] = "latest",
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> Response:
        """The unit's deliveries as server-sent events (``event: delivery``, ``id``, ``data``).

        Reconnect with ``Last-Event-ID`` to continue right after that event. An id is
        ``<partition>-<offset>`` of its record followed by the position of every other
        partition (``1-57.0-12.2-3``), so a resumed stream neither misses nor repeats one.
        """
        reader = await gateway.open_feed(token.unit, after=last_event_id, start=start)
        return EventStream(_events(reader, gateway.heartbeat_s), reader.close, gateway.metrics)

    @app.get(
        "/v1/feed/records",
        response_model=list[FeedRecord],
        responses=_problem_responses(400, 401, 409, 429, 503),
    )
    async def feed_records(
        token: Principal,
        after: Annotated[str | None, Query(description="Event id to continue after.")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_RECORDS)] = 100,
    ) -> list[dict[str, Any]]:
        """The same records as the stream, for clients that poll: from the beginning, or
        right after the event ``after``; at most ``limit``, fewer when the feed has no more."""
        reader = await gateway.open_feed(token.unit, after=after, start="beginning")
        out: list[dict[str, Any]] = []
        try:
            ends = dict(reader.ends)
            with anyio.move_on_after(RECORDS_WAIT_S):
                while len(out) < limit and not await reader.caught_up(ends):
                    out.extend(e.as_json() for e in await reader.fetch(0.5, limit - len(out)))
        except FeedGone as exc:
            raise Problem(
                409, "EVENT_ID_GONE", "The feed cannot continue from that event", str(exc)
            ) from exc
        finally:
            await reader.close()
        return out

    @app.get("/v1/whoami", response_model=WhoAmI, responses=_problem_responses(401, 429))
    async def whoami(token: Principal) -> WhoAmI:
        unit = gateway.registry.get(token.unit)
        return WhoAmI(unit=unit.id, name=unit.name, level=unit.level, token_id=token.id)

    @app.get("/v1/registry", response_model=RegistryView, responses=_problem_responses(401, 429))
    async def registry(_token: Principal) -> dict[str, Any]:
        """Units and border sections of the registry, for the operations picture's map."""
        return reference.registry_view(gateway.registry)

    @app.get("/v1/flow", response_model=Flow, responses=_problem_responses(401, 403, 429, 503))
    async def flow(token: Principal) -> Any:
        """The DLQ count and deliveries by level, for operations centres (line OPERATIONS)
        only, read from the workers' metrics (``IMX_GATEWAY_METRICS_URL``)."""
        if not reference.is_operator(gateway.registry.get(token.unit)):
            raise Problem(
                403,
                "NOT_AN_OPERATOR",
                "For operations centres only",
                f"{token.unit} is not an operations centre; the flow is for operators",
            )
        if not gateway.metrics_urls:
            return reference.NOT_CONFIGURED
        try:
            return reference.flow_view(await reference.scrape(gateway.metrics_urls))
        except (OSError, ValueError) as exc:
            raise Problem(
                503,
                "METRICS_UNAVAILABLE",
                "The workers' metrics do not answer",
                f"reading the workers' metrics failed: {type(exc).__name__}",
            ) from exc

    @app.get("/healthz", response_model=Status)
    async def healthz() -> Status:
        return Status(status="ok")

    @app.get("/readyz", response_model=Status, responses=_problem_responses(503))
    async def readyz() -> Status:
        if not await gateway.ready():
            raise Problem(
                503, "BROKER_UNAVAILABLE", "Not ready", "no Kafka broker answers at the bootstrap"
            )
        return Status(status="ready")

    @app.get("/metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(gateway.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


def _page(app: FastAPI) -> None:
    """The operations picture at ``/``; the API stays the only thing that needs a token."""

    @app.get("/", include_in_schema=False)
    async def page() -> Response:
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")


async def _events(reader: FeedReader, heartbeat_s: float) -> AsyncIterator[str]:
    yield f"retry: 2000\n: {reader.topic}\n\n"
    idle_since = time.monotonic()
    while True:
        try:
            events = await reader.fetch(timeout_s=min(1.0, heartbeat_s))
        except FeedGone:
            yield ": records expired at this position; reconnect to learn where the feed begins\n\n"
            return
        if events:
            idle_since = time.monotonic()
            for event in events:
                yield event.sse()
        elif time.monotonic() - idle_since >= heartbeat_s:
            idle_since = time.monotonic()
            yield ": keep-alive\n\n"


class EventStream(Response):
    """A ``text/event-stream`` that ends when the client goes, and always closes its reader.

    Starlette's StreamingResponse notices a client that went away only at its next write; an
    idle feed writes every ``heartbeat_s``, and its consumer would linger that long.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        events: AsyncIterator[str],
        close: Callable[[], Awaitable[None]],
        metrics: GatewayMetrics,
    ) -> None:
        # Not Response.__init__: it would declare the empty body's Content-Length (0).
        self.status_code = 200
        self.background = None
        self.init_headers({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._events = events
        self._close = close
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._metrics.stream_opened()
        try:
            async with anyio.create_task_group() as group:

                async def watch() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    group.cancel_scope.cancel()

                group.start_soon(watch)
                await send(
                    {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
                )
                with contextlib.suppress(OSError):  # the client went away mid-write
                    async for chunk in self._events:
                        await send(
                            {
                                "type": "http.response.body",
                                "body": chunk.encode(),
                                "more_body": True,
                            }
                        )
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                group.cancel_scope.cancel()
        finally:
            self._metrics.stream_closed()
            with anyio.CancelScope(shield=True):
                aclose = getattr(self._events, "aclose", None)
                if aclose is not None:
                    with contextlib.suppress(Exception):
                        await aclose()
                await self._close()


class MetricsMiddleware:
    """Counts each answer by route template and status, and times it to its response head."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        began = time.perf_counter()

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = getattr(scope.get("route"), "path", UNMATCHED)
                self._metrics.request_answered(
                    route, int(message["status"]), time.perf_counter() - began
                )
            await send(message)

        await self._app(scope, receive, sending)


async def _problem(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)  # noqa: S101 - registered for Problem only
    return exc.response()


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for HTTPException only
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
    problem = Problem(exc.status_code, code, str(exc.detail), str(exc.detail))
    response: JSONResponse = problem.response()
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _invalid_request(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for it only
    where = "; ".join(
        f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
    )
    return Problem(400, "INVALID_REQUEST", "Invalid request", where).response()


def create_app(settings: Settings, connection: Connection) -> FastAPI:
    """The gateway of ``settings``: its registry, schemas, topics and token file."""
    registry = load_registry(settings.registry_path)
    gateway = Gateway(
        settings,
        connection,
        topology=Topology.from_settings(settings, registry.ids()),
        registry=registry,
        schemas=load_schemas(settings.schemas_dir),
        tokens=TokenStore.of_home(settings.home),
    )
    return build_app(gateway)
