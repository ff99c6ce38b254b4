"""People, documents, vehicles and phones, and the smuggling networks that make them recur.

Correlation (CONTRACT.md 5.5) only fires when the same plate, phone, document or person turns
up in reports of different incidents, so the simulator keeps a seeded pool of networks: a few
facilitators with their phones and passports and the vehicles they use, each network working
a route of units, some routes crossing directorates (the south-to-west transit). Units write the
same plate or phone differently (spacing, diacritics, national or international dialling), as
real records do; the pipeline's normalisation must bring them together.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from imx.simulator import catalog


def weighted(rng: random.Random, weights: Mapping[str, int]) -> str:
    """One key of ``weights`` drawn by weight (mapping order keeps it deterministic)."""
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _shaped(rng: random.Random, shape: str, letters: str = catalog.PLATE_LETTERS) -> str:
    out = []
    for char in shape:
        if char == "L":
            out.append(rng.choice(letters))
        elif char == "D":
            out.append(str(rng.randint(0, 9)))
        else:
            out.append(char)
    return "".join(out)


@dataclass(frozen=True)
class Phone:
    country: str
    subscriber: str  # digits after the country code

    def render(self, rng: random.Random) -> str:
        """The number as some unit would write it down."""
        code = catalog.PHONE_PREFIXES[self.country]
        spaced = f"{self.subscriber[:2]} {self.subscriber[2:5]} {self.subscriber[5:]}"
        forms = [f"+{code} {spaced}", f"00{code}{self.subscriber}", f"+{code}{self.subscriber}"]
        if self.country == "SRB":
            forms.append(f"0{self.subscriber[:2]}/{self.subscriber[2:5]}-{self.subscriber[5:]}")
        return rng.choice(forms)


@dataclass(frozen=True)
class Identity:
    """A person as records know them; ``birth_date`` None when it was not established."""

    given_name: str
    family_name: str
    birth_date: str | None
    nationality: str
    sex: str
    passport: str | None
    phone: Phone | None

    def render(self, rng: random.Random, category: str, *, full: bool) -> dict[str, Any]:
        """A Person domain dict; ``full`` records also carry the passport and birth date."""
        documents = []
        if full and self.passport is not None:
            documents.append(
                {"kind": "PASSPORT", "number": self.passport, "issuing_country": self.nationality}
            )
        return {
            "given_name": self.given_name,
            "family_name": self.family_name,
            "birth_date": self.birth_date if full else None,
            "nationality": self.nationality,
            "sex": self.sex,
            "category": category,
            "documents": documents,
            "phones": [self.phone.render(rng)] if self.phone is not None else [],
            "birth_year": None,
        }


@dataclass(frozen=True)
class Car:
    plate: str  # as registered
    country: str
    make: str
    model: str
    colour: str
    transport: str  # CAR, VAN, TRUCK or BUS

    def render(self, rng: random.Random) -> dict[str, Any]:
        """A Vehicle domain dict with the plate as some unit typed it."""
        plate = self.plate
        variant = rng.random()
        if variant < 0.25:
            plate = plate.replace(" ", "").replace("-", "")
        elif variant < 0.4:
            plate = plate.translate(str.maketrans("ŠĐČĆŽ", "SDCCZ"))
        return {
            "plate": plate,
            "registration_country": self.country if rng.random() < 0.9 else None,
            "make": self.make,
            "model": self.model if rng.random() < 0.8 else None,
            "colour": self.colour if rng.random() < 0.7 else None,
        }


def new_phone(rng: random.Random, country: str) -> Phone:
    if country == "SRB":
        return Phone(country, rng.choice(catalog.SERBIAN_MOBILE) + _shaped(rng, "DDDDDDD"))
    return Phone(country, str(rng.randint(6, 9)) + _shaped(rng, "DDDDDDDD"))


def new_identity(
    rng: random.Random, nationality: str, *, adult: bool = True, known: float = 0.5
) -> Identity:
    """Someone of ``nationality``; ``known``: chance the birth date and passport are on record."""
    male, female, family = catalog.NAMES[nationality]
    sex = "M" if rng.random() < 0.85 else "F"
    age_days = rng.randint(18 * 365 if adult else 365, 60 * 365 if adult else 17 * 365)
    born = date(2025, 1, 1) - timedelta(days=age_days)
    on_record = rng.random() < known
    shape = catalog.PASSPORT_SHAPES.get(nationality, "LDDDDDDD")
    return Identity(
        given_name=rng.choice(male if sex == "M" else female),
        family_name=rng.choice(family),
        birth_date=born.isoformat() if on_record else None,
        nationality=nationality,
        sex=sex,
        passport=_shaped(rng, shape) if on_record else None,
        phone=new_phone(rng, nationality if nationality in catalog.PHONE_PREFIXES else "SRB"),
    )


def new_car(rng: random.Random, transport: str | None = None) -> Car:
    """A vehicle; ``transport`` restricts the kind (CAR, VAN, TRUCK, BUS)."""
    country = weighted(rng, catalog.VEHICLE_COUNTRIES)
    prefixes, shape = catalog.PLATE_SHAPES[country]
    letters = catalog.SERBIAN_PLATE_LETTERS if country == "SRB" else catalog.PLATE_LETTERS
    plate = f"{rng.choice(prefixes)} {_shaped(rng, shape, letters)}".strip()
    kinds = [v for v in catalog.VEHICLES if transport is None or v[2] == transport]
    make, model, kind = rng.choice(kinds or list(catalog.VEHICLES))
    return Car(plate, country, make, model, rng.choice(catalog.COLOURS), kind)


def new_document(rng: random.Random, country: str, kind: str) -> dict[str, Any]:
    shape = catalog.PASSPORT_SHAPES.get(country, "LLDDDDDDD")
    return {"kind": kind, "number": _shaped(rng, shape), "issuing_country": country}


@dataclass(frozen=True)
class Network:
    """A smuggling network: its people, its vehicles and the units where it shows up."""

    facilitators: tuple[Identity, ...]
    cars: tuple[Car, ...]
    units: tuple[str, ...]


def new_networks(
    rng: random.Random, routes: Sequence[Sequence[str]], count: int
) -> tuple[Network, ...]:
    """``count`` networks, each working one of ``routes`` (sequences of unit ids)."""
    networks = []
    for _ in range(count):
        facilitators = tuple(
            new_identity(rng, weighted(rng, catalog.FACILITATOR_NATIONALITIES), known=0.7)
            for _ in range(rng.randint(2, 4))
        )
        cars = tuple(new_car(rng) for _ in range(rng.randint(1, 3)))
        networks.append(Network(facilitators, cars, tuple(rng.choice(routes))))
    return tuple(networks)


@dataclass(frozen=True)
class Cast:
    """Who appears in a report: a network's people and vehicles, or someone new.

    ``recurrence`` is the chance that a mention comes from a network, preferring one that works
    at the reporting unit; the rest are one-off people and vehicles, as most of them are.
    """

    networks: tuple[Network, ...]
    circulating: tuple[dict[str, Any], ...]  # fraudulent documents used again and again
    recurrence: float = 0.55

    def _network(self, rng: random.Random, unit_id: str) -> Network | None:
        if not self.networks or rng.random() >= self.recurrence:
            return None
        local = [n for n in self.networks if unit_id in n.units]
        return rng.choice(local or list(self.networks))

    def facilitators(self, rng: random.Random, unit_id: str, count: int) -> list[Identity]:
        network = self._network(rng, unit_id)
        if network is not None:
            return rng.sample(network.facilitators, min(count, len(network.facilitators)))
        return [
            new_identity(rng, weighted(rng, catalog.FACILITATOR_NATIONALITIES), known=0.6)
            for _ in range(count)
        ]

    def car(self, rng: random.Random, unit_id: str, transport: str | None = None) -> Car:
        network = self._network(rng, unit_id)
        fitting = [c for c in network.cars if transport in (None, c.transport)] if network else []
        return rng.choice(fitting) if fitting else new_car(rng, transport)

    def fraudulent_document(self, rng: random.Random) -> dict[str, Any]:
        if self.circulating and rng.random() < self.recurrence / 2:
            return dict(rng.choice(self.circulating))
        kind = rng.choices(("PASSPORT", "ID_CARD", "RESIDENCE_PERMIT", "VISA"), (45, 20, 25, 10))
        return new_document(rng, weighted(rng, catalog.FRAUD_COUNTRIES), kind[0])
