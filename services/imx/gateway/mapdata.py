"""The operations picture's base map: country outlines cut out of Natural Earth, once.

Natural Earth (public domain) comes as TopoJSON in the ``world-atlas`` npm package. ``make
map-data`` fetches that package into a temporary folder and runs this module on its
``countries-50m.json``; the result, ``static/countries.json``, is committed, so the page and its
tests never fetch anything. TopoJSON keeps each border once, as an arc shared by the two
countries it separates: that is how a border section (``rs-mk``: Serbia towards North
Macedonia) becomes a line on the map.

    python -m imx.gateway.mapdata countries-50m.json services/imx/gateway/static/countries.json
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Point = tuple[float, float]  # (lon, lat)
Line = list[Point]

#: The map's extent: Serbia and its neighbours (lon west, lat south, lon east, lat north).
VIEW = (17.9, 41.6, 23.5, 46.5)
HOME = "Serbia"
#: Drawn in the home colour; the line between it and Serbia is an administrative line.
ADMINISTRATIVE = "Kosovo"
#: A border section's id is ``rs-`` and the neighbour's ISO 3166-1 alpha-2 code; world-atlas
#: names countries by ISO 3166-1 numeric code.
NEIGHBOURS = {
    "al": "008",
    "ba": "070",
    "bg": "100",
    "hr": "191",
    "hu": "348",
    "me": "499",
    "mk": "807",
    "ro": "642",
}
DIGITS = 3  # about 100 m: finer than the 50m data's own resolution


@dataclass(frozen=True)
class Country:
    id: str | None
    name: str
    polygons: list[list[list[int]]]  # polygon → rings → arc indexes (~i: arc i reversed)


def decode_arcs(topology: Mapping[str, Any]) -> list[Line]:
    """Every arc in degrees: quantised arcs are delta-encoded, then scaled and translated."""
    transform = topology.get("transform")
    arcs: list[Line] = []
    for arc in topology["arcs"]:
        if transform is None:
            arcs.append([(float(p[0]), float(p[1])) for p in arc])
            continue
        (sx, sy), (tx, ty) = transform["scale"], transform["translate"]
        x = y = 0
        line: Line = []
        for point in arc:
            x, y = x + point[0], y + point[1]
            line.append((x * sx + tx, y * sy + ty))
        arcs.append(line)
    return arcs


def arc_points(index: int, arcs: Sequence[Line]) -> Line:
    """Arc ``index`` in its direction; ``~i`` (a negative index) is arc ``i`` reversed."""
    return list(arcs[index]) if index >= 0 else list(reversed(arcs[~index]))


def ring_points(ring: Iterable[int], arcs: Sequence[Line]) -> Line:
    """A closed ring from its arcs; consecutive arcs share their joining point once."""
    points: Line = []
    for index in ring:
        part = arc_points(index, arcs)
        points.extend(part[1:] if points else part)
    return points


def countries(topology: Mapping[str, Any]) -> list[Country]:
    found = []
    for geometry in topology["objects"]["countries"]["geometries"]:
        kind, arcs = geometry.get("type"), geometry.get("arcs", [])
        polygons = [arcs] if kind == "Polygon" else arcs if kind == "MultiPolygon" else []
        found.append(Country(geometry.get("id"), geometry["properties"]["name"], polygons))
    return found


def arcs_of(country: Country) -> set[int]:
    """The arcs a country's rings use, by their forward index."""
    return {i if i >= 0 else ~i for polygon in country.polygons for ring in polygon for i in ring}


def shared_lines(a: Country, b: Country, arcs: Sequence[Line]) -> list[Line]:
    """The border of ``a`` and ``b``: the arcs both use, each once, joined where they touch."""
    shared = sorted(arcs_of(a) & arcs_of(b))
    lines: list[Line] = []
    for index in shared:
        points = list(arcs[index])
        if lines and lines[-1][-1] == points[0]:
            lines[-1].extend(points[1:])
        else:
            lines.append(points)
    return lines


