"""The report stream: which unit reports what next, and the stories that span several reports.

``Simulator`` is pure apart from its clock: given a seeded ``random.Random`` it yields the same
reports in the same order every time; only the timestamps move with the clock. Besides fresh
reports drawn from the type mix, it schedules the things the pipeline exists for, a few reports
later in the stream:

- doubles: a neighbouring unit reports the same group (≤ 30 min, ≤ 3 km, persons within the
  contract's tolerance), so incident matching fires;
- follow-ups: the reporting unit updates its report (``related_event_ids``);
- answers: an addressee of a request for information answers it (``RfiResponse``);
- resends: a unit system sends a report again unchanged, as retrying clients do.

Plates, phones, documents and people recur through the networks of ``Cast``.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import random
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from imx.pipeline.geo import haversine_km
from imx.registry import Registry, Unit
from imx.simulator import crime, exchange, places, reports
from imx.simulator.entities import Cast, new_document, new_networks
from imx.simulator.reports import Scene, millis

#: Fresh reports by type (relative weights); doubles, follow-ups and answers come on top.
PRIMARY_MIX: Mapping[str, float] = {
    "UnauthorisedBorderCrossing": 34, "MigrantsDetectedInland": 24, "MigrantSmuggling": 9,
    "VehicleSighting": 7, "DocumentFraud": 5, "RequestForInformation": 3.5,
    "CrisisSituation": 2, "TraffickingInHumanBeings": 1, "resend": 0.5,
}  # fmt: skip
MATCHABLE = ("UnauthorisedBorderCrossing", "MigrantsDetectedInland")
DOUBLE_CHANCE = 0.18
FOLLOW_UP_CHANCE = 0.08
ANSWER_CHANCE = 0.9
#: A second observer of a group is a LOCAL unit within this distance of the first.
PARTNER_RADIUS_KM = 30.0
#: A double lies this close to the first fix: inside the contract's 3.0 km with room to spare.
DOUBLE_RADIUS_KM = 2.5
SECTION_WEIGHT = {"LOW": 1.0, "MEDIUM": 2.0, "HIGH": 3.0, "CRITICAL": 4.0}
NETWORKS = 12

Builder = Callable[[Scene], dict[str, Any]]
BUILDERS: Mapping[str, Builder] = {
    "UnauthorisedBorderCrossing": reports.crossing,
    "MigrantsDetectedInland": reports.inland,
    "CrisisSituation": reports.crisis,
    "MigrantSmuggling": crime.smuggling,
    "TraffickingInHumanBeings": crime.trafficking,
    "DocumentFraud": crime.fraud,
    "VehicleSighting": crime.sighting,
}


class Simulator:
    """An endless, seeded stream of valid domain dicts from the registry's LOCAL units."""

    def __init__(
        self, registry: Registry, rng: random.Random, clock: Callable[[], datetime]
    ) -> None:
        self._rng = rng
        self._clock = clock
        self._units = registry.local_units()
        if not self._units:
            msg = "the registry has no LOCAL units to simulate"
            raise ValueError(msg)
        area = {u.id: _area_weight(registry, u) for u in self._units}
        border = [u for u in self._units if u.line == "BORDER"] or self._units
        self._weights: dict[str, tuple[list[Unit], list[float]]] = {
            "UnauthorisedBorderCrossing": (border, [area[u.id] for u in border]),
            "MigrantsDetectedInland": (
                self._units,
                [area[u.id] * (2.0 if u.line == "GENERAL" else 1.0) for u in self._units],
            ),
            "*": (self._units, [area[u.id] for u in self._units]),
        }
        self._partners = {u.id: _partners(u, self._units) for u in self._units}
        self.cast = Cast(
            new_networks(rng, _routes(rng, self._units), NETWORKS),
            tuple(
                new_document(rng, country, "PASSPORT")
                for country in ("GRC", "BGR", "ITA", "AUT", "FRA", "SVN")
            ),
        )
        self._step = 0
        self._order = itertools.count()  # ties in the schedule go first come, first served
        self._pending: list[tuple[int, int, str, dict[str, Any]]] = []
        self._recent: deque[dict[str, Any]] = deque(maxlen=200)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self

    def __next__(self) -> dict[str, Any]:
        self._step += 1
        now = millis(self._clock())
        if self._pending and self._pending[0][0] <= self._step:
            _, _, kind, earlier = heapq.heappop(self._pending)
            report = self._derived(kind, earlier, now)
        else:
            report = self._fresh(now)
        self._recent.append(report)
        return copy.deepcopy(report)

    def _schedule(self, kind: str, earlier: dict[str, Any], low: int, high: int) -> None:
        due = self._step + self._rng.randint(low, high)
        heapq.heappush(self._pending, (due, next(self._order), kind, earlier))

    def _unit_for(self, type_name: str) -> Unit:
        units, weights = self._weights.get(type_name, self._weights["*"])
        return self._rng.choices(units, weights)[0]

    def _fresh(self, now: datetime) -> dict[str, Any]:
        rng = self._rng
        kind = rng.choices(list(PRIMARY_MIX), list(PRIMARY_MIX.values()))[0]
        if kind == "resend" and self._recent:
            return rng.choice(list(self._recent))
        if kind == "resend" or (kind == "RequestForInformation" and len(self._units) == 1):
            kind = "UnauthorisedBorderCrossing"  # nothing to resend yet, or nobody to ask
        if kind == "RequestForInformation":
            unit = self._unit_for(kind)
            others = self._partners[unit.id] or [u for u in self._units if u.id != unit.id]
            request = exchange.request(Scene(rng, unit, now, self.cast), others, self._recent)
            if rng.random() < ANSWER_CHANCE:
                self._schedule("answer", request, 10, 60)
            return request
        report = BUILDERS[kind](Scene(rng, self._unit_for(kind), now, self.cast))
        partners = self._partners[report["reporting_unit"]]
        if kind in MATCHABLE and partners and rng.random() < DOUBLE_CHANCE:
            self._schedule("double", report, 2, 25)
        followed = kind in {*MATCHABLE, "MigrantSmuggling", "CrisisSituation"}
        if followed and rng.random() < FOLLOW_UP_CHANCE:
            self._schedule("follow_up", report, 5, 40)
        return report

    def _derived(self, kind: str, earlier: dict[str, Any], now: datetime) -> dict[str, Any]:
        if kind == "answer":
            return exchange.answer(self._rng, earlier, self._units, now, self.cast)
        if kind == "double":
            return self._double(earlier, now)
        return exchange.follow_up(self._rng, earlier, now)

    def _double(self, seen: dict[str, Any], now: datetime) -> dict[str, Any]:
        """The same group reported by a neighbouring unit, so that the pipeline matches them."""
        rng = self._rng
        partner = rng.choice(self._partners[seen["reporting_unit"]])
        kind = seen["type"] if partner.line == "BORDER" else "MigrantsDetectedInland"
        report = BUILDERS[kind](Scene(rng, partner, now, self.cast))
        shift = timedelta(minutes=rng.uniform(-10, 20))
        report["occurred_at"] = min(millis(seen["occurred_at"] + shift), report["reported_at"])
        report["location"] = places.beside(rng, seen["location"], DOUBLE_RADIUS_KM)
        persons = max(1, seen["persons"] + rng.randint(-2, 2))
        report["persons"] = persons
        report["minors"] = min(seen["minors"], persons)
        report["nationalities"] = list(seen["nationalities"])
        report["impact"] = reports.impact_of(persons)
        if report["type"] == "MigrantsDetectedInland":
            report["asylum_intent"] = min(report["asylum_intent"], persons)
        return report


