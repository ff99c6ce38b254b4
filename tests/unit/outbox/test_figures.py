"""What ``imx outbox status`` says: ages from ``occurred_at``, text and JSON of the figures."""

from __future__ import annotations

import pytest

from imx.outbox.figures import KEEP_SENT_S, Figures, age, prune_before, status_json, status_lines

pytestmark = pytest.mark.unit

NOW = 1_800_000_000.0


def figures(**changes: object) -> Figures:
    base: dict[str, object] = {
        "unit": "bps-presevo",
        "pending": 3,
        "oldest_pending_occurred_at": NOW - 1000,
        "sent_kept": 40,
        "forwarded_total": 40,
        "last_success_at": NOW - 1200,
        "last_error_at": NOW - 5,
        "last_error": "KafkaConnectionError: Unable to bootstrap",
    }
    base.update(changes)
    return Figures(**base)  # type: ignore[arg-type]


def test_the_oldest_pending_age_counts_from_occurred_at_and_is_zero_when_nothing_waits() -> None:
    assert figures().oldest_pending_age_s(NOW) == 1000
    assert figures(pending=0, oldest_pending_occurred_at=None).oldest_pending_age_s(NOW) == 0
    # A station clock a little ahead never gives a negative age.
    assert figures(oldest_pending_occurred_at=NOW + 3).oldest_pending_age_s(NOW) == 0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (45.9, "45 s"), (725, "12 min 5 s"), (12000, "3 h 20 min"), (187200, "2 d 4 h")],
)
def test_ages_read_as_people_say_them(seconds: float, text: str) -> None:
    assert age(seconds) == text


def test_status_names_every_figure_of_the_contract() -> None:
    text = "\n".join(status_lines(figures(), NOW, serving="pid 7 at http://127.0.0.1:1"))
    assert "pending         3" in text
    assert "oldest pending  16 min 40 s" in text
    assert "(20 min 0 s ago)" in text
    assert "(5 s ago): KafkaConnectionError: Unable to bootstrap" in text
    assert "pid 7 at http://127.0.0.1:1" in text


def test_a_fresh_outbox_says_never_and_none() -> None:
    fresh = figures(
        pending=0,
        oldest_pending_occurred_at=None,
        last_success_at=None,
        last_error_at=None,
        last_error=None,
    )
    text = "\n".join(status_lines(fresh, NOW, serving=None))
    assert "oldest pending  -" in text
    assert "last success    never" in text
    assert "last error      none" in text
    assert "serving         no" in text


def test_status_json_carries_the_same_figures() -> None:
    out = status_json(figures(), NOW, serving=None)
    assert out["pending"] == 3
    assert out["oldest_pending_age_seconds"] == 1000
    assert out["last_error"] == "KafkaConnectionError: Unable to bootstrap"


def test_sent_reports_are_kept_seven_days() -> None:
    assert KEEP_SENT_S == 7 * 24 * 3600
    assert prune_before(NOW) == NOW - 7 * 24 * 3600
