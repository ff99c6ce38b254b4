"""``imx run``'s figures from a worker's and the gateway's /metrics text: parsing, quantiles,
windows, states."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import generate_latest

from imx.gateway.metrics import GatewayMetrics
from imx.metrics import LATENCY_BUCKETS, LEVELS, Metrics
from imx.run import figures as f
from imx.run.figures import summarise
from imx.scrape import (
    GatewaySample,
    Sample,
    above,
    minus,
    parse_gateway,
    parse_sample,
    quantile,
)

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
    assert (figures.exact_duplicates, figures.corroborating) == (1, 2)
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


# --- rates, event age, baseline ------------------------------------------------------------

TERRITORIAL = {"bps-presevo": "pd-vranje", "ps-vranje": "pd-vranje", "ps-bor": "pd-bor"}


def test_a_scrape_reads_age_units_rule_deliveries_and_backlog():
    metrics = _worker_metrics()
    metrics.backlog("core", 12)
    sample = _scrape(metrics)
    assert sample.received_by_unit == {"bps-presevo": 2, "ps-bor": 1}
    assert sample.rule_deliveries == {"gpd-bpd": 2, "rc-mk": 1, "ext-europol-emsc": 1}
    assert sample.age["NATIONAL"][-1] == (math.inf, 1.0)
    assert sample.backlog == {"intake": 0, "core": 12}


def test_deliveries_per_second_per_level_over_the_window():
    metrics = Metrics()
    for _ in range(5):
        metrics.delivered("gpd-oc", "NATIONAL", ("chain",), 0.02, 60.0)
    earlier = _scrape(metrics, at=100.0)
    for _ in range(20):
        metrics.delivered("gpd-oc", "NATIONAL", ("chain",), 0.02, 60.0)
    metrics.delivered("rc-mk", "REGIONAL", ("chain",), 0.02, 60.0)
    figures = summarise(
        _scrape(metrics, at=110.0), earlier, published=0, elapsed_s=10, local_units=[]
    )
    assert figures.levels["NATIONAL"].rate == pytest.approx(2.0)  # 20 in 10 s
    assert figures.levels["REGIONAL"].rate == pytest.approx(0.1)
    assert figures.levels["LOCAL"].rate == 0
    assert figures.overall.rate == pytest.approx(2.1)
    assert figures.levels["NATIONAL"].deliveries == 25  # the total, not the window's


def test_event_age_quantiles_and_deliveries_over_the_24_hour_limit():
    metrics = Metrics()
    metrics.delivered("gpd-oc", "NATIONAL", ("chain",), 0.02, 30 * 3600.0)  # before the window
    earlier = _scrape(metrics, at=0.0)
    for _ in range(98):
        metrics.delivered("gpd-oc", "NATIONAL", ("chain",), 0.02, 600.0)
    metrics.delivered("gpd-oc", "NATIONAL", ("chain",), 0.02, 25 * 3600.0)
    metrics.delivered("pd-bor", "REGIONAL", ("chain",), 0.02, 24 * 3600.0)  # at the limit: in time
    later = _scrape(metrics, at=30.0)
    window = summarise(later, earlier, published=0, elapsed_s=30, local_units=[])
    national = window.levels["NATIONAL"]
    assert 300 <= national.age_p50 <= 900  # between the 5 min and 15 min bounds
    assert national.age_p99 > 3600
    assert national.late == 2  # totals count the whole run: also the one before the window
    assert window.levels["REGIONAL"].late == 0
    assert window.overall.late == 2
    assert window.states.late == "warn"  # one late in the window
    quiet = summarise(later, later, published=0, elapsed_s=30, local_units=[])
    assert quiet.states.late == "ok"
    assert quiet.overall.age_p99 is None


def test_totals_count_from_the_baseline_so_in_compares_with_published():
    metrics = Metrics()
    metrics.report_received("ps-bor", WALL - 100)  # read before the simulator started
    metrics.delivered("pd-bor", "REGIONAL", ("chain",), 0.02, 60.0)
    metrics.report_rejected("CLOCK_SKEW")
    metrics.incident_duplicate()
    baseline = _scrape(metrics, at=0.0)
    for _ in range(3):
        metrics.report_received("ps-bor", WALL - 1)
    metrics.delivered("pd-bor", "REGIONAL", ("chain",), 0.02, 60.0)
    metrics.report_rejected("CLOCK_SKEW")
    later = _scrape(metrics, at=10.0)
    figures = summarise(
        later, baseline, baseline=baseline, published=3, elapsed_s=10, local_units=TERRITORIAL
    )
    assert figures.received == figures.published == 3
    assert figures.levels["REGIONAL"].deliveries == 1
    assert figures.dlq == {"CLOCK_SKEW": 1}
    assert figures.corroborating == 0
    assert figures.directorates[0].received == 3  # pd-bor
    absolute = summarise(later, baseline, published=3, elapsed_s=10, local_units=[])
    assert absolute.received == 4  # without a baseline: since the worker started


def test_a_directorate_line_groups_its_units_reports_and_counts_deliveries_to_it_per_rule():
    metrics = Metrics()
    earlier = _scrape(metrics, at=0.0)
    for unit in ("bps-presevo", "bps-presevo", "ps-vranje", "ps-bor"):
        metrics.report_received(unit, WALL - 1)
    metrics.delivered("pd-vranje", "REGIONAL", ("chain", "crime"), 0.02, 60.0)  # two rules
    figures = summarise(
        _scrape(metrics, at=10.0), earlier, published=0, elapsed_s=10, local_units=TERRITORIAL
    )
    bor, vranje = figures.directorates
    assert (bor.id, bor.units, bor.received, bor.rule_deliveries) == ("pd-bor", 1, 1, 0)
    assert (vranje.id, vranje.units, vranje.received) == ("pd-vranje", 2, 3)
    assert vranje.rate_in == pytest.approx(0.3)
    assert vranje.rule_deliveries == 2  # one delivery, chosen by two rules
    assert vranje.rule_rate == pytest.approx(0.2)
    assert figures.levels["REGIONAL"].deliveries == 1  # the exact count stays per level


def test_a_unit_never_heard_from_is_silent_only_once_the_run_is_that_old():
    baseline = Sample(at=0.0, wall=WALL - 30)
    current = Sample(at=30.0, wall=WALL, last_report={"ps-bor": WALL - 1})
    young = summarise(
        current, baseline, baseline=baseline, published=0, elapsed_s=30,
        local_units=TERRITORIAL,
    )  # fmt: skip
    assert young.silent == ()
    assert young.states.silent == "ok"
    later = Sample(at=90.0, wall=WALL + 60, last_report={"ps-bor": WALL + 59})
    old = summarise(
        later, baseline, baseline=baseline, published=0, elapsed_s=90, local_units=TERRITORIAL
    )
    assert old.silent == ("bps-presevo", "ps-vranje")
    assert old.states.silent == "warn"
    assert old.directorates[1].silent == ("bps-presevo", "ps-vranje")
    assert old.directorates[0].silent == ()


# --- states --------------------------------------------------------------------------------


def _states(current: Sample, since: Sample, **kwargs):
    return summarise(current, since, published=0, elapsed_s=30, local_units=[], **kwargs).states


def test_p99_latency_over_one_second_is_an_alert():
    metrics = Metrics()
    earlier = _scrape(metrics, at=0.0)
    for _ in range(99):
        metrics.delivered("gpd-oc", "NATIONAL", ("chain",), 0.02, None)
    fast = _scrape(metrics, at=30.0)
    assert _states(fast, earlier).latency == "ok"
    for _ in range(5):
        metrics.delivered("gpd-oc", "NATIONAL", ("chain",), 3.0, None)
    slow = _scrape(metrics, at=30.0)
    assert _states(slow, earlier).latency == "alert"
    assert "latency" in _states(slow, earlier).attention()
    assert f.LATENCY_P99_LIMIT_S == 1.0


def test_a_growing_dlq_is_a_warning_and_a_fast_growing_one_an_alert():
    metrics = Metrics()
    metrics.report_rejected("CLOCK_SKEW")
    earlier = _scrape(metrics, at=0.0)
    assert _states(_scrape(metrics, at=30.0), earlier).dlq == "ok"  # old rejections only
    metrics.report_rejected("CLOCK_SKEW")
    assert _states(_scrape(metrics, at=30.0), earlier).dlq == "warn"  # 1 in 30 s
    for _ in range(3):
        metrics.report_rejected("UNDECODABLE")
    assert _states(_scrape(metrics, at=30.0), earlier).dlq == "alert"  # 4 in 30 s > 0.1/s
    assert (
        summarise(
            _scrape(metrics, at=30.0), earlier, published=0, elapsed_s=30, local_units=[]
        ).dlq_window
        == 4
    )


def test_a_backlog_is_growing_when_it_grew_over_the_window_and_is_large():
    metrics = Metrics()
    metrics.backlog("core", 60)
    earlier = _scrape(metrics, at=0.0)
    assert _states(_scrape(metrics, at=30.0), earlier).backlog == "ok"  # large but steady
    metrics.backlog("core", 80)
    assert _states(_scrape(metrics, at=30.0), earlier).backlog == "warn"
    small = Metrics()
    small.backlog("intake", 3)
    grew = _scrape(small, at=30.0)
    assert _states(grew, Sample(0.0, WALL)).backlog == "ok"  # a few records: normal flow
    assert summarise(grew, grew, published=0, elapsed_s=0, local_units=[]).backlog == {
        "intake": 3,
        "core": 0,
    }


@pytest.mark.parametrize(
    ("age_s", "answered", "state"),
    [(1.0, True, "ok"), (1.0, False, "warn"), (f.SCRAPE_STALE_AFTER_S + 1, True, "warn"),
     (f.SCRAPE_DOWN_AFTER_S + 1, False, "alert")],
)  # fmt: skip
def test_the_worker_state_follows_the_last_scrape(age_s, answered, state):
    current = Sample(at=100.0, wall=WALL)
    figures = summarise(
        current, current, published=0, elapsed_s=1, local_units=[],
        now=100.0 + age_s, answered=answered,
    )  # fmt: skip
    assert figures.states.worker == state
    assert figures.health.age_s == pytest.approx(age_s)
    assert figures.health.answered is answered


def test_nothing_needs_attention_in_a_quiet_run():
    current = Sample(at=100.0, wall=WALL)
    states = _states(current, current)
    assert states.attention() == ()


def test_above_counts_observations_beyond_a_bound():
    buckets = ((3600.0, 5.0), (86400.0, 8.0), (math.inf, 11.0))
    assert above(86400.0, buckets) == 3
    assert above(86400.0, ()) == 0
    with pytest.raises(ValueError, match="not a bucket bound"):
        above(100.0, buckets)


# --- the HTTP gateway ---------------------------------------------------------------------


def _gateway_scrape(metrics: GatewayMetrics, at: float) -> GatewaySample:
    return parse_gateway(metrics.exposition().decode(), at)


def test_a_gateway_scrape_counts_answers_by_status_but_not_its_own_metrics_route():
    metrics = GatewayMetrics()
    for status in (202, 202, 401, 503):
        metrics.request_answered("/v1/reports", status, 0.01)
    for _ in range(5):
        metrics.request_answered("/metrics", 200, 0.001)  # the view's own scrapes
    metrics.stream_opened()
    metrics.stream_opened()
    metrics.stream_closed()
    metrics.reports_accepted("bps-presevo", 3)
    sample = _gateway_scrape(metrics, 7.0)
    assert sample == GatewaySample(
        at=7.0, answers={"202": 2.0, "401": 1.0, "503": 1.0}, streams=1.0, accepted=3.0
    )


def test_gateway_rates_cover_the_window_and_totals_the_baseline():
    metrics = GatewayMetrics()
    metrics.request_answered("/healthz", 200, 0.001)
    baseline = _gateway_scrape(metrics, 0.0)
    for _ in range(10):
        metrics.request_answered("/v1/reports", 202, 0.01)
    metrics.reports_accepted("bps-presevo", 10)
    since = _gateway_scrape(metrics, 10.0)
    for status in (202,) * 14 + (429,) * 4 + (503,) * 2:
        metrics.request_answered("/v1/reports", status, 0.01)
        metrics.request_answered("/metrics", 200, 0.001)
    current = _gateway_scrape(metrics, 20.0)
    flow = f.gateway_flow(current, since, baseline)
    assert flow.requests == 30  # 10 + 20 since the baseline, /metrics not counted
    assert flow.rate == pytest.approx(2.0)  # 20 in the 10 s window
    assert flow.client_errors == pytest.approx(0.4)
    assert flow.server_errors == pytest.approx(0.2)
    assert flow.accepted == 10
    assert f.gateway_flow(current, current).rate is None  # no window yet


def _gateway_state(flow: f.GatewayFlow) -> str:
    return summarise(Sample(1.0, WALL), Sample(0.0, WALL), published=0, elapsed_s=1,
                     local_units=[], gateway=flow).states.gateway  # fmt: skip


def test_the_gateway_needs_attention_when_it_answers_5xx_or_does_not_answer():
    calm = f.GatewayFlow(True, 40, 4.0, 1.5, 0.0, 2, 30)
    assert _gateway_state(calm) == "ok"  # 4xx are the clients' doing
    assert _gateway_state(dataclasses.replace(calm, server_errors=0.1)) == "warn"
    assert _gateway_state(f.GatewayFlow(False, 40, 4.0, 0.0, 0.0, 2, 30)) == "warn"
    figures = summarise(Sample(1.0, WALL), Sample(0.0, WALL), published=0, elapsed_s=1,
                        local_units=[])  # fmt: skip
    assert figures.gateway is None
    assert figures.states.gateway == "ok"
