"""Routing rules over the shipped registry (CONTRACT.md 5.6)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imx.pipeline.routing import (
    NEIGHBOUR_RADIUS_KM,
    RULE_DESCRIPTIONS,
    Rule,
    has_foreign_element,
    justification,
    route_correlation,
    route_report,
)

pytestmark = pytest.mark.unit

REQUESTS = {"rfi-1": "ps-vranje"}
CHAIN_PRESEVO = {"rc-mk": ("chain",), "pd-vranje": ("chain",), "gpd-oc": ("chain",)}


def route(registry, report):
    return route_report(registry, report, REQUESTS.get)


def test_rules_and_their_order() -> None:
    assert [r.value for r in Rule][:7] == [
        "chain",
        "line",
        "neighbour",
        "crime",
        "analytics",
        "international",
        "rfi",
    ]
    assert set(RULE_DESCRIPTIONS) == set(Rule)
    assert NEIGHBOUR_RADIUS_KM == 20.0


def test_border_station_crossing_goes_up_both_chains(build, registry) -> None:
    report = build.report("UnauthorisedBorderCrossing", reporting_unit="bps-presevo")
    assert route(registry, report) == {
        **CHAIN_PRESEVO,
        "gpd-bpd": ("line",),
        "gpd-satit": ("analytics",),
    }


@pytest.mark.parametrize("outcome", ["ESCAPED", "UNKNOWN"])
def test_escaped_crossing_alerts_local_units_within_20_km(build, registry, outcome) -> None:
    report = build.report("UnauthorisedBorderCrossing", outcome=outcome)
    routes = route(registry, report)
    assert routes["bps-rujan"] == ("neighbour",)
    assert routes["ps-presevo"] == ("neighbour",)
    assert "ps-vranje" not in routes  # 34.5 km away
    assert "bps-presevo" not in routes  # the reporting unit itself


@pytest.mark.parametrize("outcome", ["PREVENTED", "APPREHENDED"])
def test_contained_crossing_alerts_no_neighbour(build, registry, outcome) -> None:
    report = build.report("UnauthorisedBorderCrossing", outcome=outcome)
    assert Rule.NEIGHBOUR not in {r for rules in route(registry, report).values() for r in rules}


@pytest.mark.parametrize(
    ("handling", "alerted"), [("H0", True), ("H1", True), ("H2", False), ("H3", False)]
)
def test_neighbour_rule_is_gated_by_handling(build, registry, handling, alerted) -> None:
    report = build.report("UnauthorisedBorderCrossing", outcome="ESCAPED", handling=handling)
    assert ("bps-rujan" in route(registry, report)) is alerted
    crisis = build.report("CrisisSituation", reporting_unit="ps-presevo", handling=handling)
    assert ("bps-rujan" in route(registry, crisis)) is alerted


def test_crisis_from_a_police_station(build, registry) -> None:
    report = build.report("CrisisSituation", reporting_unit="ps-presevo", lat=42.309, lon=21.648)
    assert route(registry, report) == {
        "pd-vranje": ("chain",),
        "gpd-oc": ("chain",),
        "bps-presevo": ("neighbour",),
        "bps-rujan": ("neighbour",),
        "gpd-satit": ("analytics",),
    }


def test_neighbour_boundary_at_exactly_20_km(build) -> None:
    inside, outside = build.equator_boundary(20.0)
    registry = build.registry(
        build.unit("bps-a"),
        build.unit("ps-in", line="GENERAL", border_section=None, lon=inside),
        build.unit("ps-out", line="GENERAL", border_section=None, lon=outside),
    )
    report = build.report("CrisisSituation", reporting_unit="bps-a", lat=0.0, lon=0.0)
    routes = route(registry, report)
    assert routes["ps-in"] == ("neighbour",)
    assert "ps-out" not in routes


def test_smuggling_goes_to_crime_and_the_territorial_directorate(build, registry) -> None:
    report = build.report(
        "MigrantSmuggling", reporting_unit="ps-sid", suspects=[build.person(nationality="SRB")]
    )
    assert route(registry, report) == {
        "pd-sremska-mitrovica": ("chain", "crime"),
        "gpd-oc": ("chain",),
        "gpd-sbpok": ("crime",),
        "gpd-satit": ("analytics",),
    }


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("TraffickingInHumanBeings", lambda build: {}),
        ("DocumentFraud", lambda build: {"document": build.document()}),
        ("VehicleSighting", lambda build: {"vehicle": build.vehicle()}),
        ("UnauthorisedBorderCrossing", lambda build: {"facilitators": [build.person()]}),
        ("MigrantsDetectedInland", lambda build: {"vehicle": build.vehicle()}),
    ],
)
def test_crime_rule_triggers(build, registry, kind, fields) -> None:
    report = build.report(kind, reporting_unit="bps-presevo", **fields(build))
    routes = route(registry, report)
    assert routes["gpd-sbpok"] == ("crime",)
    assert routes["pd-vranje"] == ("chain", "crime")


def test_no_crime_rule_for_a_plain_crossing(build, registry) -> None:
    report = build.report("MigrantsDetectedInland", reporting_unit="ps-bor")
    assert route(registry, report) == {
        "pd-bor": ("chain",),
        "gpd-oc": ("chain",),
        "gpd-satit": ("analytics",),
    }


@pytest.mark.parametrize(
    ("suspect", "vehicle_country", "foreign"),
    [
        ({"nationality": "AFG"}, None, True),
        ({"nationality": None}, None, False),
        ({"nationality": "SRB"}, "SRB", False),
        ({"nationality": "SRB", "documents": [{"issuing_country": "BGR"}]}, None, True),
        ({"nationality": "SRB", "documents": [{"issuing_country": "SRB"}]}, None, False),
        ({"nationality": None}, "MKD", True),
    ],
)
def test_foreign_element(build, suspect, vehicle_country, foreign) -> None:
    suspect = build.person(**suspect)
    suspect["documents"] = [build.document(**d) for d in suspect["documents"]]
    vehicle = build.vehicle(registration_country=vehicle_country) if vehicle_country else None
    report = build.report("MigrantSmuggling", suspects=[suspect], vehicle=vehicle)
    assert has_foreign_element(report) is foreign


@pytest.mark.parametrize(
    ("handling", "abroad"), [("H0", True), ("H1", True), ("H2", False), ("H3", False)]
)
def test_international_rule_is_gated_by_handling(build, registry, handling, abroad) -> None:
    report = build.report(
        "MigrantSmuggling", suspects=[build.person(nationality="AFG")], handling=handling
    )
    routes = route(registry, report)
    assert (routes.get("ext-europol-emsc") == ("international",)) is abroad
    assert ("ext-europol-emsc" in routes) is abroad


def test_foreign_smuggling_at_the_border_reaches_every_level(build, registry) -> None:
    report = build.report(
        "MigrantSmuggling",
        reporting_unit="bps-presevo",
        suspects=[build.person(nationality="MKD")],
        handling="H1",
    )
    assert route(registry, report) == {
        "rc-mk": ("chain",),
        "pd-vranje": ("chain", "crime"),
        "gpd-oc": ("chain",),
        "gpd-bpd": ("line",),
        "gpd-sbpok": ("crime",),
        "gpd-satit": ("analytics",),
        "ext-europol-emsc": ("international",),
    }


def test_regional_border_centre_reaches_the_directorate_by_chain_and_line(build, registry) -> None:
    report = build.report("CrisisSituation", reporting_unit="rc-mk", handling="H2")
    assert route(registry, report) == {
        "gpd-bpd": ("chain", "line"),
        "gpd-oc": ("chain",),
        "gpd-satit": ("analytics",),
    }


def test_international_rule_only_for_smuggling(build, registry) -> None:
    report = build.report("TraffickingInHumanBeings", suspects=[build.person(nationality="AFG")])
    assert "ext-europol-emsc" not in route(registry, report)


def test_request_goes_to_its_addressees_only(build, registry) -> None:
    report = build.report(
        "RequestForInformation",
        reporting_unit="ps-vranje",
        to_units=["bps-presevo", "gpd-sbpok", "ps-vranje"],
    )
    assert route(registry, report) == {"bps-presevo": ("rfi",), "gpd-sbpok": ("rfi",)}


def test_response_goes_to_the_requester_only(build, registry) -> None:
    report = build.report("RfiResponse", reporting_unit="bps-presevo", rfi_id="rfi-1")
    assert route(registry, report) == {"ps-vranje": ("rfi",)}
    unknown = build.report("RfiResponse", reporting_unit="bps-presevo", rfi_id="never")
    assert route(registry, unknown) == {}


def test_national_units_do_not_receive_their_own_reports(build, registry) -> None:
    from_oc = build.report("CrisisSituation", reporting_unit="gpd-oc", lat=44.8, lon=20.47)
    assert route(registry, from_oc) == {"gpd-satit": ("analytics",)}
    from_satit = build.report("MigrantSmuggling", reporting_unit="gpd-satit")
    assert route(registry, from_satit) == {"gpd-oc": ("chain",), "gpd-sbpok": ("crime",)}


KINDS = [
    "UnauthorisedBorderCrossing",
    "CrisisSituation",
    "MigrantSmuggling",
    "DocumentFraud",
    "RequestForInformation",
    "RfiResponse",
]
HANDLINGS = ["H0", "H1", "H2", "H3"]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=200)
@given(data=st.data(), kind=st.sampled_from(KINDS), handling=st.sampled_from(HANDLINGS))
def test_reporting_unit_never_receives_and_rules_are_ordered(
    build, registry, data, kind, handling
) -> None:
    unit = registry.get(data.draw(st.sampled_from(registry.ids()), label="unit"))
    outcome = data.draw(st.sampled_from(["ESCAPED", "UNKNOWN", "APPREHENDED"]), label="outcome")
    to_units = data.draw(st.lists(st.sampled_from(registry.ids()), min_size=1), label="to")
    fields = {
        "UnauthorisedBorderCrossing": {"outcome": outcome},
        "MigrantSmuggling": {"suspects": [build.person(nationality="AFG")]},
        "RequestForInformation": {"to_units": to_units},
        "RfiResponse": {"rfi_id": "rfi-1"},
    }.get(kind, {})
    report = build.report(
        kind, reporting_unit=unit.id, handling=handling, lat=unit.lat, lon=unit.lon, **fields
    )
    routes = route(registry, report)
    assert unit.id not in routes
    assert list(routes) == sorted(routes)
    order = list(Rule)
    for rules in routes.values():
        assert rules
        assert list(rules) == sorted(rules, key=order.index)
    if handling in ("H2", "H3"):
        assert all(Rule.NEIGHBOUR not in r and Rule.INTERNATIONAL not in r for r in routes.values())


def test_correlation_across_two_directorates_goes_abroad(registry) -> None:
    routes = route_correlation(registry, ["bps-presevo", "ps-sid"], ["H0", "H1"])
    assert routes == {
        "ext-europol-emsc": ("international",),
        "gpd-oc": ("correlation",),
        "gpd-sbpok": ("correlation",),
        "pd-sremska-mitrovica": ("correlation",),
        "pd-vranje": ("correlation",),
    }


@pytest.mark.parametrize("restricted", ["H2", "H3"])
def test_correlation_with_a_restricted_report_stays_home(registry, restricted) -> None:
    routes = route_correlation(registry, ["bps-presevo", "ps-sid"], ["H0", restricted])
    assert "ext-europol-emsc" not in routes
    assert routes["pd-vranje"] == ("correlation",)


def test_correlation_within_one_directorate(registry) -> None:
    routes = route_correlation(registry, ["bps-presevo", "ps-presevo", "rc-mk"], ["H0"])
    assert routes == {
        "gpd-oc": ("correlation",),
        "gpd-sbpok": ("correlation",),
        "pd-vranje": ("correlation",),
    }


def test_correlation_of_non_local_units_only(registry) -> None:
    routes = route_correlation(registry, ["gpd-satit", "rc-hr", "pd-bor"], ["H0"])
    assert routes == {"gpd-oc": ("correlation",), "gpd-sbpok": ("correlation",)}


def test_justification_lists_descriptions_in_order() -> None:
    text = justification(["chain", Rule.CRIME])
    assert text == [RULE_DESCRIPTIONS[Rule.CHAIN], RULE_DESCRIPTIONS[Rule.CRIME]]
    assert all(
        description.startswith(rule.value) for rule, description in RULE_DESCRIPTIONS.items()
    )
    with pytest.raises(ValueError, match="bogus"):
        justification(["bogus"])
