"""A scripted day of reports through the stateful core, with what the contract says must happen.

Every step names its report; event ids are derived from the names, so a replay is byte-for-byte
the same and expectations can refer to reports by name. Times are fixed offsets from ``T0`` and
the clock is a fake the run sets before each step: nothing depends on the wall clock.
`Generator` makes random valid reports for the invariant tests.
"""

from __future__ import annotations

import copy
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from imx.pipeline.core import Core, Outcome
from imx.pipeline.state import PipelineState
from imx.registry import Registry
from imx.schema.loader import REPORT_TYPES
from imx.schema.validation import validate_report

from .conftest import T0, Build

KEY = b"scenario-pseudonym-key"
ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:imx:test:scenario")
REPORT_DELAY = timedelta(minutes=1)  # reported_at - occurred_at
INGEST_DELAY = timedelta(minutes=2)  # ingested_at - reported_at
DELIVERY_DELAY = timedelta(seconds=1)  # the clock at decision - ingested_at

Routes = dict[str, tuple[str, ...]]


def eid(name: str) -> str:
    """The event id of the scenario report called `name`."""
    return str(uuid.uuid5(ID_NAMESPACE, name))


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


class FakeClock:
    """The processing clock: whatever the test last set."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def fresh_state() -> PipelineState:
    return PipelineState(events={}, candidates={}, entities={}, journal={}, meta={})


def table_sizes(state: PipelineState) -> dict[str, int]:
    tables = ("events", "candidates", "entities", "journal", "meta")
    return {name: len(getattr(state, name)) for name in tables}


class Run:
    """One core over fresh dict tables; ingestion and delivery follow the report by fixed delays.

    Each fed report is a new input record (the next offset of its unit's ingress topic) unless
    `source` names one fed before: that is the same record processed again after a crash.
    """

    def __init__(self, registry: Registry) -> None:
        self.clock = FakeClock(T0)
        self.state = fresh_state()
        self.core = Core(registry, KEY, self.clock)
        self.sources: list[int] = []

    def feed(self, report: dict[str, Any], source: int | None = None) -> Outcome:
        if source is None:
            source = len(self.sources)
            self.sources.append(source)
        ingested = report["reported_at"] + INGEST_DELAY
        self.clock.now = ingested + DELIVERY_DELAY
        return self.core.decide(report, self.state, ingested_at=ingested, source=source)


UBC, MDI, MS = "UnauthorisedBorderCrossing", "MigrantsDetectedInland", "MigrantSmuggling"
DF, VS, CRISIS = "DocumentFraud", "VehicleSighting", "CrisisSituation"
RFI, ANSWER = "RequestForInformation", "RfiResponse"


def make(
    name: str, type_: str, unit: str, minutes: int, where: dict[str, float], **fields: Any
) -> dict[str, Any]:
    """A screened report (``reported_at`` filled in) called `name`, `minutes` after T0."""
    return named(name, type_, unit, minutes, where, **fields).report


@dataclass(frozen=True)
class Named:
    name: str
    report: dict[str, Any]


def named(
    name: str, type_: str, unit: str, minutes: int, where: dict[str, float], **fields: Any
) -> Named:
    occurred = at(minutes)
    return Named(
        name,
        Build().report(
            type_,
            event_id=eid(name),
            reporting_unit=unit,
            occurred_at=occurred,
            reported_at=occurred + REPORT_DELAY,
            **where,
            **fields,
        ),
    )


@dataclass(frozen=True)
class ExpectedCorrelation:
    kind: str
    key: str
    events: tuple[str, ...]  # report names, oldest first
    units: tuple[str, ...]
    routes: Routes


@dataclass(frozen=True)
class Step:
    """One report and what must become of it (report names for ids)."""

    name: str
    report: dict[str, Any]
    status: str
    code: str | None = None
    incident: str | None = None
    duplicate_of: str | None = None
    routes: Routes = field(default_factory=dict)
    correlations: tuple[ExpectedCorrelation, ...] = ()


# Personal data in the script, raw and normalised: none of it may reach analytics in clear.
PERSONAL = (
    *("Ali", "Hassani", "Hasani", "Omar", "Nazari", "Marko", "Petrović"),
    *("Jamal", "Rahimi", "Ahmad", "Karimi", "1988-07-15", "1991-04-02"),
    *("P0099887", "009876543", "AB 998877", "AB998877"),
    *("VR 123-AB", "vr123ab", "VR-123 ab", "VR123AB"),
    *("+381 64 555 0199", "0645550199", "381645550199", "645550199"),
    *("+93 70 555 0100", "93705550100"),
)
NOTES = "Informant says the group crossed near Miratovac."
RESPONSE = "Suspect arrested at the checkpoint."

PRESEVO = {"lat": 42.300, "lon": 21.650}  # bps-presevo
PS_PRESEVO = {"lat": 42.309, "lon": 21.648}  # ps-presevo, 1.0 km from bps-presevo
BATROVCI = {"lat": 45.055, "lon": 19.110}
SID = {"lat": 45.120, "lon": 19.230}
VRANJE = {"lat": 42.550, "lon": 21.900}  # inland: no border station within 30 km

BPS_MK: Routes = {  # bps-presevo and bps-rujan
    "rc-mk": ("chain",),
    "pd-vranje": ("chain",),
    "gpd-oc": ("chain",),
    "gpd-bpd": ("line",),
    "gpd-satit": ("analytics",),
}
BPS_HR: Routes = {
    "rc-hr": ("chain",),
    "pd-sremska-mitrovica": ("chain",),
    "gpd-oc": ("chain",),
    "gpd-bpd": ("line",),
    "gpd-satit": ("analytics",),
}
STATION: Routes = {  # ps-presevo and ps-vranje
    "pd-vranje": ("chain",),
    "gpd-oc": ("chain",),
    "gpd-satit": ("analytics",),
}
CRIME_BPS_MK: Routes = {  # bps-presevo and bps-rujan
    **BPS_MK,
    "pd-vranje": ("chain", "crime"),
    "gpd-sbpok": ("crime",),
}
CRIME_STATION: Routes = {
    **STATION,
    "pd-vranje": ("chain", "crime"),
    "gpd-sbpok": ("crime",),
}
CORRELATION_VRANJE: Routes = {
    "gpd-oc": ("correlation",),
    "gpd-sbpok": ("correlation",),
    "pd-vranje": ("correlation",),
}
CORRELATION_VRANJE_SREM: Routes = {**CORRELATION_VRANJE, "pd-sremska-mitrovica": ("correlation",)}


def _people() -> dict[str, dict[str, Any]]:
    build = Build()
    return {
        "ali": build.person(
            given_name="Ali",
            family_name="Hassani",
            birth_date="1988-07-15",
            nationality="AFG",
            documents=[build.document(number="P0099887", issuing_country="AFG")],
            phones=["+381 64 555 0199"],
        ),
        "ali-facilitator": build.person(
            given_name="Ali", family_name="Hasani", phones=["0645550199"], category="OTHER"
        ),
        "omar": build.person(given_name="Omar", family_name="Nazari", nationality="PAK"),
        "marko": build.person(
            nationality="SRB",
            documents=[build.document(kind="ID_CARD", number="009876543", issuing_country="SRB")],
        ),
        "jamal": build.person(
            given_name="Jamal",
            family_name="Rahimi",
            birth_date="1991-04-02",
            nationality="AFG",
            phones=["+93 70 555 0100"],
        ),
        "ahmad": build.person(given_name="Ahmad", family_name="Karimi", category="OTHER"),
    }


def ok(
    report: Named,
    routes: Routes,
    incident: str | None = None,
    duplicate_of: str | None = None,
    *correlations: ExpectedCorrelation,
) -> Step:
    """An accepted report; its incident is its own unless another report is named."""
    name = report.name
    return Step(
        name, report.report, "accepted", None, incident or name, duplicate_of, routes, correlations
    )


def again(label: str, report: Named, status: str, code: str | None = None) -> Step:
    """A resend of `report` (a copy) as a step of its own."""
    return Step(f"{report.name} ({label})", copy.deepcopy(report.report), status, code)


def rejected(report: Named, code: str) -> Step:
    return Step(report.name, report.report, "rejected", code)


def _incidents() -> Iterator[Step]:
    """5.2 exact duplicates and conflicts, 5.4 incidents by related ids and by matching."""
    ubc_a = named("ubc-a", UBC, "bps-presevo", 0, PRESEVO, persons=12, notes=NOTES)
    yield ok(ubc_a, BPS_MK)
    altered = {**copy.deepcopy(ubc_a.report), "persons": 13}
    yield Step("ubc-a (altered)", altered, "rejected", "EVENT_ID_CONFLICT")
    yield again("again", ubc_a, "duplicate")
    # ps-presevo, 20 min later, 1.38 km away, 14 persons vs 12: the same incident.
    near_b = {"lat": 42.310, "lon": 21.640}
    yield ok(named("mdi-b", MDI, "ps-presevo", 20, near_b, persons=14), STATION, "ubc-a", "ubc-a")
    # Near A and B in time and space but 20 persons: |20-12| = 8 > 2.4 and |20-14| = 6 > 2.8.
    near_a = {"lat": 42.305, "lon": 21.645}
    yield ok(named("ubc-rujan-crowd", UBC, "bps-rujan", 5, near_a, persons=20), BPS_MK)
    # 8.1 km from A: too far.
    rujan = {"lat": 42.330, "lon": 21.560}
    yield ok(named("ubc-rujan-far", UBC, "bps-rujan", 15, rujan, persons=12), BPS_MK)
    # At A's place, 31 minutes after B and 51 after A: too late.
    yield ok(named("ubc-rujan-late", UBC, "bps-rujan", 51, PRESEVO, persons=14), BPS_MK)
    # Would match A, but names a known report: related ids win, unknown ones are skipped.
    related = [eid("never-published"), eid("ubc-rujan-far"), eid("ubc-a")]
    mdi = named("mdi-related", MDI, "ps-vranje", 25, near_a, persons=12, related_event_ids=related)
    yield ok(mdi, STATION, "ubc-rujan-far")
    # The same without related ids matches A, B and ubc-rujan-late; A is the earliest.
    yield ok(
        named("mdi-match", MDI, "ps-vranje", 25, near_a, persons=12), STATION, "ubc-a", "ubc-a"
    )
    yield ok(named("ubc-batrovci-1", UBC, "bps-batrovci", 120, BATROVCI, persons=5), BPS_HR)
    # Same unit, same place, 10 minutes later: reports of one unit never match each other.
    yield ok(named("ubc-batrovci-2", UBC, "bps-batrovci", 130, BATROVCI, persons=5), BPS_HR)


def _neighbours() -> Iterator[Step]:
    """5.6 neighbour: escaped/unknown crossings and crises, never under H2."""
    neighbours = {"bps-rujan": ("neighbour",), "ps-presevo": ("neighbour",)}
    escaped = named("ubc-escaped", UBC, "bps-presevo", 180, PRESEVO, persons=3, outcome="ESCAPED")
    yield ok(escaped, {**BPS_MK, **neighbours})
    restricted = named(
        "ubc-unknown-h2", UBC, "bps-presevo", 185, PRESEVO, outcome="UNKNOWN", handling="H2"
    )
    yield ok(restricted, BPS_MK)
    crisis = named("crisis", CRISIS, "ps-presevo", 210, PS_PRESEVO, kind="INJURY", handling="H1")
    yield ok(crisis, {**STATION, "bps-presevo": ("neighbour",), "bps-rujan": ("neighbour",)})


def _vehicle() -> Iterator[Step]:
    """5.6 crime for a named vehicle; 5.5 correlation across incidents and directorates."""
    build = Build()
    vehicle = build.vehicle(plate="VR 123-AB", registration_country="SRB")
    yield ok(named("ubc-vehicle", UBC, "bps-presevo", 240, PRESEVO, vehicle=vehicle), CRIME_BPS_MK)
    # A follow-up of the same incident with the same plate: no correlation within one incident.
    followup = named(
        "vs-followup",
        VS,
        "ps-presevo",
        270,
        PS_PRESEVO,
        vehicle=build.vehicle(plate="vr123ab"),
        related_event_ids=[eid("ubc-vehicle")],
    )
    yield ok(followup, CRIME_STATION, "ubc-vehicle")
    sighting = named(
        "vs-batrovci",
        VS,
        "bps-batrovci",
        360,
        BATROVCI,
        handling="H1",
        vehicle=build.vehicle(plate="VR-123 ab"),
    )
    routes = {**BPS_HR, "pd-sremska-mitrovica": ("chain", "crime"), "gpd-sbpok": ("crime",)}
    shared = ExpectedCorrelation(
        "vehicle",
        "VR123AB",
        ("ubc-vehicle", "vs-followup", "vs-batrovci"),
        ("bps-batrovci", "bps-presevo", "ps-presevo"),
        {**CORRELATION_VRANJE_SREM, "ext-europol-emsc": ("international",)},
    )
    yield ok(sighting, routes, None, None, shared)


def _documents() -> Iterator[Step]:
    """5.5 correlation by document across two directorates, kept at home by one H2 report."""
    build, people = Build(), _people()
    df_sid = named(
        "df-sid",
        DF,
        "ps-sid",
        420,
        SID,
        handling="H2",
        holder=people["jamal"],
        document=build.document(number="AB 998877", issuing_country="AFG"),
    )
    routes = {
        "pd-sremska-mitrovica": ("chain", "crime"),
        "gpd-oc": ("chain",),
        "gpd-sbpok": ("crime",),
        "gpd-satit": ("analytics",),
    }
    yield ok(df_sid, routes)
    df_vranje = named(
        "df-vranje",
        DF,
        "ps-vranje",
        480,
        VRANJE,
        holder=people["ahmad"],
        document=build.document(number="AB998877", issuing_country="AFG"),
    )
    shared = ExpectedCorrelation(
        "document",
        "AFG:AB998877",
        ("df-sid", "df-vranje"),
        ("ps-sid", "ps-vranje"),
        CORRELATION_VRANJE_SREM,
    )
    yield ok(df_vranje, CRIME_STATION, None, None, shared)


def _smuggling() -> Iterator[Step]:
    """5.6 international (foreign element, H0/H1 only); 5.5 late report ordered by event time."""
    people = _people()
    foreign = named(
        "ms-foreign-h1",
        MS,
        "ps-presevo",
        600,
        PS_PRESEVO,
        handling="H1",
        suspects=[people["ali"]],
        notes=NOTES,
        response=RESPONSE,
    )
    yield ok(foreign, {**CRIME_STATION, "ext-europol-emsc": ("international",)})
    restricted = named(
        "ms-foreign-h2", MS, "bps-presevo", 660, PRESEVO, handling="H2", suspects=[people["omar"]]
    )
    yield ok(restricted, CRIME_BPS_MK)
    domestic = named("ms-domestic", MS, "ps-vranje", 720, VRANJE, suspects=[people["marko"]])
    yield ok(domestic, CRIME_STATION)
    # Published late: happened an hour before ms-foreign-h1, so it is listed first.
    facilitators = [people["ali-facilitator"]]
    late = named("ubc-late-phone", UBC, "bps-presevo", 540, PRESEVO, facilitators=facilitators)
    shared = ExpectedCorrelation(
        "phone",
        "381645550199",
        ("ubc-late-phone", "ms-foreign-h1"),
        ("bps-presevo", "ps-presevo"),
        CORRELATION_VRANJE,
    )
    yield ok(late, CRIME_BPS_MK, None, None, shared)


def _requests() -> Iterator[Step]:
    """5.6 rfi routing and 5.1 UNKNOWN_RFI; a rejection is not remembered."""
    to_units = ["bps-presevo", "ps-presevo", "ps-vranje"]  # the sender too: it gets nothing
    rfi = named(
        "rfi", RFI, "ps-vranje", 780, VRANJE, to_units=to_units, about_event_ids=[eid("ubc-a")]
    )
    yield ok(rfi, {"bps-presevo": ("rfi",), "ps-presevo": ("rfi",)})
    answer = named("rfi-answer", ANSWER, "bps-presevo", 810, PRESEVO, rfi_id=eid("rfi"))
    yield ok(answer, {"ps-vranje": ("rfi",)})
    yield again("again", answer, "duplicate")
    unknown = named("rfi-unknown", ANSWER, "ps-presevo", 815, PS_PRESEVO, rfi_id=eid("no-request"))
    yield rejected(unknown, "UNKNOWN_RFI")
    not_a_request = named(
        "rfi-not-a-request", ANSWER, "ps-presevo", 816, PS_PRESEVO, rfi_id=eid("ubc-a")
    )
    yield rejected(not_a_request, "UNKNOWN_RFI")
    early = named("early-answer", ANSWER, "ps-presevo", 830, PS_PRESEVO, rfi_id=eid("rfi-2"))
    yield rejected(early, "UNKNOWN_RFI")
    rfi_2 = named("rfi-2", RFI, "bps-batrovci", 820, BATROVCI, to_units=["ps-presevo"])
    yield ok(rfi_2, {"ps-presevo": ("rfi",)})
    retried = Step("early-answer (retried)", copy.deepcopy(early.report), "accepted", None)
    yield replace(retried, incident="early-answer", routes={"bps-batrovci": ("rfi",)})


def script() -> list[Step]:
    """The whole scenario, in processing order."""
    return [*_incidents(), *_neighbours(), *_vehicle(), *_documents(), *_smuggling(), *_requests()]


PLATES = ("VR 123-AB", "BG 555-XY", "NS 042-KK")
PHONES = ("0641112233", "+381 65 999 8877", "+43 660 1234567")
DOCUMENTS = ("P0099887", "X-1234", "009876543")


class Generator:
    """Random valid reports over the shipped registry, three days of event time, few entities."""

    def __init__(
        self, rnd: random.Random, registry: Registry, accepted: dict[str, dict[str, Any]]
    ) -> None:
        self.rnd = rnd
        self.registry = registry
        self.locals = [unit.id for unit in registry.local_units()]
        self.accepted = accepted
        self.count = 0

    def person(self) -> dict[str, Any]:
        rnd = self.rnd
        return Build().person(
            given_name=rnd.choice(("Ali", "Omar", "Marko")),
            family_name=rnd.choice(("Hassani", "Nazari")),
            birth_date=rnd.choice((None, "1988-07-15")),
            nationality=rnd.choice((None, "SRB", "AFG")),
            documents=[
                Build().document(number=rnd.choice(DOCUMENTS), issuing_country="AFG")
                for _ in range(rnd.randrange(2))
            ],
            phones=rnd.sample(PHONES, rnd.randrange(2)),
        )

    def vehicle(self) -> dict[str, Any] | None:
        plate = self.rnd.choice((None, *PLATES))
        return None if plate is None else Build().vehicle(plate=plate)

    def fields(self, type_: str) -> dict[str, Any]:
        rnd = self.rnd
        persons = rnd.randrange(1, 30)
        if type_ in ("UnauthorisedBorderCrossing", "MigrantsDetectedInland"):
            extra = {"outcome": rnd.choice(("APPREHENDED", "ESCAPED", "UNKNOWN"))}
            return {
                "persons": persons,
                "vehicle": self.vehicle(),
                "facilitators": [self.person() for _ in range(rnd.randrange(2))],
                **(extra if type_ == "UnauthorisedBorderCrossing" else {}),
            }
        if type_ == "MigrantSmuggling":
            return {"suspects": [self.person()], "vehicle": self.vehicle()}
        if type_ == "TraffickingInHumanBeings":
            return {"victims": persons, "suspects": [self.person()]}
        if type_ == "DocumentFraud":
            number = rnd.choice(DOCUMENTS)
            return {"document": Build().document(number=number), "holder": self.person()}
        if type_ == "VehicleSighting":
            return {"vehicle": Build().vehicle(plate=rnd.choice(PLATES))}
        if type_ == "CrisisSituation":
            return {"persons": persons}
        if type_ == "RequestForInformation":
            return {"to_units": rnd.sample(self.registry.ids(), rnd.randrange(1, 4))}
        requests = [r for r in self.accepted.values() if r["type"] == "RequestForInformation"]
        known = rnd.choice(requests)["event_id"] if requests else eid("none")
        return {"rfi_id": rnd.choice((known, eid(f"unknown-{self.count}")))}

    def fresh(self) -> dict[str, Any]:
        self.count += 1
        rnd = self.rnd
        type_ = rnd.choice(REPORT_TYPES)
        unit = self.registry.get(rnd.choice(self.locals))
        where = {
            "lat": unit.lat + rnd.uniform(-0.02, 0.02),
            "lon": unit.lon + rnd.uniform(-0.02, 0.02),
        }
        follows = (
            rnd.sample(sorted(self.accepted), 1) if self.accepted and rnd.random() < 0.2 else []
        )
        report = make(
            f"random-{self.count}",
            type_,
            unit.id,
            rnd.randrange(3 * 24 * 60),
            where,
            handling=rnd.choice(("H0", "H1", "H2", "H3")),
            related_event_ids=follows,
            **self.fields(type_),
        )
        assert validate_report(report, self.registry) == []
        return report
