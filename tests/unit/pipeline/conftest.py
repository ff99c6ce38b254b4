"""Builders for domain dicts and small registries shared by the pipeline rule tests."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from imx.pipeline.geo import EARTH_RADIUS_KM, haversine_km
from imx.registry import Registry, load_registry, registry_from_dict

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

_ENVELOPE: dict[str, Any] = {
    "reported_at": None,
    "impact": "LOW",
    "handling": "H0",
    "source_reliability": "X",
    "information_assessment": "4",
    "related_event_ids": [],
    "response": None,
    "notes": None,
}

_TYPE_FIELDS: dict[str, dict[str, Any]] = {
    "UnauthorisedBorderCrossing": {
        "stage": "ACTUAL",
        "mode": "CLANDESTINE",
        "direction": "ENTRY",
        "detection": "BORDER_SURVEILLANCE",
        "outcome": "APPREHENDED",
        "persons": 10,
        "minors": 0,
        "nationalities": [],
        "transport": "ON_FOOT",
        "vehicle": None,
        "facilitators": [],
    },
    "MigrantsDetectedInland": {
        "persons": 10,
        "minors": 0,
        "nationalities": [],
        "place_kind": "ROAD",
        "asylum_intent": 0,
        "transport": "ON_FOOT",
        "vehicle": None,
        "facilitators": [],
    },
    "MigrantSmuggling": {
        "suspects": [],
        "smuggled_persons": 0,
        "status": "ARRESTED",
        "vehicle": None,
    },
    "TraffickingInHumanBeings": {"victims": 1, "suspects": [], "exploitation": "UNKNOWN"},
    "DocumentFraud": {"document": None, "fraud": "FORGED", "holder": None},
    "VehicleSighting": {"vehicle": None, "context": "CHECKED", "persons_on_board": None},
    "CrisisSituation": {"kind": "OTHER", "persons": 0, "urgent": False},
    "RequestForInformation": {
        "to_units": [],
        "question": "Who saw the van?",
        "urgency": "STANDARD_7D",
        "about_event_ids": [],
    },
    "RfiResponse": {"rfi_id": "", "answer": "Nobody."},
}


class Build:
    """Domain dicts with every field present, as fastavro yields them plus `type`."""

    t0 = T0

    def report(self, type_: str, **fields: Any) -> dict[str, Any]:
        lat, lon = fields.pop("lat", 42.3), fields.pop("lon", 21.65)
        report: dict[str, Any] = {
            "type": type_,
            "event_id": str(uuid.uuid4()),
            "reporting_unit": "bps-presevo",
            "occurred_at": T0,
            "location": {"lat": lat, "lon": lon, "place": None},
            **_ENVELOPE,
            **_TYPE_FIELDS[type_],
        }
        unknown = set(fields) - set(report)
        assert not unknown, f"not a field of {type_}: {unknown}"
        report.update(fields)
        return report

    def person(self, **fields: Any) -> dict[str, Any]:
        person: dict[str, Any] = {
            "given_name": "Marko",
            "family_name": "Petrović",
            "birth_date": None,
            "nationality": None,
            "sex": None,
            "category": "SUSPECT",
            "documents": [],
            "phones": [],
        }
        person.update(fields)
        return person

    def document(self, **fields: Any) -> dict[str, Any]:
        return {"kind": "PASSPORT", "number": "P1234567", "issuing_country": "SRB", **fields}

    def vehicle(self, **fields: Any) -> dict[str, Any]:
        vehicle: dict[str, Any] = {
            "plate": "VR 123-AB",
            "registration_country": None,
            "make": None,
            "model": None,
            "colour": None,
        }
        vehicle.update(fields)
        return vehicle

    def unit(self, unit_id: str, **fields: Any) -> dict[str, Any]:
        """A registry unit entry; defaults make a BORDER LOCAL station of `pd-x`/`s-x`."""
        unit: dict[str, Any] = {
            "id": unit_id,
            "name": unit_id.upper(),
            "level": "LOCAL",
            "line": "BORDER",
            "parents": ["pd-x"],
            "territorial": "pd-x",
            "border_section": "s-x",
            "lat": 0.0,
            "lon": 0.0,
        }
        unit.update(fields)
        return unit

    def registry(self, *units: dict[str, Any]) -> Registry:
        """A registry with directorate `pd-x` (and `pd-y`) plus `units`."""
        directorates = [
            self.unit(
                pd,
                level="REGIONAL",
                line="GENERAL",
                parents=[],
                territorial=None,
                border_section=None,
            )
            for pd in ("pd-x", "pd-y")
        ]
        return registry_from_dict(
            {
                "sections": [{"id": "s-x", "impact": "HIGH"}, {"id": "s-y", "impact": "LOW"}],
                "units": [*directorates, *units],
            }
        )

    @staticmethod
    def equator_boundary(km: float) -> tuple[float, float]:
        """Longitudes (inside, outside) on the equator around `km` from (0, 0).

        `inside` is the largest longitude whose distance is ≤ km and `outside` the next
        float, whose distance is > km; when km is representable as a haversine result,
        the distance of `inside` is exactly km.
        """
        lon = math.degrees(km / EARTH_RADIUS_KM)
        while haversine_km(0.0, 0.0, 0.0, lon) > km:
            lon = math.nextafter(lon, -math.inf)
        while haversine_km(0.0, 0.0, 0.0, math.nextafter(lon, math.inf)) <= km:
            lon = math.nextafter(lon, math.inf)
        return lon, math.nextafter(lon, math.inf)


@pytest.fixture
def build() -> Build:
    return Build()


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_registry()
