"""The pipeline end to end through the command line (CONTRACT.md sections 5 to 8).

One worker processes a scripted scenario (``tests/support/scenario.py``) published with
``imx publish``; every feed, the audit log, the DLQ and the worker's metrics are then read back
and compared whole with what the contract says, computed here from the scenario and the
registry's table: routing rules, incidents, correlations, minimisation, rejections, the
accounting invariant and the disclosure log.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from imx.kafka.connection import Connection
from imx.kafka.topology import Topology
from imx.registry import Registry, load_registry
from imx.schema.jsonform import from_json, to_json
from imx.schema.loader import default_schemas
from imx.schema.timeformat import parse_timestamp
from imx.security.local import principal_settings
from imx.security.principals import OPS, WORKER, unit_principal
from imx.settings import Settings
from tests.support.outputs import Outputs, collect
from tests.support.scenario import (
    Placement,
    Samples,
    Step,
    by_label,
    document_key,
    documents_in,
    haversine_km,
    parse_metrics,
    personal_values,
    persons_in,
    phone_key,
    plate_key,
    produce,
    publish,
    read_values,
    run_json_lines,
    script,
    strings_in,
    token,
    total,
    wait_until,
)
from tests.support.secured import SecuredBroker
from tests.support.workers import WorkerProcess, running_worker

pytestmark = pytest.mark.e2e

KEY = "test-only-key"
RULE_ORDER = ("chain", "line", "neighbour", "crime", "analytics", "international", "rfi",
              "correlation")  # fmt: skip
OC, BPD, SBPOK, SATIT, EUROPOL = "gpd-oc", "gpd-bpd", "gpd-sbpok", "gpd-satit", "ext-europol-emsc"
AUDIT_MEMBERS = {"audit_id", "event_id", "correlation_id", "recipient", "rules", "justification",
                 "at", "contains_personal_data", "pseudonymised"}  # fmt: skip
TOKEN = re.compile(r"pz:[0-9a-f]{16}")

REJECTED = {
    "undecodable": "UNDECODABLE",
    "unknown_schema": "UNKNOWN_SCHEMA",
    "violation": "SCHEMA_VIOLATION",
    "unknown_unit": "UNKNOWN_UNIT",
    "spoofed": "SPOOFED_UNIT",
    "clock_skew": "CLOCK_SKEW",
    "conflict_2": "EVENT_ID_CONFLICT",
    "too_large": "TOO_LARGE",
    "unknown_rfi": "UNKNOWN_RFI",
}
EXACT_DUPLICATES = ("duplicate_2",)
#: (entity kind, entity key, linked steps oldest first, recipients → rules)
CORRELATIONS = [
    ("vehicle", "BG123SDJ", ["plate_2", "plate_1"],
     {SBPOK: ["correlation"], OC: ["correlation"], "pd-sremska-mitrovica": ["correlation"],
      "pd-vranje": ["correlation"], EUROPOL: ["international"]}),
    ("phone", "381645551234", ["phone_1", "phone_2"],
     {SBPOK: ["correlation"], OC: ["correlation"], "pd-zajecar": ["correlation"]}),
    ("document", "AFG:P4471902", ["restricted", "document_2"],  # one of them is H2: no Europol
     {SBPOK: ["correlation"], OC: ["correlation"], "pd-bor": ["correlation"],
      "pd-sremska-mitrovica": ["correlation"]}),
]  # fmt: skip


def routes(reporter: str, **chosen: Iterable[str]) -> dict[str, list[str]]:
    """Recipient → rules in the contract's order, without the reporting unit itself."""
    rules: dict[str, set[str]] = defaultdict(set)
    for rule, recipients in chosen.items():
        for recipient in recipients:
            rules[recipient].add(rule)
    return {r: [x for x in RULE_ORDER if x in got] for r, got in rules.items() if r != reporter}


def within_km(steps: dict[str, Step], registry: Registry, name: str, km: float) -> list[str]:
    """LOCAL units (other than the reporter) within ``km`` of a step's location."""
    report = steps[name].report
    assert report is not None
    lat, lon = report["location"]["lat"], report["location"]["lon"]
    return sorted(
        u.id
        for u in registry.local_units()
        if u.id != report["reporting_unit"] and haversine_km(lat, lon, u.lat, u.lon) <= km
    )


