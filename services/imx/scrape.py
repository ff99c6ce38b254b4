"""A worker's (or the gateway's) ``/metrics`` text as numbers: one scrape, histogram buckets,
their quantiles.

The live view (``imx run``) and the benchmark read what Prometheus would scrape, not the
worker's internals, so they show exactly what an operator's dashboard shows. Quantiles are
estimated from histogram buckets the way PromQL's ``histogram_quantile`` does (linear within a
bucket), over a window: the difference of two scrapes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

Buckets = tuple[tuple[float, float], ...]  # (upper bound, cumulative count), ascending


@dataclass(frozen=True)
class Sample:
    """One scrape of one worker: counter totals, histogram buckets and gauges by label."""

    at: float  # monotonic seconds, for rates
    wall: float  # Unix seconds, to compare with the last-report gauges
    received: float = 0.0
    accepted: float = 0.0
    deliveries: Mapping[str, float] = field(default_factory=dict)  # level → count
    latency: Mapping[str, Buckets] = field(default_factory=dict)  # level → buckets
    age: Mapping[str, Buckets] = field(default_factory=dict)  # level → event-age buckets
    received_by_unit: Mapping[str, float] = field(default_factory=dict)  # ingress unit → count
    #: recipient → deliveries counted once per rule that chose it (imx_deliveries_total)
    rule_deliveries: Mapping[str, float] = field(default_factory=dict)
    duplicates: Mapping[str, float] = field(default_factory=dict)  # exact | incident
    correlations: Mapping[str, float] = field(default_factory=dict)  # entity kind → count
    rejected: Mapping[str, float] = field(default_factory=dict)  # DLQ code → count
    last_report: Mapping[str, float] = field(default_factory=dict)  # unit → Unix seconds
    backlog: Mapping[str, float] = field(default_factory=dict)  # stage → records not processed


def parse_sample(text: str, at: float, wall: float) -> Sample:
    """Read the imx metrics out of a Prometheus text exposition; other metrics are ignored."""
    totals: dict[str, dict[str, float]] = {}
    histograms: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, float(sample.value)
            if name in _HISTOGRAMS:
                pairs = histograms.setdefault(name, {}).setdefault(labels["level"], [])
                pairs.append((float(labels["le"]), value))
                continue
            key = {
                "imx_reports_received_total": "unit",
                "imx_reports_accepted_total": "",
                "imx_delivery_latency_seconds_count": "level",
                "imx_duplicates_total": "kind",
                "imx_correlations_total": "entity",
                "imx_reports_rejected_total": "reason",
                "imx_unit_last_report_timestamp_seconds": "unit",
                "imx_deliveries_total": "recipient",
                "imx_consumer_lag_records": "stage",
            }.get(name)
            if key is not None:
                table = totals.setdefault(name, {})
                label = labels.get(key, "") if key else ""
                table[label] = table.get(label, 0.0) + value
    return Sample(
        at=at,
        wall=wall,
        received=sum(totals.get("imx_reports_received_total", {}).values()),
        accepted=sum(totals.get("imx_reports_accepted_total", {}).values()),
        deliveries=totals.get("imx_delivery_latency_seconds_count", {}),
        latency=_buckets(histograms.get("imx_delivery_latency_seconds_bucket", {})),
        age=_buckets(histograms.get("imx_event_age_at_delivery_seconds_bucket", {})),
        received_by_unit=totals.get("imx_reports_received_total", {}),
        rule_deliveries=totals.get("imx_deliveries_total", {}),
        duplicates=totals.get("imx_duplicates_total", {}),
        correlations=totals.get("imx_correlations_total", {}),
        rejected=totals.get("imx_reports_rejected_total", {}),
        last_report=totals.get("imx_unit_last_report_timestamp_seconds", {}),
        backlog=totals.get("imx_consumer_lag_records", {}),
    )


_HISTOGRAMS = ("imx_delivery_latency_seconds_bucket", "imx_event_age_at_delivery_seconds_bucket")

#: The gateway's own /metrics route: the scrapes that read the figures are not traffic.
METRICS_ROUTE = "/metrics"


@dataclass(frozen=True)
class GatewaySample:
    """One scrape of one HTTP gateway (CONTRACT.md section 11 metrics)."""

    at: float  # monotonic seconds, for rates
    #: status code → requests answered, over every route but METRICS_ROUTE
    answers: Mapping[str, float] = field(default_factory=dict)
    streams: float = 0.0  # event streams open now
    accepted: float = 0.0  # reports the broker acknowledged, over every unit


def parse_gateway(text: str, at: float) -> GatewaySample:
    """Read the gateway's metrics out of a Prometheus text exposition; others are ignored."""
    answers: dict[str, float] = {}
    streams = accepted = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, float(sample.value)
            if name == "imx_gateway_requests_total" and labels.get("route") != METRICS_ROUTE:
                status = labels.get("status", "")
                answers[status] = answers.get(status, 0.0) + value
            elif name == "imx_gateway_open_event_streams":
                streams += value
            elif name == "imx_gateway_reports_accepted_total":
                accepted += value
    return GatewaySample(at=at, answers=answers, streams=streams, accepted=accepted)


def _buckets(by_level: Mapping[str, list[tuple[float, float]]]) -> dict[str, Buckets]:
    return {level: tuple(sorted(pairs)) for level, pairs in by_level.items()}


def quantile(q: float, buckets: Buckets) -> float | None:
    """The q-quantile of a cumulative histogram, as PromQL's ``histogram_quantile``.

    None when the histogram is empty. A quantile in the ``+Inf`` bucket is reported as the
    highest finite bound, the most that can be said of it.
    """
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound


def minus(later: Buckets, earlier: Buckets) -> Buckets:
    """Bucket counts observed between two scrapes (bounds missing earlier count as zero)."""
    before = dict(earlier)
    return tuple((bound, count - before.get(bound, 0.0)) for bound, count in later)


def above(bound: float, buckets: Buckets) -> float:
    """Observations above ``bound`` (which must be one of the buckets' bounds); 0 when empty."""
    if not buckets:
        return 0.0
    at_or_below = dict(buckets).get(bound)
    if at_or_below is None:
        msg = f"{bound} is not a bucket bound"
        raise ValueError(msg)
    return buckets[-1][1] - at_or_below


def combined(per_level: Mapping[str, Buckets]) -> Buckets:
    """One histogram of all levels (the bounds are the same for every level)."""
    sums: dict[float, float] = {}
    for buckets in per_level.values():
        for bound, count in buckets:
            sums[bound] = sums.get(bound, 0.0) + count
    return tuple(sorted(sums.items()))
