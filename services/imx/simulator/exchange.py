"""Reports that refer to earlier ones: requests for information, answers, follow-ups.

EUROSUR asks that a report about a known event link to it and that answers link to their
request; these builders do that through ``related_event_ids`` and ``rfi_id``, which the pipeline
uses to keep such reports in the incident of the first one and to route answers back.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from imx.registry import Unit
from imx.simulator import places
from imx.simulator.entities import Cast, weighted
from imx.simulator.reports import Scene, impact_of, millis, new_event_id

QUESTIONS = (
    "Please confirm the identity and present whereabouts of the persons in the reports named.",
    "Do you hold records on the vehicle or the facilitators in the reports named?",
    "Was the group in the reports named registered at your station? Please send the list.",
    "Please check the phone numbers in the reports named against your contacts of the last month.",
)
ANSWERS = (
    "Group registered here; list of persons attached to our case file.",
    "No records on the persons named; the vehicle was checked by our patrol last week.",
    "The phone number appears in two of our earlier reports; details sent via the case file.",
    "Persons located at the reception centre; identities confirmed.",
)
#: Reports that requests ask about: the ones with people or vehicles in them.
ASKED_ABOUT = frozenset(
    {"UnauthorisedBorderCrossing", "MigrantsDetectedInland", "MigrantSmuggling",
     "VehicleSighting", "DocumentFraud"}
)  # fmt: skip


def request(
    scene: Scene, addressees: Sequence[Unit], recent: Iterable[dict[str, Any]]
) -> dict[str, Any]:
    """A RequestForInformation from the scene's unit to one or two of ``addressees``."""
    rng = scene.rng
    to_units = rng.sample(list(addressees), min(len(addressees), rng.choice((1, 1, 2))))
    candidates = [r["event_id"] for r in recent if r["type"] in ASKED_ABOUT]
    about = rng.sample(candidates[-30:], min(len(candidates), rng.choice((1, 2))))
    return scene.envelope(
        "RequestForInformation",
        scene.minutes_ago(0, 5),
        places.near(rng, scene.unit, "station", max_km=0.2, min_km=0.0),
        to_units=[u.id for u in to_units],
        question=rng.choice(QUESTIONS),
        urgency=weighted(rng, {"URGENT_8H": 20, "URGENT_3D": 30, "STANDARD_7D": 50}),
        about_event_ids=about,
    )


def answer(
    rng: random.Random, asked: dict[str, Any], units: Sequence[Unit], now: datetime, cast: Cast
) -> dict[str, Any]:
    """The RfiResponse of one addressee of ``asked``."""
    by_id = {u.id: u for u in units}
    responder = by_id[rng.choice([u for u in asked["to_units"] if u in by_id])]
    scene = Scene(rng, responder, now, cast)
    return scene.envelope(
        "RfiResponse",
        scene.minutes_ago(0, 2),
        places.near(rng, responder, "station", max_km=0.2, min_km=0.0),
        related_event_ids=[asked["event_id"]],
        rfi_id=asked["event_id"],
        answer=rng.choice(ANSWERS),
    )


def follow_up(rng: random.Random, first: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The reporting unit's update of its own report: same event, new facts."""
    report = copy.deepcopy(first)
    report["event_id"] = new_event_id(rng)
    report["reported_at"] = millis(now)
    report["related_event_ids"] = [first["event_id"]]
    kind = report["type"]
    if kind == "UnauthorisedBorderCrossing":
        if report["outcome"] in {"ESCAPED", "UNKNOWN"}:
            report["outcome"] = "APPREHENDED"
            report["response"] = "Group located and apprehended after a search of the area."
        else:
            report["persons"] += rng.randint(0, 3)
            report["response"] = "Number of persons corrected after registration."
    elif kind == "MigrantsDetectedInland":
        report["persons"] += rng.randint(0, 3)
        report["asylum_intent"] = rng.randint(0, report["persons"])
        report["response"] = "Persons registered; intentions to seek asylum recorded."
    elif kind == "MigrantSmuggling":
        report["status"] = "ARRESTED"
        report["response"] = "Suspects arrested; case handed to the public prosecutor."
    else:
        report["urgent"] = False
        report["response"] = "Situation under control; medical care provided."
    if "persons" in report and kind != "CrisisSituation":
        report["impact"] = impact_of(report["persons"])
    return report
