"""The gateway's JSON bodies, as pydantic models: they document the API (``/openapi.json``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class AcceptedReport(BaseModel):
    event_id: str
    partition: int = Field(description="Partition of ingress.<unit> the report was written to.")
    offset: int


class Accepted(BaseModel):
    """Every report of the request, acknowledged by the broker (acks=all)."""

    accepted: list[AcceptedReport]


class ReportError(BaseModel):
    line: int = Field(description="Line of the body (1 for application/json).")
    field: str = Field(description="Path of the member, e.g. suspects[0].sex; empty: the line.")
    code: str = Field(description="MALFORMED_JSON, SCHEMA_VIOLATION, UNKNOWN_UNIT, ...")
    message: str


class ProblemDetails(BaseModel):
    """RFC 9457 problem details (``application/problem+json``)."""

    type: str
    title: str
    status: int
    detail: str
    code: str = Field(description="The problem type's last part, e.g. SPOOFED_UNIT.")
    errors: list[ReportError] | None = Field(default=None, description="422 and 403 only.")
    begins: dict[str, int] | None = Field(
        default=None, description="409 only: the offset each feed partition now begins at."
    )


class WhoAmI(BaseModel):
    unit: str
    name: str
    level: str
    token_id: str


class FeedRecord(BaseModel):
    id: str = Field(description="Event id: pass it as `after` (or Last-Event-ID) to go on.")
    event: Literal["delivery", "undecodable"]
    data: dict[str, Any] = Field(description="The delivery's JSON form (CONTRACT.md section 6).")


class Status(BaseModel):
    status: str


class RegistryUnit(BaseModel):
    id: str
    name: str
    level: str
    line: str
    border_section: str | None = Field(description="BORDER-line LOCAL units only.")
    lat: float
    lon: float


class RegistrySection(BaseModel):
    id: str
    impact: str = Field(description="LOW, MEDIUM, HIGH or CRITICAL.")
    neighbour: str | None = Field(description="The neighbour's ISO 3166-1 alpha-2 code.")
    stations: list[str] = Field(description="The border stations of the section.")
    lat: float | None = Field(description="Mean position of its stations; null without any.")
    lon: float | None


class RegistryView(BaseModel):
    """Reference data, the same for every unit (CONTRACT.md section 1)."""

    units: list[RegistryUnit]
    sections: list[RegistrySection]


class Flow(BaseModel):
    """The exchange's flow from the workers' Prometheus metrics, totals since they started."""

    configured: bool = Field(description="False: the gateway knows no worker metrics URL.")
    dlq_total: int | None = Field(description="Records sent to dlq.ingress.")
    dlq_by_reason: dict[str, int] = Field(description="By error code (CONTRACT.md 5.1).")
    deliveries_by_level: dict[str, int] = Field(description="Deliveries by recipient level.")
