"""Error answers of the gateway as RFC 9457 problem details (``application/problem+json``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse

from imx.schema.checks import CheckError

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "urn:imx:gateway:problem:"


class Problem(Exception):  # noqa: N818 - it is the answer, not a failure of the gateway
    """An answer other than success: raised anywhere in a route, rendered by the app."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {
            "type": f"{TYPE_BASE}{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
            **self.extra,
        }

    def response(self) -> JSONResponse:
        return JSONResponse(
            self.body(), status_code=self.status, headers=self.headers, media_type=MEDIA_TYPE
        )


def errors_json(errors: list[CheckError]) -> list[dict[str, Any]]:
    return [
        {"line": e.line, "field": e.field, "code": e.code, "message": e.message} for e in errors
    ]
