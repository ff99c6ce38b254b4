"""JSON-form reports (CONTRACT.md section 3) for integration and e2e tests."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def crossing(
    unit: str = "bps-presevo",
    *,
    occurred: datetime | None = None,
    lat: float = 42.30,
    lon: float = 21.65,
    persons: int = 12,
    **members: Any,
) -> dict[str, Any]:
    occurred = occurred or datetime.now(UTC) - timedelta(minutes=5)
    report: dict[str, Any] = {
        "type": "UnauthorisedBorderCrossing",
        "event_id": str(uuid.uuid4()),
        "reporting_unit": unit,
        "occurred_at": stamp(occurred),
        "location": {"lat": lat, "lon": lon, "place": "Miratovac"},
        "stage": "ACTUAL",
        "mode": "CLANDESTINE",
        "direction": "ENTRY",
        "detection": "BORDER_SURVEILLANCE",
        "outcome": "APPREHENDED",
        "persons": persons,
        "minors": 2,
        "nationalities": ["AFG", "SYR"],
        "transport": "ON_FOOT",
    }
    report.update(members)
    return report


def smuggling(unit: str = "ps-presevo", **members: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "type": "MigrantSmuggling",
        "event_id": str(uuid.uuid4()),
        "reporting_unit": unit,
        "occurred_at": stamp(datetime.now(UTC) - timedelta(minutes=20)),
        "location": {"lat": 42.31, "lon": 21.64},
        "handling": "H1",
        "suspects": [
            {
                "given_name": "Marko",
                "family_name": "Petrović",
                "birth_date": "1985-03-14",
                "nationality": "SRB",
                "category": "SUSPECT",
                "documents": [{"kind": "ID_CARD", "number": "009876543", "issuing_country": "SRB"}],
                "phones": ["064 123 4567"],
            }
        ],
        "smuggled_persons": 7,
        "status": "ARRESTED",
        "vehicle": {"plate": "VR 123-AB", "registration_country": "SRB", "make": "Škoda"},
        "notes": "stopped at the Miratovac junction",
    }
    report.update(members)
    return report


def lines(*reports: dict[str, Any]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in reports)
