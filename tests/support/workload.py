"""A seeded, varied batch of valid reports from the LOCAL units, for resilience tests."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from imx.registry import Registry
from tests.support.reports import stamp

PLATES = ("BG 123-ŠĐ", "NI 456-AB", "VR 789-CD", "SU 111-EF")
NATIONALITIES = ("AFG", "SYR", "PAK", "IRQ", "MAR", "BGD")


def workload(
    registry: Registry, count: int, seed: int, base: datetime | None = None
) -> list[dict[str, Any]]:
    """``count`` reports, each from a LOCAL unit near its station, spread over the last hour."""
    rng = random.Random(seed)
    base = base or datetime.now(UTC) - timedelta(minutes=70)
    units = sorted(registry.local_units(), key=lambda u: u.id)
    out = []
    for n in range(count):
        unit = rng.choice(units)
        occurred = base + timedelta(seconds=rng.randint(0, 3600))
        report: dict[str, Any] = {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "reporting_unit": unit.id,
            "occurred_at": stamp(occurred),
            # Set, not left to publish time, so that publishing again is an exact duplicate.
            "reported_at": stamp(occurred + timedelta(minutes=2)),
            "location": {
                "lat": round(unit.lat + rng.uniform(-0.05, 0.05), 5),
                "lon": round(unit.lon + rng.uniform(-0.05, 0.05), 5),
            },
            "notes": f"report {n}",
        }
        if unit.line == "BORDER" or rng.random() < 0.3:
            report |= {
                "type": "UnauthorisedBorderCrossing",
                "stage": "ACTUAL",
                "mode": "CLANDESTINE",
                "direction": "ENTRY",
                "detection": "BORDER_SURVEILLANCE",
                "outcome": rng.choice(("APPREHENDED", "PREVENTED", "ESCAPED")),
                "persons": rng.randint(1, 40),
                "minors": 0,
                "nationalities": rng.sample(NATIONALITIES, 2),
                "transport": "ON_FOOT",
            }
        else:
            report |= {
                "type": "MigrantsDetectedInland",
                "persons": rng.randint(1, 30),
                "minors": 0,
                "nationalities": rng.sample(NATIONALITIES, 1),
                "place_kind": "ROAD",
                "asylum_intent": 0,
                "transport": "VAN",
            }
        if rng.random() < 0.15:
            report["vehicle"] = {"plate": rng.choice(PLATES), "registration_country": "SRB"}
        out.append(report)
    return out


def paired_workload(
    registry: Registry, pairs: int, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Two phases whose outcome cannot depend on processing order within a phase.

    First-phase reports lie 5.5 km apart on a meridian (nothing matches inside a phase) and no
    plate repeats inside a phase. Each second-phase report was seen by another unit 10 minutes
    after, and 550 m north of, one first-phase report: it must join that report's incident. A
    few carry a plate of another first-phase incident: one correlation each. Everything lies
    within the last 80 minutes, inside the pipeline's tolerance for late reports.
    """
    rng = random.Random(f"follow-{seed}")  # not workload()'s sequence: ids must differ
    first = workload(registry, pairs, seed)
    units = sorted(registry.local_units(), key=lambda u: u.id)
    start = datetime.now(UTC) - timedelta(minutes=80)
    second = []
    for n, report in enumerate(first):
        occurred = start + timedelta(seconds=30 * n)
        report["occurred_at"] = stamp(occurred)
        report["reported_at"] = stamp(occurred + timedelta(minutes=2))
        report["location"] = {"lat": round(42.0 + 0.05 * n, 5), "lon": 21.0}
        report.pop("vehicle", None)
        if n < len(PLATES):
            report["vehicle"] = {"plate": PLATES[n], "registration_country": "SRB"}
        other = rng.choice([u for u in units if u.id != report["reporting_unit"]])
        follow = {
            **report,
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "reporting_unit": other.id,
            "occurred_at": stamp(occurred + timedelta(minutes=10)),
            "reported_at": stamp(occurred + timedelta(minutes=12)),
            "location": {"lat": round(42.005 + 0.05 * n, 5), "lon": 21.0},
        }
        follow.pop("vehicle", None)
        if len(PLATES) <= n < 2 * len(PLATES):
            follow["vehicle"] = {"plate": PLATES[n - len(PLATES)].lower()}
        second.append(follow)
    return first, second