def expected_routes(steps: dict[str, Step], registry: Registry) -> dict[str, dict[str, list]]:
    """Every accepted step's recipients, from CONTRACT.md 5.6 and the registry table."""
    near = {name: within_km(steps, registry, name, 20.0) for name in ("escaped", "crisis")}
    presevo = rujan = ["rc-mk", "pd-vranje", OC]  # parents of both stations, and gpd-oc
    vrska = zajecar_bps = ["rc-bg", "pd-zajecar", OC]
    srem_bps, srem = ["rc-hr", "pd-sremska-mitrovica", OC], ["pd-sremska-mitrovica", OC]
    sat = [SATIT]
    return {
        "escaped": routes("bps-presevo", chain=presevo, line=[BPD], neighbour=near["escaped"],
                          analytics=sat),
        "escaped_h2": routes("bps-vrska-cuka", chain=vrska, line=[BPD], analytics=sat),
        "same_unit_1": routes("bps-vrska-cuka", chain=vrska, line=[BPD], analytics=sat),
        "same_unit_2": routes("bps-vrska-cuka", chain=vrska, line=[BPD], analytics=sat),
        "europol": routes("ps-sid", chain=srem, crime=[SBPOK, "pd-sremska-mitrovica"],
                          analytics=sat, international=[EUROPOL]),
        "crisis": routes("ps-sid", chain=srem, neighbour=near["crisis"], analytics=sat),
        "restricted": routes("ps-bor", chain=["pd-bor", OC], crime=[SBPOK, "pd-bor"],
                             analytics=sat),
        "duplicate_1": routes("ps-bor", chain=["pd-bor", OC], analytics=sat),
        "plate_1": routes("bps-batrovci", chain=srem_bps, line=[BPD],
                          crime=[SBPOK, "pd-sremska-mitrovica"], analytics=sat),
        "request": routes("ps-zajecar", rfi=["bps-zajecar", "pd-bor", "ps-zajecar"]),
        "phone_1": routes("ps-zajecar", chain=["pd-zajecar", OC], crime=[SBPOK, "pd-zajecar"],
                          analytics=sat),
        "sighting": routes(OC, chain=[OC], crime=[SBPOK], analytics=sat),
        "group_first": routes("bps-rujan", chain=rujan, line=[BPD], analytics=sat),
        "conflict_1": routes("ps-vranje", chain=["pd-vranje", OC], analytics=sat),
        "group_second": routes("ps-presevo", chain=["pd-vranje", OC], analytics=sat),
        "plate_2": routes("ps-presevo", chain=["pd-vranje", OC], crime=[SBPOK, "pd-vranje"],
                          analytics=sat),
        "answer": routes("bps-zajecar", rfi=["ps-zajecar"]),
        "phone_2": routes("bps-zajecar", chain=zajecar_bps, line=[BPD],
                          crime=[SBPOK, "pd-zajecar"], analytics=sat),
        "document_2": routes("bps-sid", chain=srem_bps, line=[BPD],
                             crime=[SBPOK, "pd-sremska-mitrovica"], analytics=sat),
        "follow_up": routes("bps-presevo", chain=presevo, line=[BPD], analytics=sat),
    }  # fmt: skip


@dataclass
class Run:
    steps: dict[str, Step]
    placed: dict[str, Placement]
    routes: dict[str, dict[str, list[str]]]
    out: Outputs
    samples: Samples
    tails: dict[str, list[dict[str, Any]]]
    dlq_cli: list[dict[str, Any]]
    ingress: dict[Placement, bytes]
    topology: Topology
    registry: Registry

    def eid(self, name: str) -> str:
        return self.steps[name].event_id

    def sent(self, name: str) -> dict[str, Any]:
        report = self.steps[name].report
        assert report is not None
        return report

    def name_of(self, event_id: str) -> str:
        (name,) = [n for n in self.routes if self.eid(n) == event_id]
        return name

    def reports(self) -> list[dict[str, Any]]:
        return [d for d in self.out.deliveries if d["kind"] == "report"]

    def deliveries_of(self, name: str) -> list[dict[str, Any]]:
        return [d for d in self.reports() if d["report"]["event_id"] == self.eid(name)]


# --- running the scenario once for the module ----------------------------------------------


@dataclass(frozen=True)
class Identities:
    """The module's settings as ``admin`` and as any other principal of the session broker."""

    admin: Settings
    secrets: Path

    def of(self, principal: str) -> Settings:
        return principal_settings(self.admin, self.secrets, principal)

    def env(self, principal: str) -> dict[str, str]:
        return self.of(principal).child_env()


