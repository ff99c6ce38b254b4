"""Domain dicts of the cross-border crime types: smuggling, trafficking, fraud, vehicle sightings.

These are where the recurring networks show: arrested suspects come with passports, birth dates
and phones, so correlation can link them across units; most smugglers on the route are foreign
nationals or drive foreign-registered cars, which is what makes a report Europol's business.
"""

from __future__ import annotations

from typing import Any

from imx.simulator import catalog, places
from imx.simulator.entities import new_identity, weighted
from imx.simulator.reports import Scene, group_size

#: Investigations restrict onward use more often than patrol reports do.
CRIME_HANDLING = {"H0": 55, "H1": 30, "H2": 10, "H3": 5}
FRAUD_KINDS = {
    "FORGED": 35, "COUNTERFEIT": 20, "IMPOSTOR": 25, "FRAUDULENTLY_OBTAINED": 10,
    "STOLEN_BLANK": 10,
}  # fmt: skip


def smuggling(scene: Scene) -> dict[str, Any]:
    """A MigrantSmuggling report: mostly arrests of facilitators caught with a group."""
    rng = scene.rng
    suspects = scene.cast.facilitators(rng, scene.unit.id, rng.choices((1, 2, 3), (55, 35, 10))[0])
    status = weighted(rng, {"ARRESTED": 60, "IDENTIFIED": 20, "WANTED": 10, "AT_LARGE": 10})
    vehicle = None
    if rng.random() < 0.55:
        vehicle = scene.cast.car(rng, scene.unit.id).render(rng)
    report = scene.envelope(
        "MigrantSmuggling",
        scene.minutes_ago(10, 8 * 60),
        places.near(rng, scene.unit, rng.choice(("checkpoint", "motorway exit", "parking lot"))),
        suspects=[s.render(rng, "SUSPECT", full=status == "ARRESTED") for s in suspects],
        smuggled_persons=group_size(rng) if rng.random() < 0.9 else 0,
        status=status,
        vehicle=vehicle,
    )
    report["handling"] = weighted(rng, CRIME_HANDLING)
    report["impact"] = weighted(rng, {"MEDIUM": 3, "HIGH": 1})
    if status == "ARRESTED":
        report["response"] = "Suspects detained; the public prosecutor has been informed."
    return report


def trafficking(scene: Scene) -> dict[str, Any]:
    """A TraffickingInHumanBeings report: rare, sensitive, usually restricted handling."""
    rng = scene.rng
    suspects = scene.cast.facilitators(rng, scene.unit.id, rng.choice((1, 2)))
    report = scene.envelope(
        "TraffickingInHumanBeings",
        scene.minutes_ago(60, 20 * 60),
        places.near(rng, scene.unit, rng.choice(("private house", "farm", "motel"))),
        victims=rng.randint(1, 6),
        suspects=[s.render(rng, "SUSPECT", full=True) for s in suspects],
        exploitation=weighted(rng, {"LABOUR": 35, "SEXUAL": 35, "OTHER": 10, "UNKNOWN": 20}),
    )
    report["handling"] = weighted(rng, {"H1": 40, "H2": 40, "H3": 20})
    report["impact"] = "HIGH"
    report["notes"] = "Victims referred to the Centre for Protection of Victims of Trafficking."
    return report


def fraud(scene: Scene) -> dict[str, Any]:
    """A DocumentFraud report: a forged or misused document found on a migrant."""
    rng = scene.rng
    document = scene.cast.fraudulent_document(rng)
    holder = None
    if rng.random() < 0.85:
        person = new_identity(rng, weighted(rng, catalog.MIGRANT_NATIONALITIES), known=0.4)
        holder = person.render(rng, "SUSPECT", full=True)
        holder["phones"] = []
    return scene.envelope(
        "DocumentFraud",
        scene.minutes_ago(5, 4 * 60),
        places.near(rng, scene.unit, rng.choice(("border crossing point", "bus station"))),
        document=document,
        fraud=weighted(rng, FRAUD_KINDS),
        holder=holder,
    )


def sighting(scene: Scene) -> dict[str, Any]:
    """A VehicleSighting: a car suspected of carrying migrants, found abandoned, or checked."""
    rng = scene.rng
    context = weighted(
        rng, {"SUSPECTED_TRANSPORT": 45, "ABANDONED": 15, "CHECKED": 30, "WANTED": 10}
    )
    on_board = None
    if context in {"SUSPECTED_TRANSPORT", "CHECKED"} and rng.random() < 0.6:
        on_board = rng.randint(0, 20)
    return scene.envelope(
        "VehicleSighting",
        scene.minutes_ago(1, 120),
        places.near(rng, scene.unit, rng.choice(("regional road", "motorway", "village road"))),
        vehicle=scene.cast.car(rng, scene.unit.id).render(rng),
        context=context,
        persons_on_board=on_board,
    )
