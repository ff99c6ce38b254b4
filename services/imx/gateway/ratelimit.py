"""Per-unit rate limit of the gateway: a token bucket per unit (CONTRACT.md section 11).

Pure: the clock is an argument, so every rule is tested with a fake one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]


@dataclass
class TokenBucket:
    """``rate`` tokens a second up to ``burst``; a request takes one."""

    rate: float
    burst: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """0 when the request may go, else the seconds until one token is back."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class RateLimiter:
    """One bucket per unit, full at first use."""

    def __init__(self, rate: float, burst: int, clock: Clock) -> None:
        if rate <= 0 or burst < 1:
            msg = "a rate limit needs rate > 0 and burst >= 1"
            raise ValueError(msg)
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def check(self, unit: str) -> float:
        """0 when ``unit`` may make a request now, else the seconds to wait."""
        now = self._clock()
        bucket = self._buckets.get(unit)
        if bucket is None:
            bucket = self._buckets[unit] = TokenBucket(self._rate, self._burst, self._burst, now)
        return bucket.take(now)


def retry_after(wait_s: float) -> str:
    """The ``Retry-After`` header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(wait_s)))
