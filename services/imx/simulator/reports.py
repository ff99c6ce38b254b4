"""Domain dicts of the migration report types: the envelope, crossings, inland detections, crises.

Every builder returns a complete domain dict (every field of the type present, defaults
applied) so that it can be validated and encoded as it is. Times are whole milliseconds, as Avro
carries them, so a report decodes to exactly what was generated. ``occurred_at`` lies before
``now`` by a delay typical of the type: units report crossings within the hour and arrests
within the working day, inside the EUROSUR 24-hour limit.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from imx.registry import Unit
from imx.simulator import catalog, places
from imx.simulator.entities import Cast, weighted

HANDLING = {"H0": 70, "H1": 18, "H2": 8, "H3": 4}
RELIABILITY = {"A": 40, "B": 40, "C": 5, "X": 15}
ASSESSMENT = {"1": 45, "2": 35, "3": 10, "4": 10}
#: Crossing directions by border section: the route enters from the south-east and leaves west.
ENTRY_SECTIONS = frozenset({"rs-mk", "rs-bg"})
EXIT_SECTIONS = frozenset({"rs-hr", "rs-ba", "rs-hu", "rs-ro"})
VEHICLE_TRANSPORTS = frozenset({"CAR", "VAN", "TRUCK", "BUS"})
RESPONSES = {
    "APPREHENDED": "Group apprehended and handed over to the reception centre, {town}.",
    "PREVENTED": "Crossing prevented; the group turned back at the border line.",
    "ESCAPED": "Group escaped towards the interior; patrols alerted.",
    "UNKNOWN": "Search of the area in progress.",
}


def millis(moment: datetime) -> datetime:
    """``moment`` truncated to the millisecond, the precision of Avro timestamp-millis."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def new_event_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass(frozen=True)
class Scene:
    """What every builder needs: the dice, the reporting unit, the time, the cast."""

    rng: random.Random
    unit: Unit
    now: datetime
    cast: Cast

    def envelope(
        self, type_name: str, delay: timedelta, location: dict[str, Any], **own: Any
    ) -> dict[str, Any]:
        rng = self.rng
        return {
            "type": type_name,
            "event_id": new_event_id(rng),
            "reporting_unit": self.unit.id,
            "occurred_at": millis(self.now - delay),
            "reported_at": millis(self.now),
            "location": location,
            "impact": "LOW",
            "handling": weighted(rng, HANDLING),
            "source_reliability": weighted(rng, RELIABILITY),
            "information_assessment": weighted(rng, ASSESSMENT),
            "related_event_ids": [],
            "response": None,
            "notes": None,
            **own,
        }

    def minutes_ago(self, low: float, high: float) -> timedelta:
        return timedelta(minutes=self.rng.uniform(low, high))


def group_size(rng: random.Random) -> int:
    """Persons in a group: mostly a handful to a couple of dozen, sometimes far more."""
    low, high = rng.choices(((1, 4), (5, 15), (16, 35), (36, 80)), (30, 40, 22, 8))[0]
    return rng.randint(low, high)


def impact_of(persons: int) -> str:
    """The originator's impact assessment, driven by the size of the group."""
    for limit, impact in ((10, "LOW"), (30, "MEDIUM"), (60, "HIGH")):
        if persons < limit:
            return impact
    return "VERY_HIGH"


def nationalities(rng: random.Random) -> list[str]:
    count = rng.choices((1, 2, 3), (55, 35, 10))[0]
    found: list[str] = []
    while len(found) < count:
        nationality = weighted(rng, catalog.MIGRANT_NATIONALITIES)
        if nationality not in found:
            found.append(nationality)
    return found