def intersects(points: Iterable[Point], view: tuple[float, float, float, float]) -> bool:
    """Whether the bounding box of ``points`` overlaps ``view``."""
    listed = list(points)
    xs = [p[0] for p in listed]
    ys = [p[1] for p in listed]
    west, south, east, north = view
    return min(xs) <= east and max(xs) >= west and min(ys) <= north and max(ys) >= south


def clip(ring: Sequence[Point], view: tuple[float, float, float, float]) -> Line:
    """``ring`` cut to the rectangle ``view`` (Sutherland-Hodgman): every point lies inside it.

    A country reaching far outside the map (Russia, Italy) keeps only the part the map shows,
    its cut edges along the frame.
    """
    west, south, east, north = view
    points = list(ring)
    for axis, bound, keep_above in (
        (0, west, True),
        (0, east, False),
        (1, south, True),
        (1, north, False),
    ):
        points = _clip_edge(points, axis, bound, keep_above=keep_above)
    return points


def _clip_edge(points: Line, axis: int, bound: float, *, keep_above: bool) -> Line:
    """The part of a ring on one side of the line ``point[axis] == bound``."""

    def inside(p: Point) -> bool:
        return p[axis] >= bound if keep_above else p[axis] <= bound

    def crossing(a: Point, b: Point) -> Point:
        t = (bound - a[axis]) / (b[axis] - a[axis])
        other = 1 - axis
        low, high = sorted((a[other], b[other]))
        value = min(max(a[other] + t * (b[other] - a[other]), low), high)
        return (bound, value) if axis == 0 else (value, bound)

    kept: Line = []
    for i, current in enumerate(points):
        previous = points[i - 1]
        if inside(current):
            if not inside(previous):
                kept.append(crossing(previous, current))
            kept.append(current)
        elif inside(previous):
            kept.append(crossing(previous, current))
    return kept


def rounded(line: Iterable[Point], digits: int = DIGITS) -> list[list[float]]:
    """Coordinates rounded to ``digits``, dropping a point equal to the one before it."""
    out: list[list[float]] = []
    for lon, lat in line:
        point = [round(lon, digits), round(lat, digits)]
        if not out or out[-1] != point:
            out.append(point)
    return out


def extract(
    topology: Mapping[str, Any], view: tuple[float, float, float, float] = VIEW
) -> dict[str, Any]:
    """The base map of ``view``: outlines of the countries it shows, and Serbia's borders."""
    arcs = decode_arcs(topology)
    every = countries(topology)
    by_name = {c.name: c for c in every}
    home = by_name[HOME]
    shown = []
    for country in every:
        rings = [
            rounded(clip(ring_points(ring, arcs), view))
            for polygon in country.polygons
            for ring in polygon
            if intersects(ring_points(polygon[0], arcs), view)
        ]
        rings = [ring for ring in rings if len(ring) >= 4]
        if rings:
            role = "home" if country.name in (HOME, ADMINISTRATIVE) else "neighbour"
            shown.append({"name": country.name, "role": role, "rings": rings})
    by_id = {c.id: c for c in every if c.id is not None}
    borders = {
        code: [rounded(line) for line in shared_lines(home, by_id[numeric], arcs)]
        for code, numeric in sorted(NEIGHBOURS.items())
        if numeric in by_id
    }
    administrative = [rounded(line) for line in shared_lines(home, by_name[ADMINISTRATIVE], arcs)]
    return {
        "source": "Natural Earth 1:50m (public domain), via the world-atlas npm package",
        "view": list(view),
        "countries": sorted(shown, key=lambda c: (c["role"] == "home", c["name"])),
        "borders": {code: lines for code, lines in borders.items() if lines},
        "administrative": administrative,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("topojson", type=Path, help="world-atlas countries-50m.json")
    parser.add_argument("output", type=Path, help="where to write the base map (JSON)")
    args = parser.parse_args(argv)
    topology = json.loads(args.topojson.read_text(encoding="utf-8"))
    text = json.dumps(extract(topology), separators=(",", ":")) + "\n"
    args.output.write_text(text, encoding="utf-8")
    print(f"{args.output}: {len(text):,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
