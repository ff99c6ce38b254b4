"""The stateful stage as one pure step: a screened report and the state in, decisions out.

``decide`` applies CONTRACT.md 5.1 (event-id conflicts, unknown RFIs) and 5.2 to 5.7 in order and
updates the state; it does no I/O, so every rule is testable with dicts for tables and a fixed
clock. The worker's agent turns the ``Outcome`` into records: deliveries on the feeds, one
disclosure each on the audit log, a DLQ record for a rejection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from imx.pipeline.correlate import Correlation, IndexEntry, correlate
from imx.pipeline.dedup import DedupOutcome, content_digest
from imx.pipeline.dedup import decide as dedup
from imx.pipeline.delivery import (
    Timing,
    correlation_delivery,
    disclosure_record,
    report_delivery,
)
from imx.pipeline.enrich import enrich
from imx.pipeline.entities import extract_entity_keys
from imx.pipeline.incidents import (
    MATCHABLE_TYPES,
    IncidentCandidate,
    IncidentDecision,
    assign_incident,
)
from imx.pipeline.minimise import minimisation, minimise_report, pseudonymise_correlation
from imx.pipeline.routing import Rule, route_correlation, route_report
from imx.pipeline.screen import EVENT_ID_CONFLICT, UNKNOWN_RFI, Rejection
from imx.pipeline.state import EventSummary, PipelineState
from imx.registry import Registry

ACCEPTED = "accepted"
DUPLICATE = "duplicate"
REJECTED = "rejected"


@dataclass(frozen=True)
class Delivery:
    """One delivery to write to ``feed.<recipient>`` and its disclosure record."""

    recipient: str
    level: str
    key: str  # incident_id or correlation_id: the feed record's key
    record: dict[str, Any]
    disclosure: dict[str, Any]


@dataclass
class Outcome:
    """What became of one record: exactly one of accepted, duplicate or rejected."""

    status: str
    rejection: Rejection | None = None
    incident_id: str | None = None
    duplicate_of: str | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    correlations: list[Correlation] = field(default_factory=list)


@dataclass(frozen=True)
class Core:
    """The stateful stage's rules, bound to the registry and the pseudonymisation key."""

    registry: Registry
    pseudonym_key: bytes
    clock: Callable[[], datetime]

    def decide(
        self,
        report: dict[str, Any],
        state: PipelineState,
        *,
        ingested_at: datetime,
        source: int,
    ) -> Outcome:
        """Decide one report; ``source`` is the input record's offset (increasing).

        Processing is at-least-once, so the same input record can come again after a crash,
        with the state it and later records wrote the first time already in place. Its event
        summary then names the same ``source``: the report is decided again with the incident
        it got the first time and against only the index entries of earlier inputs, so it
        yields what it yielded before, and the sink drops what reached the outputs already.
        """
        event_id = report["event_id"]
        known = state.event(event_id)
        replay = known is not None and known.source == source
        if not replay:
            verdict = dedup(report, None if known is None else known.seen())
            if verdict is DedupOutcome.EXACT_DUPLICATE:
                return Outcome(DUPLICATE)
            if verdict is DedupOutcome.CONFLICT:
                detail = f"event_id {event_id} was accepted before with different content"
                return Outcome(REJECTED, Rejection(EVENT_ID_CONFLICT, detail))
        rfi_id = report.get("rfi_id")
        if report["type"] == "RfiResponse" and self._requester(state, str(rfi_id)) is None:
            detail = f"rfi_id: no request for information {rfi_id} was seen"
            return Outcome(REJECTED, Rejection(UNKNOWN_RFI, detail))

        state.advance(report["occurred_at"])
        enrichment = enrich(self.registry, report)
        incident = (
            IncidentDecision(known.incident_id, known.duplicate_of)
            if replay and known is not None
            else assign_incident(
                report, lambda related: _incident_of(state, related), _partners(state, report)
            )
        )
        keys = extract_entity_keys(report)
        correlations = correlate(
            report, incident.incident_id, keys, lambda key: state.entries(key, before=source)
        )

        outcome = Outcome(ACCEPTED, incident_id=incident.incident_id)
        outcome.duplicate_of = incident.duplicate_of
        outcome.correlations = correlations
        routes = route_report(self.registry, report, lambda rfi: self._requester(state, rfi))
        # One decision, one moment: every delivery of this report is made now.
        timing = Timing(report["occurred_at"], report["reported_at"], ingested_at, self.clock())
        # Recipients with the same minimisation share one copy; those without any share the
        # report itself (nothing changes a report or a delivery once decided).
        views: dict[Rule | None, dict[str, Any]] = {None: report}
        for recipient, rules in routes.items():
            applied = minimisation(rules)
            if applied not in views:
                views[applied] = minimise_report(report, rules, self.pseudonym_key)
            record = report_delivery(
                recipient,
                rules,
                report=views[applied],
                incident=incident,
                enrichment=enrichment,
                timing=timing,
            )
            outcome.deliveries.append(self._delivery(recipient, incident.incident_id, record))
        for correlation in correlations:
            outcome.deliveries.extend(self._correlation_deliveries(correlation, timing))

        state.put_event(
            EventSummary(
                event_id=event_id,
                digest=content_digest(report),
                occurred_at=report["occurred_at"],
                incident_id=incident.incident_id,
                unit=report["reporting_unit"],
                type=report["type"],
                handling=report["handling"],
                duplicate_of=incident.duplicate_of,
                source=source,
            )
        )
        if report["type"] in MATCHABLE_TYPES:
            state.add_candidate(IncidentCandidate.from_report(report, incident.incident_id))
        entry = IndexEntry.from_report(report, incident.incident_id)
        for key in keys:
            state.add_entry(key, entry, source)
        return outcome

    def _requester(self, state: PipelineState, rfi_id: str) -> str | None:
        summary = state.event(rfi_id)
        if summary is None or summary.type != "RequestForInformation":
            return None
        return summary.unit

    def _correlation_deliveries(self, correlation: Correlation, timing: Timing) -> list[Delivery]:
        """Deliveries of a correlation, timed by the report that triggered it."""
        out = []
        plain = correlation.as_dict()
        routes = route_correlation(self.registry, correlation.units, correlation.handlings)
        for recipient, rules in routes.items():
            member = (
                pseudonymise_correlation(plain, self.pseudonym_key)
                if Rule.ANALYTICS in rules
                else plain
            )
            record = correlation_delivery(recipient, rules, correlation=member, timing=timing)
            out.append(self._delivery(recipient, correlation.correlation_id, record))
        return out

    def _delivery(self, recipient: str, key: str, record: dict[str, Any]) -> Delivery:
        disclosure = disclosure_record(record, record["timing"]["delivered_at"])
        level = self.registry.get(recipient).level
        return Delivery(recipient, level, key, record, disclosure)


def _partners(state: PipelineState, report: dict[str, Any]) -> Iterable[IncidentCandidate]:
    """Stored candidates that could match the report (none for a type that never matches)."""
    if report["type"] not in MATCHABLE_TYPES:
        return ()
    own = IncidentCandidate.from_report(report, report["event_id"])
    return state.candidates_near(own.occurred_at, own.lat, own.lon, partner_of=own)


def _incident_of(state: PipelineState, event_id: str) -> str | None:
    summary = state.event(event_id)
    return None if summary is None else summary.incident_id
