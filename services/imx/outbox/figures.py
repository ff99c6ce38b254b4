"""What ``imx outbox status`` and the outbox's metrics say, computed from the database's rows.

Pure: the store reads the raw figures in one transaction, these functions turn them into ages
and text with the clock as an argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

#: Sent reports are kept this long for ``status`` and inquiries, then pruned (CONTRACT.md 12).
KEEP_SENT_S = 7 * 24 * 3600.0


@dataclass(frozen=True)
class Figures:
    """The outbox at one moment; times are Unix seconds."""

    unit: str
    pending: int
    oldest_pending_occurred_at: float | None
    sent_kept: int
    forwarded_total: int
    last_success_at: float | None
    last_error_at: float | None
    last_error: str | None

    def oldest_pending_age_s(self, now: float) -> float:
        """Seconds since the event of the oldest pending report; 0 with nothing pending.

        The clock starts at ``occurred_at``, when the station saw the event (EUROSUR's
        first-report clock, as ``imx_event_age_at_delivery_seconds``), not when the outbox took
        the report: every minute it waits here is a minute its recipients do not know.
        """
        if self.oldest_pending_occurred_at is None:
            return 0.0
        return max(0.0, now - self.oldest_pending_occurred_at)


def prune_before(now: float) -> float:
    """Sent reports sent before this moment are due for pruning."""
    return now - KEEP_SENT_S


def age(seconds: float) -> str:
    """A duration for people: ``45 s``, ``12 min 5 s``, ``3 h 20 min``, ``2 d 4 h``."""
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def _when(at: float | None, now: float) -> str:
    if at is None:
        return "never"
    moment = datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return f"{moment} ({age(max(0.0, now - at))} ago)"


def status_lines(figures: Figures, now: float, *, serving: str | None) -> list[str]:
    """``imx outbox status`` as lines of text."""
    oldest = (
        age(figures.oldest_pending_age_s(now))
        if figures.oldest_pending_occurred_at is not None
        else "-"
    )
    error = (
        f"{_when(figures.last_error_at, now)}: {figures.last_error}"
        if figures.last_error_at is not None
        else "none"
    )
    return [
        f"unit            {figures.unit}",
        f"serving         {serving or 'no (no outbox runs for this database)'}",
        f"pending         {figures.pending}",
        f"oldest pending  {oldest}",
        f"sent, kept 7 d  {figures.sent_kept}",
        f"last success    {_when(figures.last_success_at, now)}",
        f"last error      {error}",
    ]


def status_json(figures: Figures, now: float, *, serving: str | None) -> dict[str, object]:
    """``imx outbox status --json``: the same figures for machines."""
    return {
        "unit": figures.unit,
        "serving": serving,
        "pending": figures.pending,
        "oldest_pending_age_seconds": round(figures.oldest_pending_age_s(now), 3),
        "sent_kept": figures.sent_kept,
        "forwarded_total": figures.forwarded_total,
        "last_success_at": figures.last_success_at,
        "last_error_at": figures.last_error_at,
        "last_error": figures.last_error,
    }
