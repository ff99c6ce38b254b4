"""Delivery records (CONTRACT.md section 6) and disclosure-log entries (section 8)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from imx.pipeline.correlate import Correlation
from imx.pipeline.delivery import (
    Timing,
    contains_personal_data,
    correlation_delivery,
    delivery_id,
    disclosure_record,
    report_delivery,
)
from imx.pipeline.enrich import Enrichment
from imx.pipeline.entities import EntityKey
from imx.pipeline.incidents import IncidentDecision
from imx.pipeline.routing import RULE_DESCRIPTIONS, Rule

pytestmark = pytest.mark.unit

DELIVERY_FIELDS = {
    "delivery_id",
    "recipient",
    "kind",
    "rules",
    "incident_id",
    "duplicate_of",
    "report",
    "correlation",
    "enrichment",
    "timing",
}
AUDIT_FIELDS = {
    "audit_id",
    "event_id",
    "correlation_id",
    "recipient",
    "rules",
    "justification",
    "at",
    "contains_personal_data",
    "pseudonymised",
}
ENRICHMENT = Enrichment(
    "Border Police Station Preševo", "LOCAL", "BORDER", "pd-vranje", "rs-mk", "HIGH"
)


@pytest.fixture
def timing(build) -> Timing:
    t0 = build.t0
    return Timing(
        occurred_at=t0,
        reported_at=t0 + timedelta(minutes=2),
        ingested_at=t0 + timedelta(minutes=2, seconds=1),
        delivered_at=t0 + timedelta(minutes=2, seconds=2),
    )


@pytest.fixture
def correlation() -> dict:
    return Correlation(
        correlation_id="c-1",
        entity=EntityKey("phone", "381641234567"),
        event_ids=("a", "b"),
        units=("bps-presevo", "ps-sid"),
        handlings=("H0",),
    ).as_dict()


def test_delivery_id_is_stable_per_recipient_item_and_kind() -> None:
    first = delivery_id("gpd-oc", "e1", "report")
    assert first == delivery_id("gpd-oc", "e1", "report")
    assert uuid.UUID(first).version == 5
    others = {
        delivery_id("gpd-bpd", "e1", "report"),
        delivery_id("gpd-oc", "e2", "report"),
        delivery_id("gpd-oc", "e1", "correlation"),
    }
    assert first not in others
    assert len(others) == 3


def test_report_delivery(build, timing) -> None:
    report = build.report("UnauthorisedBorderCrossing")
    incident = IncidentDecision(incident_id="inc-1", duplicate_of="e0")
    delivery = report_delivery(
        "gpd-oc",
        (Rule.CHAIN,),
        report=report,
        incident=incident,
        enrichment=ENRICHMENT,
        timing=timing,
    )
    assert set(delivery) == DELIVERY_FIELDS
    assert delivery["delivery_id"] == delivery_id("gpd-oc", report["event_id"], "report")
    assert delivery["kind"] == "report"
    assert delivery["rules"] == ["chain"]
    assert type(delivery["rules"][0]) is str
    assert (delivery["incident_id"], delivery["duplicate_of"]) == ("inc-1", "e0")
    assert delivery["report"] == report
    assert delivery["correlation"] is None
    assert delivery["enrichment"]["border_section"] == "rs-mk"
    assert delivery["timing"] == {
        "occurred_at": timing.occurred_at,
        "reported_at": timing.reported_at,
        "ingested_at": timing.ingested_at,
        "delivered_at": timing.delivered_at,
    }


def test_correlation_delivery(correlation, timing) -> None:
    delivery = correlation_delivery(
        "pd-vranje", ["correlation"], correlation=correlation, timing=timing
    )
    assert set(delivery) == DELIVERY_FIELDS
    assert delivery["kind"] == "correlation"
    assert delivery["delivery_id"] == delivery_id("pd-vranje", "c-1", "correlation")
    for empty in ("report", "incident_id", "duplicate_of", "enrichment"):
        assert delivery[empty] is None
    assert delivery["correlation"] == correlation


@pytest.mark.parametrize(
    ("kind", "fields", "personal"),
    [
        ("CrisisSituation", lambda b: {}, False),
        ("UnauthorisedBorderCrossing", lambda b: {}, False),
        ("UnauthorisedBorderCrossing", lambda b: {"facilitators": [b.person()]}, True),
        ("VehicleSighting", lambda b: {"vehicle": b.vehicle()}, True),
        ("VehicleSighting", lambda b: {"vehicle": b.vehicle(plate="")}, False),
        ("DocumentFraud", lambda b: {"document": b.document()}, True),
        ("MigrantSmuggling", lambda b: {"suspects": [b.person()]}, True),
        ("TraffickingInHumanBeings", lambda b: {}, False),
    ],
)
def test_contains_personal_data(build, timing, kind, fields, personal) -> None:
    report = build.report(kind, **fields(build))
    delivery = report_delivery(
        "gpd-oc",
        ["chain"],
        report=report,
        incident=IncidentDecision("i", None),
        enrichment=ENRICHMENT,
        timing=timing,
    )
    assert contains_personal_data(delivery) is personal


def test_disclosure_record_of_a_report(build, timing) -> None:
    report = build.report(
        "MigrantSmuggling", suspects=[build.person()], notes="Confidential detail."
    )
    delivery = report_delivery(
        "gpd-satit",
        ["analytics"],
        report=report,
        incident=IncidentDecision("i", None),
        enrichment=ENRICHMENT,
        timing=timing,
    )
    audit = disclosure_record(delivery, at=timing.delivered_at)
    assert set(audit) == AUDIT_FIELDS
    assert audit["audit_id"] == disclosure_record(delivery, at=timing.ingested_at)["audit_id"]
    assert uuid.UUID(audit["audit_id"]).version == 5
    assert audit["audit_id"] != delivery["delivery_id"]
    assert audit["event_id"] == report["event_id"]
    assert audit["correlation_id"] is None
    assert audit["recipient"] == "gpd-satit"
    assert audit["rules"] == ["analytics"]
    assert audit["justification"] == RULE_DESCRIPTIONS[Rule.ANALYTICS]
    assert audit["at"] == timing.delivered_at
    assert audit["contains_personal_data"] is True
    assert audit["pseudonymised"] is True
    assert "Confidential" not in repr(audit)
    assert "Petrović" not in repr(audit)


def test_disclosure_record_of_a_correlation(correlation, timing) -> None:
    delivery = correlation_delivery(
        "ext-europol-emsc", ["international"], correlation=correlation, timing=timing
    )
    audit = disclosure_record(delivery, at=timing.delivered_at)
    assert audit["event_id"] is None
    assert audit["correlation_id"] == "c-1"
    assert audit["contains_personal_data"] is True
    assert audit["pseudonymised"] is False
    assert "381641234567" not in repr(audit)


def test_audit_ids_differ_per_delivery(build, timing) -> None:
    report = build.report("CrisisSituation")
    audits = {
        disclosure_record(
            report_delivery(
                recipient,
                ["chain"],
                report=report,
                incident=IncidentDecision("i", None),
                enrichment=ENRICHMENT,
                timing=timing,
            ),
            at=timing.delivered_at,
        )["audit_id"]
        for recipient in ("gpd-oc", "pd-vranje")
    }
    assert len(audits) == 2
