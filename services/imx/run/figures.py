"""The live view's figures, computed from the worker's ``/metrics`` text (CONTRACT.md section 9)
and the HTTP gateway's (section 11).

The view reads what Prometheus would scrape, not the worker's internals, so it shows exactly what
an operator's dashboard shows. Deliveries per level are counted from the latency histogram's
``_count``: ``imx_deliveries_total`` counts a delivery once per rule that chose it, so summing
it would count a delivery chosen by two rules twice. Quantiles are estimated from the histogram
buckets the way PromQL's ``histogram_quantile`` does (linear within a bucket), over a window:
the difference of two scrapes.

Three scrapes go in: ``current``; ``since``, the start of the window that rates, quantiles and
"grew" cover; and ``baseline``, the scrape before the simulator started, from which totals
count (so ``received`` is comparable with what the simulator published). Whether a figure
needs attention is decided here too, against the named thresholds below; the view only maps
each ``State`` to a colour.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Literal

from imx.metrics import AGE_BUCKETS, LEVELS, STAGES
from imx.scrape import Buckets, GatewaySample, Sample, above, combined, minus, quantile

#: A LOCAL unit with no report for this long is listed as silent.
SILENT_AFTER_S = 60.0
#: Delivery latency target (reported → delivered): a p99 above it needs attention.
LATENCY_P99_LIMIT_S = 1.0
#: The EUROSUR first-report limit: a delivery this long after the event occurred is late.
LATE_AFTER_S = 86400.0
#: DLQ rejections per second over the window above which the DLQ is an alert, not a warning
#: (the threshold of the ImxDlqRateHigh alert: 6 a minute).
DLQ_ALERT_PER_S = 0.1
#: A backlog that grew over the window and holds at least this many records is growing.
BACKLOG_GROWING_RECORDS = 50.0
#: The worker's figures are stale when its last answered scrape is older than this ...
SCRAPE_STALE_AFTER_S = 5.0
#: ... and the worker counts as down when it is older than this.
SCRAPE_DOWN_AFTER_S = 15.0

assert LATE_AFTER_S in AGE_BUCKETS  # noqa: S101 - late deliveries are read off that bound

State = Literal["ok", "warn", "alert"]


@dataclass(frozen=True)
class Level:
    """Deliveries of one level: totals since the baseline, rate and quantiles over the window."""

    deliveries: float
    rate: float | None  # deliveries per second over the window
    p50: float | None  # latency, reported → delivered
    p99: float | None
    age_p50: float | None  # event age at delivery, occurred → delivered
    age_p99: float | None
    late: float  # deliveries more than LATE_AFTER_S after the event occurred


@dataclass(frozen=True)
class Directorate:
    """The flow of one territorial police directorate and the LOCAL units under it."""

    id: str
    units: int
    received: float  # reports in from its LOCAL units since the baseline
    rate_in: float | None  # the same per second over the window
    #: deliveries to the directorate itself, counted once per routing rule that chose it
    #: (imx_deliveries_total); no exact per-recipient delivery count exists
    rule_deliveries: float
    rule_rate: float | None
    silent: tuple[str, ...]


@dataclass(frozen=True)
class Health:
    """Whether the worker answers: the last scrape and the age of the figures shown."""

    answered: bool  # the latest scrape attempt got an answer
    age_s: float  # seconds since the scrape the figures come from


@dataclass(frozen=True)
class States:
    """What needs the operator's attention, one state per threshold."""

    latency: State  # alert: p99 over the window above LATENCY_P99_LIMIT_S
    late: State  # warn: a delivery in the window was over the 24-hour limit
    dlq: State  # warn: the DLQ grew in the window; alert: faster than DLQ_ALERT_PER_S
    silent: State  # warn: a LOCAL unit is silent
    backlog: State  # warn: a stage's backlog is growing
    worker: State  # warn: figures stale or the last scrape failed; alert: worker down
    gateway: State = "ok"  # warn: 5xx answers in the window, or the last scrape failed

    def attention(self) -> tuple[str, ...]:
        """The names of every state that is not ok, in field order."""
        return tuple(f.name for f in fields(self) if getattr(self, f.name) != "ok")


