"""Delivery records (CONTRACT.md section 6) and their disclosure-log entries (section 8).

Ids are UUIDv5 of what identifies the item, so reprocessing after a crash produces the same
`delivery_id` and `audit_id`, and the feed and audit writers can drop what they already wrote.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from imx.pipeline.enrich import Enrichment
from imx.pipeline.entities import documents_of, persons_of, vehicles_of
from imx.pipeline.ids import name_uuid
from imx.pipeline.incidents import IncidentDecision
from imx.pipeline.routing import Rule, justification

DELIVERY_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:imx:delivery")
AUDIT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:imx:audit")

DeliveryKind = Literal["report", "correlation"]


@dataclass(frozen=True)
class Timing:
    """For a correlation: the times of the report that triggered it."""

    occurred_at: datetime
    reported_at: datetime | None
    ingested_at: datetime
    delivered_at: datetime

    def as_dict(self) -> dict[str, datetime | None]:
        return {
            "occurred_at": self.occurred_at,
            "reported_at": self.reported_at,
            "ingested_at": self.ingested_at,
            "delivered_at": self.delivered_at,
        }


def delivery_id(recipient: str, item_id: str, kind: DeliveryKind) -> str:
    """Stable id of (recipient, item): an event id for reports, a correlation id otherwise."""
    return name_uuid(DELIVERY_NAMESPACE, f"{kind}|{recipient}|{item_id}")


def _rule_names(rules: Iterable[Rule | str]) -> list[str]:
    return [Rule(rule).value for rule in rules]


def report_delivery(
    recipient: str,
    rules: Iterable[Rule | str],
    *,
    report: Mapping[str, Any],
    incident: IncidentDecision,
    enrichment: Enrichment,
    timing: Timing,
) -> dict[str, Any]:
    """A `kind = report` delivery; `report` is already minimised for this recipient.

    The record holds ``report`` itself, not a copy: recipients with the same minimised view
    share one object, which lets the writer encode it once (``imx.schema.delivery_writer``).
    """
    return {
        "delivery_id": delivery_id(recipient, report["event_id"], "report"),
        "recipient": recipient,
        "kind": "report",
        "rules": _rule_names(rules),
        "incident_id": incident.incident_id,
        "duplicate_of": incident.duplicate_of,
        "report": report,
        "correlation": None,
        "enrichment": enrichment.as_dict(),
        "timing": timing.as_dict(),
    }


def correlation_delivery(
    recipient: str, rules: Iterable[Rule | str], *, correlation: Mapping[str, Any], timing: Timing
) -> dict[str, Any]:
    """A `kind = correlation` delivery; `correlation` is the section 6 member form.

    Held, not copied, as a report delivery holds its report (see ``report_delivery``).
    """
    return {
        "delivery_id": delivery_id(recipient, correlation["correlation_id"], "correlation"),
        "recipient": recipient,
        "kind": "correlation",
        "rules": _rule_names(rules),
        "incident_id": None,
        "duplicate_of": None,
        "report": None,
        "correlation": correlation,
        "enrichment": None,
        "timing": timing.as_dict(),
    }


def contains_personal_data(delivery: Mapping[str, Any]) -> bool:
    """Whether the delivered item names any person, document, phone or vehicle plate.

    Pseudonymised data still counts: tokens stay linkable to a person by the key holder.
    A correlation is always personal: its entity key is one of those identifiers.
    """
    report = delivery["report"]
    if report is None:
        return delivery["correlation"] is not None
    return (
        any(True for _ in persons_of(report))
        or any(True for _ in documents_of(report))
        or any(vehicle["plate"] for vehicle in vehicles_of(report))
    )


def disclosure_record(delivery: Mapping[str, Any], at: datetime) -> dict[str, Any]:
    """The `audit.disclosures` entry of a delivery: who got what and why, never the content."""
    report, correlation = delivery["report"], delivery["correlation"]
    return {
        "audit_id": name_uuid(AUDIT_NAMESPACE, delivery["delivery_id"]),
        "event_id": report["event_id"] if report is not None else None,
        "correlation_id": correlation["correlation_id"] if correlation is not None else None,
        "recipient": delivery["recipient"],
        "rules": list(delivery["rules"]),
        "justification": "; ".join(justification(delivery["rules"])),
        "at": at,
        "contains_personal_data": contains_personal_data(delivery),
        "pseudonymised": Rule.ANALYTICS.value in delivery["rules"],
    }
