"""The scripted scenario of the pipeline e2e test, and the tools to publish it and read it back.

Every step names one input record. Steps of one phase are independent of each other and are
published concurrently; a later phase holds the records whose outcome depends on the pipeline
having processed an earlier one (a second sighting of a group, a follow-up, an RFI's answer, a
republished event id): ingress topics are read in parallel, so only processing order is
ordered, and the test waits for it between phases.

The contract's normalisations (entity keys, pseudonym tokens, distances) are written out here
again from CONTRACT.md rather than imported, so the test does not check the product against
itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import math
import re
import subprocess
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from prometheus_client.parser import text_string_to_metric_families

from imx.kafka.connection import Connection
from imx.kafka.reading import read_to_end
from tests.support.proc import run_imx
from tests.support.reports import crossing, smuggling, stamp

EARTH_RADIUS_KM = 6371.0088


class Placement(NamedTuple):
    """Where an input record landed: the DLQ headers must name exactly this."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class Step:
    name: str
    unit: str  # the unit whose ingress topic the record goes to
    phase: int
    report: dict[str, Any] | None = None  # JSON form, sent with `imx publish`
    raw: bytes | None = None  # sent as is: a raw `--no-check` line, or produced directly
    no_check: bool = False
    direct: bool = False  # produced with aiokafka, not through the command line

    @property
    def event_id(self) -> str:
        assert self.report is not None, self.name
        return str(self.report["event_id"])

    def line(self) -> str:
        if self.report is not None:
            return json.dumps(self.report, ensure_ascii=False)
        assert self.raw is not None
        return self.raw.decode()


# --- JSON-form builders (section 3) ---------------------------------------------------------


def person(
    given: str,
    family: str,
    birth_date: str | None,
    nationality: str,
    *,
    phones: Iterable[str] = (),
    documents: Iterable[dict[str, Any]] = (),
    category: str = "SUSPECT",
) -> dict[str, Any]:
    return {
        "given_name": given,
        "family_name": family,
        "birth_date": birth_date,
        "nationality": nationality,
        "category": category,
        "documents": list(documents),
        "phones": list(phones),
    }


def document(number: str, issuing_country: str, kind: str = "PASSPORT") -> dict[str, Any]:
    return {"kind": kind, "number": number, "issuing_country": issuing_country}


def vehicle(plate: str, registration_country: str | None = "SRB") -> dict[str, Any]:
    return {"plate": plate, "registration_country": registration_country, "make": "Audi"}


def envelope(
    type_name: str, unit: str, occurred: datetime, lat: float, lon: float, **members: Any
) -> dict[str, Any]:
    return {
        "type": type_name,
        "event_id": str(uuid.uuid4()),
        "reporting_unit": unit,
        "occurred_at": stamp(occurred),
        "location": {"lat": lat, "lon": lon, "place": None},
        **members,
    }


def inland(unit: str, occurred: datetime, lat: float, lon: float, **members: Any) -> dict[str, Any]:
    fields = {"persons": 11, "minors": 1, "nationalities": ["SYR"], "place_kind": "ROAD",
              "asylum_intent": 0, "transport": "ON_FOOT"}  # fmt: skip
    return envelope("MigrantsDetectedInland", unit, occurred, lat, lon, **{**fields, **members})


