"""``imx run``'s rendering: the tables' words and colours, narrow consoles, the plain lines."""

from __future__ import annotations

import dataclasses
import io
import re

import pytest
from prometheus_client import generate_latest
from rich.console import Console

from imx.metrics import LEVELS, REJECTION_CODES, Metrics
from imx.registry import load_registry
from imx.run.figures import Figures, GatewayFlow, Level, State, States, summarise
from imx.run.view import PLAIN_WIDTH, age, progress_line, render, seconds
from imx.scrape import parse_sample

pytestmark = pytest.mark.unit

WALL = 1_750_000_000.0
TERRITORIAL = {u.id: u.territorial or "" for u in load_registry().local_units()}


def _figures() -> Figures:
    """Figures of a worker that ran a while: every kind of figure is there."""
    metrics = Metrics()
    before = parse_sample(generate_latest(metrics.registry).decode(), 0.0, WALL - 61)
    for unit in TERRITORIAL:
        metrics.report_received(unit, WALL - 5)
    metrics.report_received("ps-bor", WALL - 1)
    for _ in range(3):
        metrics.exact_duplicate()
    for _ in range(4):
        metrics.incident_duplicate()
    metrics.correlation_emitted("vehicle")
    metrics.report_rejected("CLOCK_SKEW")
    metrics.report_rejected("CLOCK_SKEW")
    for level, n in (("LOCAL", 4), ("REGIONAL", 50), ("NATIONAL", 90)):
        for _ in range(n):
            metrics.delivered("pd-vranje", level, ("chain", "crime"), 0.0215, 600.0)
    metrics.delivered("gpd-oc", "NATIONAL", ("chain",), 1.5, 90_000.0)
    metrics.delivered("gpd-oc", "NATIONAL", ("chain",), 1.5, 90_000.0)
    metrics.backlog("core", 3)
    after = parse_sample(generate_latest(metrics.registry).decode(), 61.2, WALL)
    return summarise(
        after, before, baseline=before, published=14, elapsed_s=61.2, local_units=TERRITORIAL,
        now=61.7,
    )  # fmt: skip


def _text(figures: Figures, width: int = 160, *, styles: bool = False) -> str:
    console = Console(file=io.StringIO(), width=width, record=True, color_system="standard")
    console.print(
        render(figures, title="imx run: summary", window="whole run", context=[("broker", "b:1")])
    )
    return console.export_text(styles=styles)


def _rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("│") if c.strip()]
        if len(cells) >= 2:
            rows[cells[0]] = cells[1:]
    return rows


def test_the_tables_show_every_figure_with_clear_names():
    text = _text(_figures())
    rows = _rows(text)
    assert rows["reports published"] == ["14"]
    assert rows["reports in"] == ["14"]
    assert rows["exact duplicates (dropped)"] == ["3"]
    assert rows["corroborating reports"] == ["4 (29 % of reports in)"]
    assert "duplicates exact / incident" not in rows
    assert rows["DLQ"] == ["CLOCK_SKEW 2"]  # all of them in the window: no "+" to tell apart
    assert rows["worker"] == ["answering, figures 0 s old"]
    assert rows["backlog (records)"] == ["intake 0, core (accepted, not yet decided) 3"]
    assert "reported → delivered" in text
    assert "occurred → delivered" in text
    # level, deliveries, per s, latency p50, p99, age p50, p99, over 24 h
    assert rows["NATIONAL"] == ["92", "1.5", "18 ms", "1.27 s", "10 min", "30.5 h", "2"]
    assert rows["INTERNATIONAL"] == ["0", "0.0", "-", "-", "-", "-", "0"]
    assert rows["all"][0] == "146"
    assert rows["pd-vranje"] == ["4", "4", "0.1", "288", "4.7", "none"]  # rule counts: 2 each
    assert "once per routing rule" in text
    assert rows["attention"][0].startswith("p99 latency over 1 s")


def test_thresholds_show_in_colour():
    figures = _figures()
    assert figures.states.latency == "alert"
    styled = _text(figures, styles=True)
    p99 = re.escape(seconds(figures.overall.p99))
    assert re.search(rf"\x1b\[1;31m *{p99}", styled)  # the overall p99 over 1 s: bold red
    assert re.search(r"\x1b\[33m *CLOCK_SKEW 2", styled)  # the DLQ grew a little: yellow
    calm = dataclasses.replace(
        figures, states=States("ok", "ok", "ok", "ok", "ok", "ok"), dlq={}, dlq_window=0
    )
    plain = _text(calm, styles=True)
    assert "\x1b[1;31m" not in plain
    assert "\x1b[33m" not in plain
    assert _rows(_text(calm))["attention"] == ["none"]
    growing = dataclasses.replace(figures, dlq={"CLOCK_SKEW": 5}, dlq_window=2)
    assert _rows(_text(growing))["DLQ"] == ["CLOCK_SKEW 5 (+2 in the whole run)"]


@pytest.mark.parametrize("width", [20, 40, 80])
def test_a_narrow_console_does_not_break_the_view(width):
    assert "imx run" in _text(_figures(), width=width)


def test_at_80_columns_levels_directorates_and_counts_stay_whole():
    rows = _rows(_text(_figures(), width=80))
    assert rows["INTERNATIONAL"][0] == "0"
    assert rows["NATIONAL"][0] == "92"
    assert rows["pd-sremska-mitrovica"][0] == "5"


