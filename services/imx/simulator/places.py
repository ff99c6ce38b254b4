"""Where things happen: points a few kilometres from a station, and what the unit calls them."""

from __future__ import annotations

import math
import random
from typing import Any

from imx.registry import Unit

KM_PER_DEGREE = 111.2


def offset(lat: float, lon: float, distance_km: float, bearing: float) -> tuple[float, float]:
    """The point ``distance_km`` from (lat, lon) towards ``bearing`` (radians), flat-earth.

    Good to metres over the few kilometres used here, and rounded to 5 decimals (about a
    metre), the precision of a hand-held GPS fix.
    """
    dlat = distance_km * math.cos(bearing) / KM_PER_DEGREE
    dlon = distance_km * math.sin(bearing) / (KM_PER_DEGREE * math.cos(math.radians(lat)))
    return round(lat + dlat, 5), round(lon + dlon, 5)


def town(unit: Unit) -> str:
    """The town a station is named after ("Border Police Station Preševo" → "Preševo")."""
    return unit.name.rsplit("Station ", 1)[-1]


def near(
    rng: random.Random, unit: Unit, place: str, max_km: float = 6.0, min_km: float = 0.3
) -> dict[str, Any]:
    """A Location domain dict within ``max_km`` of the unit, described as ``place near Town``."""
    lat, lon = offset(unit.lat, unit.lon, rng.uniform(min_km, max_km), rng.uniform(0, 2 * math.pi))
    return {"lat": lat, "lon": lon, "place": f"{place} near {town(unit)}"}


def beside(rng: random.Random, location: dict[str, Any], max_km: float) -> dict[str, Any]:
    """Another fix of the same spot by a second observer, at most ``max_km`` away."""
    lat, lon = offset(
        location["lat"], location["lon"], rng.uniform(0.0, max_km), rng.uniform(0, 2 * math.pi)
    )
    return {"lat": lat, "lon": lon, "place": location["place"]}
