"""Enrichment with registry facts and the border section (CONTRACT.md 5.3)."""

from __future__ import annotations

import pytest

from imx.pipeline.enrich import Enrichment, enrich

pytestmark = pytest.mark.unit


def test_border_station_report_near_its_section(build, registry) -> None:
    report = build.report("UnauthorisedBorderCrossing", reporting_unit="bps-presevo")
    assert enrich(registry, report) == Enrichment(
        unit_name="Border Police Station Preševo",
        unit_level="LOCAL",
        unit_line="BORDER",
        territorial="pd-vranje",
        border_section="rs-mk",
        section_impact="HIGH",
    )


def test_section_comes_from_the_location_not_the_unit(build, registry) -> None:
    # A Šid police station report from near Srem border station: rs-ba, impact LOW.
    report = build.report("MigrantsDetectedInland", reporting_unit="ps-sid", lat=44.905, lon=19.330)
    enrichment = enrich(registry, report)
    assert (enrichment.border_section, enrichment.section_impact) == ("rs-ba", "LOW")
    assert enrichment.unit_line == "GENERAL"
    assert enrichment.territorial == "pd-sremska-mitrovica"


def test_inland_report_of_a_national_unit(build, registry) -> None:
    report = build.report("CrisisSituation", reporting_unit="gpd-oc", lat=44.8, lon=20.47)
    assert enrich(registry, report).as_dict() == {
        "unit_name": "Operations Centre, General Police Directorate",
        "unit_level": "NATIONAL",
        "unit_line": "OPERATIONS",
        "territorial": None,
        "border_section": "inland",
        "section_impact": None,
    }


def test_section_impact_follows_the_registry(build) -> None:
    registry = build.registry(build.unit("bps-a", border_section="s-y"))
    report = build.report("CrisisSituation", reporting_unit="bps-a", lat=0.0, lon=0.1)
    assert enrich(registry, report).section_impact == "LOW"
