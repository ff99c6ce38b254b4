"""The base map's geometry (imx.gateway.mapdata) and the committed map it made."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imx.gateway import mapdata
from imx.gateway.app import STATIC
from imx.registry import load_registry

pytestmark = pytest.mark.unit

VIEW = (18.0, 41.0, 24.0, 47.0)
coordinate = st.tuples(
    st.floats(10.0, 32.0, allow_nan=False), st.floats(35.0, 52.0, allow_nan=False)
)


def inside(point: mapdata.Point, view: tuple[float, float, float, float]) -> bool:
    west, south, east, north = view
    eps = 1e-9
    return west - eps <= point[0] <= east + eps and south - eps <= point[1] <= north + eps


@given(st.lists(coordinate, min_size=3, max_size=40))
def test_a_clipped_ring_lies_inside_the_view(ring: list[mapdata.Point]) -> None:
    assert all(inside(p, VIEW) for p in mapdata.clip(ring, VIEW))


@given(st.lists(st.tuples(st.floats(18.5, 23.5), st.floats(41.5, 46.5)), min_size=3, max_size=40))
def test_a_ring_inside_the_view_is_kept_as_it_is(ring: list[mapdata.Point]) -> None:
    assert mapdata.clip(ring, VIEW) == ring


def test_a_ring_around_the_view_becomes_its_frame() -> None:
    around = [(0.0, 0.0), (40.0, 0.0), (40.0, 60.0), (0.0, 60.0)]
    frame = mapdata.clip(around, VIEW)
    assert sorted(set(frame)) == [(18.0, 41.0), (18.0, 47.0), (24.0, 41.0), (24.0, 47.0)]


@given(st.lists(st.tuples(st.integers(-50, 50), st.integers(-50, 50)), min_size=2, max_size=20))
def test_quantised_arcs_are_delta_decoded_then_scaled(deltas: list[tuple[int, int]]) -> None:
    topology = {
        "transform": {"scale": [0.5, 0.25], "translate": [10.0, 40.0]},
        "arcs": [[list(d) for d in deltas]],
    }
    [line] = mapdata.decode_arcs(topology)
    x = y = 0
    for (dx, dy), (lon, lat) in zip(deltas, line, strict=True):
        x, y = x + dx, y + dy
        assert (lon, lat) == pytest.approx((x * 0.5 + 10.0, y * 0.25 + 40.0))


def test_a_negative_arc_index_is_the_arc_reversed_and_rings_join_once() -> None:
    arcs: list[mapdata.Line] = [[(0, 0), (1, 0), (1, 1)], [(1, 1), (0, 1), (0, 0)]]
    assert mapdata.arc_points(~0, arcs) == [(1, 1), (1, 0), (0, 0)]
    assert mapdata.ring_points([0, 1], arcs) == [(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)]


def test_a_border_is_the_arcs_two_countries_share() -> None:
    arcs: list[mapdata.Line] = [[(0, 0), (0, 1)], [(0, 1), (0, 2)], [(0, 2), (5, 5), (0, 0)]]
    a = mapdata.Country("1", "A", [[[0, 1, 2]]])
    b = mapdata.Country("2", "B", [[[~1, ~0, 3]]])
    assert mapdata.shared_lines(a, b, arcs) == [[(0, 0), (0, 1), (0, 2)]]


def test_rounding_drops_points_that_became_equal() -> None:
    line = [(20.00001, 44.0), (20.00002, 44.0), (20.5, 44.25)]
    assert mapdata.rounded(line) == [[20.0, 44.0], [20.5, 44.25]]


def test_the_committed_map_shows_serbia_and_a_border_for_every_section() -> None:
    base = json.loads((STATIC / "countries.json").read_text(encoding="utf-8"))
    view = tuple(base["view"])
    assert view == mapdata.VIEW
    names = {c["name"]: c["role"] for c in base["countries"]}
    assert names["Serbia"] == "home"
    assert {"Hungary", "Romania", "Bulgaria", "Croatia", "Bosnia and Herz."} <= set(names)
    for country in base["countries"]:
        for ring in country["rings"]:
            assert all(inside((lon, lat), view) for lon, lat in ring), country["name"]
    for section in load_registry().sections:
        code = section.removeprefix("rs-")
        assert base["borders"][code], f"no border line for section {section}"