def _send_phase(
    pool: ThreadPoolExecutor, ids: Identities, topology: Topology, steps: list[Step]
) -> list[Future[dict[str, Placement]]]:
    """Publish one phase: one `imx publish` per unit and mode, all at once, each as its unit."""
    groups: dict[tuple[str, bool], list[Step]] = defaultdict(list)
    futures = []
    for step in steps:
        if step.direct:
            connection = Connection.from_settings(ids.of(unit_principal(step.unit)))
            futures.append(pool.submit(_produce, connection, topology, step))
        else:
            groups[(step.unit, step.no_check)].append(step)
    futures += [
        pool.submit(publish, ids.env(unit_principal(unit)), group)
        for (unit, _), group in groups.items()
    ]
    return futures


def _produce(connection: Connection, topology: Topology, step: Step) -> dict[str, Placement]:
    return {step.name: produce(connection, topology.ingress(step.unit), step.raw or b"")}


def _processed(worker: WorkerProcess) -> int:
    """Input records the worker has finished with: accepted, exact duplicate or rejected."""
    s = parse_metrics(worker.metrics())
    finished = ("imx_reports_accepted_total", "imx_reports_rejected_total")
    return int(sum(total(s, n) for n in finished) + total(s, "imx_duplicates_total", kind="exact"))


def _environment(broker: SecuredBroker, root: Path) -> tuple[Identities, Topology, Registry]:
    """What conftest's ``pipeline_env`` gives one test, built once for the module's worker.

    Every process acts as its own principal: units publish and tail as ``unit-<id>``, the worker
    runs as ``svc-worker``, ``imx dlq`` as ``ops``; the checks read the broker as ``admin``.
    """
    prefix = f"t{uuid.uuid4().hex[:10]}-"
    admin = broker.settings(topic_prefix=prefix, home=root / "home",
                            app_id=f"imx-{prefix.rstrip('-')}", pseudonym_key=SecretStr(KEY),
                            session_timeout_s=6.0)  # fmt: skip
    registry = load_registry(admin.registry_path)
    topology = broker.provision(admin)
    return Identities(admin, broker.secrets), topology, registry


def _play(
    pool: ThreadPoolExecutor,
    ids: Identities,
    topology: Topology,
    steps: dict[str, Step],
    logdir: Path,
    *,
    deliveries: int,
) -> tuple[dict[str, Placement], Outputs, Samples]:
    """Publish phase by phase through one worker, then read every output and the metrics."""
    placed: dict[str, Placement] = {}
    in_phase = defaultdict(list)
    for step in steps.values():
        in_phase[step.phase].append(step)
    pending = _send_phase(pool, ids, topology, in_phase[1])
    with running_worker(
        ids.env(WORKER), logdir
    ) as worker:  # starts while phase 1 is being published
        for phase in sorted(in_phase):
            if phase > 1:
                pending = _send_phase(pool, ids, topology, in_phase[phase])
            for future in pending:
                placed.update(future.result())
            published = sum(1 for s in steps.values() if s.phase <= phase)
            wait_until(
                lambda n=published: _processed(worker) >= n,
                timeout_s=90,
                what=lambda n=published: f"{n} records processed; log:\n{worker.tail()}",
            )
        out = collect(Connection.from_settings(ids.admin), topology, deliveries=deliveries,
                      dlq=len(REJECTED), timeout_s=120, settle_s=3)  # fmt: skip
        return placed, out, parse_metrics(worker.metrics())