def test_the_plain_lines_carry_flow_timing_directorates_and_health():
    figures = _figures()
    lines = progress_line(figures).splitlines()
    assert len(lines) == 4
    flow, timing, areas, health = lines
    for expected in ("t=61s", "published=14", "in=14", "delivered=146", "NATIONAL=1.5",
                     "INTERNATIONAL=0.0"):  # fmt: skip
        assert expected in flow, expected
    for expected in ("reported→delivered", f"p99={seconds(figures.overall.p99)}!", "over 24 h=2!",
                     "corroborating=4", "exact-duplicates=3", "correlations=1"):  # fmt: skip
        assert expected in timing, expected
    assert "pd-vranje=0.1" in areas
    assert "pd-sremska-mitrovica=" in areas
    for expected in ("worker ok (0 s)", "backlog intake=0 core=3 |", "dlq=2 (+2)!",
                     "silent=0"):  # fmt: skip
        assert expected in health, expected


def _widest() -> Figures:
    """The widest figures a long, troubled run can show."""
    figures = _figures()
    # A week at 5 reports/s (3 million reports), or a day at ten times that.
    level = Level(9_999_999, 999.9, 59.99, 60.0, 172_800.0, 172_800.0, 999_999)
    return dataclasses.replace(
        figures,
        elapsed_s=7 * 86400,
        published=9_999_999,
        received=9_999_999,
        rate_in=999.9,
        levels=dict.fromkeys(LEVELS, level),
        overall=level,
        exact_duplicates=9_999_999,
        corroborating=9_999_999,
        correlations=9_999_999,
        dlq=dict.fromkeys(REJECTION_CODES, 99_999),
        dlq_window=99_999,
        silent=tuple(TERRITORIAL),
        directorates=tuple(
            dataclasses.replace(d, rate_in=999.9, rule_rate=999.9) for d in figures.directorates
        ),
        health=dataclasses.replace(figures.health, answered=False, age_s=99_999),
        backlog={"intake": 999_999, "core": 999_999},
        states=States("alert", "warn", "alert", "warn", "warn", "alert"),
    )


def test_plain_lines_stay_narrow_with_the_widest_realistic_figures():
    lines = progress_line(_widest()).splitlines()
    assert len(lines) == 4
    for line in lines:
        assert len(line) < PLAIN_WIDTH, (len(line), line)
        assert not line.endswith("…"), f"cut short: {line}"
    assert "NOT ANSWERING (99999 s)!" in lines[3]
    assert "and 11 more)!" in lines[3]
    _text(_widest(), width=80)  # and the tables take them too


@pytest.mark.parametrize(
    ("value", "text"), [(None, "-"), (0.0004, "0 ms"), (0.0215, "22 ms"), (2.345, "2.35 s")]
)
def test_latencies_read_in_milliseconds_or_seconds(value, text):
    assert seconds(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "-"), (42.0, "42 s"), (600.0, "10 min"), (90_000.0, "25.0 h"), (172_800.0, "> 48 h")],
)
def test_ages_read_in_seconds_minutes_or_hours(value, text):
    assert age(value) == text


def _with_gateway(flow: GatewayFlow, state: State = "ok") -> Figures:
    figures = _figures()
    return dataclasses.replace(
        figures, gateway=flow, states=dataclasses.replace(figures.states, gateway=state)
    )


def test_the_gateway_request_rate_shows_in_the_table_and_a_fifth_plain_line():
    busy = _with_gateway(GatewayFlow(True, 240, 4.0, 0.5, 0.0, 1, 200))
    rows = _rows(_text(busy))
    assert rows["gateway requests per second (whole run)"] == [
        "4.0/s (4xx 0.5/s, 5xx 0.0/s), 1 stream"
    ]
    assert "gateway answering 5xx" not in rows["attention"][0]
    lines = progress_line(busy).splitlines()
    assert len(lines) == 5
    for expected in ("gateway ok", "requests=4.0/s", "4xx=0.5/s", "5xx=0.0/s ", "streams=1",
                     "reports-accepted=200 (of 240 requests)"):  # fmt: skip
        assert expected in lines[4], expected
    assert not any(name.startswith("gateway") for name in _rows(_text(_figures())))
    assert len(progress_line(_figures()).splitlines()) == 4  # no gateway, no line


def test_gateway_server_errors_or_silence_need_attention():
    failing = _with_gateway(GatewayFlow(True, 240, 4.0, 0.0, 1.5, 0, 0), "warn")
    assert "gateway answering 5xx or not answering" in _rows(_text(failing))["attention"][0]
    assert "5xx=1.5/s!" in progress_line(failing).splitlines()[4]
    assert re.search(r"\x1b\[33m *4\.0/s \(4xx", _text(failing, styles=True))
    gone = _with_gateway(GatewayFlow(False, 240, None, None, None, 0, 0), "warn")
    assert _rows(_text(gone))["gateway requests per second (whole run)"] == [
        "- (4xx -, 5xx -), 0 streams, not answering"
    ]
    assert "gateway NOT ANSWERING" in progress_line(gone).splitlines()[4]


def test_the_widest_gateway_line_stays_narrow():
    wide = dataclasses.replace(
        _widest(), gateway=GatewayFlow(False, 99_999_999, 999.9, 999.9, 999.9, 9_999, 99_999_999)
    )
    lines = progress_line(wide).splitlines()
    assert len(lines) == 5
    for line in lines:
        assert len(line) < PLAIN_WIDTH, (len(line), line)
        assert not line.endswith("…"), f"cut short: {line}"
