"""How ``imx run`` shows its figures: a rich table on a terminal, one plain line otherwise.

Rendering is separate from computing (``imx.run.figures``) so the same figures feed the live
table, the progress lines of a non-terminal run (CI logs, ``nohup``) and the final summary.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group
from rich.table import Table

from imx.metrics import LEVELS
from imx.run.figures import Figures, Latency


def seconds(value: float | None) -> str:
    """A latency for people: milliseconds below a second, seconds above; '-' when unknown."""
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _count(value: float) -> str:
    return f"{value:.0f}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}/s"


def _dlq(figures: Figures) -> str:
    return ", ".join(f"{code} {_count(n)}" for code, n in figures.dlq.items()) or "none"


def _silent(figures: Figures) -> str:
    return ", ".join(figures.silent) or "none"


def render(
    figures: Figures, *, title: str, window: str, context: Sequence[tuple[str, str]] = ()
) -> Group:
    """The table of the live view and of the final summary.

    ``window`` names what the rate and the quantiles cover ("last 30 s", "whole run");
    ``context`` rows come first (where the broker and the metrics are).
    """
    flow = Table(title=title, show_header=False, title_justify="left", min_width=60)
    flow.add_column("figure", style="bold")
    flow.add_column("value", justify="right")
    for name, value in context:
        flow.add_row(name, value)
    flow.add_row("running for", f"{figures.elapsed_s:.0f} s")
    flow.add_row("reports published", _count(figures.published))
    flow.add_row("reports in", _count(figures.received))
    flow.add_row(f"reports in per second ({window})", _rate(figures.rate_in))
    duplicates = f"{_count(figures.duplicates_exact)} / {_count(figures.duplicates_incident)}"
    flow.add_row("duplicates exact / incident", duplicates)
    flow.add_row("correlations", _count(figures.correlations))
    flow.add_row("DLQ", _dlq(figures))
    flow.add_row("silent LOCAL units", _silent(figures))
    levels = Table(title=f"deliveries (latency: {window})", title_justify="left", min_width=60)
    levels.add_column("level", style="bold")
    levels.add_column("deliveries", justify="right")
    levels.add_column("p50", justify="right")
    levels.add_column("p99", justify="right")

    def row(name: str, latency: Latency) -> None:
        levels.add_row(name, _count(latency.deliveries), seconds(latency.p50), seconds(latency.p99))

    for level in LEVELS:
        row(level, figures.levels[level])
    row("all", figures.overall)
    return Group(flow, levels)


def progress_line(figures: Figures) -> str:
    """One line with every figure, for output that is not a terminal."""
    levels = " ".join(f"{level}={_count(figures.levels[level].deliveries)}" for level in LEVELS)
    return (
        f"t={figures.elapsed_s:.0f}s published={figures.published} "
        f"in={_count(figures.received)} ({_rate(figures.rate_in)}) deliveries {levels} "
        f"p50={seconds(figures.overall.p50)} p99={seconds(figures.overall.p99)} "
        f"duplicates={_count(figures.duplicates_exact)}/{_count(figures.duplicates_incident)} "
        f"correlations={_count(figures.correlations)} dlq={_dlq(figures)} "
        f"silent={len(figures.silent)}"
    )
