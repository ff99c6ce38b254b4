"""``imx run``'s figures from a worker's /metrics text: parsing, quantiles, windows, silence."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import generate_latest

from imx.metrics import LATENCY_BUCKETS, LEVELS, Metrics
from imx.run.figures import summarise
from imx.scrape import Sample, minus, parse_sample, quantile

pytestmark = pytest.mark.unit

WALL = 1_750_000_000.0


def _scrape(metrics: Metrics, at: float = 100.0, wall: float = WALL) -> Sample:
    return parse_sample(generate_latest(metrics.registry).decode(), at, wall)


def _worker_metrics() -> Metrics:
    metrics = Metrics()
    metrics.report_received("bps-presevo", WALL - 5)
    metrics.report_received("bps-presevo", WALL - 1)
    metrics.report_received("ps-bor", WALL - 61)
    metrics.report_accepted("bps-presevo", "UnauthorisedBorderCrossing")
    metrics.exact_duplicate()
    metrics.incident_duplicate()
    metrics.incident_duplicate()
    metrics.correlation_emitted("vehicle")
    metrics.correlation_emitted("phone")
    metrics.report_rejected("CLOCK_SKEW")
    # One delivery chosen by two rules: one delivery, two rule counts.
    metrics.delivered("gpd-bpd", "NATIONAL", ("chain", "line"), 0.02, 300.0)
    metrics.delivered("rc-mk", "REGIONAL", ("chain",), 0.04, 300.0)
    metrics.delivered("ext-europol-emsc", "INTERNATIONAL", ("international",), 0.3, 300.0)
    return metrics


def test_a_scrape_reads_every_imx_metric():
    sample = _scrape(_worker_metrics())
    assert sample.received == 3
    assert sample.accepted == 1
    # Series the worker creates up front read as zero.
    assert {k: v for k, v in sample.deliveries.items() if v} == {
        "NATIONAL": 1,
        "REGIONAL": 1,
        "INTERNATIONAL": 1,
    }
    assert sample.duplicates == {"exact": 1, "incident": 2}
    assert sample.correlations == {"vehicle": 1, "phone": 1, "document": 0, "person": 0}
    assert {k: v for k, v in sample.rejected.items() if v} == {"CLOCK_SKEW": 1}
    assert sample.last_report == {"bps-presevo": WALL - 1, "ps-bor": WALL - 61}
    assert sample.latency["NATIONAL"][-1] == (math.inf, 1.0)


def test_summary_counts_levels_dlq_and_silent_units():
    figures = summarise(
        _scrape(_worker_metrics()),
        Sample(at=90.0, wall=WALL - 10),
        published=3,
        elapsed_s=10.0,
        local_units=["bps-presevo", "ps-bor", "ps-sid"],
    )
    assert [figures.levels[level].deliveries for level in LEVELS] == [0, 1, 1, 1]
    assert figures.overall.deliveries == 3
    assert figures.rate_in == pytest.approx(0.3)  # 3 reports in the 10 s window
    assert (figures.duplicates_exact, figures.duplicates_incident) == (1, 2)
    assert figures.correlations == 2
    assert figures.dlq == {"CLOCK_SKEW": 1}
    # ps-bor last reported 61 s ago, ps-sid never: both silent; bps-presevo 1 s ago.
    assert figures.silent == ("ps-bor", "ps-sid")
    assert figures.levels["LOCAL"].p50 is None
    assert 0.01 <= figures.levels["NATIONAL"].p50 <= 0.025


def test_latency_covers_only_the_window():
    metrics = Metrics()
    for _ in range(100):
        metrics.delivered("gpd-oc", "NATIONAL", ("chain",), 5.0, None)  # the slow start
    earlier = _scrape(metrics, at=0.0)
    for _ in range(10):
        metrics.delivered("gpd-oc", "NATIONAL", ("chain",), 0.02, None)
    later = _scrape(metrics, at=30.0)
    window = summarise(later, earlier, published=0, elapsed_s=30, local_units=[])
    whole = summarise(later, Sample(0.0, WALL), published=0, elapsed_s=30, local_units=[])
    assert window.overall.p99 <= 0.025
    assert whole.overall.p50 >= 3.0
    assert window.overall.deliveries == whole.overall.deliveries == 110


def test_quantile_interpolates_within_a_bucket_like_promql():
    buckets = ((0.1, 0.0), (0.2, 10.0), (math.inf, 10.0))
    assert quantile(0.5, buckets) == pytest.approx(0.15)
    assert quantile(0.5, ((0.1, 0.0), (math.inf, 0.0))) is None
    assert quantile(0.99, ((0.1, 0.0), (1.0, 1.0), (math.inf, 5.0))) == 1.0  # in +Inf
    assert quantile(0.5, ()) is None


def test_minus_gives_the_counts_between_two_scrapes():
    later = ((0.1, 5.0), (1.0, 9.0), (math.inf, 10.0))
    earlier = ((0.1, 2.0), (1.0, 3.0), (math.inf, 3.0))
    assert minus(later, earlier) == ((0.1, 3.0), (1.0, 6.0), (math.inf, 7.0))
    assert minus(later, ()) == later


@given(
    observations=st.lists(st.floats(min_value=0.0, max_value=120.0), min_size=1, max_size=200),
    q=st.sampled_from((0.5, 0.9, 0.99)),
)
def test_quantile_estimate_lies_in_the_bucket_of_the_true_quantile(observations, q):
    metrics = Metrics()
    for value in observations:
        metrics.delivered("gpd-oc", "NATIONAL", ("chain",), value, None)
    estimate = quantile(q, _scrape(metrics).latency["NATIONAL"])
    true = sorted(observations)[max(0, math.ceil(q * len(observations)) - 1)]
    bounds = (0.0, *LATENCY_BUCKETS)
    upper = next((b for b in LATENCY_BUCKETS if true <= b), math.inf)
    lower = max(b for b in bounds if b < upper) if upper > 0.005 else 0.0
    assert estimate is not None
    assert lower <= estimate <= min(upper, LATENCY_BUCKETS[-1])
