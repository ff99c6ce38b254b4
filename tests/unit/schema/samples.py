"""Fixed sample reports in JSON and domain form, shared by the schema tests."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

# A fixed, fully specified report: the golden-bytes test pins its encoding.
GOLDEN_REPORT: dict[str, Any] = {
    "type": "UnauthorisedBorderCrossing",
    "event_id": "0b6c8a4e-8d5c-4b8e-9a4f-2f1c3d5e7a90",
    "reporting_unit": "bps-presevo",
    "occurred_at": datetime(2024, 5, 1, 8, 0, 0, 123000, tzinfo=UTC),
    "reported_at": datetime(2024, 5, 1, 8, 5, tzinfo=UTC),
    "location": {"lat": 42.3, "lon": 21.65, "place": "Miratovac"},
    "impact": "MEDIUM",
    "handling": "H1",
    "source_reliability": "B",
    "information_assessment": "2",
    "related_event_ids": [],
    "response": None,
    "notes": None,
    "stage": "ACTUAL",
    "mode": "CLANDESTINE",
    "direction": "ENTRY",
    "detection": "BORDER_SURVEILLANCE",
    "outcome": "APPREHENDED",
    "persons": 12,
    "minors": 3,
    "nationalities": ["AFG", "SYR"],
    "transport": "ON_FOOT",
    "vehicle": None,
    "facilitators": [
        {
            "given_name": "Ana",
            "family_name": "Ilić",
            "birth_date": "1990-02-28",
            "nationality": "MKD",
            "sex": "F",
            "category": "SUSPECT",
            "documents": [{"kind": "PASSPORT", "number": "X123", "issuing_country": "MKD"}],
            "phones": ["+38970123456"],
            "birth_year": None,
        }
    ],
}

ENVELOPE = {
    "event_id": "0b6c8a4e-8d5c-4b8e-9a4f-2f1c3d5e7a90",
    "reporting_unit": "bps-presevo",
    "occurred_at": "2024-05-01T10:00:00+02:00",
    "location": {"lat": 42.3, "lon": 21.65},
}
PERSON = {"given_name": "Ana", "family_name": "Ilić", "category": "SUSPECT"}
DOCUMENT = {"kind": "PASSPORT", "number": "X1", "issuing_country": "MKD"}
MINIMAL: dict[str, dict[str, Any]] = {
    "UnauthorisedBorderCrossing": {
        "stage": "ACTUAL",
        "mode": "OPEN",
        "direction": "ENTRY",
        "detection": "BCP_CHECK",
        "outcome": "PREVENTED",
        "persons": 1,
        "minors": 0,
        "transport": "CAR",
    },
    "MigrantsDetectedInland": {
        "persons": 3,
        "minors": 0,
        "place_kind": "ROAD",
        "asylum_intent": 0,
        "transport": "ON_FOOT",
    },
    "MigrantSmuggling": {"suspects": [PERSON], "smuggled_persons": 4, "status": "ARRESTED"},
    "TraffickingInHumanBeings": {"victims": 1, "exploitation": "LABOUR"},
    "DocumentFraud": {"document": DOCUMENT, "fraud": "FORGED"},
    "VehicleSighting": {"vehicle": {"plate": "VR123AB"}, "context": "CHECKED"},
    "CrisisSituation": {"kind": "DEATH", "persons": 1, "urgent": True},
    "RequestForInformation": {"to_units": ["gpd-oc"], "question": "?", "urgency": "URGENT_8H"},
    "RfiResponse": {"rfi_id": "0b6c8a4e-8d5c-4b8e-9a4f-2f1c3d5e7a91", "answer": "!"},
}


def report_json(type_name: str = "MigrantSmuggling", **members: Any) -> dict[str, Any]:
    return copy.deepcopy({"type": type_name, **ENVELOPE, **MINIMAL[type_name], **members})


#: The enrichment of a report of bps-presevo near the North Macedonian border.
ENRICHMENT = {
    "unit_name": "Border Police Station Preševo",
    "unit_level": "LOCAL",
    "unit_line": "BORDER",
    "territorial": "pd-vranje",
    "border_section": "rs-mk",
    "section_impact": "HIGH",
}


def correlation_delivery(at: datetime) -> dict[str, Any]:
    """A `kind = correlation` delivery to SBPOK of a vehicle seen by two units."""
    return {
        "delivery_id": "d2",
        "recipient": "gpd-sbpok",
        "kind": "correlation",
        "rules": [],
        "incident_id": None,
        "duplicate_of": None,
        "report": None,
        "correlation": {
            "correlation_id": "c1",
            "entity_kind": "vehicle",
            "entity_key": "BG123AB",
            "event_ids": ["e1", "e2"],
            "units": ["bps-presevo", "ps-vranje"],
        },
        "enrichment": None,
        "timing": {"occurred_at": None, "reported_at": None, "ingested_at": at, "delivered_at": at},
    }
