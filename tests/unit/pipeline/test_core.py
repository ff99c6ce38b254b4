"""The stateful core through a scripted scenario: every rule of CONTRACT.md 5.1-5.7, 6 and 8."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imx.pipeline.core import ACCEPTED, DUPLICATE, REJECTED, Outcome
from imx.pipeline.routing import RULE_DESCRIPTIONS, Rule

from .scenario import (
    DELIVERY_DELAY,
    INGEST_DELAY,
    NOTES,
    PERSONAL,
    PRESEVO,
    RESPONSE,
    Generator,
    Run,
    Step,
    eid,
    make,
    script,
)

pytestmark = pytest.mark.unit

STEPS = script()
BY_NAME = {step.name: step for step in STEPS}
DISCLOSURE_FIELDS = {
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


def strings(value: Any) -> Iterator[str]:
    """Every string in a nested structure, dict keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings(item)


def mentions(text: str, value: str) -> bool:
    """Whether `value` occurs in `text` as a whole word, ignoring case."""
    pattern = rf"(?<![0-9A-Za-z]){re.escape(value)}(?![0-9A-Za-z])"
    return re.search(pattern, text, re.IGNORECASE) is not None


def play(registry) -> list[tuple[Step, Outcome]]:
    run = Run(registry)
    return [(step, run.feed(copy.deepcopy(step.report))) for step in STEPS]


@pytest.fixture(scope="module")
def played(registry) -> dict[str, Outcome]:
    return {step.name: outcome for step, outcome in play(registry)}


def report_routes(outcome: Outcome) -> dict[str, tuple[str, ...]]:
    return {
        d.recipient: tuple(d.record["rules"])
        for d in outcome.deliveries
        if d.record["kind"] == "report"
    }


def correlation_routes(outcome: Outcome, correlation_id: str) -> dict[str, tuple[str, ...]]:
    return {
        d.recipient: tuple(d.record["rules"])
        for d in outcome.deliveries
        if d.record["kind"] == "correlation"
        and d.record["correlation"]["correlation_id"] == correlation_id
    }


def all_deliveries(played: dict[str, Outcome]) -> Iterator[tuple[Step, Any]]:
    for name, outcome in played.items():
        for delivery in outcome.deliveries:
            yield BY_NAME[name], delivery


@pytest.mark.parametrize("step", STEPS, ids=[step.name for step in STEPS])
def test_each_step_ends_as_the_contract_says(played, step: Step) -> None:
    outcome = played[step.name]
    assert outcome.status == step.status
    assert (outcome.rejection and outcome.rejection.code) == step.code
    assert outcome.incident_id == (step.incident and eid(step.incident))
    assert outcome.duplicate_of == (step.duplicate_of and eid(step.duplicate_of))
    assert report_routes(outcome) == step.routes
    found = [
        (
            c.entity.kind,
            c.entity.key,
            c.event_ids,
            c.units,
            correlation_routes(outcome, c.correlation_id),
        )
        for c in outcome.correlations
    ]
    expected = [
        (c.kind, c.key, tuple(eid(name) for name in c.events), c.units, c.routes)
        for c in step.correlations
    ]
    assert found == expected
    kinds = [d.record["kind"] for d in outcome.deliveries]
    assert kinds.count("report") == len(step.routes)
    assert kinds.count("correlation") == sum(len(c.routes) for c in step.correlations)


def test_the_script_exercises_every_rule_and_code(played) -> None:
    assert len(BY_NAME) == len(STEPS)
    rules = {rule for _, d in all_deliveries(played) for rule in d.record["rules"]}
    assert rules == {rule.value for rule in Rule}
    codes = {o.rejection.code for o in played.values() if o.rejection is not None}
    assert codes == {"EVENT_ID_CONFLICT", "UNKNOWN_RFI"}
    statuses = [o.status for o in played.values()]
    assert statuses.count(DUPLICATE) == 2
    assert statuses.count(REJECTED) == 4
    assert statuses.count(ACCEPTED) == len(STEPS) - 6


def test_rejections_and_duplicates_deliver_nothing_and_say_why(played) -> None:
    for name, outcome in played.items():
        if outcome.status == ACCEPTED:
            assert outcome.rejection is None
            continue
        assert outcome.deliveries == []
        assert outcome.correlations == []
        assert outcome.incident_id is None
        assert outcome.duplicate_of is None
        assert (outcome.rejection is None) == (outcome.status == DUPLICATE), name
    conflict = played["ubc-a (altered)"].rejection
    assert conflict is not None
    assert eid("ubc-a") in conflict.detail
    unknown = played["rfi-unknown"].rejection
    assert unknown is not None
    assert unknown.detail.startswith("rfi_id:")
    assert eid("no-request") in unknown.detail


