"""Haversine distance and the registry look-ups built on it (CONTRACT.md 5.3, 5.6)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imx.pipeline.geo import (
    BORDER_SECTION_RADIUS_KM,
    EARTH_RADIUS_KM,
    INLAND,
    haversine_km,
    local_units_within,
    nearest_border_section,
    within,
)

pytestmark = pytest.mark.unit

lats = st.floats(min_value=-90, max_value=90, allow_nan=False)
lons = st.floats(min_value=-180, max_value=180, allow_nan=False)
points = st.tuples(lats, lons)


def test_contract_constants() -> None:
    assert EARTH_RADIUS_KM == 6371.0088
    assert BORDER_SECTION_RADIUS_KM == 30.0


def test_known_distances() -> None:
    # One degree of longitude on the equator is R·π/180.
    assert haversine_km(0, 0, 0, 1) == pytest.approx(EARTH_RADIUS_KM * math.pi / 180, rel=1e-12)
    # Half the circumference between antipodes, even where rounding pushes past 1.
    assert haversine_km(0, 0, 0, 180) == pytest.approx(EARTH_RADIUS_KM * math.pi, rel=1e-12)
    assert haversine_km(90, 0, -90, 0) == pytest.approx(EARTH_RADIUS_KM * math.pi, rel=1e-12)
    # Preševo border station to Preševo police station: about a kilometre.
    assert haversine_km(42.300, 21.650, 42.309, 21.648) == pytest.approx(1.01, abs=0.01)


@given(points)
def test_zero_for_the_same_point(p: tuple[float, float]) -> None:
    assert haversine_km(*p, *p) == 0.0


@given(points, points)
def test_symmetric_and_bounded(p: tuple[float, float], q: tuple[float, float]) -> None:
    d = haversine_km(*p, *q)
    assert d == pytest.approx(haversine_km(*q, *p), abs=1e-9)
    assert 0.0 <= d <= EARTH_RADIUS_KM * math.pi + 1e-9


@given(points, points, points)
def test_triangle_inequality(
    p: tuple[float, float], q: tuple[float, float], r: tuple[float, float]
) -> None:
    assert haversine_km(*p, *r) <= haversine_km(*p, *q) + haversine_km(*q, *r) + 1e-6


def test_within_includes_the_limit() -> None:
    assert within(30.0, 30.0)
    assert not within(math.nextafter(30.0, math.inf), 30.0)


def test_border_section_of_the_nearest_border_station(registry) -> None:
    # At Šid police station: Šid border station (0.4 km, rs-hr).
    assert nearest_border_section(registry, 45.120, 19.230) == "rs-hr"
    # Sremska Mitrovica: Srem (23 km, rs-ba) is nearer than Šid (34 km, rs-hr).
    assert nearest_border_section(registry, 44.970, 19.613) == "rs-ba"
    # Bor: Zaječar border station at 24 km.
    assert nearest_border_section(registry, 44.083, 22.100) == "rs-bg"


def test_border_section_ignores_non_border_local_units(registry) -> None:
    # Vranje: the police stations are not BORDER-line; Preševo border station is 34.5 km away.
    assert nearest_border_section(registry, 42.550, 21.900) == INLAND
    assert nearest_border_section(registry, 44.800, 20.470) == INLAND


def test_border_section_boundary_at_30_km(build) -> None:
    registry = build.registry(build.unit("bps-a"))
    inside, outside = build.equator_boundary(30.0)
    assert haversine_km(0, 0, 0, inside) <= 30.0 < haversine_km(0, 0, 0, outside)
    assert nearest_border_section(registry, 0.0, inside) == "s-x"
    assert nearest_border_section(registry, 0.0, outside) == INLAND


def test_border_section_radius_is_inclusive_at_the_exact_distance(build) -> None:
    # 30.0 km itself is not a possible float haversine result, so check inclusiveness at a
    # radius equal to the computed distance.
    registry = build.registry(build.unit("bps-a"))
    distance = haversine_km(0.0, 0.0, 0.0, 0.25)
    assert nearest_border_section(registry, 0.0, 0.25, radius_km=distance) == "s-x"
    tighter = math.nextafter(distance, 0.0)
    assert nearest_border_section(registry, 0.0, 0.25, radius_km=tighter) == INLAND


def test_nearest_section_wins(build) -> None:
    registry = build.registry(
        build.unit("bps-b", border_section="s-y", lon=0.1),
        build.unit("bps-a", lon=0.2),
        build.unit("ps-c", line="GENERAL", border_section=None, lon=0.14),
    )
    assert nearest_border_section(registry, 0.0, 0.14) == "s-y"
    assert nearest_border_section(registry, 0.0, 0.16) == "s-x"


def test_equidistant_stations_go_to_the_lower_id(build) -> None:
    # Mirror images about longitude 0 are exactly equidistant in floating point too.
    registry = build.registry(
        build.unit("bps-a", lon=0.125), build.unit("bps-b", border_section="s-y", lon=-0.125)
    )
    assert haversine_km(0, 0, 0, 0.125) == haversine_km(0, 0, 0, -0.125)
    assert nearest_border_section(registry, 0.0, 0.0) == "s-x"


def test_local_units_within(registry) -> None:
    near_presevo = local_units_within(registry, 42.300, 21.650, 20.0, exclude="bps-presevo")
    assert [u.id for u in near_presevo] == ["bps-rujan", "ps-presevo"]
    with_self = local_units_within(registry, 42.300, 21.650, 20.0)
    assert [u.id for u in with_self] == ["bps-presevo", "bps-rujan", "ps-presevo"]
    assert local_units_within(registry, 44.800, 20.470, 20.0) == []


def test_local_units_within_boundary_at_exactly_20_km(build) -> None:
    inside, outside = build.equator_boundary(20.0)
    assert haversine_km(0, 0, 0, inside) == 20.0
    registry = build.registry(
        build.unit("bps-a"),
        build.unit(
            "pd-z",
            level="REGIONAL",
            line="GENERAL",
            parents=[],
            territorial=None,
            border_section=None,
        ),
    )
    assert [u.id for u in local_units_within(registry, 0.0, inside, 20.0)] == ["bps-a"]
    assert local_units_within(registry, 0.0, outside, 20.0) == []
