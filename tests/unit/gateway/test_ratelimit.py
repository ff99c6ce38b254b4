"""The gateway's per-unit token bucket, with a fake clock."""

from __future__ import annotations

import pytest

from imx.gateway.ratelimit import RateLimiter, retry_after

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(50, 100, clock)
    assert all(limiter.check("ps-vranje") == 0 for _ in range(100))
    wait = limiter.check("ps-vranje")
    assert wait == pytest.approx(1 / 50)
    clock.now += 0.1  # five tokens back
    assert [limiter.check("ps-vranje") == 0 for _ in range(6)] == [True] * 5 + [False]


def test_units_do_not_share_a_bucket() -> None:
    limiter = RateLimiter(1, 2, FakeClock())
    assert [limiter.check("a") for _ in range(2)] == [0, 0]
    assert limiter.check("a") > 0
    assert limiter.check("b") == 0


def test_an_idle_bucket_refills_only_up_to_the_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, 3, clock)
    limiter.check("a")
    clock.now += 3600
    assert [limiter.check("a") == 0 for _ in range(4)] == [True, True, True, False]


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert retry_after(0.02) == "1"
    assert retry_after(1.2) == "2"


def test_a_limit_must_let_something_through() -> None:
    with pytest.raises(ValueError, match="rate"):
        RateLimiter(0, 1, FakeClock())