def script(t0: datetime, now: datetime) -> dict[str, Step]:
    """The whole scenario by step name; ``t0`` is a millisecond-aligned past instant."""

    def at(minutes: int) -> datetime:
        return t0 + timedelta(minutes=minutes)

    def ubc(unit: str, minutes: int, lat: float, lon: float, **members: Any) -> dict[str, Any]:
        return crossing(unit, occurred=at(minutes), lat=lat, lon=lon, **members)

    def smug(unit: str, minutes: int, lat: float, lon: float, **members: Any) -> dict[str, Any]:
        members = {"notes": None, "vehicle": None, **members}
        where = {"lat": lat, "lon": lon, "place": None}
        return smuggling(unit, occurred_at=stamp(at(minutes)), location=where, **members)

    def rfi(unit: str, minutes: int, lat: float, lon: float, to: list[str]) -> dict[str, Any]:
        return envelope("RequestForInformation", unit, at(minutes), lat, lon, to_units=to,
                        urgency="URGENT_8H", question="Who saw the white van?")  # fmt: skip

    def answer(unit: str, lat: float, lon: float, rfi_id: str) -> dict[str, Any]:
        return envelope("RfiResponse", unit, at(40), lat, lon, rfi_id=rfi_id,
                        answer="a white van, plates unknown")  # fmt: skip

    def crisis(unit: str, occurred: datetime, lat: float, lon: float) -> dict[str, Any]:
        return envelope("CrisisSituation", unit, occurred, lat, lon, kind="LARGE_GROUP",
                        persons=40, urgent=True)  # fmt: skip

    afghan = person("Rahimullah", "Sultani", "1990-07-02", "AFG", phones=["+93 70 321 4455"],
                    documents=[document("P7730015", "AFG")])  # fmt: skip
    wanted = person("Jawad", "Haidari", "1988-11-23", "AFG", phones=["+93 79 555 0101"],
                    documents=[document("P4471902", "AFG")])  # fmt: skip
    local = person("Dragan", "Stojanović", "1979-05-30", "SRB", phones=["064 555 1234"],
                   documents=[document("008812345", "SRB", "ID_CARD")])  # fmt: skip
    driver = person("Zoran", "Đorđević", "1975-12-01", "SRB", phones=["063 987 6543"],
                    documents=[document("007654321", "SRB", "ID_CARD")])  # fmt: skip
    guide = person("Nenad", "Ilić", "1983-09-09", "SRB", phones=["+381 64 555-1234"])
    holder = person("Karim", "Noorzai", "1995-02-14", "AFG", category="OTHER")

    first = ubc("bps-rujan", 5, 42.330, 21.560, persons=14)
    second = ubc("ps-presevo", 15, 42.340, 21.570, persons=16)  # 1.4 km, 10 min, 2 persons off
    request = rfi("ps-zajecar", 35, 43.904, 22.285, ["bps-zajecar", "pd-bor", "ps-zajecar"])
    conflicting = inland("ps-vranje", at(8), 42.55, 21.90, persons=5)
    duplicate = inland("ps-bor", at(30), 44.10, 22.05, reported_at=stamp(at(31)))
    forged = document("P4471902", "AFG")  # the passport of the H2 smuggling suspect
    fraud = envelope("DocumentFraud", "bps-sid", at(35), 45.117, 19.233, document=forged,
                     fraud="FORGED", holder=holder)  # fmt: skip
    sighting = envelope("VehicleSighting", "gpd-oc", at(40), 44.80, 20.47,
                        vehicle=vehicle("NS 777-XY", None), context="WANTED")  # fmt: skip
    unknown_schema = b"\xc3\x01" + uuid.uuid4().bytes[:8] + b"anything"
    return {s.name: s for s in [
        # phase 1: independent reports, the first of every pair, and the rejects
        Step("escaped", "bps-presevo", 1,
             ubc("bps-presevo", 0, 42.300, 21.650, outcome="ESCAPED", persons=5)),
        Step("escaped_h2", "bps-vrska-cuka", 1,
             ubc("bps-vrska-cuka", 10, 43.860, 22.330, outcome="ESCAPED", persons=30,
                 handling="H2")),
        Step("same_unit_1", "bps-vrska-cuka", 1, ubc("bps-vrska-cuka", 20, 43.835, 22.369,
                                                     persons=9)),
        Step("europol", "ps-sid", 1,
             smug("ps-sid", 15, 45.120, 19.230, suspects=[afghan],
                  notes="met at the bus station", response="suspect detained")),
        Step("crisis", "ps-sid", 1, crisis("ps-sid", at(25), 45.090, 19.170)),
        Step("restricted", "ps-bor", 1,
             smug("ps-bor", 5, 44.083, 22.100, suspects=[wanted], handling="H2")),
        Step("duplicate_1", "ps-bor", 1, duplicate),
        Step("plate_1", "bps-batrovci", 1,
             ubc("bps-batrovci", 30, 45.055, 19.110, persons=6, transport="CAR",
                 vehicle=vehicle("BG 123-ŠĐ"), handling="H0")),
        Step("request", "ps-zajecar", 1, request),
        Step("phone_1", "ps-zajecar", 1, smug("ps-zajecar", 12, 43.900, 22.280,
                                              suspects=[local])),
        Step("sighting", "gpd-oc", 1, sighting),
        Step("group_first", "bps-rujan", 1, first),
        Step("conflict_1", "ps-vranje", 1, conflicting),
        Step("undecodable", "bps-srem", 1, raw=b"definitely not a report", no_check=True),
        Step("unknown_schema", "ps-sremska-mitrovica", 1, raw=unknown_schema, direct=True),
        Step("violation", "ps-sremska-mitrovica", 1,
             ubc("ps-sremska-mitrovica", 10, 95.0, 19.6), no_check=True),
        Step("unknown_unit", "pd-belgrade", 1, rfi("pd-belgrade", 10, 44.82, 20.46,
                                                   ["bps-atlantis"]), no_check=True),
        Step("spoofed", "pd-belgrade-coc", 1, inland("ps-vranje", at(10), 42.55, 21.90),
             no_check=True),
        Step("clock_skew", "rc-bg", 1, crisis("rc-bg", now + timedelta(hours=1), 43.0, 22.7),
             no_check=True),
        Step("too_large", "bps-sid", 1,
             inland("bps-sid", at(10), 45.10, 19.20, notes="x" * 300_000), no_check=True),
        Step("unknown_rfi", "pd-zajecar", 1,
             answer("pd-zajecar", 43.9, 22.27, str(uuid.uuid4()))),
        # phase 2: what needs phase 1 processed first
        Step("group_second", "ps-presevo", 2, second),
        Step("plate_2", "ps-presevo", 2,
             smug("ps-presevo", 2, 42.309, 21.648, suspects=[driver],
                  vehicle=vehicle("bg123sdj"), notes="van stopped")),
        Step("same_unit_2", "bps-vrska-cuka", 2, ubc("bps-vrska-cuka", 25, 43.835, 22.369,
                                                     persons=9)),
        Step("answer", "bps-zajecar", 2,
             answer("bps-zajecar", 43.917, 22.300, request["event_id"])),
        Step("phone_2", "bps-zajecar", 2,
             ubc("bps-zajecar", 45, 43.917, 22.300, persons=3, facilitators=[guide])),
        Step("document_2", "bps-sid", 2, fraud),
        Step("conflict_2", "ps-vranje", 2, {**conflicting, "persons": 6}),
        Step("duplicate_2", "ps-bor", 2, dict(duplicate)),
        # phase 3: a follow-up of the second sighting, known only once that is processed
        Step("follow_up", "bps-presevo", 3,
             ubc("bps-presevo", 20, 42.335, 21.565, persons=15,
                 related_event_ids=[str(uuid.uuid4()), second["event_id"]])),
    ]}  # fmt: skip