def test_the_reporting_unit_never_receives_its_own_report(played) -> None:
    for step, delivery in all_deliveries(played):
        if delivery.record["kind"] == "report":
            assert delivery.recipient != step.report["reporting_unit"], step.name


def test_report_deliveries_carry_the_incident_enrichment_and_timing(played, registry) -> None:
    for step, delivery in all_deliveries(played):
        record = delivery.record
        assert record["recipient"] == delivery.recipient
        assert delivery.level == registry.get(delivery.recipient).level
        occurred, reported = step.report["occurred_at"], step.report["reported_at"]
        ingested = reported + INGEST_DELAY
        assert record["timing"] == {
            "occurred_at": occurred,
            "reported_at": reported,
            "ingested_at": ingested,
            "delivered_at": ingested + DELIVERY_DELAY,
        }
        outcome = played[step.name]
        if record["kind"] == "report":
            assert delivery.key == outcome.incident_id
            assert record["incident_id"] == outcome.incident_id
            assert record["duplicate_of"] == outcome.duplicate_of
            assert record["report"]["event_id"] == step.report["event_id"]
            assert record["correlation"] is None
        else:
            assert delivery.key == record["correlation"]["correlation_id"]
            assert record["report"] is None
            assert record["incident_id"] is None
            assert record["duplicate_of"] is None
            assert record["enrichment"] is None


def test_enrichment_names_the_unit_and_the_border_section(played) -> None:
    border = played["ubc-a"].deliveries[0].record["enrichment"]
    assert border == {
        "unit_name": "Border Police Station Preševo",
        "unit_level": "LOCAL",
        "unit_line": "BORDER",
        "territorial": "pd-vranje",
        "border_section": "rs-mk",
        "section_impact": "HIGH",
    }
    inland = played["rfi"].deliveries[0].record["enrichment"]
    assert inland == {
        "unit_name": "Police Station Vranje",
        "unit_level": "LOCAL",
        "unit_line": "GENERAL",
        "territorial": "pd-vranje",
        "border_section": "inland",
        "section_impact": None,
    }
    for outcome in played.values():
        enrichments = [
            d.record["enrichment"] for d in outcome.deliveries if d.record["kind"] == "report"
        ]
        assert all(e == enrichments[0] for e in enrichments)


def test_chain_line_crime_and_rfi_recipients_get_the_report_as_published(played) -> None:
    for step, delivery in all_deliveries(played):
        rules = set(delivery.record["rules"])
        if delivery.record["kind"] == "report" and not rules & {"analytics", "international"}:
            assert delivery.record["report"] == step.report, (step.name, delivery.recipient)


def test_analytics_gets_no_personal_data_in_clear(played) -> None:
    seen = 0
    for step, delivery in all_deliveries(played):
        if "analytics" not in delivery.record["rules"]:
            continue
        seen += 1
        assert delivery.record["rules"] == ["analytics"]
        content = delivery.record["report"] or delivery.record["correlation"]
        for text in strings(content):
            for personal in PERSONAL:
                assert not mentions(text, personal), (step.name, text)
        if delivery.record["report"] is not None:
            assert delivery.record["report"]["notes"] is None
            assert delivery.record["report"]["response"] is None
    assert seen >= 20
    suspect = next(
        d.record["report"]["suspects"][0]
        for d in played["ms-foreign-h1"].deliveries
        if d.recipient == "gpd-satit"
    )
    assert suspect["birth_date"] is None
    assert suspect["birth_year"] == 1988
    assert suspect["nationality"] == "AFG"
    assert suspect["given_name"].startswith("pz:")
    assert suspect["documents"][0]["number"].startswith("pz:")
    assert suspect["phones"][0].startswith("pz:")


def test_analytics_tokens_link_reports_without_revealing_them(played) -> None:
    """The same plate gets the same token in every analytics delivery (5.7: stable tokens)."""
    plates = {
        d.record["report"]["vehicle"]["plate"]
        for name in ("ubc-vehicle", "vs-followup", "vs-batrovci")
        for d in played[name].deliveries
        if d.recipient == "gpd-satit"
    }
    assert len(plates) == 1
    assert next(iter(plates)).startswith("pz:")