@pytest.fixture(scope="module")
def run(session_broker: SecuredBroker, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The scenario through one worker (worker start-up dominates the module's run time)."""
    root = tmp_path_factory.mktemp("scenario")
    ids, topology, registry = _environment(session_broker, root)
    now = datetime.now(UTC).replace(microsecond=0)
    steps = script(now - timedelta(minutes=60), now)
    expected = expected_routes(steps, registry)
    deliveries = sum(map(len, expected.values())) + sum(len(c[3]) for c in CORRELATIONS)
    with ThreadPoolExecutor(max_workers=8) as pool:
        placed, out, samples = _play(pool, ids, topology, steps, root, deliveries=deliveries)
        reading = ["--json", "--from-beginning", "--idle-timeout", "3"]
        tailed = {u: pool.submit(run_json_lines, ["tail", u, *reading], ids.env(unit_principal(u)))
                  for u in ("pd-sremska-mitrovica", SATIT)}  # fmt: skip
        dlq_cli = pool.submit(run_json_lines, ["dlq", *reading], ids.env(OPS))
        topics = {p.topic for p in placed.values()}
        ingress = read_values(Connection.from_settings(ids.admin), topics)
        tails = {u: f.result() for u, f in tailed.items()}
        return Run(steps, placed, expected, out, samples, tails, dlq_cli.result(), ingress,
                   topology, registry)  # fmt: skip


# --- shared expectations ---------------------------------------------------------------------


def as_published(run: Run, name: str, delivery: dict[str, Any]) -> dict[str, Any]:
    """The step's report in JSON form with defaults applied, as a recipient must see it."""
    sent = run.sent(name)
    expected = to_json(from_json(sent, default_schemas()), default_schemas())
    if sent.get("reported_at") is None:  # the publisher fills in the publish time
        assert delivery["report"]["reported_at"] is not None
        expected["reported_at"] = delivery["report"]["reported_at"]
    return expected


def enrichment(run: Run, name: str) -> dict[str, Any]:
    """CONTRACT.md 5.3 computed from the registry table."""
    report = run.sent(name)
    unit = run.registry.get(report["reporting_unit"])
    lat, lon = report["location"]["lat"], report["location"]["lon"]
    border = [
        (haversine_km(lat, lon, u.lat, u.lon), u.id, u.border_section)
        for u in run.registry.local_units()
        if u.line == "BORDER" and haversine_km(lat, lon, u.lat, u.lon) <= 30.0
    ]
    section = min(border)[2] if border else "inland"
    return {"unit_name": unit.name, "unit_level": unit.level, "unit_line": unit.line,
            "territorial": unit.territorial, "border_section": section,
            "section_impact": run.registry.sections.get(str(section))}  # fmt: skip


def would_match(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """CONTRACT.md 5.4 apart from the units: time, distance and head count agree."""
    apart = abs(parse_timestamp(a["occurred_at"]) - parse_timestamp(b["occurred_at"]))
    where = (a["location"]["lat"], a["location"]["lon"], b["location"]["lat"], b["location"]["lon"])
    heads = abs(a["persons"] - b["persons"]) <= max(2, 0.2 * max(a["persons"], b["persons"]))
    return apart <= timedelta(minutes=30) and haversine_km(*where) <= 3.0 and heads


def subject(item: dict[str, Any]) -> tuple[str, str]:
    """(event id or correlation id, recipient) of a delivery or of a disclosure."""
    if "audit_id" in item:
        return item["event_id"] or item["correlation_id"], item["recipient"]
    if item["kind"] == "report":
        return item["report"]["event_id"], item["recipient"]
    return item["correlation"]["correlation_id"], item["recipient"]


def leaks(values: set[str], delivery: dict[str, Any]) -> list[tuple[str, str]]:
    """(personal value, string it shows up in) for every clear-text occurrence."""
    found = []
    for text in strings_in(delivery):
        digits = re.sub(r"\D", "", text)
        for value in values:
            if value.casefold() in text.casefold() or (value.isdigit() and value in digits):
                found.append((value, text))
    return found


# --- the tests -------------------------------------------------------------------------------


def test_every_report_goes_exactly_to_its_routing_rules(run: Run) -> None:
    assert run.routes["escaped"].keys() >= {"ps-presevo", "bps-rujan"}, "neighbours in range"
    assert within_km(run.steps, run.registry, "escaped_h2", 20.0), "H2 must suppress someone"
    assert within_km(run.steps, run.registry, "crisis", 20.0)
    got = {name: run.out.of(run.eid(name)) for name in run.routes}
    assert got == run.routes
    items = Counter(subject(d) for d in run.out.deliveries)
    assert max(items.values()) == 1, "one delivery per recipient and item"
    assert len({d["delivery_id"] for d in run.out.deliveries}) == len(run.out.deliveries)
    assert all(d["recipient"] != d["report"]["reporting_unit"] for d in run.reports())
    assert {d["report"]["event_id"] for d in run.reports()} == {run.eid(n) for n in run.routes}


def test_reports_arrive_as_published_with_enrichment_and_timing(run: Run) -> None:
    for name in run.routes:
        for d in run.deliveries_of(name):
            expected = as_published(run, name, d)
            if "international" in d["rules"]:
                expected.update(notes=None, response=None)
            if "analytics" not in d["rules"]:  # analytics: see the minimisation test
                assert d["report"] == expected, (name, d["recipient"])
            assert d["enrichment"] == enrichment(run, name), name
            timing = d["timing"]
            assert timing["occurred_at"] == expected["occurred_at"]
            assert timing["reported_at"] == expected["reported_at"]
            assert timing["ingested_at"] is not None
            assert timing["delivered_at"] is not None
            assert d["correlation"] is None


def test_incidents_match_across_units_follow_related_ids_and_never_within_a_unit(run: Run) -> None:
    first = run.eid("group_first")
    special = {
        "group_second": (first, first),  # matched: same group seen by another unit
        "follow_up": (first, None),  # via related_event_ids (an unknown id, then the second)
    }
    for name in run.routes:
        want = special.get(name, (run.eid(name), None))
        got = {(d["incident_id"], d["duplicate_of"]) for d in run.deliveries_of(name)}
        assert got == {want}, name
    for pair in (("group_first", "group_second"), ("same_unit_1", "same_unit_2")):
        assert would_match(run.sent(pair[0]), run.sent(pair[1])), f"{pair} differ only in unit"
    assert would_match(run.sent("group_first"), run.sent("follow_up"))


def test_shared_entities_across_incidents_are_correlated(run: Run) -> None:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in run.out.deliveries:
        if d["kind"] == "correlation":
            report_members = ("report", "incident_id", "duplicate_of", "enrichment")
            assert [d[m] for m in report_members] == [None] * 4
            grouped[d["correlation"]["correlation_id"]].append(d)
    got = []
    for deliveries in grouped.values():
        members = {json.dumps(d["correlation"], sort_keys=True) for d in deliveries}
        assert len(members) == 1, "every recipient of one correlation gets the same one"
        c = deliveries[0]["correlation"]
        got.append((c["entity_kind"], c["entity_key"], c["event_ids"], sorted(c["units"]),
                    {d["recipient"]: d["rules"] for d in deliveries}))  # fmt: skip
    expected = [
        (kind, key, [run.eid(n) for n in linked],
         sorted({run.sent(n)["reporting_unit"] for n in linked}), recipients)
        for kind, key, linked, recipients in CORRELATIONS
    ]  # fmt: skip
    assert sorted(got, key=str) == sorted(expected, key=str)


def test_analytics_deliveries_are_pseudonymised(run: Run) -> None:
    satit = run.out.to(SATIT)
    assert {d["kind"] for d in satit} == {"report"}
    for d in satit:
        name = run.name_of(d["report"]["event_id"])
        expected = as_published(run, name, d)
        expected.update(notes=None, response=None)
        for doc in documents_in(expected):
            doc["number"] = token(KEY, document_key(doc))
        if expected.get("vehicle"):
            expected["vehicle"]["plate"] = token(KEY, plate_key(expected["vehicle"]["plate"]))
        for want, seen in zip(persons_in(expected), persons_in(d["report"]), strict=True):
            for member in ("given_name", "family_name"):
                assert TOKEN.fullmatch(seen[member]), seen[member]
                want[member] = seen[member]
            birth = want["birth_date"]
            want.update(birth_date=None, birth_year=int(birth[:4]) if birth else None)
            want["phones"] = [token(KEY, phone_key(p)) for p in want["phones"]]
        assert d["report"] == expected, name
        assert leaks(personal_values(run.sent(name)), d) == [], name
    plates = {d["report"]["vehicle"]["plate"] for d in satit if d["report"].get("vehicle")}
    assert token(KEY, "BG123SDJ") in plates, "one token for both spellings of the plate"


def test_international_deliveries_drop_free_text_but_keep_names(run: Run) -> None:
    europol = [d for d in run.out.to(EUROPOL) if d["kind"] == "report"]
    assert [d["report"]["event_id"] for d in europol] == [run.eid("europol")]
    (d,) = europol
    assert d["report"]["notes"] is None
    assert d["report"]["response"] is None
    assert run.sent("europol")["notes"], "the original had notes to drop"
    names = [(p["given_name"], p["family_name"]) for p in d["report"]["suspects"]]
    assert names == [("Rahimullah", "Sultani")]
    (c,) = [d for d in run.out.to(EUROPOL) if d["kind"] == "correlation"]
    assert c["correlation"]["entity_key"] == "BG123SDJ"


def test_every_rejection_code_reaches_the_dlq_with_origin_and_original_bytes(run: Run) -> None:
    got = sorted(
        (d["code"], d["unit"], d["source_topic"], d["source_partition"], d["source_offset"])
        for d in run.out.dlq
    )
    expected = sorted((code, run.steps[n].unit, *run.placed[n]) for n, code in REJECTED.items())
    assert got == expected
    for d in run.out.dlq:
        origin = Placement(d["source_topic"], d["source_partition"], d["source_offset"])
        assert base64.b64decode(d["value_b64"]) == run.ingress[origin], d["code"]
        assert d["detail"], d["code"]
    by_code = {d["code"]: base64.b64decode(d["value_b64"]) for d in run.out.dlq}
    assert by_code["UNDECODABLE"] == b"definitely not a report"
    assert by_code["UNKNOWN_SCHEMA"] == run.steps["unknown_schema"].raw
    assert len(by_code["TOO_LARGE"]) > 256 * 1024


def test_an_exact_duplicate_is_delivered_once_and_counted(run: Run) -> None:
    recipients = [d["recipient"] for d in run.deliveries_of("duplicate_1")]
    assert sorted(recipients) == sorted(run.routes["duplicate_1"])
    assert run.eid("duplicate_1") == run.eid("duplicate_2")
    assert total(run.samples, "imx_duplicates_total", kind="exact") == len(EXACT_DUPLICATES)
    assert total(run.samples, "imx_duplicates_total", kind="incident") == 1  # group_second


def test_metrics_account_for_every_input_record(run: Run) -> None:
    s = run.samples
    received = by_label(s, "imx_reports_received_total", "unit")
    assert received == {
        (u,): float(n) for u, n in Counter(x.unit for x in run.steps.values()).items()
    }
    accepted = Counter((run.sent(n)["reporting_unit"], run.sent(n)["type"]) for n in run.routes)
    assert by_label(s, "imx_reports_accepted_total", "unit", "type") == {
        k: float(v) for k, v in accepted.items()
    }
    assert by_label(s, "imx_reports_rejected_total", "reason") == {
        (code,): 1.0 for code in REJECTED.values()
    }
    inputs = total(s, "imx_reports_received_total")
    assert inputs == len(run.steps)
    assert inputs == (
        total(s, "imx_reports_accepted_total")
        + total(s, "imx_duplicates_total", kind="exact")
        + total(s, "imx_reports_rejected_total")
    )
    assert total(s, "imx_reports_accepted_total") == len({run.eid(n) for n in run.routes})
    assert by_label(s, "imx_correlations_total", "entity") == {
        (kind,): 1.0 for kind, *_ in CORRELATIONS
    }
    per_rule = Counter(
        (d["recipient"], run.registry.get(d["recipient"]).level, rule)
        for d in run.out.deliveries
        for rule in d["rules"]
    )
    assert by_label(s, "imx_deliveries_total", "recipient", "level", "rule") == {
        k: float(v) for k, v in per_rule.items()
    }


def test_one_disclosure_per_delivery_without_content(run: Run) -> None:
    disclosures = Counter(subject(a) for a in run.out.disclosures)
    assert max(disclosures.values()) == 1
    deliveries = {subject(d): d for d in run.out.deliveries}
    assert set(disclosures) == set(deliveries)
    secrets = set().union(*(personal_values(run.sent(n)) for n in run.routes))
    free_text = ("notes", "response", "question", "answer")
    secrets |= {run.sent(n)[f] for n in run.routes for f in free_text if run.sent(n).get(f)}
    for a in run.out.disclosures:
        d = deliveries[subject(a)]
        assert set(a) == AUDIT_MEMBERS
        assert (a["event_id"] is None) != (a["correlation_id"] is None)
        assert a["rules"] == d["rules"]
        assert a["pseudonymised"] is ("analytics" in d["rules"])
        assert a["justification"]
        assert a["at"] is not None
        if d["kind"] == "correlation":
            assert a["contains_personal_data"] is True
        else:
            sent = run.sent(run.name_of(d["report"]["event_id"]))
            named = bool(persons_in(sent) or documents_in(sent) or sent.get("vehicle"))
            assert a["contains_personal_data"] is named, (a["event_id"], a["recipient"])
        assert leaks(secrets, a) == []


def test_tail_and_dlq_print_what_the_pipeline_wrote(run: Run) -> None:
    for unit, printed in run.tails.items():
        assert printed, unit
        by_id = sorted(printed, key=lambda d: d["delivery_id"])
        assert by_id == sorted(run.out.to(unit), key=lambda d: d["delivery_id"]), unit
    assert sorted(run.dlq_cli, key=str) == sorted(run.out.dlq, key=str)