def minors(rng: random.Random, persons: int) -> int:
    return rng.randint(0, persons // 3) if rng.random() < 0.35 else 0


def _vehicle_and_facilitators(
    scene: Scene, transport: str, vehicle_chance: float, facilitator_chance: float
) -> dict[str, Any]:
    rng = scene.rng
    vehicle = None
    if transport in VEHICLE_TRANSPORTS and rng.random() < vehicle_chance:
        vehicle = scene.cast.car(rng, scene.unit.id, transport).render(rng)
    facilitators = []
    if rng.random() < facilitator_chance:
        people = scene.cast.facilitators(rng, scene.unit.id, rng.choice((1, 1, 2)))
        facilitators = [p.render(rng, "SUSPECT", full=rng.random() < 0.3) for p in people]
    return {"vehicle": vehicle, "facilitators": facilitators}


def crossing(scene: Scene) -> dict[str, Any]:
    """An UnauthorisedBorderCrossing seen by a border police station."""
    rng, section = scene.rng, scene.unit.border_section
    attempted = rng.random() < 0.25
    outcome = (
        "PREVENTED"
        if attempted
        else weighted(rng, {"APPREHENDED": 65, "ESCAPED": 20, "UNKNOWN": 15})
    )
    detection = weighted(
        rng, {"BORDER_SURVEILLANCE": 60, "BCP_CHECK": 20, "INLAND_CHECK": 12, "OTHER": 8}
    )
    hidden = detection == "BCP_CHECK" and rng.random() < 0.7
    transport = (
        rng.choice(("TRUCK", "VAN", "BUS"))
        if hidden
        else weighted(rng, {"ON_FOOT": 75, "CAR": 8, "VAN": 7, "TRAIN": 5, "UNKNOWN": 5})
    )
    if section in ENTRY_SECTIONS:
        direction = "ENTRY" if rng.random() < 0.85 else "EXIT"
    elif section in EXIT_SECTIONS:
        direction = "EXIT" if rng.random() < 0.8 else "ENTRY"
    else:
        direction = rng.choice(("ENTRY", "EXIT", "UNKNOWN"))
    persons = group_size(rng)
    report = scene.envelope(
        "UnauthorisedBorderCrossing",
        scene.minutes_ago(2, 60),
        places.near(rng, scene.unit, rng.choice(catalog.CROSSING_PLACES)),
        stage="ATTEMPTED" if attempted else "ACTUAL",
        mode="CLANDESTINE" if hidden or detection != "BCP_CHECK" else "OPEN",
        direction=direction,
        detection=detection,
        outcome=outcome,
        persons=persons,
        minors=minors(rng, persons),
        nationalities=nationalities(rng),
        transport=transport,
        **_vehicle_and_facilitators(scene, transport, 0.7, 0.15),
    )
    report["impact"] = impact_of(persons)
    report["response"] = RESPONSES[outcome].format(town=places.town(scene.unit))
    return report


def inland(scene: Scene) -> dict[str, Any]:
    """A MigrantsDetectedInland found by a station on a road, train, bus or in a building."""
    rng = scene.rng
    place_kind = weighted(
        rng,
        {
            "ROAD": 30,
            "TRAIN": 10,
            "BUS": 15,
            "SETTLEMENT": 15,
            "ABANDONED_BUILDING": 25,
            "OTHER": 5,
        },
    )
    transport = {
        "ROAD": weighted(rng, {"CAR": 30, "VAN": 35, "TRUCK": 15, "ON_FOOT": 20}),
        "TRAIN": "TRAIN",
        "BUS": "BUS",
    }.get(place_kind, "ON_FOOT")
    persons = group_size(rng)
    report = scene.envelope(
        "MigrantsDetectedInland",
        scene.minutes_ago(2, 60),
        places.near(rng, scene.unit, rng.choice(catalog.INLAND_PLACES[place_kind])),
        persons=persons,
        minors=minors(rng, persons),
        nationalities=nationalities(rng),
        place_kind=place_kind,
        asylum_intent=rng.randint(0, persons) if rng.random() < 0.5 else 0,
        transport=transport,
        **_vehicle_and_facilitators(scene, transport, 0.75, 0.12),
    )
    report["impact"] = impact_of(persons)
    report["response"] = "Persons registered and referred to the reception centre."
    return report


def crisis(scene: Scene) -> dict[str, Any]:
    """A CrisisSituation: a large group, vulnerable people, injury or worse."""
    rng = scene.rng
    kind = weighted(
        rng,
        {"LARGE_GROUP": 30, "VULNERABLE_PERSONS": 25, "INJURY": 15, "MISSING_PERSONS": 10,
         "PUBLIC_ORDER": 10, "DEATH": 4, "OTHER": 6},
    )  # fmt: skip
    persons = rng.randint(40, 150) if kind == "LARGE_GROUP" else rng.randint(1, 12)
    report = scene.envelope(
        "CrisisSituation",
        scene.minutes_ago(1, 30),
        places.near(rng, scene.unit, rng.choice(catalog.CROSSING_PLACES)),
        kind=kind,
        persons=persons,
        urgent=kind in {"DEATH", "INJURY", "MISSING_PERSONS"} or rng.random() < 0.3,
    )
    report["impact"] = "VERY_HIGH" if kind == "DEATH" else weighted(rng, {"MEDIUM": 1, "HIGH": 2})
    report["notes"] = f"{kind.replace('_', ' ').lower()}: {persons} person(s) concerned"
    return report
