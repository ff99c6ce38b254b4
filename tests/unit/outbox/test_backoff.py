"""The forwarding back-off: capped, exponential, jittered within known bounds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imx.outbox.backoff import Backoff

pytestmark = pytest.mark.unit

bases = st.floats(min_value=0.001, max_value=10.0)
caps = st.floats(min_value=0.001, max_value=3600.0)
failures = st.integers(min_value=0, max_value=10**6)
draws = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)


@given(bases, caps, failures, draws)
def test_every_wait_is_between_half_the_step_and_the_step_and_never_over_the_cap(
    base: float, cap: float, n: int, draw: float
) -> None:
    backoff = Backoff(min(base, cap), max(base, cap))
    step = backoff.step(n)
    delay = backoff.delay(n, draw)
    assert backoff.base_s <= step <= backoff.cap_s
    assert step / 2 <= delay <= step


@given(bases, caps, failures)
def test_the_step_grows_with_each_failure_until_the_cap(base: float, cap: float, n: int) -> None:
    backoff = Backoff(min(base, cap), max(base, cap))
    assert backoff.step(n) <= backoff.step(n + 1)
    assert backoff.step(n + 1) == min(backoff.cap_s, backoff.step(n) * 2) or backoff.step(
        n + 1
    ) == pytest.approx(min(backoff.cap_s, backoff.step(n) * 2))


def test_the_schedule_doubles_from_the_base_and_stays_at_the_cap() -> None:
    backoff = Backoff(0.5, 30.0)
    assert [backoff.step(n) for n in range(9)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert backoff.step(10**9) == 30.0
    assert backoff.delay(3, 0.0) == 2.0
    assert backoff.delay(3, 0.999999) == pytest.approx(4.0)


def test_the_jitter_spreads_stations_that_failed_together() -> None:
    backoff = Backoff(1.0, 60.0)
    assert len({backoff.delay(4, d / 10) for d in range(10)}) == 10


@pytest.mark.parametrize(("base", "cap", "factor"), [(0, 1, 2), (2, 1, 2), (1, 2, 0.5)])
def test_a_schedule_that_cannot_work_is_refused(base: float, cap: float, factor: float) -> None:
    with pytest.raises(ValueError, match="back-off needs"):
        Backoff(base, cap, factor)
