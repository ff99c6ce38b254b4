"""The metrics of CONTRACT.md section 9, in base units, updated through intention-named calls.

Definitions live here only. A ``Metrics`` object owns its ``CollectorRegistry`` so a test can
build a fresh one and read exact values back; the worker builds one and serves it on
``/metrics``. Label values always come from fixed sets (registry ids, type names, codes).
"""

from __future__ import annotations

from typing import Any, get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from imx.kafka.schemastore import IGNORED_REASONS
from imx.pipeline.entities import EntityKind

#: Delivery latency: fine from 5 ms to the 1 s target, coarser up to a minute.
LATENCY_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75,
    1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0,
)  # fmt: skip
#: Event age at delivery: up to 48 h, with boundaries at 1 h and at the EUROSUR 24 h limit.
AGE_BUCKETS = (
    1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0,
    43200.0, 86400.0, 129600.0, 172800.0,
)  # fmt: skip
#: One pipeline stage on one record: tens of microseconds to a second.
STAGE_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
)  # fmt: skip


LEVELS = ("LOCAL", "REGIONAL", "NATIONAL", "INTERNATIONAL")
#: The stages whose consumer backlog ``imx_consumer_lag_records`` reports.
STAGES = ("intake", "core")
REJECTION_CODES = (
    "UNDECODABLE", "UNKNOWN_SCHEMA", "SCHEMA_VIOLATION", "UNKNOWN_UNIT", "SPOOFED_UNIT",
    "CLOCK_SKEW", "EVENT_ID_CONFLICT", "TOO_LARGE", "UNKNOWN_RFI",
)  # fmt: skip


class Metrics:
    """Every imx metric, registered on one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self._received = Counter(
            "imx_reports_received", "Ingress records read, per ingress unit.", ["unit"], registry=r
        )
        self._accepted = Counter(
            "imx_reports_accepted", "Reports accepted.", ["unit", "type"], registry=r
        )
        self._rejected = Counter(
            "imx_reports_rejected", "Records rejected to the DLQ.", ["reason"], registry=r
        )
        self._duplicates = Counter(
            "imx_duplicates",
            "Duplicates: exact (dropped) and incident (matched, still delivered).",
            ["kind"],
            registry=r,
        )
        self._correlations = Counter(
            "imx_correlations", "Correlations emitted, per entity kind.", ["entity"], registry=r
        )
        self._deliveries = Counter(
            "imx_deliveries",
            "Deliveries written to feeds, once per rule that chose the recipient.",
            ["recipient", "level", "rule"],
            registry=r,
        )
        self._latency = Histogram(
            "imx_delivery_latency_seconds",
            "delivered_at - reported_at.",
            ["level"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._age = Histogram(
            "imx_event_age_at_delivery_seconds",
            "delivered_at - occurred_at.",
            ["level"],
            buckets=AGE_BUCKETS,
            registry=r,
        )
        self._stage = Histogram(
            "imx_stage_duration_seconds",
            "Processing time of one record in one stage.",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=r,
        )
        self._last_report = Gauge(
            "imx_unit_last_report_timestamp_seconds",
            "Unix time of the latest report received from the unit.",
            ["unit"],
            registry=r,
        )
        self._schema_ignored = Counter(
            "imx_schema_records_ignored",
            "Records of imx.schemas not trusted: unparseable, or key is not their fingerprint.",
            ["reason"],
            registry=r,
        )
        self._lag = Gauge(
            "imx_consumer_lag_records",
            "Records in the stage's input partitions not yet processed (highwater - position).",
            ["stage"],
            registry=r,
        )

        #: labelled series by (metric, label values): ``labels()`` costs more than ``inc()``
        self._series_cache: dict[tuple[Any, tuple[str, ...]], Any] = {}
        self._prime()

    def _series(self, metric: Any, *values: str) -> Any:
        """The child series of ``metric`` for label ``values`` (in declaration order)."""
        key = (metric, values)
        child = self._series_cache.get(key)
        if child is None:
            child = self._series_cache[key] = metric.labels(*values)
        return child

    def _prime(self) -> None:
        """Create the series of fixed label sets up front.

        Prometheus' rate() and increase() need a sample before the first event, so a series
        born with its first rejection or first late delivery would hide that event.
        """
        for kind in ("exact", "incident"):
            self._duplicates.labels(kind=kind)
        for reason in REJECTION_CODES:
            self._rejected.labels(reason=reason)
        for entity in get_args(EntityKind):
            self._correlations.labels(entity=entity)
        for stage in STAGES:
            self._lag.labels(stage=stage)
        for why in IGNORED_REASONS:
            self._schema_ignored.labels(reason=why)
        for level in LEVELS:
            self._latency.labels(level=level)
            self._age.labels(level=level)

    def report_received(self, unit: str, at_unix: float) -> None:
        self._series(self._received, unit).inc()
        self._series(self._last_report, unit).set(at_unix)

    def report_accepted(self, unit: str, type_name: str) -> None:
        self._series(self._accepted, unit, type_name).inc()

    def report_rejected(self, reason: str) -> None:
        self._series(self._rejected, reason).inc()

    def exact_duplicate(self) -> None:
        self._series(self._duplicates, "exact").inc()

    def incident_duplicate(self) -> None:
        self._series(self._duplicates, "incident").inc()

    def correlation_emitted(self, entity_kind: str) -> None:
        self._series(self._correlations, entity_kind).inc()

    def delivered(
        self,
        recipient: str,
        level: str,
        rules: tuple[str, ...],
        latency_s: float | None,
        age_s: float | None,
    ) -> None:
        for rule in rules:
            self._series(self._deliveries, recipient, level, rule).inc()
        if latency_s is not None:
            self._series(self._latency, level).observe(max(latency_s, 0.0))
        if age_s is not None:
            self._series(self._age, level).observe(max(age_s, 0.0))

    def stage_took(self, stage: str, seconds: float) -> None:
        self._series(self._stage, stage).observe(seconds)

    def schema_record_ignored(self, reason: str) -> None:
        self._series(self._schema_ignored, reason).inc()

    def backlog(self, stage: str, records: float) -> None:
        """What ``stage`` has yet to process: its input's highwater minus its position."""
        self._series(self._lag, stage).set(max(records, 0.0))