@dataclass(frozen=True)
class GatewayFlow:
    """The HTTP gateway's traffic: totals since the baseline, rates over the window.

    Requests are every answer but those to the gateway's own ``/metrics`` (the view's scrapes).
    """

    answered: bool  # the latest scrape of the gateway got an answer
    requests: float
    rate: float | None  # requests per second
    client_errors: float | None  # 4xx per second: bad reports, tokens, the rate limit
    server_errors: float | None  # 5xx per second: mostly 503, the broker unreachable
    streams: float  # event streams open now
    accepted: float  # reports the broker acknowledged


def gateway_flow(
    current: GatewaySample,
    since: GatewaySample,
    baseline: GatewaySample | None = None,
    *,
    answered: bool = True,
) -> GatewayFlow:
    """Totals from ``baseline`` (None: since the gateway started), rates from ``since``."""
    base = baseline or GatewaySample(at=-math.inf)
    span = current.at - since.at

    def answers(sample: GatewaySample, first: str = "") -> float:
        return sum(n for status, n in sample.answers.items() if status.startswith(first))

    def rate(first: str = "") -> float | None:
        return (answers(current, first) - answers(since, first)) / span if span > 0 else None

    return GatewayFlow(
        answered=answered,
        requests=answers(current) - answers(base),
        rate=rate(),
        client_errors=rate("4"),
        server_errors=rate("5"),
        streams=current.streams,
        accepted=current.accepted - base.accepted,
    )


@dataclass(frozen=True)
class Figures:
    """What the live view and the final summary show."""

    elapsed_s: float
    published: int
    received: float  # since the baseline
    rate_in: float | None  # reports per second over the window
    levels: Mapping[str, Level]  # every level of LEVELS, in that order
    overall: Level
    exact_duplicates: float  # dropped
    corroborating: float  # reports matched to an incident another unit reported; delivered
    correlations: float
    dlq: Mapping[str, float]  # code → count since the baseline
    dlq_window: float  # rejections within the window
    silent: tuple[str, ...]  # LOCAL unit ids
    directorates: tuple[Directorate, ...]
    health: Health
    backlog: Mapping[str, float]  # stage → records not yet processed
    states: States
    gateway: GatewayFlow | None = None  # None: no gateway runs


