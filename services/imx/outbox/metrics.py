"""The outbox's metrics (CONTRACT.md section 12), on its own registry and ``/metrics``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from imx.outbox.figures import Figures


class OutboxMetrics:
    def __init__(self, unit: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._unit = unit
        self._pending = Gauge(
            "imx_outbox_pending",
            "Reports taken and not yet acknowledged by the broker.",
            ["unit"],
            registry=self.registry,
        )
        self._oldest = Gauge(
            "imx_outbox_oldest_pending_age_seconds",
            "Seconds since the event of the oldest pending report occurred (0: nothing pending).",
            ["unit"],
            registry=self.registry,
        )
        self._forwarded = Counter(
            "imx_outbox_forwarded",
            "Reports forwarded and acknowledged by the broker.",
            ["unit"],
            registry=self.registry,
        )
        self._forwarded.labels(unit).inc(0)

    def observe(self, figures: Figures, now: float) -> None:
        """Set the gauges from the database's figures."""
        self._pending.labels(self._unit).set(figures.pending)
        self._oldest.labels(self._unit).set(figures.oldest_pending_age_s(now))

    def forwarded(self, count: int) -> None:
        self._forwarded.labels(self._unit).inc(count)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