# --- the contract's normalisations, written out independently -------------------------------


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def _fold(text: str) -> str:
    text = text.replace("Đ", "DJ").replace("đ", "dj")
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def plate_key(plate: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", _fold(plate).upper())


def phone_key(phone: str) -> str:
    digits = re.sub(r"\D", "", phone)
    digits = digits[2:] if digits.startswith("00") else digits
    return "381" + digits[1:] if digits.startswith("0") else digits


def document_key(doc: dict[str, Any]) -> str:
    return f"{plate_key(doc['issuing_country'])}:{plate_key(doc['number'])}"


def token(key: str, value: str) -> str:
    return "pz:" + hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()[:16]


def persons_in(report: dict[str, Any]) -> list[dict[str, Any]]:
    holder = [report["holder"]] if report.get("holder") else []
    return [*(report.get("facilitators") or ()), *(report.get("suspects") or ()), *holder]


def documents_in(report: dict[str, Any]) -> list[dict[str, Any]]:
    carried = [doc for p in persons_in(report) for doc in p.get("documents") or ()]
    return carried + ([report["document"]] if report.get("document") else [])


def personal_values(report: dict[str, Any]) -> set[str]:
    """Everything that must not appear in clear in a pseudonymised delivery of ``report``."""
    found: set[str] = set()
    for p in persons_in(report):
        found |= {p["given_name"], p["family_name"]} | {b for b in [p.get("birth_date")] if b}
        found |= {re.sub(r"\D", "", phone)[-7:] for phone in p.get("phones") or ()}
    found |= {doc["number"] for doc in documents_in(report)}
    if report.get("vehicle"):
        found |= {report["vehicle"]["plate"], plate_key(report["vehicle"]["plate"])}
    return found


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for member in value.values():
            yield from strings_in(member)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


# --- publishing and reading back ------------------------------------------------------------


def publish(env: dict[str, str], steps: list[Step]) -> dict[str, Placement]:
    """One `imx publish` run for steps of one unit; where each record landed, by step name."""
    unit, no_check = steps[0].unit, steps[0].no_check
    args = ["publish", "--unit", unit, *(["--no-check"] if no_check else []), "-"]
    text = "".join(step.line() + "\n" for step in steps)
    done = run_imx(args, env, stdin=text, timeout=60)
    assert done.returncode == 0, f"publish {unit}: {done.stderr}"
    printed = done.stdout.splitlines()
    assert len(printed) == len(steps), done.stdout
    placed = {}
    for step, line in zip(steps, printed, strict=True):
        label, _type, where = line.split("\t")
        if step.report is not None:
            assert label == step.event_id, line
        found = re.fullmatch(r"(.+)\[(\d+)\]@(\d+)", where)
        assert found is not None, line
        placed[step.name] = Placement(found[1], int(found[2]), int(found[3]))
    return placed


def produce(connection: Connection, topic: str, value: bytes) -> Placement:
    async def send() -> Placement:
        producer = connection.producer()
        await producer.start()
        try:
            meta = await producer.send_and_wait(topic, value, key=b"no-such-schema")
        finally:
            await producer.stop()
        return Placement(topic, meta.partition, meta.offset)

    return asyncio.run(send())


def read_values(connection: Connection, topics: Iterable[str]) -> dict[Placement, bytes]:
    async def read() -> list[list[Any]]:
        return await asyncio.gather(*(read_to_end(connection, t) for t in topics))

    return {
        Placement(r.topic, r.partition, r.offset): r.value
        for records in asyncio.run(read())
        for r in records
    }


Samples = dict[str, dict[frozenset[tuple[str, str]], float]]


def parse_metrics(text: str) -> Samples:
    """Sample name → label set → value, for the ``imx_`` metrics."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("imx_"):
                labels = frozenset(sample.labels.items())
                samples.setdefault(sample.name, {})[labels] = sample.value
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for k, v in samples.get(name, {}).items() if wanted <= k)


def by_label(samples: Samples, name: str, *label_names: str) -> dict[tuple[str, ...], float]:
    """Non-zero samples of ``name`` keyed by the values of ``label_names``."""
    out = {}
    for labels, value in samples.get(name, {}).items():
        if value:
            as_dict = dict(labels)
            out[tuple(as_dict[n] for n in label_names)] = value
    return out


def wait_until(check: Callable[[], bool], timeout_s: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            msg = f"timed out after {timeout_s}s waiting for {what()}"
            raise TimeoutError(msg)
        time.sleep(0.25)


def run_json_lines(args: list[str], env: dict[str, str]) -> list[dict[str, Any]]:
    done: subprocess.CompletedProcess[str] = run_imx(args, env, timeout=90)
    assert done.returncode == 0, f"imx {' '.join(args)}: {done.stderr}"
    return [json.loads(line) for line in done.stdout.splitlines()]
