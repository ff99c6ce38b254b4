"""The unit registry (CONTRACT.md section 1): reference data loaded and validated at start-up.

Every unit is a principal of the exchange, so a registry error must stop the service before it
routes anything: each problem raises `RegistryError` naming the offending unit or section.
Besides the checks the contract names (unknown parent, cycle, missing coordinates, a LOCAL
unit without `territorial`), the loader rejects anything that would make routing ambiguous:
duplicate ids, ids outside `[a-z0-9-]`, unknown level/line/impact values, coordinates out of
range, `territorial` that is not a REGIONAL GENERAL directorate, `territorial` or
`border_section` on units the contract does not give them to, a BORDER-line LOCAL unit without
a known `border_section`, and unknown fields (a misspelt field would otherwise be ignored).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from imx import resources

DEFAULT_REGISTRY_PATH = resources.data_path("deploy/registry/units.json")

LEVELS = frozenset({"LOCAL", "REGIONAL", "NATIONAL", "INTERNATIONAL"})
LINES = frozenset({"BORDER", "GENERAL", "CRIMINAL", "OPERATIONS", "ANALYTICS", "INTERNATIONAL"})
SECTION_IMPACTS = frozenset({"LOW", "MEDIUM", "HIGH", "CRITICAL"})

_ID = re.compile(r"[a-z0-9-]+")
_UNIT_FIELDS = frozenset(
    {"id", "name", "level", "line", "parents", "territorial", "border_section", "lat", "lon"}
)
_REQUIRED_UNIT_FIELDS = _UNIT_FIELDS - {"territorial", "border_section"}


class RegistryError(ValueError):
    """The registry file is unusable; the message names the unit or section at fault."""


@dataclass(frozen=True)
class Unit:
    id: str
    name: str
    level: str
    line: str
    parents: tuple[str, ...]
    territorial: str | None
    border_section: str | None
    lat: float
    lon: float


@dataclass(frozen=True)
class Registry:
    units: Mapping[str, Unit]
    sections: Mapping[str, str]  # section id -> impact level

    def __contains__(self, unit_id: object) -> bool:
        return unit_id in self.units

    def get(self, unit_id: str) -> Unit:
        return self.units[unit_id]

    def local_units(self) -> list[Unit]:
        return [self.units[uid] for uid in self.ids() if self.units[uid].level == "LOCAL"]

    def ids(self) -> list[str]:
        return sorted(self.units)


def load_registry(path: Path | None = None) -> Registry:
    """Read and validate the registry file (default: the repository's `units.json`)."""
    source = DEFAULT_REGISTRY_PATH if path is None else path
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"cannot read the unit registry {source}: {exc}"
        raise RegistryError(msg) from exc
    try:
        data = json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except RegistryError:
        raise
    except ValueError as exc:
        msg = f"the unit registry {source} is not valid JSON: {exc}"
        raise RegistryError(msg) from exc
    return registry_from_dict(data)


def registry_from_dict(data: object) -> Registry:
    """Validate the decoded JSON document `{"sections": [...], "units": [...]}`."""
    if not isinstance(data, dict) or set(data) != {"sections", "units"}:
        msg = "the unit registry must be an object with exactly 'sections' and 'units'"
        raise RegistryError(msg)
    sections = _parse_sections(data["sections"])
    units = _parse_units(data["units"])
    for unit in units.values():
        _check_references(unit, units, sections)
    _check_acyclic(units)
    return Registry(units=MappingProxyType(units), sections=MappingProxyType(sections))


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    duplicated = sorted({key for key in keys if keys.count(key) > 1})
    if duplicated:
        msg = f"duplicate JSON member(s) {duplicated} in the unit registry"
        raise RegistryError(msg)
    return dict(pairs)


def _parse_sections(raw: object) -> dict[str, str]:
    if not isinstance(raw, list):
        msg = "'sections' must be a list of {id, impact} objects"
        raise RegistryError(msg)
    sections: dict[str, str] = {}
    for position, item in enumerate(raw):
        if not isinstance(item, dict) or set(item) != {"id", "impact"}:
            msg = f"section #{position} must be an object with exactly 'id' and 'impact'"
            raise RegistryError(msg)
        section_id, impact = item["id"], item["impact"]
        if not isinstance(section_id, str) or not _ID.fullmatch(section_id):
            msg = f"section #{position} has an invalid id {section_id!r} (allowed: [a-z0-9-])"
            raise RegistryError(msg)
        if section_id in sections:
            msg = f"section {section_id!r} is defined twice"
            raise RegistryError(msg)
        if impact not in SECTION_IMPACTS:
            msg = f"section {section_id!r} has an invalid impact {impact!r}"
            raise RegistryError(msg)
        sections[section_id] = impact
    return sections


def _parse_units(raw: object) -> dict[str, Unit]:
    if not isinstance(raw, list) or not raw:
        msg = "'units' must be a non-empty list of unit objects"
        raise RegistryError(msg)
    units: dict[str, Unit] = {}
    for position, item in enumerate(raw):
        unit = _parse_unit(position, item)
        if unit.id in units:
            msg = f"unit {unit.id!r} is defined twice"
            raise RegistryError(msg)
        units[unit.id] = unit
    return units


def _parse_unit(position: int, item: object) -> Unit:
    if not isinstance(item, dict):
        msg = f"unit #{position} must be an object"
        raise RegistryError(msg)
    unit_id = item.get("id")
    if not isinstance(unit_id, str) or not _ID.fullmatch(unit_id):
        msg = f"unit #{position} has an invalid id {unit_id!r} (allowed: [a-z0-9-])"
        raise RegistryError(msg)
    label = f"unit {unit_id!r}"
    missing = sorted(_REQUIRED_UNIT_FIELDS - set(item))
    if missing:
        msg = f"{label} lacks {', '.join(missing)}"
        raise RegistryError(msg)
    unknown = sorted(set(item) - _UNIT_FIELDS)
    if unknown:
        msg = f"{label} has unknown field(s) {', '.join(unknown)}"
        raise RegistryError(msg)
    name, level, line, parents = item["name"], item["level"], item["line"], item["parents"]
    if not isinstance(name, str) or not name.strip():
        msg = f"{label} has an empty or non-text name"
        raise RegistryError(msg)
    if level not in LEVELS:
        msg = f"{label} has an invalid level {level!r}"
        raise RegistryError(msg)
    if line not in LINES:
        msg = f"{label} has an invalid line {line!r}"
        raise RegistryError(msg)
    if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        msg = f"{label}: 'parents' must be a list of unit ids"
        raise RegistryError(msg)
    if len(set(parents)) != len(parents):
        msg = f"{label} lists a parent twice"
        raise RegistryError(msg)
    return Unit(
        id=unit_id,
        name=name,
        level=level,
        line=line,
        parents=tuple(parents),
        territorial=_optional_text(label, "territorial", item.get("territorial")),
        border_section=_optional_text(label, "border_section", item.get("border_section")),
        lat=_coordinate(label, "lat", item["lat"], 90.0),
        lon=_coordinate(label, "lon", item["lon"], 180.0),
    )


def _optional_text(label: str, field: str, value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    msg = f"{label}: {field!r} must be a unit or section id or null"
    raise RegistryError(msg)


def _coordinate(label: str, field: str, value: object, limit: float) -> float:
    # bool is an int subclass; `true` is never a coordinate.
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{label} has missing or non-numeric coordinate {field!r}: {value!r}"
        raise RegistryError(msg)
    number = float(value)
    if not math.isfinite(number) or not -limit <= number <= limit:
        msg = f"{label} has coordinate {field}={value!r} outside ±{limit:g}"
        raise RegistryError(msg)
    return number


def _check_references(unit: Unit, units: Mapping[str, Unit], sections: Mapping[str, str]) -> None:
    label = f"unit {unit.id!r}"
    for parent in unit.parents:
        if parent == unit.id or parent not in units:
            msg = f"{label} has unknown or self parent {parent!r}"
            raise RegistryError(msg)
    if unit.level == "LOCAL":
        directorate = units.get(unit.territorial) if unit.territorial else None
        if directorate is None:
            msg = f"{label} is LOCAL but has no known 'territorial' directorate"
            raise RegistryError(msg)
        # The territorial owner is a police directorate: REGIONAL and GENERAL-line.
        if (directorate.level, directorate.line) != ("REGIONAL", "GENERAL"):
            msg = f"{label}: territorial {directorate.id!r} is not a REGIONAL GENERAL directorate"
            raise RegistryError(msg)
    elif unit.territorial is not None:
        msg = f"{label} is {unit.level}; only LOCAL units have a 'territorial' directorate"
        raise RegistryError(msg)
    if unit.level == "LOCAL" and unit.line == "BORDER":
        if unit.border_section not in sections:
            msg = f"{label} is BORDER LOCAL with unknown border_section {unit.border_section!r}"
            raise RegistryError(msg)
    elif unit.border_section is not None:
        msg = f"{label}: only BORDER-line LOCAL units have a 'border_section'"
        raise RegistryError(msg)


def _check_acyclic(units: Mapping[str, Unit]) -> None:
    """Depth-first search over parent links; reaching a unit already on the path is a cycle."""
    finished: set[str] = set()

    def visit(path: list[str]) -> None:
        for parent in units[path[-1]].parents:
            if parent in path:
                cycle = " -> ".join([*path[path.index(parent) :], parent])
                msg = f"unit {parent!r} is its own ancestor: {cycle}"
                raise RegistryError(msg)
            if parent not in finished:
                visit([*path, parent])
        finished.add(path[-1])

    for unit_id in sorted(units):
        if unit_id not in finished:
            visit([unit_id])
