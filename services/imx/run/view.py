"""How ``imx run`` shows its figures: rich tables on a terminal, short plain lines otherwise.

Rendering is separate from computing (``imx.run.figures``) so the same figures feed the live
tables, the progress lines of a non-terminal run (CI logs, ``nohup``) and the final summary.
Whether a figure needs attention is decided there; here each state only picks a colour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.console import Group
from rich.table import Table
from rich.text import Text

from imx.metrics import AGE_BUCKETS, LEVELS
from imx.run.figures import (
    BACKLOG_GROWING_RECORDS,
    LATE_AFTER_S,
    LATENCY_P99_LIMIT_S,
    Figures,
    GatewayFlow,
    Level,
    State,
)

#: Plain progress lines stay narrower than this, so a log viewer does not wrap them.
PLAIN_WIDTH = 160
#: Width of the final summary when stdout is not a terminal (a log): no header wraps at it.
SUMMARY_WIDTH = 120
#: At most this many names of silent units are spelt out in a plain line; the rest are counted.
SILENT_NAMED = 2

STYLES: Mapping[State, str] = {"ok": "", "warn": "yellow", "alert": "bold red"}
ATTENTION: Mapping[str, str] = {
    "latency": f"p99 latency over {LATENCY_P99_LIMIT_S:g} s",
    "late": f"deliveries over {LATE_AFTER_S / 3600:g} h after the event",
    "dlq": "DLQ growing",
    "silent": "LOCAL units silent",
    "backlog": f"backlog growing (≥ {BACKLOG_GROWING_RECORDS:.0f} records)",
    "worker": "worker not answering",
    "gateway": "gateway answering 5xx or not answering",
}
STAGE_NAMES = {"intake": "intake", "core": "core (accepted, not yet decided)"}


def seconds(value: float | None) -> str:
    """A latency for people: milliseconds below a second, seconds above; '-' when unknown."""
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def age(value: float | None) -> str:
    """An event age for people: seconds, minutes or hours; '-' when unknown."""
    if value is None:
        return "-"
    if value >= AGE_BUCKETS[-1]:
        return f"> {AGE_BUCKETS[-1] / 3600:.0f} h"  # in the +Inf bucket: no upper bound known
    if value < 60:
        return f"{value:.0f} s"
    if value < 3600:
        return f"{value / 60:.0f} min"
    return f"{value / 3600:.1f} h"


def _count(value: float) -> str:
    return f"{value:.0f}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}/s"


def _per_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _dlq(figures: Figures, window: str) -> str:
    text = ", ".join(f"{code} {_count(n)}" for code, n in figures.dlq.items()) or "none"
    if 0 < figures.dlq_window < sum(figures.dlq.values()):
        return f"{text} (+{_count(figures.dlq_window)} in the {window})"
    return text


def _silent(names: Sequence[str], named: int | None = None) -> str:
    if not names:
        return "none"
    shown = names if named is None else names[:named]
    rest = len(names) - len(shown)
    return ", ".join(shown) + (f" and {rest} more" if rest else "")


def _share(part: float, whole: float) -> str:
    return f" ({100 * part / whole:.0f} % of reports in)" if whole > 0 else ""


def _health(figures: Figures) -> str:
    health = figures.health
    if health.answered:
        return f"answering, figures {health.age_s:.0f} s old"
    return f"not answering, figures {health.age_s:.0f} s old"


def _backlog(figures: Figures) -> str:
    return ", ".join(f"{STAGE_NAMES[s]} {_count(n)}" for s, n in figures.backlog.items())


def _gateway(flow: GatewayFlow) -> str:
    streams = f"{_count(flow.streams)} stream{'' if flow.streams == 1 else 's'}"
    text = (
        f"{_rate(flow.rate)} (4xx {_rate(flow.client_errors)}, 5xx {_rate(flow.server_errors)}), "
        f"{streams}"
    )
    return text if flow.answered else f"{text}, not answering"


def _attention(figures: Figures) -> str:
    return ", ".join(ATTENTION[name] for name in figures.states.attention()) or "none"


def _worst(figures: Figures) -> State:
    found = {getattr(figures.states, name) for name in figures.states.attention()}
    return "alert" if "alert" in found else "warn" if found else "ok"


def _styled(value: str, state: State) -> Text:
    return Text(value, style=STYLES[state])


def render(
    figures: Figures, *, title: str, window: str, context: Sequence[tuple[str, str]] = ()
) -> Group:
    """The tables of the live view and of the final summary.

    ``window`` names what the rates, quantiles and "recently" cover ("last 30 s", "whole
    run"); ``context`` rows come first (where the broker and the metrics are).
    """
    states = figures.states
    flow = Table(title=title, show_header=False, title_justify="left", min_width=60)
    flow.add_column("figure", style="bold")
    flow.add_column("value", justify="right")
    for name, value in context:
        flow.add_row(name, value)
    flow.add_row("running for", f"{figures.elapsed_s:.0f} s")
    flow.add_row("attention", _styled(_attention(figures), _worst(figures)))
    flow.add_row("worker", _styled(_health(figures), states.worker))
    flow.add_row("backlog (records)", _styled(_backlog(figures), states.backlog))
    flow.add_row("reports published", _count(figures.published))
    flow.add_row("reports in", _count(figures.received))
    flow.add_row(f"reports in per second ({window})", _rate(figures.rate_in))
    if figures.gateway is not None:
        flow.add_row(
            f"gateway requests per second ({window})",
            _styled(_gateway(figures.gateway), states.gateway),
        )
    flow.add_row("exact duplicates (dropped)", _count(figures.exact_duplicates))
    corroborating = _count(figures.corroborating) + _share(figures.corroborating, figures.received)
    flow.add_row("corroborating reports", corroborating)
    flow.add_row("correlations", _count(figures.correlations))
    flow.add_row("DLQ", _styled(_dlq(figures, window), states.dlq))
    flow.add_row("silent LOCAL units", _styled(_silent(figures.silent), states.silent))
    return Group(flow, _levels(figures, window), _directorates(figures, window))


def _levels(figures: Figures, window: str) -> Table:
    table = Table(
        title=f"deliveries per level (per second, latency and event age: {window})",
        title_justify="left",
        caption="latency: reported → delivered; event age: occurred → delivered",
        caption_justify="left",
        min_width=60,
    )
    table.add_column("level", style="bold", no_wrap=True, min_width=len("INTERNATIONAL"))
    table.add_column("deliveries", justify="right")
    table.add_column("per s", justify="right")
    table.add_column("latency p50", justify="right")
    table.add_column("latency p99", justify="right")
    table.add_column("age p50", justify="right")
    table.add_column("age p99", justify="right")
    table.add_column(f"over {LATE_AFTER_S / 3600:g} h", justify="right")

    def row(name: str, level: Level, p99: State = "ok", late: State = "ok") -> None:
        table.add_row(
            name,
            _count(level.deliveries),
            _per_s(level.rate),
            seconds(level.p50),
            _styled(seconds(level.p99), p99),
            age(level.age_p50),
            age(level.age_p99),
            _styled(_count(level.late), late),
        )

    for level in LEVELS:
        row(level, figures.levels[level])
    row("all", figures.overall, figures.states.latency, figures.states.late)
    return table


def _directorates(figures: Figures, window: str) -> Table:
    table = Table(
        title=f"per police directorate (units: its LOCAL units; per second: {window})",
        title_justify="left",
        caption="delivered to it: deliveries to the directorate counted once per routing rule "
        "that chose it (imx_deliveries_total)",
        caption_justify="left",
        min_width=60,
    )
    table.add_column("directorate", style="bold", no_wrap=True)
    table.add_column("units", justify="right")
    table.add_column("reports in", justify="right")
    table.add_column("in per s", justify="right")
    table.add_column("delivered to it", justify="right")
    table.add_column("per s", justify="right")
    table.add_column("silent")
    for line in figures.directorates:
        table.add_row(
            line.id,
            str(line.units),
            _count(line.received),
            _per_s(line.rate_in),
            _count(line.rule_deliveries),
            _per_s(line.rule_rate),
            _styled(_silent(line.silent), "warn" if line.silent else "ok"),
        )
    return table


def progress_line(figures: Figures) -> str:
    """Short lines with the figures, for output that is not a terminal (CI logs, ``nohup``).

    Four lines, each under PLAIN_WIDTH columns: the flow; timing and matching; reports in per
    directorate; the health; and a fifth for the HTTP gateway when one runs. A figure that
    needs attention ends in ``!``.
    """
    overall, states = figures.overall, figures.states
    rates = " ".join(f"{level}={_per_s(figures.levels[level].rate)}" for level in LEVELS)
    flow = (
        f"t={figures.elapsed_s:.0f}s published={figures.published} "
        f"in={_count(figures.received)} ({_rate(figures.rate_in)}) "
        f"delivered={_count(overall.deliveries)}, per s: {rates}"
    )
    timing = (
        f"  reported→delivered p50={seconds(overall.p50)} "
        f"p99={seconds(overall.p99)}{_mark(states.latency)} "
        f"| age p99={age(overall.age_p99)}, "
        f"over {LATE_AFTER_S / 3600:g} h={_count(overall.late)}{_mark(states.late)} "
        f"| corroborating={_count(figures.corroborating)} "
        f"exact-duplicates={_count(figures.exact_duplicates)} "
        f"correlations={_count(figures.correlations)}"
    )
    areas = "  reports in per s: " + (
        " ".join(f"{d.id}={_per_s(d.rate_in)}" for d in figures.directorates) or "-"
    )
    backlog = " ".join(f"{s}={_count(n)}" for s, n in figures.backlog.items())
    silent = f"silent={len(figures.silent)}" + (
        f" ({_silent(figures.silent, SILENT_NAMED)})" if figures.silent else ""
    )
    health = (
        f"  worker {'ok' if figures.health.answered else 'NOT ANSWERING'} "
        f"({figures.health.age_s:.0f} s){_mark(states.worker)} "
        f"| backlog {backlog}{_mark(states.backlog)} "
        f"| dlq={_count(sum(figures.dlq.values()))} (+{_count(figures.dlq_window)})"
        f"{_mark(states.dlq)} | {silent}{_mark(states.silent)}"
    )
    lines = [flow, timing, areas, health]
    if figures.gateway is not None:
        gateway = figures.gateway
        lines.append(
            f"  gateway {'ok' if gateway.answered else 'NOT ANSWERING'} "
            f"requests={_rate(gateway.rate)} 4xx={_rate(gateway.client_errors)} "
            f"5xx={_rate(gateway.server_errors)}{_mark(states.gateway)} "
            f"streams={_count(gateway.streams)} "
            f"reports-accepted={_count(gateway.accepted)} (of {_count(gateway.requests)} requests)"
        )
    return "\n".join(_fit(line) for line in lines)


def _mark(state: State) -> str:
    return "" if state == "ok" else "!"


def _fit(line: str) -> str:
    return line if len(line) < PLAIN_WIDTH else line[: PLAIN_WIDTH - 2] + "…"
