"""Recipients of reports and correlations, with the rules that chose them (CONTRACT.md 5.6).

A route maps each recipient to its rules in the contract's order. Correlation deliveries carry
rule `correlation` (organised-crime service, operations centre, territorial directorates) and
`international` for the Europol liaison, whose conditions mirror the report rule: cross-border
interest (two or more directorates) and handling H0/H1 only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Any

from imx.pipeline.geo import local_units_within
from imx.registry import Registry

OPERATIONS_CENTRE = "gpd-oc"
BORDER_POLICE = "gpd-bpd"
ORGANISED_CRIME = "gpd-sbpok"
ANALYTICS_SECTOR = "gpd-satit"
EUROPOL = "ext-europol-emsc"

NEIGHBOUR_RADIUS_KM = 20.0
HOME_COUNTRY = "SRB"
RELEASABLE_HANDLING = frozenset({"H0", "H1"})  # H2/H3 restrict onward dissemination
CRIME_TYPES = frozenset({"MigrantSmuggling", "TraffickingInHumanBeings", "DocumentFraud"})
NEIGHBOUR_OUTCOMES = frozenset({"ESCAPED", "UNKNOWN"})


class Rule(StrEnum):
    """Routing rules, declared in the contract's order (the order deliveries list them in)."""

    CHAIN = "chain"
    LINE = "line"
    NEIGHBOUR = "neighbour"
    CRIME = "crime"
    ANALYTICS = "analytics"
    INTERNATIONAL = "international"
    RFI = "rfi"
    CORRELATION = "correlation"


RULE_DESCRIPTIONS: Mapping[Rule, str] = {
    Rule.CHAIN: "chain: command chain of the reporting unit (its parents and gpd-oc)",
    Rule.LINE: "line: border-line report, to the Border Police Directorate",
    Rule.NEIGHBOUR: (
        "neighbour: escaped or unknown-outcome crossing or crisis situation, to local units "
        "within 20 km (handling H0/H1)"
    ),
    Rule.CRIME: (
        "crime: smuggling, trafficking, document fraud, vehicle or facilitator named, to the "
        "organised-crime service and the territorial directorate"
    ),
    Rule.ANALYTICS: "analytics: every report, pseudonymised, to the analytics sector",
    Rule.INTERNATIONAL: (
        "international: cross-border smuggling interest with handling H0/H1, minimised, "
        "to the Europol EMSC liaison"
    ),
    Rule.RFI: "rfi: request for information to its addressees, or a response to the requester",
    Rule.CORRELATION: (
        "correlation: shared entity across incidents, to the organised-crime service, the "
        "operations centre and the territorial directorates involved"
    ),
}

Routes = dict[str, tuple[Rule, ...]]


def justification(rules: Iterable[Rule | str]) -> list[str]:
    """The audit record's `justification`: one description per rule, in the given order."""
    return [RULE_DESCRIPTIONS[Rule(rule)] for rule in rules]


def _routes(chosen: Mapping[str, set[Rule]], exclude: str | None = None) -> Routes:
    return {
        recipient: tuple(rule for rule in Rule if rule in rules)
        for recipient, rules in sorted(chosen.items())
        if recipient != exclude
    }


def has_foreign_element(report: Mapping[str, Any]) -> bool:
    """A suspect not Serbian or holding a foreign document, or a foreign-registered vehicle."""
    for suspect in report.get("suspects") or ():
        if suspect["nationality"] not in (None, HOME_COUNTRY):
            return True
        if any(doc["issuing_country"] != HOME_COUNTRY for doc in suspect["documents"]):
            return True
    vehicle = report.get("vehicle")
    return vehicle is not None and vehicle["registration_country"] not in (None, HOME_COUNTRY)


def _names_vehicle_or_facilitator(report: Mapping[str, Any]) -> bool:
    return report.get("vehicle") is not None or bool(report.get("facilitators"))


def route_report(
    registry: Registry, report: Mapping[str, Any], rfi_requester: Callable[[str], str | None]
) -> Routes:
    """Recipients of an accepted report; the reporting unit is never one of them.

    `rfi_requester` maps a request's event id to the unit that sent it. A response to an
    unknown request has no recipient (validation rejects it with UNKNOWN_RFI beforehand).
    """
    source = registry.get(report["reporting_unit"])
    kind = report["type"]
    chosen: dict[str, set[Rule]] = {}

    def add(recipient: str, rule: Rule) -> None:
        chosen.setdefault(recipient, set()).add(rule)

    if kind == "RequestForInformation":
        for unit_id in report["to_units"]:
            add(unit_id, Rule.RFI)
        return _routes(chosen, exclude=source.id)
    if kind == "RfiResponse":
        requester = rfi_requester(report["rfi_id"])
        if requester is not None:
            add(requester, Rule.RFI)
        return _routes(chosen, exclude=source.id)

    releasable = report["handling"] in RELEASABLE_HANDLING
    for parent in (*source.parents, OPERATIONS_CENTRE):
        add(parent, Rule.CHAIN)
    if source.line == "BORDER":
        add(BORDER_POLICE, Rule.LINE)
    wants_neighbours = kind == "CrisisSituation" or (
        kind == "UnauthorisedBorderCrossing" and report["outcome"] in NEIGHBOUR_OUTCOMES
    )
    if wants_neighbours and releasable:
        location = report["location"]
        for unit in local_units_within(
            registry, location["lat"], location["lon"], NEIGHBOUR_RADIUS_KM, exclude=source.id
        ):
            add(unit.id, Rule.NEIGHBOUR)
    if kind in CRIME_TYPES or _names_vehicle_or_facilitator(report):
        add(ORGANISED_CRIME, Rule.CRIME)
        if source.territorial is not None:
            add(source.territorial, Rule.CRIME)
    add(ANALYTICS_SECTOR, Rule.ANALYTICS)
    if kind == "MigrantSmuggling" and releasable and has_foreign_element(report):
        add(EUROPOL, Rule.INTERNATIONAL)
    return _routes(chosen, exclude=source.id)


def route_correlation(registry: Registry, units: Iterable[str], handlings: Iterable[str]) -> Routes:
    """Recipients of a correlation over the involved `units` and linked reports' `handlings`."""
    involved = [registry.get(unit_id) for unit_id in units if unit_id in registry]
    directorates = {
        unit.territorial
        for unit in involved
        if unit.level == "LOCAL" and unit.territorial is not None
    }
    chosen: dict[str, set[Rule]] = {
        recipient: {Rule.CORRELATION}
        for recipient in (ORGANISED_CRIME, OPERATIONS_CENTRE, *directorates)
    }
    if len(directorates) >= 2 and set(handlings) <= RELEASABLE_HANDLING:
        chosen[EUROPOL] = {Rule.INTERNATIONAL}
    return _routes(chosen)