def test_international_delivery_drops_free_text_only(played) -> None:
    step = BY_NAME["ms-foreign-h1"]
    assert step.report["notes"] == NOTES
    assert step.report["response"] == RESPONSE
    europol = next(
        d for d in played["ms-foreign-h1"].deliveries if d.recipient == "ext-europol-emsc"
    )
    assert europol.record["report"] == {**step.report, "notes": None, "response": None}
    chain = next(d for d in played["ms-foreign-h1"].deliveries if d.recipient == "gpd-oc")
    assert chain.record["report"]["notes"] == NOTES


def test_every_delivery_has_one_disclosure_with_its_rules_and_no_content(played) -> None:
    for step, delivery in all_deliveries(played):
        record, disclosure = delivery.record, delivery.disclosure
        assert set(disclosure) == DISCLOSURE_FIELDS
        assert disclosure["recipient"] == delivery.recipient
        assert disclosure["rules"] == record["rules"]
        expected = "; ".join(RULE_DESCRIPTIONS[Rule(rule)] for rule in record["rules"])
        assert disclosure["justification"] == expected
        assert disclosure["at"] == record["timing"]["delivered_at"]
        assert disclosure["pseudonymised"] == ("analytics" in record["rules"])
        if record["kind"] == "report":
            assert disclosure["event_id"] == step.report["event_id"]
            assert disclosure["correlation_id"] is None
        else:
            assert disclosure["event_id"] is None
            assert disclosure["correlation_id"] == record["correlation"]["correlation_id"]
        text = " ".join(strings(disclosure))
        for content in (*PERSONAL, NOTES, RESPONSE, "AFG:AB998877"):
            assert not mentions(text, content), (step.name, content)


def test_contains_personal_data_is_true_exactly_for_items_naming_someone(played) -> None:
    def flags(name: str) -> set[bool]:
        return {d.disclosure["contains_personal_data"] for d in played[name].deliveries}

    assert flags("ubc-a") == {False}
    assert flags("crisis") == {False}
    assert flags("ubc-vehicle") == {True}
    assert flags("ms-foreign-h1") == {True}
    assert flags("df-vranje") == {True}


def test_delivery_ids_are_unique_per_recipient_and_item(played) -> None:
    items: dict[str, tuple[str, str, str]] = {}
    audit_ids = set()
    for _, delivery in all_deliveries(played):
        record = delivery.record
        item = (
            record["report"]["event_id"]
            if record["kind"] == "report"
            else record["correlation"]["correlation_id"]
        )
        identity = (delivery.recipient, record["kind"], item)
        assert items.setdefault(record["delivery_id"], identity) == identity
        audit_ids.add(delivery.disclosure["audit_id"])
    assert len(set(items.values())) == len(items)
    assert len(audit_ids) == len(items)


def test_replaying_the_scenario_into_fresh_state_gives_identical_outcomes(registry) -> None:
    first, second = Run(registry), Run(registry)
    for step in STEPS:
        assert first.feed(copy.deepcopy(step.report)) == second.feed(copy.deepcopy(step.report))
    assert first.state == second.state


def test_a_record_decided_again_after_a_crash_gets_its_first_outcome(registry) -> None:
    """At-least-once: the same input record (same source) meets the state it already wrote."""
    once, crashing = Run(registry), Run(registry)
    for step in STEPS:
        first = once.feed(copy.deepcopy(step.report))
        assert crashing.feed(copy.deepcopy(step.report)) == first
        again = crashing.feed(copy.deepcopy(step.report), source=crashing.sources[-1])
        assert again == first, step.name
    assert crashing.state == once.state


def test_a_resend_is_a_new_record_and_so_a_duplicate(registry) -> None:
    run = Run(registry)
    report = BY_NAME["mdi-b"].report
    run.feed(copy.deepcopy(BY_NAME["ubc-a"].report))
    assert run.feed(copy.deepcopy(report)).duplicate_of == eid("ubc-a")
    assert run.feed(copy.deepcopy(report), source=run.sources[-1]).status == ACCEPTED
    assert run.feed(copy.deepcopy(report)).status == DUPLICATE


def test_replaying_a_batch_after_a_crash_emits_no_new_correlations(registry) -> None:
    """Records n..n+2 were decided, the crash lost their offsets: all three come again."""
    names = [step.name for step in STEPS]
    batch = range(names.index("ubc-vehicle"), names.index("vs-batrovci") + 1)
    run = Run(registry)
    first = [run.feed(copy.deepcopy(step.report)) for step in STEPS[: batch.stop]]
    for index in batch:
        report = copy.deepcopy(STEPS[index].report)
        assert run.feed(report, source=run.sources[index]) == first[index], names[index]


