"""Distances on the WGS84 sphere and the registry look-ups built on them (CONTRACT.md 5.3, 5.6).

Every radius in the contract ("within 30 km", "within 20.0 km", "≤ 3.0 km") is inclusive: a
distance equal to the limit is within it, so all comparisons go through `within`.
"""

from __future__ import annotations

import math

from imx.registry import Registry, Unit

EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG), fixed by the contract
BORDER_SECTION_RADIUS_KM = 30.0
INLAND = "inland"


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres between two WGS84 points given in degrees."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    half_dphi = (phi2 - phi1) / 2
    half_dlambda = math.radians(lon2 - lon1) / 2
    a = math.sin(half_dphi) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(half_dlambda) ** 2
    # Rounding can push `a` a hair past 1 for antipodal points; asin would then fail.
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


def within(distance_km: float, limit_km: float) -> bool:
    """The contract's radii include their boundary."""
    return distance_km <= limit_km


def nearest_border_section(
    registry: Registry, lat: float, lon: float, radius_km: float = BORDER_SECTION_RADIUS_KM
) -> str:
    """Section of the nearest BORDER-line LOCAL unit within the radius, else `inland`.

    Equidistant stations are ordered by id so the answer never depends on registry order.
    """
    in_range: list[tuple[float, str, str]] = []
    for unit in registry.local_units():
        if unit.line != "BORDER" or unit.border_section is None:
            continue
        distance = haversine_km(lat, lon, unit.lat, unit.lon)
        if within(distance, radius_km):
            in_range.append((distance, unit.id, unit.border_section))
    return min(in_range)[2] if in_range else INLAND


def local_units_within(
    registry: Registry, lat: float, lon: float, radius_km: float, exclude: str | None = None
) -> list[Unit]:
    """LOCAL units within the radius of a point, by id, leaving out `exclude`."""
    return [
        unit
        for unit in registry.local_units()
        if unit.id != exclude and within(haversine_km(lat, lon, unit.lat, unit.lon), radius_km)
    ]
