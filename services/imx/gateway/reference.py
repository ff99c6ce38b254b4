"""What the operations picture reads besides the feed: registry reference data, the flow.

Both are shaped here, apart from I/O. The registry is the same for every unit (names, levels,
places, border sections and their impact), so every token may read it. The DLQ count comes from
the workers' Prometheus metrics (``imx_reports_rejected_total``), not from ``dlq.ingress``:
svc-gateway has no ACL on the DLQ, and a count by reason carries no report content; so do the
exchange's deliveries by recipient level. Only
operations centres (line OPERATIONS) see it, and only when the gateway is told where the
workers' metrics are (``IMX_GATEWAY_METRICS_URL``).
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any

from imx.registry import Registry, Unit
from imx.scrape import parse_sample

SECTION_PREFIX = "rs-"
SCRAPE_TIMEOUT_S = 3.0
#: Lines whose units are operators of the exchange as well as recipients.
OPERATORS = frozenset({"OPERATIONS"})


def registry_view(registry: Registry) -> dict[str, Any]:
    """Units (no parents: the page draws places, not the chain) and sections with a position.

    A section sits at the mean position of its border stations; ``neighbour`` is the country
    code the section's id names (``rs-mk`` → ``mk``), which the base map's borders are keyed by.
    """
    units = [registry.get(uid) for uid in registry.ids()]
    sections = []
    for section_id, impact in sorted(registry.sections.items()):
        stations = [u for u in units if u.border_section == section_id]
        sections.append(
            {
                "id": section_id,
                "impact": impact,
                "neighbour": section_id.removeprefix(SECTION_PREFIX)
                if section_id.startswith(SECTION_PREFIX)
                else None,
                "stations": [u.id for u in stations],
                **_centre(stations),
            }
        )
    return {"units": [_unit(u) for u in units], "sections": sections}


def _unit(unit: Unit) -> dict[str, Any]:
    return {
        "id": unit.id,
        "name": unit.name,
        "level": unit.level,
        "line": unit.line,
        "border_section": unit.border_section,
        "lat": unit.lat,
        "lon": unit.lon,
    }


def _centre(units: list[Unit]) -> dict[str, float | None]:
    if not units:
        return {"lat": None, "lon": None}
    return {
        "lat": round(sum(u.lat for u in units) / len(units), 4),
        "lon": round(sum(u.lon for u in units) / len(units), 4),
    }


def is_operator(unit: Unit) -> bool:
    return unit.line in OPERATORS


def metrics_urls(setting: str | None) -> list[str]:
    """The comma-separated ``IMX_GATEWAY_METRICS_URL``: one ``/metrics`` URL per worker."""
    return [url.strip() for url in (setting or "").split(",") if url.strip()]


def flow_view(expositions: Iterable[str]) -> dict[str, Any]:
    """Summed over every worker's exposition: records sent to ``dlq.ingress`` by reason, and
    deliveries by recipient level (``imx_delivery_latency_seconds_count``), since each started."""
    reasons: dict[str, float] = {}
    levels: dict[str, float] = {}
    for text in expositions:
        sample = parse_sample(text, 0.0, 0.0)
        for reason, count in sample.rejected.items():
            reasons[reason] = reasons.get(reason, 0.0) + count
        for level, count in sample.deliveries.items():
            levels[level] = levels.get(level, 0.0) + count
    return {
        "configured": True,
        "dlq_total": int(sum(reasons.values())),
        "dlq_by_reason": {reason: int(count) for reason, count in sorted(reasons.items())},
        "deliveries_by_level": {level: int(count) for level, count in sorted(levels.items())},
    }


NOT_CONFIGURED: Mapping[str, Any] = {
    "configured": False,
    "dlq_total": None,
    "dlq_by_reason": {},
    "deliveries_by_level": {},
}


async def scrape(urls: Iterable[str]) -> list[str]:
    """Each URL's exposition; OSError when one does not answer within SCRAPE_TIMEOUT_S."""
    return await asyncio.gather(*(asyncio.to_thread(_get, url) for url in urls))


def _get(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        msg = f"not an http(s) URL: {url}"
        raise OSError(msg)
    with urllib.request.urlopen(url, timeout=SCRAPE_TIMEOUT_S) as response:  # noqa: S310 - checked above
        body: bytes = response.read()
    return body.decode("utf-8")