def test_deciding_leaves_the_report_untouched(registry) -> None:
    run = Run(registry)
    for step in STEPS:
        report = copy.deepcopy(step.report)
        run.feed(report)
        assert report == step.report, step.name


def test_same_id_seven_days_apart_with_other_content_is_still_a_conflict(registry) -> None:
    run = Run(registry)
    first = make("ubc-week", "UnauthorisedBorderCrossing", "bps-presevo", 0, PRESEVO)
    assert run.feed(first).status == ACCEPTED
    later = copy.deepcopy(first)
    later["occurred_at"] += timedelta(days=7)
    later["reported_at"] += timedelta(days=7)
    outcome = run.feed(later)
    assert outcome.status == REJECTED
    assert outcome.rejection is not None
    assert outcome.rejection.code == "EVENT_ID_CONFLICT"
    assert outcome.deliveries == []


def test_an_exact_duplicate_a_day_later_in_event_time_is_still_dropped(registry) -> None:
    run = Run(registry)
    first = make("ubc-day", "UnauthorisedBorderCrossing", "bps-presevo", 0, PRESEVO)
    assert run.feed(first).status == ACCEPTED
    newer = make("ubc-next-day", "UnauthorisedBorderCrossing", "bps-rujan", 24 * 60, PRESEVO)
    assert run.feed(newer).status == ACCEPTED
    outcome = run.feed(copy.deepcopy(first))
    assert outcome.status == DUPLICATE
    assert outcome.deliveries == []


def expected_status(report: dict[str, Any], accepted: dict[str, dict[str, Any]]) -> str:
    """What the contract says: by content equality, not by the implementation's digest."""
    prior = accepted.get(report["event_id"])
    if prior is not None:
        return DUPLICATE if prior == report else "EVENT_ID_CONFLICT"
    if report["type"] == "RfiResponse":
        request = accepted.get(report["rfi_id"])
        if request is None or request["type"] != "RequestForInformation":
            return "UNKNOWN_RFI"
    return ACCEPTED


@settings(max_examples=40, deadline=None)
@given(rnd=st.randoms(use_true_random=False))
def test_random_reports_each_end_in_exactly_one_status(registry, rnd) -> None:
    run = Run(registry)
    accepted: dict[str, dict[str, Any]] = {}
    generate = Generator(rnd, registry, accepted)
    tally: dict[str, int] = {}
    repeats = conflicts = 0
    delivery_ids: set[str] = set()
    for index in range(60):
        roll = rnd.random()
        if accepted and roll < 0.15:
            report = copy.deepcopy(accepted[rnd.choice(sorted(accepted))])
            repeats += 1
        elif accepted and roll < 0.25:
            report = copy.deepcopy(accepted[rnd.choice(sorted(accepted))])
            report["notes"] = f"changed in resend {index}"
            conflicts += 1
        else:
            report = generate.fresh()
        expected = expected_status(report, accepted)
        outcome = run.feed(copy.deepcopy(report))
        code = outcome.rejection.code if outcome.rejection is not None else None
        assert (code or outcome.status) == expected
        assert outcome.status in (ACCEPTED, DUPLICATE, REJECTED)
        assert (outcome.status == REJECTED) == (code is not None)
        tally[code or outcome.status] = tally.get(code or outcome.status, 0) + 1
        if outcome.status != ACCEPTED:
            assert outcome.deliveries == []
            continue
        accepted[report["event_id"]] = report
        for delivery in outcome.deliveries:
            assert delivery.record["delivery_id"] not in delivery_ids
            delivery_ids.add(delivery.record["delivery_id"])
            if delivery.record["kind"] == "report":
                assert delivery.recipient != report["reporting_unit"]
            if "analytics" in delivery.record["rules"] and delivery.record["report"]:
                assert delivery.record["report"]["notes"] is None
    assert sum(tally.values()) == 60
    assert tally.get(DUPLICATE, 0) == repeats
    assert tally.get("EVENT_ID_CONFLICT", 0) == conflicts
    assert tally.get(ACCEPTED, 0) == len(accepted)
    assert set(tally) <= {ACCEPTED, DUPLICATE, "EVENT_ID_CONFLICT", "UNKNOWN_RFI"}