def summarise(
    current: Sample,
    since: Sample,
    *,
    published: int,
    elapsed_s: float,
    local_units: Sequence[str] | Mapping[str, str],
    baseline: Sample | None = None,
    now: float | None = None,
    answered: bool = True,
    silent_after_s: float = SILENT_AFTER_S,
    gateway: GatewayFlow | None = None,
) -> Figures:
    """Totals from ``baseline`` (None: since the worker started) to ``current``; rates,
    quantiles and growth over the window from ``since``.

    ``local_units`` maps each LOCAL unit to its territorial directorate (a plain sequence of
    ids gives no directorate lines). ``now`` (monotonic, default ``current.at``) and
    ``answered`` (whether the latest scrape attempt got an answer) give the worker's health.
    ``gateway``, the gateway's flow over the same window, is shown as it is.
    """
    base = baseline or Sample(at=-math.inf, wall=-math.inf)
    span = current.at - since.at

    def rate(later: float, earlier: float) -> float | None:
        return (later - earlier) / span if span > 0 else None

    def level(latency: Buckets, age: Buckets, total: float, late: float) -> Level:
        return Level(
            deliveries=total,
            rate=rate(_count(latency), 0.0),
            p50=quantile(0.5, latency),
            p99=quantile(0.99, latency),
            age_p50=quantile(0.5, age),
            age_p99=quantile(0.99, age),
            late=late,
        )

    latency = {lv: minus(current.latency.get(lv, ()), since.latency.get(lv, ())) for lv in LEVELS}
    age = {lv: minus(current.age.get(lv, ()), since.age.get(lv, ())) for lv in LEVELS}
    totals = {lv: current.deliveries.get(lv, 0.0) - base.deliveries.get(lv, 0.0) for lv in LEVELS}
    late = {lv: _late(current.age.get(lv, ())) - _late(base.age.get(lv, ())) for lv in LEVELS}
    levels = {lv: level(latency[lv], age[lv], totals[lv], late[lv]) for lv in LEVELS}
    overall = level(combined(latency), combined(age), sum(totals.values()), sum(late.values()))

    territorial = local_units if isinstance(local_units, Mapping) else {}
    # A unit never heard from is silent once the run has gone that long without it.
    heard = {u: max(current.last_report.get(u, -math.inf), base.wall) for u in local_units}
    silent = tuple(u for u in local_units if current.wall - heard[u] > silent_after_s)
    dlq = {code: n - base.rejected.get(code, 0.0) for code, n in sorted(current.rejected.items())}
    dlq_window = sum(current.rejected.values()) - sum(since.rejected.values())
    backlog = {stage: current.backlog.get(stage, 0.0) for stage in STAGES}
    health = Health(answered, max((current.at if now is None else now) - current.at, 0.0))
    states = States(
        latency="alert" if (overall.p99 or 0.0) > LATENCY_P99_LIMIT_S else "ok",
        late="warn" if sum(_late(b) for b in age.values()) > 0 else "ok",
        dlq=_dlq_state(dlq_window, span),
        silent="warn" if silent else "ok",
        backlog=_backlog_state(backlog, since.backlog),
        worker=_worker_state(health),
        gateway=_gateway_state(gateway),
    )
    received = current.received - base.received
    return Figures(
        elapsed_s=elapsed_s,
        published=published,
        received=received,
        rate_in=rate(current.received, since.received),
        levels=levels,
        overall=overall,
        exact_duplicates=current.duplicates.get("exact", 0.0) - base.duplicates.get("exact", 0.0),
        corroborating=(
            current.duplicates.get("incident", 0.0) - base.duplicates.get("incident", 0.0)
        ),
        correlations=sum(current.correlations.values()) - sum(base.correlations.values()),
        dlq={code: n for code, n in dlq.items() if n},
        dlq_window=dlq_window,
        silent=silent,
        directorates=_directorates(
            current, since, base, territorial=territorial, silent=silent, rate=rate
        ),
        health=health,
        backlog=backlog,
        states=states,
        gateway=gateway,
    )


def _count(buckets: Buckets) -> float:
    return buckets[-1][1] if buckets else 0.0


def _late(buckets: Buckets) -> float:
    return above(LATE_AFTER_S, buckets)


def _dlq_state(grew: float, span: float) -> State:
    if grew <= 0:
        return "ok"
    return "alert" if span > 0 and grew / span > DLQ_ALERT_PER_S else "warn"


def _backlog_state(now: Mapping[str, float], then: Mapping[str, float]) -> State:
    growing = any(
        records >= BACKLOG_GROWING_RECORDS and records > then.get(stage, 0.0)
        for stage, records in now.items()
    )
    return "warn" if growing else "ok"


def _worker_state(health: Health) -> State:
    if health.age_s > SCRAPE_DOWN_AFTER_S:
        return "alert"
    if not health.answered or health.age_s > SCRAPE_STALE_AFTER_S:
        return "warn"
    return "ok"


def _gateway_state(flow: GatewayFlow | None) -> State:
    if flow is None:
        return "ok"
    return "warn" if not flow.answered or (flow.server_errors or 0.0) > 0 else "ok"


def _directorates(
    current: Sample,
    since: Sample,
    base: Sample,
    *,
    territorial: Mapping[str, str],
    silent: tuple[str, ...],
    rate: Callable[[float, float], float | None],
) -> tuple[Directorate, ...]:
    lines = []
    for directorate in sorted(set(territorial.values())):
        units = [u for u, d in territorial.items() if d == directorate]

        def total(sample: Sample, units: list[str] = units) -> float:
            return sum(sample.received_by_unit.get(u, 0.0) for u in units)

        delivered = current.rule_deliveries.get(directorate, 0.0)
        lines.append(
            Directorate(
                id=directorate,
                units=len(units),
                received=total(current) - total(base),
                rate_in=rate(total(current), total(since)),
                rule_deliveries=delivered - base.rule_deliveries.get(directorate, 0.0),
                rule_rate=rate(delivered, since.rule_deliveries.get(directorate, 0.0)),
                silent=tuple(u for u in silent if u in units),
            )
        )
    return tuple(lines)