def _area_weight(registry: Registry, unit: Unit) -> float:
    """How busy a unit's area is: the impact of its border section, or of its directorate's."""
    sections = (
        [unit.border_section]
        if unit.border_section
        else [
            u.border_section
            for u in registry.local_units()
            if u.border_section and u.territorial == unit.territorial
        ]
    )
    impacts = [SECTION_WEIGHT.get(registry.sections.get(s, ""), 1.0) for s in sections if s]
    return max(impacts, default=1.0)


def _partners(unit: Unit, units: list[Unit]) -> list[Unit]:
    return [
        other
        for other in units
        if other.id != unit.id
        and haversine_km(unit.lat, unit.lon, other.lat, other.lon) <= PARTNER_RADIUS_KM
    ]


def _routes(rng: random.Random, units: list[Unit]) -> list[tuple[str, ...]]:
    """Where networks work: units of one directorate, often continuing into another one,
    as the route runs from the southern borders to the western ones."""
    by_area: dict[str, list[str]] = {}
    for unit in units:
        by_area.setdefault(unit.territorial or unit.id, []).append(unit.id)
    areas = sorted(by_area)
    routes = []
    for area in areas:
        members = by_area[area]
        start = tuple(rng.sample(members, min(len(members), 2)))
        others = [a for a in areas if a != area]
        if others and rng.random() < 0.6:
            onward = by_area[rng.choice(others)]
            start += tuple(rng.sample(onward, min(len(onward), 2)))
        routes.append(start)
    return routes


def new_simulator(registry: Registry, seed: int, clock: Callable[[], datetime]) -> Simulator:
    """A simulator whose reports depend only on ``seed`` (and on ``clock`` for their times)."""
    return Simulator(registry, random.Random(seed), clock)  # noqa: S311 - simulation only
