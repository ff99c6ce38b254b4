"""How long to wait before the next forwarding attempt: capped exponential back-off, jittered.

Pure: the random draw is an argument, so the bounds are tested without sleeping. "Equal jitter"
(half the step fixed, half random) keeps a floor under each wait, so a station that lost its
link does not hammer the broker, while the random half spreads the retries of many stations
that lost the same link at the same moment.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """``delay(n)`` for the n-th consecutive failure (0 is the first)."""

    base_s: float = 0.5
    cap_s: float = 30.0
    factor: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.base_s <= self.cap_s or self.factor < 1:
            msg = f"back-off needs 0 < base ({self.base_s}) <= cap ({self.cap_s}), factor >= 1"
            raise ValueError(msg)

    def step(self, failures: int) -> float:
        """The un-jittered wait after ``failures`` consecutive failures: base x factor^n, capped."""
        if failures <= 0:
            return self.base_s
        # Compare exponents rather than compute factor**n: n grows without end during an outage.
        step = self.base_s
        for _ in range(failures):
            step *= self.factor
            if step >= self.cap_s:
                return self.cap_s
        return step

    def delay(self, failures: int, draw: float) -> float:
        """The wait to sleep, with ``draw`` uniform in [0, 1): between step/2 and step."""
        step = self.step(failures)
        return step / 2 + step / 2 * min(max(draw, 0.0), 1.0)
