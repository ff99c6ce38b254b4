"""The live view's figures, computed from the worker's ``/metrics`` text (CONTRACT.md section 9).

The view reads what Prometheus would scrape, not the worker's internals, so it shows exactly what
an operator's dashboard shows. Deliveries per level are counted from the latency histogram's
``_count``: ``imx_deliveries_total`` counts a delivery once per rule that chose it, so summing
it would count a delivery chosen by two rules twice. Quantiles are estimated from the histogram
buckets the way PromQL's ``histogram_quantile`` does (linear within a bucket), over a window:
the difference of two scrapes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from imx.metrics import LEVELS
from imx.scrape import Buckets, Sample, combined, minus, quantile

#: A LOCAL unit with no report for this long is listed as silent.
SILENT_AFTER_S = 60.0


@dataclass(frozen=True)
class Latency:
    """Deliveries (total) and delivery latency quantiles (over the window) of one level."""

    deliveries: float
    p50: float | None
    p99: float | None

    @classmethod
    def of(cls, deliveries: float, buckets: Buckets) -> Latency:
        return cls(deliveries, quantile(0.5, buckets), quantile(0.99, buckets))


@dataclass(frozen=True)
class Figures:
    """What the live view and the final summary show."""

    elapsed_s: float
    published: int
    received: float
    rate_in: float | None  # reports per second over the window
    levels: Mapping[str, Latency]  # every level of LEVELS, in that order
    overall: Latency
    duplicates_exact: float
    duplicates_incident: float
    correlations: float
    dlq: Mapping[str, float]  # code → count
    silent: tuple[str, ...]  # LOCAL unit ids


def summarise(
    current: Sample,
    since: Sample,
    *,
    published: int,
    elapsed_s: float,
    local_units: Sequence[str],
    silent_after_s: float = SILENT_AFTER_S,
) -> Figures:
    """Totals as of ``current``; input rate and latency over the window from ``since``."""
    span = current.at - since.at
    window = {
        level: minus(current.latency.get(level, ()), since.latency.get(level, ()))
        for level in LEVELS
    }
    return Figures(
        elapsed_s=elapsed_s,
        published=published,
        received=current.received,
        rate_in=(current.received - since.received) / span if span > 0 else None,
        levels={
            level: Latency.of(current.deliveries.get(level, 0.0), window[level]) for level in LEVELS
        },
        overall=Latency.of(sum(current.deliveries.values()), combined(window)),
        duplicates_exact=current.duplicates.get("exact", 0.0),
        duplicates_incident=current.duplicates.get("incident", 0.0),
        correlations=sum(current.correlations.values()),
        dlq={code: n for code, n in sorted(current.rejected.items()) if n},
        silent=tuple(
            unit
            for unit in local_units
            if current.wall - current.last_report.get(unit, -math.inf) > silent_after_s
        ),
    )
