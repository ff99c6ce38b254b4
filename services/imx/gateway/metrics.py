"""The gateway's metrics (CONTRACT.md section 11), on a registry of its own, in base units.

Route labels are route templates (``/v1/feed``), never raw paths, so a scan of random URLs
cannot grow the label set; everything unmatched counts as ``other``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from imx.kafka.schemastore import IGNORED_REASONS

#: Time to the response head: sub-millisecond checks up to a broker acknowledgement timeout.
DURATION_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
UNMATCHED = "other"


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self._requests = Counter(
            "imx_gateway_requests",
            "HTTP requests answered, by route template and status code.",
            ["route", "status"],
            registry=r,
        )
        self._duration = Histogram(
            "imx_gateway_request_duration_seconds",
            "Time from request to response head (for event streams: to the stream's start).",
            ["route"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self._streams = Gauge(
            "imx_gateway_open_event_streams", "Event streams open now.", registry=r
        )
        self._reports = Counter(
            "imx_gateway_reports_accepted",
            "Reports acknowledged by the broker, per unit.",
            ["unit"],
            registry=r,
        )

        self._schema_ignored = Counter(
            "imx_schema_records_ignored",
            "Records of imx.schemas not trusted: unparseable, or key is not their fingerprint.",
            ["reason"],
            registry=r,
        )
        for reason in IGNORED_REASONS:
            self._schema_ignored.labels(reason)

    def schema_record_ignored(self, reason: str) -> None:
        self._schema_ignored.labels(reason).inc()

    def request_answered(self, route: str, status: int, duration_s: float) -> None:
        self._requests.labels(route, str(status)).inc()
        self._duration.labels(route).observe(duration_s)

    def reports_accepted(self, unit: str, count: int) -> None:
        self._reports.labels(unit).inc(count)

    def stream_opened(self) -> None:
        self._streams.inc()

    def stream_closed(self) -> None:
        self._streams.dec()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
